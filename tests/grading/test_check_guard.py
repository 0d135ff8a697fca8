"""The runner's check guard on the dlbricks.check package: a patch in any of its modules is
reported and undone, and after the restore the guard finds nothing (no false tampering)."""
from __future__ import annotations

import json

import pytest

from autograder.sandbox_runner.guard import CHECK_GUARD


@pytest.fixture
def shell():
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    start_ipython()
    ip = get_ipython()
    ip.run_cell("import numpy as np\nfrom dlbricks import check", store_history=False)
    yield ip
    from dlbricks.check import notebook

    notebook.uninstall()  # a restore re-imports dlbricks.check, which installs its hooks


def _guard(ip) -> list[str]:
    ip.run_cell(CHECK_GUARD, silent=True)
    return json.loads(ip.user_ns["__autograder_guard_result"])


def _close_fails(ip) -> bool:
    return isinstance(ip.run_cell("check.close(1.0, 2.0)", silent=True).error_in_exec, AssertionError)


@pytest.mark.parametrize("patch, reported", [
    ("import dlbricks.check.checks as _m\n_m.judge_close = lambda *a: check.Verdict(True)", "checks.judge_close"),
    ("import dlbricks.check.judges as _m\n_m.judge_close = lambda *a: check.Verdict(True)", "judges.judge_close"),
    ("check.close = lambda *a, **k: None", "close"),
    ("import dlbricks.check as _c\n_c._allclose = lambda *a, **k: True", "_allclose"),
])
def test_a_patch_is_reported_undone_and_not_reported_again(shell, patch, reported):
    assert _guard(shell) == []
    shell.run_cell(patch, silent=True)
    assert reported in _guard(shell)
    assert _close_fails(shell), "the real check is back"
    assert _guard(shell) == [], "after the restore the guard must find nothing"
