"""Every lesson in full mode: wall time, and the numbers the text quotes.

    .venv/bin/python benchmarks/full_run.py [LESSON ...] [--out benchmarks/results/full_run]

Students run the lessons without ``DLBRICKS_QUICK``: longer training, more
epochs, more steps. CI and grading only ever run quick mode, so this script is
where full mode is executed and measured. For each lesson (all of ``source/``
when none is named) it runs the solution notebook, hidden tests included, in a
fresh kernel with quick mode off, on whatever cores the machine has, in a
temporary folder (lesson 08 writes TensorBoard logs next to the notebook).

It writes, under ``--out`` (git-ignored):

- ``<lesson>.txt``: every printed line and every Markdown/text result of every
  code cell, labelled with the cell number, the cell's wall time, and any error:
  the numbers the lesson's commentary quotes, as a full run gives them;
- ``<lesson>.ipynb``: the executed notebook (figures included);
- ``summary.json``: per lesson the wall time, the status, the slowest cells.

A check that fails in full mode (an exercise test, an assertion of the text)
stops that lesson with its error in the log and status "error"; the other
lessons still run. Prints one JSON line last; exits 1 when a lesson failed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "benchmarks" / "results" / "full_run"
CELL_TIMEOUT_S = 3600


def lessons_in(source: Path) -> list[str]:
    return sorted(p.name for p in source.iterdir() if p.is_dir() and (p / f"{p.name}.ipynb").exists())


def full_mode_env() -> dict[str, str]:
    """The kernel's environment: quick mode off, TensorFlow quiet, figures off-screen."""
    env = {k: v for k, v in os.environ.items() if k != "DLBRICKS_QUICK"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0", MPLBACKEND="Agg",
               PYTHONWARNINGS="ignore::DeprecationWarning")
    env.pop("DLBRICKS_CHECK_RECORD", None)
    return env


def _cell_seconds(cell) -> float | None:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.status.busy"), timing.get("iopub.status.idle")
    if not (start and end):
        return None
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def _cell_text(cell) -> list[str]:
    """What a reader sees under a code cell: printed text, text/markdown results, errors."""
    lines = []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":
            lines.append(out.get("text", ""))
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            if "text/markdown" in data:
                lines.append(data["text/markdown"])
            elif "image/png" in data:
                lines.append("[figure]")
            elif "text/plain" in data:
                lines.append(data["text/plain"])
        elif kind == "error":
            lines.append(f"ERROR {out.get('ename')}: {out.get('evalue')}")
    return [text if isinstance(text, str) else "".join(text) for text in lines]


def run_lesson(lesson: str, out_dir: Path, source: Path = REPO / "source") -> dict:
    """Execute one solution notebook in full mode; write its log; return its summary."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(source / lesson / f"{lesson}.ipynb", as_version=4)
    status, error = "ok", None
    with tempfile.TemporaryDirectory(prefix=f"full-run-{lesson}-") as work:
        shutil.copy(source / lesson / f"{lesson}.ipynb", Path(work))
        client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", record_timing=True,
                                resources={"metadata": {"path": work}})
        started = time.perf_counter()
        try:
            client.execute(cwd=work, env=full_mode_env())
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
            status, error = "error", f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:300]}"
        seconds = time.perf_counter() - started

    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_dir / f"{lesson}.ipynb")
    cell_times = []
    with open(out_dir / f"{lesson}.txt", "w") as log:
        log.write(f"# {lesson}: full mode, {seconds:.1f} s wall time, status {status}\n")
        if error:
            log.write(f"# {error}\n")
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            took = _cell_seconds(cell)
            if took is not None:
                cell_times.append((round(took, 1), index))
            text = "".join(_cell_text(cell)).rstrip()
            if text:
                grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
                log.write(f"\n--- cell {index} {grade_id} ({took or 0:.1f} s)\n{text}\n")
    slowest = [{"cell": i, "seconds": s} for s, i in sorted(cell_times, reverse=True)[:3]]
    return {"lesson": lesson, "seconds": round(seconds, 1), "status": status, "error": error,
            "slowest_cells": slowest}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", help="lesson folders (default: every lesson in source/)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the logs")
    args = parser.parse_args(argv)
    known = lessons_in(REPO / "source")
    unknown = [name for name in args.lessons if name not in known]
    if unknown:
        parser.error(f"no lesson {unknown} under source/; choose from {known}")
    results = []
    for lesson in args.lessons or known:
        result = run_lesson(lesson, args.out)
        results.append(result)
        print(f"{lesson:24s} {result['seconds']:8.1f} s  {result['status']}"
              + (f"  ({result['error']})" if result["error"] else ""), flush=True)
    summary = {"benchmark": "full_run", "cores": os.cpu_count(), "python": platform.python_version(),
               "log_dir": str(args.out), "total_s": round(sum(r["seconds"] for r in results), 1),
               "lessons": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps({"benchmark": "full_run", "total_s": summary["total_s"],
                      **{r["lesson"]: (r["seconds"] if r["status"] == "ok" else "error") for r in results}}))
    return 0 if all(r["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
