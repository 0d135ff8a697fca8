"""The per-submission function: the same on a local process pool and on Dask workers.

A job is prepared by the parent (the restored notebook's execution plan, the
master's tests, the reference records and the run settings); the result is what
the sandbox reported and the judgement, as the dataclasses they are: parent and
workers trust each other, and both executors pickle what crosses between them.
Nothing here touches the gradebook or the output folder: one parent process
writes those.
"""
from __future__ import annotations

import time
import traceback
from typing import Any

from .steps.execute import execute_plan
from .steps.judge import judge


def warm_up() -> None:
    """Ready a fresh worker process: what every sandbox start asks of the system, once."""
    from .sandbox import bwrap_options

    bwrap_options()


def grade_job(job: dict[str, Any]) -> dict[str, Any]:
    """Execute one restored submission in a fresh sandbox and judge it.

    Parameters
    ----------
    job : {"key": str, "plan": [...], "master": MasterNotebook,
           "reference": {...} or None, "settings": RunSettings}
        The parent and its workers trust each other: the executors pickle the
        dataclasses as they are.
        Without a reference (the solution's run is still going), the submission
        is executed only; the parent judges it once the reference is known.

    Returns
    -------
    {"key", "report": ExecutionReport, "judgement": Judgement or None, "seconds": float}
    or {"key", "error": str, "traceback": str} when the grader itself failed.
    """
    start = time.monotonic()
    try:
        master = job["master"]
        report = execute_plan(job["plan"], job["settings"])
        judgement = None
        if job.get("reference") is not None:
            judgement = judge(report, job["plan"], master, job["reference"])
        return {"key": job["key"], "report": report, "judgement": judgement,
                "seconds": time.monotonic() - start}
    except Exception as exc:  # reported as this submission's grader error; the batch goes on
        return {"key": job["key"], "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=6), "seconds": time.monotonic() - start}


def run_plan_job(job: dict[str, Any]) -> dict[str, Any]:
    """Execute a plan without judging it (the instructor's solution, for reference records).

    Returns {"key", "report": ExecutionReport} or {"key", "error": str, "traceback": str}.
    """
    try:
        report = execute_plan(job["plan"], job["settings"])
        return {"key": job["key"], "report": report}
    except Exception as exc:
        return {"key": job["key"], "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=6)}
