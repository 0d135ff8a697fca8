#!/usr/bin/env bash
# make test-image: build the image on a locally made Debian base and test it.
#
# Needs root (to install/start Docker and run debootstrap) on a Debian-like host.
# Steps: start dockerd if none runs -> debootstrap a bookworm base (cached) ->
# docker import -> build the CPU (or CUDA) variant from a snapshot of the working tree
# with the host's CA bundle -> start JupyterLab (the default command) until the
# image's health check passes -> inside the container, with no network: check the
# devices TensorFlow sees (and that it writes nothing to stderr), run the unit tests
# and grade the four sample students of one assignment, checking each row. Where the
# host has an NVIDIA GPU (and the NVIDIA container toolkit), the CUDA variant is also
# run with --gpus all and must list the GPU and compute on it.
# Prints one JSON line last (image, size in MB of 10^6 bytes, devices, unit tests,
# grades, seconds per step, disk use under Docker's data-root). Progress goes to stderr.
#
# Environment:
#   IMAGE_TEST_OPTIONAL=1   a machine that cannot run Docker (not root, docker.io not
#                           installable, dockerd not up within 60 s, too little disk)
#                           prints "image test skipped: <reason>" and exits 0. Any
#                           failure once the daemon is up still fails.
#   IMAGE_TEST_VARIANT      cpu (tensorflow-cpu, default) or cuda (tensorflow[and-cuda])
#   IMAGE_TEST_GPU          cuda variant only: auto (default: run on the GPU when the
#                           host has one), require (fail without one), skip
#   IMAGE_TAG               image to build (default dlbricks:VARIANT-test)
#   IMAGE_TEST_ASSIGNMENT   assignment graded (default 01_tensors)
#   IMAGE_TEST_MIN_FREE_GB  free disk needed under Docker's data-root (default 10 for
#                           cpu, 30 for cuda: its CUDA wheels are several GB)
#   BASE_CACHE              debootstrap tarball cache (default under /var/cache/dlbricks)
#   DEBIAN_MIRROR           mirror for debootstrap (default http://deb.debian.org/debian)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
variant=${IMAGE_TEST_VARIANT:-cpu}
gpu_mode=${IMAGE_TEST_GPU:-auto}
case "$variant" in
  cpu) default_free=10 ;;
  cuda) default_free=30 ;;
  *) echo "test-image: IMAGE_TEST_VARIANT must be cpu or cuda, not '$variant'" >&2; exit 2 ;;
esac
case "$gpu_mode" in
  auto|require|skip) ;;
  *) echo "test-image: IMAGE_TEST_GPU must be auto, require or skip, not '$gpu_mode'" >&2; exit 2 ;;
esac
tag=${IMAGE_TAG:-dlbricks:$variant-test}
assignment=${IMAGE_TEST_ASSIGNMENT:-01_tensors}
optional=${IMAGE_TEST_OPTIONAL:-0}
min_free_gb=${IMAGE_TEST_MIN_FREE_GB:-$default_free}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
base_tag=dlbricks-base:bookworm
cache=${BASE_CACHE:-/var/cache/dlbricks/debian-bookworm-minbase.tar}
name=dlbricks-image-test-$$
work=$(mktemp -d)
dockerd_pid=""
t_start=$SECONDS

say() { echo "test-image: $*" >&2; }
# A machine that cannot run Docker at all: skip when optional, else fail loudly.
cannot() {
  if [ "$optional" = 1 ]; then
    echo "image test skipped: $*"
    exit 0
  fi
  say "$* (set IMAGE_TEST_OPTIONAL=1 to skip instead of failing)"
  exit 2
}
fail() { say "FAILED: $*"; exit 1; }

# Long steps run in the background and are waited for, so that a signal reaches the
# trap at once (bash runs traps only between foreground commands) and stops them.
child=""
step() {
  local rc=0
  "$@" &
  child=$!
  wait "$child" || rc=$?
  child=""
  return "$rc"
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$child" ]; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  if [ -n "$dockerd_pid" ] || docker info >/dev/null 2>&1; then
    docker rm -f "$name-lab" "$name-dev" "$name-gpu" "$name-unit" "$name-grade" "$name-check" >/dev/null 2>&1 || true
  fi
  if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
    kill -TERM "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$dockerd_pid" 2>/dev/null; then
      say "dockerd (pid $dockerd_pid) ignored SIGTERM for 30 s: killing it"
      kill -KILL "$dockerd_pid" 2>/dev/null || true
    fi
    wait "$dockerd_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

apt_install() {
  command -v apt-get >/dev/null || { echo "no apt-get on this machine" >"$work/apt.log"; return 1; }
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"; } \
    >"$work/apt.log" 2>&1
}
last_line() { grep -v '^\s*$' "$1" 2>/dev/null | tail -n 1 | cut -c1-200; }

# --- can this machine run Docker? -------------------------------------------------
[ "$(id -u)" = 0 ] || cannot "needs root to start Docker and run debootstrap (running as $(id -un))"
if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
  apt_install docker.io || cannot "docker.io cannot be installed: $(last_line "$work/apt.log")"
fi
if [ ! -f "$cache" ] && ! command -v debootstrap >/dev/null; then
  apt_install debootstrap || cannot "debootstrap cannot be installed: $(last_line "$work/apt.log")"
fi
dockerd_state="already running"
if ! docker info >/dev/null 2>&1; then
  dockerd >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  dockerd_state="started by this run, stopped at exit"
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 1
  done
  if ! docker info >/dev/null 2>&1; then
    kill -0 "$dockerd_pid" 2>/dev/null || { wait "$dockerd_pid" 2>/dev/null || true; dockerd_pid=""
      cannot "dockerd exited as it started: $(last_line "$work/dockerd.log")"; }
    cannot "dockerd did not start within 60 s: $(last_line "$work/dockerd.log")"
  fi
fi
data_root=$(docker info -f '{{.DockerRootDir}}')
free_gb=$(df -P -BG "$data_root" | awk 'NR == 2 { sub("G", "", $4); print $4 }')
[ "$free_gb" -ge "$min_free_gb" ] \
  || cannot "only ${free_gb} GB free under $data_root; the build needs about ${min_free_gb} GB"
root_mb_before=$(du -smx "$data_root" | cut -f1)

# A GPU for the CUDA variant: known before the long build, so that
# IMAGE_TEST_GPU=require fails at once where there is none.
has_gpu=0
if [ "$variant" = cuda ] && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then has_gpu=1; fi
if [ "$variant" = cuda ] && [ "$gpu_mode" = require ] && [ "$has_gpu" = 0 ]; then
  fail "IMAGE_TEST_GPU=require but this host has no NVIDIA GPU (nvidia-smi -L finds none)"
fi

# --- from here on, every problem is a failure -------------------------------------
# A snapshot of the working tree (tracked and untracked, not ignored files): the
# image, its tests and the graded notebooks all come from the same moment even when
# someone edits the checkout meanwhile.
ctx=$work/ctx
mkdir -p "$ctx"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done \
    | tar --null -T - -cf - | tar -xf - -C "$ctx"
else
  tar --exclude=./.venv --exclude=./.git -cf - . | tar -xf - -C "$ctx"
fi
[ -d "$ctx/examples/submitted/ada_right/$assignment" ] \
  || fail "examples/submitted has no sample submissions for $assignment (set IMAGE_TEST_ASSIGNMENT)"

t0=$SECONDS
base_made="image present"
if ! docker image inspect "$base_tag" >/dev/null 2>&1; then
  base_made="imported from cache"
  if [ ! -f "$cache" ]; then
    base_made="debootstrapped"
    say "debootstrapping a Debian bookworm base (a few minutes; cached in $cache)"
    mkdir -p "$(dirname "$cache")"
    step debootstrap --variant=minbase --include=ca-certificates bookworm "$work/root" "$mirror" \
      >"$work/debootstrap.log" 2>&1 || { tail -n 20 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
    # No package cache or lists in the base layer: the Dockerfile runs apt-get update.
    rm -rf "$work/root"/var/cache/apt/archives/*.deb "$work/root"/var/cache/apt/*.bin \
      "$work/root"/var/lib/apt/lists/*
    tar --numeric-owner -C "$work/root" -cf "$cache.part" . && mv "$cache.part" "$cache"
    rm -rf "$work/root"
  fi
  docker import "$cache" "$base_tag" >/dev/null
fi
t_base=$((SECONDS - t0))

t0=$SECONDS
build_started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
say "building $tag on $base_tag"
cp /etc/ssl/certs/ca-certificates.crt "$ctx/docker/host-ca.crt"
step docker build --force-rm --network host --build-arg BASE_IMAGE="$base_tag" --build-arg TF_VARIANT="$variant" \
  -t "$tag" "$ctx" >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; fail "docker build failed"; }
t_build=$((SECONDS - t0))
size_mb=$(( $(docker image inspect -f '{{.Size}}' "$tag") / 1000000 ))
# Earlier builds' images of this project, replaced by this one, only take disk.
docker image prune -f --filter "label=org.opencontainers.image.title=dlbricks" \
  --filter "until=$build_started" >/dev/null
say "built $tag ($size_mb MB) in ${t_build} s"

t0=$SECONDS
say "JupyterLab, the image's default command, until its health check passes"
# The image's own health check, run every 2 s instead of every 30 s.
docker run -d --name "$name-lab" --network none --health-interval 2s --health-start-period 120s "$tag" >/dev/null
lab=starting
for _ in $(seq 120); do
  lab=$(docker inspect -f '{{.State.Health.Status}}' "$name-lab")
  [ "$lab" = healthy ] && break
  [ "$(docker inspect -f '{{.State.Running}}' "$name-lab")" = true ] || { lab="exited"; break; }
  sleep 1
done
lessons=$(docker exec "$name-lab" ls /home/student/lessons | wc -l)
[ "$lab" = healthy ] || { docker logs --tail 30 "$name-lab" >&2; fail "JupyterLab did not become healthy within 120 s ($lab)"; }
[ "$lessons" -gt 0 ] || fail "the image has no lessons in /home/student/lessons"
docker rm -f "$name-lab" >/dev/null
t_lab=$((SECONDS - t0))
say "JupyterLab healthy after ${t_lab} s; $lessons lessons in /home/student/lessons"

t0=$SECONDS
say "devices TensorFlow sees inside the image (no network, no GPU passed in)"
# The image sets TF_CPP_MIN_LOG_LEVEL=3: nothing may reach stderr, not even the CUDA
# build's "no driver" lines on a host without a GPU (nbgrader fails a cell on stderr).
docker run --name "$name-dev" --rm --no-healthcheck --network none -v "$ctx/docker:/check:ro" "$tag" \
  python3 /check/check_devices.py "$variant" >"$work/devices.json" 2>"$work/devices.err" \
  || { cat "$work/devices.err" >&2; fail "the device check failed inside the image"; }
[ ! -s "$work/devices.err" ] || { cat "$work/devices.err" >&2; fail "TensorFlow wrote to stderr inside the image"; }
devices=$(tail -n 1 "$work/devices.json")
gpu_run="not run (cpu variant)"
if [ "$variant" = cuda ]; then
  if [ "$gpu_mode" = skip ]; then
    gpu_run="skipped (IMAGE_TEST_GPU=skip)"
  elif [ "$has_gpu" = 1 ]; then
    say "the CUDA image on the host's GPU (--gpus all)"
    docker run --name "$name-gpu" --rm --no-healthcheck --network none --gpus all -v "$ctx/docker:/check:ro" "$tag" \
      python3 /check/check_devices.py cuda --expect-gpu >"$work/gpu.json" 2>"$work/gpu.err" \
      || { cat "$work/gpu.err" >&2
           fail "the CUDA image did not run on the host's GPU (is the NVIDIA container toolkit installed and configured for Docker: nvidia-ctk runtime configure?)"; }
    gpu_run=$(tail -n 1 "$work/gpu.json" | sed 's/"/\\"/g')
  else
    gpu_run="not run: no NVIDIA GPU on this host (nvidia-smi -L)"
  fi
fi
t_dev=$((SECONDS - t0))
say "devices: $devices; GPU run: $gpu_run"

t0=$SECONDS
say "unit tests inside the image (no network)"
step docker run --name "$name-unit" --rm --no-healthcheck --network none -v "$ctx:/repo:ro" -e DLBRICKS_QUICK=1 -w /tmp "$tag" \
  python3 -m pytest -q -p no:cacheprovider -n 2 -m "not slow" /repo/tests/unit >"$work/unit.log" 2>&1 \
  || { cat "$work/unit.log" >&2; fail "unit tests failed inside the image"; }
unit=$(tail -n 1 "$work/unit.log" | sed -e 's/=//g' -e 's/ in [0-9.]*s.*//' -e 's/^ *//')
t_unit=$((SECONDS - t0))
say "unit tests inside the image: $unit"

t0=$SECONDS
say "grading examples/submitted/*/$assignment inside the image (no network, bubblewrap sandbox)"
# bubblewrap needs user namespaces and a fresh /proc, which Docker's default seccomp,
# AppArmor and masked-/proc settings forbid.
sandbox_opts=(--security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined)
mkdir -p "$work/out" && chmod 777 "$work/out"
step docker run --name "$name-grade" --rm --no-healthcheck --network none "${sandbox_opts[@]}" -v "$ctx:/course:ro" -v "$work/out:/out" \
  -e DLBRICKS_QUICK=1 "$tag" \
  autograder --course-dir /course grade /course/examples/submitted --assignment "$assignment" --out /out \
  --workers 2 --no-progress >&2 || fail "grading failed inside the image"
grades=$(docker run --name "$name-check" --rm --no-healthcheck --network none -v "$work/out:/out:ro" -v "$ctx/docker:/check:ro" \
  "$tag" python3 /check/check_grades.py /out/grades.csv "$assignment") \
  || fail "the sample students' grades are wrong (see above); rows: ${grades:-none}"
t_grade=$((SECONDS - t0))

root_mb_after=$(du -smx "$data_root" | cut -f1)
t_total=$((SECONDS - t_start))
printf '{"image": "%s", "variant": "%s", "size_mb": %d, "base": "%s", "jupyterlab": "%s", "devices": %s, "gpu_run": "%s", ' \
  "$tag" "$variant" "$size_mb" "$base_made" "$lab" "$devices" "$gpu_run"
printf '"unit_tests": "%s", "assignment": "%s", "grades": %s, ' "$unit" "$assignment" "$grades"
printf '"seconds": {"base": %d, "build": %d, "jupyterlab": %d, "devices": %d, "unit_tests": %d, "grading": %d, "total": %d}, ' \
  "$t_base" "$t_build" "$t_lab" "$t_dev" "$t_unit" "$t_grade" "$t_total"
printf '"docker": {"dockerd": "%s", "data_root": "%s", "data_root_mb": %d, "data_root_growth_mb": %d, "free_gb_before": %d}}\n' \
  "$dockerd_state" "$data_root" "$root_mb_after" "$((root_mb_after - root_mb_before))" "$free_gb"
