"""Which cells call a function that already ran out of time (they get a short time limit)."""
from __future__ import annotations

from autograder.sandbox_runner.main import names_run, struck_timeout


def test_a_cell_that_only_defines_a_caller_does_not_call_it():
    assert "total" not in names_run("def mean_of(xs):\n    return total(xs) / len(xs)")
    assert "total" not in names_run("scale = lambda xs: total(xs) * 2")


def test_calls_decorators_defaults_and_magics_count():
    assert "total" in names_run("print(total([1, 2]))")
    assert "total" in names_run("@cache(total)\ndef g():\n    pass")
    assert "total" in names_run("def g(a=total([1])):\n    return a")
    assert "total" in names_run("%time total([1, 2])")  # not plain Python: every word counts


def test_the_short_limit_is_a_tenth_within_5_to_30_seconds():
    assert (struck_timeout(20), struck_timeout(120), struck_timeout(900)) == (5.0, 12.0, 30.0)
