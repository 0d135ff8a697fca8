"""The per-submission function: the same on a local process pool and on Dask workers.

A job is plain data prepared by the parent (the restored notebook's execution
plan, the master's tests and the reference records); the result is plain data
too (what the sandbox reported and the judgement). Nothing here touches the
gradebook or the output folder: one parent process writes those.
"""
from __future__ import annotations

import time
import traceback
from typing import Any

from .steps.execute import execute_plan, report_to_dict
from .steps.judge import judge, judgement_to_dict


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
    {"key", "report": report_to_dict(...), "judgement": judgement_to_dict(...) or None,
     "seconds": float} or {"key", "error": str} when the grader itself failed.
    """
    start = time.monotonic()
    try:
        master = job["master"]
        report = execute_plan(job["plan"], job["settings"])
        judgement = None
        if job.get("reference") is not None:
            judgement = judgement_to_dict(judge(report, job["plan"], master, job["reference"]))
        return {"key": job["key"], "report": report_to_dict(report),
                "judgement": judgement, "seconds": time.monotonic() - start}
    except Exception as exc:  # reported as this submission's grader error; the batch goes on
        return {"key": job["key"], "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=6), "seconds": time.monotonic() - start}


def run_plan_job(job: dict[str, Any]) -> dict[str, Any]:
    """Execute a plan without judging it (the instructor's solution, for reference records).

    Returns {"key", "report": report_to_dict(...)} or {"key", "error": str}.
    """
    try:
        report = execute_plan(job["plan"], job["settings"])
        return {"key": job["key"], "report": report_to_dict(report)}
    except Exception as exc:
        return {"key": job["key"], "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=6)}
