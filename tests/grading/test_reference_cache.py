"""The solution's reference records are cached per limits: other limits run the solution again."""
from __future__ import annotations

from dataclasses import replace

from autograder.master import read_master
from autograder.reference import load_cached_reference, store_reference
from autograder.sandbox import Limits, RunSettings

from .conftest import FIXTURE_ASSIGNMENT, FIXTURE_COURSE

SOURCE = FIXTURE_COURSE / "source" / FIXTURE_ASSIGNMENT / f"{FIXTURE_ASSIGNMENT}.ipynb"
RECORDS = {"relu_tests": [{"hidden": False, "records": [{"check": "close", "label": "relu", "passed": True}]}]}


def test_a_reference_is_found_only_under_the_limits_it_ran_with(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRADER_CACHE_DIR", str(tmp_path))
    master = read_master(SOURCE, FIXTURE_ASSIGNMENT)
    settings = RunSettings(timeout=20.0, limits=Limits(memory_mb=1024))
    store_reference(SOURCE, master, RECORDS, settings)
    assert load_cached_reference(SOURCE, master, settings) == RECORDS
    assert load_cached_reference(SOURCE, master, RunSettings(timeout=20.0, limits=Limits(memory_mb=1024))) == RECORDS
    # a kernel that takes longer to start gives the same results: no new run
    assert load_cached_reference(SOURCE, master, replace(settings, startup_timeout=300.0)) == RECORDS
    for other in (replace(settings, limits=Limits(memory_mb=150)), replace(settings, timeout=120.0),
                  replace(settings, deadline=60.0), replace(settings, limits=Limits(memory_mb=1024, nproc=16)),
                  replace(settings, limits=Limits(memory_mb=1024, cell_output_bytes=1024))):
        assert load_cached_reference(SOURCE, master, other) is None, other
