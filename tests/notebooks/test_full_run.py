"""Every lesson in full mode (quick mode off), as students run them.

CI and grading run quick mode; this test runs ``benchmarks/full_run.py`` on every
lesson with ``DLBRICKS_QUICK`` unset, so a claim of the text that only holds in
quick mode, or a check that fails after the longer training, fails here. It takes
tens of minutes on two cores (``make full-run`` runs it alone and keeps the log in
``benchmarks/results/full_run/``).

It is skipped only on request, with the reason printed: set
``DLBRICKS_SKIP_FULL_RUN`` to the reason (``make test`` does, because ``make
full-run`` is its own step).
"""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP_REASON = os.environ.get("DLBRICKS_SKIP_FULL_RUN", "").strip()

pytestmark = [pytest.mark.slow, pytest.mark.full_run, pytest.mark.xdist_group("full-run")]


def _full_run_module():
    spec = importlib.util.spec_from_file_location("full_run", ROOT / "benchmarks" / "full_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(bool(SKIP_REASON), reason=f"full-mode run skipped on request: {SKIP_REASON}")
def test_every_lesson_runs_in_full_mode():
    full_run = _full_run_module()
    out = Path(os.environ.get("DLBRICKS_FULL_RUN_OUT", ROOT / "benchmarks" / "results" / "full_run"))
    code = full_run.main(["--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    failed = {r["lesson"]: r["error"] for r in summary["lessons"] if r["status"] != "ok"}
    assert code == 0 and not failed, f"lessons failing in full mode (logs in {out}): {failed}"
    assert [r["lesson"] for r in summary["lessons"]] == full_run.lessons_in(ROOT / "source")


def test_full_mode_environment_turns_quick_mode_off(monkeypatch):
    # The run is only worth its time if the kernel really is in full mode.
    monkeypatch.setenv("DLBRICKS_QUICK", "1")
    env = _full_run_module().full_mode_env()
    assert "DLBRICKS_QUICK" not in env
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "3"
