#!/usr/bin/env bash
# make test-image: build the CPU image on a locally made Debian base and test it.
#
# Needs root (to install/start Docker and run debootstrap) on a Debian-like host.
# Steps: start dockerd if none runs -> debootstrap a bookworm base (cached) ->
# docker import -> build the CPU variant with the host's CA bundle -> inside the
# container, with no network: run the unit tests and grade one sample submission.
# Prints one JSON line last: {"image": .., "size_mb": .., "unit_tests": .., "grade": ..}.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
tag=${IMAGE_TAG:-dlbricks:cpu-test}
base_tag=dlbricks-base:bookworm
cache=${BASE_CACHE:-/var/cache/dlbricks/debian-bookworm-base.tar}
work=$(mktemp -d)
started_dockerd=""

cleanup() {
  rm -f "$repo/docker/host-ca.crt"
  if [ -n "$started_dockerd" ]; then kill "$started_dockerd" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
[ "$(id -u)" = 0 ] || { echo "test-image needs root (Docker daemon, debootstrap)" >&2; exit 2; }
need dockerd docker.io
need debootstrap debootstrap

if ! docker info >/dev/null 2>&1; then
  dockerd >"$work/dockerd.log" 2>&1 &
  started_dockerd=$!
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { cat "$work/dockerd.log" >&2; echo "dockerd did not start" >&2; exit 1; }
fi

if ! docker image inspect "$base_tag" >/dev/null 2>&1; then
  if [ ! -f "$cache" ]; then
    mkdir -p "$(dirname "$cache")"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$work/root" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
    tar -C "$work/root" -cf "$cache" .
    rm -rf "$work/root"
  fi
  docker import "$cache" "$base_tag" >/dev/null
fi

cp /etc/ssl/certs/ca-certificates.crt docker/host-ca.crt
docker build --network host --build-arg BASE_IMAGE="$base_tag" --build-arg TF_VARIANT=cpu -t "$tag" . >"$work/build.log" 2>&1 \
  || { tail -40 "$work/build.log" >&2; exit 1; }
rm -f docker/host-ca.crt
size_mb=$(( $(docker image inspect -f '{{.Size}}' "$tag") / 1024 / 1024 ))
echo "built $tag ($size_mb MB)"

# bubblewrap needs user namespaces and a fresh /proc, which Docker's default seccomp,
# AppArmor and masked-/proc settings forbid.
sandbox_opts=(--security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined)

docker run --rm --network none -v "$repo:/repo:ro" -e DLBRICKS_QUICK=1 -w /tmp "$tag" \
  python3 -m pytest -q -p no:cacheprovider -o addopts= -m "not slow" /repo/tests/unit
unit=passed

mkdir -p "$work/out" && chmod 777 "$work/out"
sample=$(ls -d examples/submitted/*/ | head -n 1)
student=$(basename "$sample")
assignment=$(basename "$(ls -d "$sample"*/ | head -n 1)")
docker run --rm --network none "${sandbox_opts[@]}" -v "$repo:/course:ro" -v "$work/out:/out" \
  -e DLBRICKS_QUICK=1 "$tag" \
  autograder --course-dir /course grade "/course/examples/submitted" --assignment "$assignment" --out /out --workers 1
grep -q "^$student,$assignment," "$work/out/grades.csv"
grade=$(grep "^$student,$assignment," "$work/out/grades.csv")
echo "{\"image\": \"$tag\", \"size_mb\": $size_mb, \"unit_tests\": \"$unit\", \"grade\": \"$grade\"}"
