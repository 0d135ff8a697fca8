"""Issue 13, cases 2, 4 and 5: what the parent reads from a sandbox is bounded, uids are unique on
the machine, and the sandbox's limits count everything (cgroup, seccomp, a fresh keyring)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.cgroups import cgroup_support
from autograder.sandbox import EventReader, EventRefused, Limits, RunSettings, parse_event, run_cells
from autograder.seccomp import BLOCKED_SYSCALLS, seccomp_program
from autograder.steps.execute import execute_plan
from autograder.uids import NoFreeUid, sandbox_uid, uids_in_use

ROOT = os.getuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="sandbox uids are handed out only when the grader runs as root")


# --- bounded reading -------------------------------------------------------------------------
def test_a_deeply_nested_line_is_refused_before_decoding():
    """Case 2: a record nested ~980 deep made json.loads raise RecursionError in the worker."""
    deep = b'{"event": "cell", "x": ' + b"[" * 980 + b"]" * 980 + b"}"
    with pytest.raises(EventRefused, match="nested 981 deep"):
        parse_event(deep)
    tricky = json.dumps({"event": "cell", "text": "[" * 5000}).encode()  # brackets inside a string
    assert parse_event(tricky)["text"] == "[" * 5000


def test_a_flood_of_small_values_is_refused_before_decoding():
    """Case 3: one 32 MiB line of small values parses into millions of objects."""
    flood = b'{"event": "cell", "records": [' + b",".join([b"0"] * 600_000) + b"]}"
    with pytest.raises(EventRefused, match="values"):
        parse_event(flood)


def test_the_reader_skips_oversized_and_refused_lines_and_keeps_the_rest():
    reader = EventReader(max_total_bytes=50 * 2**20, max_line_bytes=1000)
    good = json.dumps({"event": "cell", "index": 1}).encode() + b"\n"
    huge = b'{"event": "cell", "pad": "' + b"x" * 5000 + b'"}\n'
    deep = b"[" * 100 + b"]" * 100 + b"\n"
    stream = good + huge + deep + b"not json\n" + good.replace(b"1", b"2")
    for i in range(0, len(stream), 7):  # arbitrary chunking: lines span chunks
        reader.feed(stream[i:i + 7])
    assert [e["index"] for e in reader.events] == [1, 2]
    assert any("over 0 MB was dropped" in p or "dropped" in p for p in reader.problems)
    assert any("nested" in p for p in reader.problems)


def test_the_reader_stops_at_its_total_bound():
    reader = EventReader(max_total_bytes=10_000)
    line = json.dumps({"event": "cell", "pad": "y" * 900}).encode() + b"\n"
    for _ in range(50):
        reader.feed(line)
    assert reader.stopped and len(reader.events) < 12 and "more than" in reader.problems[-1]


# --- uids ---------------------------------------------------------------------------------------
HOLDER = textwrap.dedent("""
    import json, sys, time
    from contextlib import ExitStack
    from autograder.uids import sandbox_uid
    with ExitStack() as stack:
        uids = [stack.enter_context(sandbox_uid(base=int(sys.argv[1]), span=int(sys.argv[2])))
                for _ in range(int(sys.argv[3]))]
        print(json.dumps(uids), flush=True)
        time.sleep(float(sys.argv[4]))
""")


@needs_root
def test_two_grading_processes_never_hold_the_same_uid(tmp_path):
    """Case 2 / issue 14: pid % 444 gave two graders on one host the same uids."""
    env = dict(os.environ, AUTOGRADER_UID_LOCK_DIR=str(tmp_path / "locks"))
    base, span = 64000, 12
    procs = [subprocess.Popen([sys.executable, "-c", HOLDER, str(base), str(span), "6", "3"],
                              stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    held = [json.loads(p.stdout.readline()) for p in procs]
    for p in procs:
        p.wait(30)
    assert len(held[0]) == len(held[1]) == 6
    assert not set(held[0]) & set(held[1]), held
    assert all(base <= u < base + span for u in held[0] + held[1])
    # The holders are gone, so are their locks (the kernel drops a dead process's flock): all twelve
    # are free again, and a thirteenth is refused.
    third = subprocess.run([sys.executable, "-c", HOLDER, str(base), str(span), str(span), "0"],
                           capture_output=True, text=True, env=env, timeout=60)
    assert sorted(json.loads(third.stdout)) == list(range(base, base + span)), third.stderr
    refused = subprocess.run([sys.executable, "-c", HOLDER, str(base), str(span), str(span + 1), "0"],
                             capture_output=True, text=True, env=env, timeout=60)
    assert refused.returncode != 0 and "NoFreeUid" in refused.stderr


@needs_root
def test_a_uid_with_a_live_process_is_never_handed_out(tmp_path, monkeypatch):
    """Case 2: the uid slot was released and reused while the first student's sleepers lived."""
    monkeypatch.setenv("AUTOGRADER_UID_LOCK_DIR", str(tmp_path / "locks"))
    base = 64100
    sleeper = subprocess.Popen([sys.executable, "-c", "import os, time; os.setuid(64100); time.sleep(60)"])
    try:
        deadline = time.monotonic() + 10
        while base not in uids_in_use() and time.monotonic() < deadline:
            time.sleep(0.05)
        with sandbox_uid(base=base, span=2) as uid:
            assert uid == base + 1
        with pytest.raises(NoFreeUid):
            with sandbox_uid(base=base, span=1):
                pass
    finally:
        sleeper.kill()
        sleeper.wait()
    with sandbox_uid(base=base, span=1) as uid:
        assert uid == base


UID_PRINTER = textwrap.dedent("""
    import json, sys
    from autograder.sandbox import RunSettings, run_cells
    code = "import os, time\\nprint(os.getuid(), flush=True)\\ntime.sleep(4)"
    out = run_cells([{"index": 0, "segments": [{"code": code, "hidden": False, "test": False}]}],
                    RunSettings(timeout=60, deadline=120))
    cell = next(e for e in out.events if e.get("event") == "cell")
    print(json.dumps(cell["outputs"][0]["text"].split()[0]))
""")


@pytest.mark.slow
@needs_root
def test_two_grading_processes_run_their_sandboxes_under_different_uids():
    env = dict(os.environ, DLBRICKS_QUICK="1", TF_CPP_MIN_LOG_LEVEL="3")
    procs = [subprocess.Popen([sys.executable, "-c", UID_PRINTER], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    uids = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in procs]
    assert uids[0] != uids[1] and all(int(u) >= 61000 for u in uids)


# --- seccomp, keyring, cgroup --------------------------------------------------------------------
def test_the_seccomp_program_is_well_formed():
    for arch in BLOCKED_SYSCALLS:
        program = seccomp_program(arch)
        assert program and len(program) % 8 == 0 and len(program) // 8 < 4096
        assert "keyctl" in BLOCKED_SYSCALLS[arch] and "ptrace" in BLOCKED_SYSCALLS[arch]
    assert seccomp_program("sparc") is None


def test_the_startup_message_says_what_is_enforced():
    lines = sandbox.enforced_limits(RunSettings())
    assert any(line.startswith(("cgroup v1", "cgroup v2", "cgroup limits: NOT enforced")) for line in lines)
    assert any(line.startswith("seccomp filter") for line in lines)
    assert any(line.startswith("keyring") for line in lines)


PROBE = textwrap.dedent("""
    import ctypes, os, platform
    libc = ctypes.CDLL(None, use_errno=True)
    nr = {"x86_64": (250, 101, 272), "aarch64": (219, 117, 97)}[platform.machine()]
    for name, call in (("keyctl", lambda: libc.syscall(nr[0], 0, -3, 0)),
                       ("ptrace", lambda: libc.syscall(nr[1], 0, 0, 0, 0)),
                       ("unshare", lambda: libc.syscall(nr[2], 0x10000000))):
        ctypes.set_errno(0)
        print(name, call(), ctypes.get_errno())
    try:
        print("keys", repr(open("/proc/keys").read()))
    except OSError as exc:
        print("keys refused", exc.errno)
""")


@pytest.mark.slow
def test_keyring_namespaces_and_tracing_are_refused_in_the_sandbox():
    """Case 5: a notebook read a secret from the grader's session keyring."""
    if sandbox.sandbox_problem():
        pytest.skip(f"no sandbox here: {sandbox.sandbox_problem()}")
    out = run_cells([{"index": 0, "segments": [{"code": PROBE, "hidden": False, "test": False}]}],
                    RunSettings(timeout=60, deadline=120))
    text = next(e for e in out.events if e.get("event") == "cell")["outputs"][0]["text"]
    for name in ("keyctl", "ptrace", "unshare"):
        assert f"{name} -1 1\n" in text, text  # EPERM
    assert "keys refused" in text or "keys ''" in text


@pytest.mark.slow
@pytest.mark.skipif(cgroup_support().version == 0, reason=f"no cgroup here: {cgroup_support().reason}")
def test_shared_memory_counts_against_the_memory_limit():
    """Case 4: 4 GiB of shared anonymous memory ran to the end against a 3 GiB RLIMIT_DATA."""
    hog = ("import mmap\nm = mmap.mmap(-1, 1536 * 2**20)\n"
           "for i in range(0, len(m), 4096):\n    m[i] = 1\nprint('survived')")
    tmpfs = ("data = b'x' * 2**20\nfor i in range(800):\n"
             "    open(f'/dev/shm/f{i}', 'wb').write(data)\nprint('filled')")
    for code in (hog, tmpfs):
        plan = [{"index": 0, "grade_id": None, "segments": [{"code": code, "hidden": False, "test": False}]}]
        report = execute_plan(plan, RunSettings(timeout=90, deadline=180,
                                                limits=Limits(memory_mb=256, tmp_mb=1024)))
        assert report.cells[0].status == "died" and "memory_limit" in report.flags, (code, report)


@pytest.mark.slow
def test_a_failure_while_talking_to_the_sandbox_kills_it_and_says_why(monkeypatch):
    """Case 2: an exception in the parent left the sandbox (and its uid) alive until the watchdog."""
    from .conftest import processes_matching

    if sandbox.sandbox_problem():
        pytest.skip(f"no sandbox here: {sandbox.sandbox_problem()}")
    marker = f"sandbox-talk-{os.getpid()}-{time.monotonic_ns()}"
    real_feed = EventReader.feed

    def feed(self, chunk):  # the first cell's event arrives; decoding "fails" as json.loads did
        real_feed(self, chunk)
        if any(e.get("event") == "cell" for e in self.events):
            raise RecursionError("maximum recursion depth exceeded while decoding")

    monkeypatch.setattr(EventReader, "feed", feed)
    cells = [f"import subprocess\nsubprocess.Popen(['sleep', '300', '{marker}'])", "import time\ntime.sleep(300)"]
    start = time.monotonic()
    with pytest.raises(sandbox.SandboxError, match="RecursionError"):
        run_cells([{"index": i, "segments": [{"code": code, "hidden": False, "test": False}]}
                   for i, code in enumerate(cells)], RunSettings(timeout=300, deadline=600))
    assert time.monotonic() - start < 120  # not the watchdog's wall limit
    assert not processes_matching(marker)


@pytest.mark.skipif(cgroup_support().version == 0, reason=f"no cgroup here: {cgroup_support().reason}")
def test_a_sandbox_cgroup_limits_its_members_and_leaves_nothing_behind():
    from autograder.cgroups import CPU_PERIOD_US, MEMORY_HEADROOM_MB, TASKS_HEADROOM, SandboxCgroup, join_cgroup

    support = cgroup_support()
    group = SandboxCgroup(support, f"autograder-sandbox-test-{os.getpid()}", memory_mb=300, tasks=20)
    fds = group.join_fds()
    child = subprocess.Popen(["sleep", "60"], preexec_fn=lambda: join_cgroup(fds))
    try:
        membership = Path(f"/proc/{child.pid}/cgroup").read_text()
        assert f"autograder-sandbox-test-{os.getpid()}" in membership
        limit = "memory.limit_in_bytes" if support.version == 1 else "memory.max"
        assert int((group.memory_dir / limit).read_text()) == (300 + MEMORY_HEADROOM_MB) * 2**20
        tasks = [d / "pids.max" for d in group.dirs if (d / "pids.max").exists()]
        assert tasks and int(tasks[0].read_text()) == 20 + TASKS_HEADROOM
        if "cpu" in support.parents:
            quota = [d for d in group.dirs if (d / "cpu.cfs_quota_us").exists() or (d / "cpu.max").exists()]
            text = (quota[0] / ("cpu.cfs_quota_us" if support.version == 1 else "cpu.max")).read_text()
            assert text.split()[0] == str(CPU_PERIOD_US)
        dirs = list(group.dirs)
    finally:
        group.close()  # kills the member and removes the group
    assert child.wait(10) == -9
    assert not any(d.exists() for d in dirs)


def test_a_failed_no_dump_or_parent_death_setting_stops_the_runner(monkeypatch):
    """Issue 14: failures of the runner's no-dump and parent-death settings were ignored."""
    import ctypes

    try:  # the runner's limits live in their own module once the runner is a package
        from autograder.sandbox_runner import limits as runner_limits
    except ImportError:
        from autograder import sandbox_runner as runner_limits

    class RefusingLibc:
        def prctl(self, *args):
            return -1

    monkeypatch.setattr(ctypes, "CDLL", lambda *a, **k: RefusingLibc())
    with pytest.raises(OSError, match="PR_SET_DUMPABLE"):
        runner_limits.make_undumpable()
    child_limits = getattr(runner_limits, "child_limits", None) or runner_limits.kernel_limits
    monkeypatch.setattr(os, "setsid", lambda: None)
    monkeypatch.setattr(runner_limits.resource, "setrlimit", lambda *a: None)
    with pytest.raises(OSError, match="PR_SET_PDEATHSIG"):
        child_limits({"memory_mb": 100, "nproc": 10, "cpu_seconds": 10, "fsize_mb": 1, "nofile": 64})
