"""Grader memory for a class that includes the record flood (issue 13, case 3).

    .venv/bin/python benchmarks/grader_memory.py [--copies 6] [--bound-mb 600]

Grades a class of the fixture lesson with ``autograder grade`` (sandbox on,
two workers): ``--copies`` right submissions plus one that floods the check
record file: two of its cells truncate the record file and append one 32 MiB
line of small JSON values (millions of objects once parsed), as the security
review did. While the command runs, the peak resident memory (VmHWM) of the
grader and of each of its worker processes is sampled from /proc; the
student's own processes (in the sandbox, under its cgroup) are not the
grader's and are not counted.

Prints one JSON line last: the grader's and the largest worker's peak in MB,
their sum, the stated bound and whether it held, and the flood submission's
row (it must be graded, not stop the batch).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder.samples import with_cell, write_submission  # noqa: E402

FIXTURE = REPO / "tests" / "grading" / "fixtures" / "course"
LESSON = "00_fixture"
FLOOD = (
    "import os\n"
    "for _path in {os.environ.get('DLBRICKS_CHECK_RECORD'), os.path.expanduser('~/.records/checks.jsonl')}:\n"
    "    if _path:\n"
    "        os.makedirs(os.path.dirname(_path), exist_ok=True)\n"
    "        with open(_path, 'w') as _fh:\n"
    "            _fh.write('[' + '0,' * (16 * 2**20 - 2) + '0]\\n')  # 32 MiB with its newline\n"
)


def _peak_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _workers(pid: int) -> list[int]:
    """The grader's spawned worker processes (the pool's, or Dask's nannies and workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
            found.append(int(entry))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Peak memory of the grader with a record flood in the class.")
    parser.add_argument("--copies", type=int, default=6, help="honest submissions beside the flood")
    parser.add_argument("--bound-mb", type=float, default=600.0,
                        help="stated bound on the grader's peak plus its largest worker's")
    args = parser.parse_args(argv)
    from autograder.samples import load_pair, solved_release

    right = solved_release(*load_pair(FIXTURE, LESSON))  # the fixture lesson's right answers
    flood = with_cell(with_cell(right, "relu", lambda s: FLOOD + s), "mse", lambda s: FLOOD + s)
    with tempfile.TemporaryDirectory(prefix="grader-memory-") as tmp:
        work = Path(tmp)
        submitted, out = work / "submitted", work / "out"
        for i in range(args.copies):
            write_submission(submitted, f"student{i:02d}", LESSON, LESSON, right)
        write_submission(submitted, "flood", LESSON, LESSON, flood)
        env = dict(os.environ, DLBRICKS_QUICK="1", TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0",
                   AUTOGRADER_CACHE_DIR=str(work / "cache"))
        cmd = [str(Path(sys.executable).parent / "autograder"), "--course-dir", str(FIXTURE), "grade",
               str(submitted), "--out", str(out), "--workers", "2", "--no-progress"]
        start = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peaks: dict[int, int] = {}
        while proc.poll() is None:
            for pid in [proc.pid, *_workers(proc.pid)]:
                peaks[pid] = max(peaks.get(pid, 0), _peak_kb(pid))
            time.sleep(0.1)
        stdout, stderr = proc.communicate()
        seconds = time.monotonic() - start
        if proc.returncode not in (0, 1):
            raise SystemExit(f"autograder grade failed ({proc.returncode}):\n{stderr[-3000:]}")
        with (out / "grades.csv").open(newline="") as fh:
            rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    grader_mb = peaks.pop(proc.pid, 0) / 1024
    worker_mb = max(peaks.values(), default=0) / 1024
    result = {
        "benchmark": "grader_memory", "submissions": args.copies + 1, "seconds": round(seconds, 1),
        "grader_peak_mb": round(grader_mb, 1), "largest_worker_peak_mb": round(worker_mb, 1),
        "workers_seen": len(peaks), "total_mb": round(grader_mb + worker_mb, 1), "bound_mb": args.bound_mb,
        "within_bound": grader_mb + worker_mb <= args.bound_mb,
        "flood_row": {k: rows.get("flood", {}).get(k) for k in ("status", "score", "flags")},
        "honest_graded": sum(1 for k, r in rows.items() if k != "flood" and r["status"] == "graded"),
    }
    print(json.dumps(result))
    return 0 if result["within_bound"] and result["honest_graded"] == args.copies else 1


if __name__ == "__main__":
    sys.exit(main())
