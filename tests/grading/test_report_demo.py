"""The demo class's report names the mistakes planted in it (lesson 01, graded for real).

The five samples of examples/submitted are graded within the session's class
(``graded_class``: they keep their names there), so this costs no grading of its own.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from .graded_class import CLASS_TIMEOUT

REPO = Path(__file__).resolve().parents[2]
LESSON = "01_tensors"

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("graded-class"), pytest.mark.timeout(CLASS_TIMEOUT)]


def _planted() -> dict:
    spec = importlib.util.spec_from_file_location("make_submissions_for_report", REPO / "examples" / "make_submissions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PLANTED


@pytest.fixture(scope="module")
def demo_run(graded_class):
    assert graded_class.lesson == LESSON
    out = graded_class.out
    return out, graded_class.stdout, json.loads((out / "report.json").read_text())


def _examples(entries: list[dict]) -> set[str]:
    return {e["student"] for m in entries for e in m["examples"]}


def test_the_run_says_where_the_report_is(demo_run):
    out, stdout, _ = demo_run
    assert f"Report:   {out / 'report.html'}" in stdout
    assert (out / "report.html").stat().st_size > 10_000


def test_each_planted_mistake_is_named_with_dan_as_its_example(demo_run):
    _, _, report = demo_run
    planted = _planted()[LESSON]  # what the report must call each mistake -> (function, code)
    assert len(planted) >= 2
    tests = report["assignments"][0]["tests"]
    dans = {}  # test cell -> the messages of its checks that dan is an example of
    for t in tests:
        mine = [m for c in t["checks"] for m in c["messages"] if "dan_mistakes" in _examples([m])]
        mine += [m for m in t["stopped"] if "dan_mistakes" in _examples([m])]
        if mine:
            dans[t["grade_id"]] = mine
    # one failing test cell per planted mistake, each named as planted, and nothing else wrong
    assert len(dans) == len(planted), dans
    for words in planted:
        assert sum(any(words in m["text"] for m in ms) for ms in dans.values()) == 1, (words, dans)


def test_the_other_samples_are_described_as_they_are(demo_run):
    _, _, report = demo_run
    a = report["assignments"][0]
    rows = {r["student"]: r["assignments"][LESSON] for r in report["rows"]}
    assert rows["cy_broken"]["status"] == "invalid"  # its file is cut off
    assert "eve_malicious" in [e["student"] for e in a["flags"]["tampering"]]
    assert rows["eve_malicious"]["score"] == 0 and rows["eve_malicious"]["flags"] == ["tampering"]
    tests = a["tests"]
    last = tests[-1]  # ben_partial left the last exercise undone
    stopped = next(m for m in last["stopped"] if "NotImplementedError" in m["text"])
    assert "ben_partial" in _examples([stopped])
    everything = [m for t in tests for m in t["stopped"] + [m for c in t["checks"] for m in c["messages"]]]
    assert "ada_right" not in _examples(everything)
    row = rows["ada_right"]
    assert row["score"] == row["max_score"] and row["feedback"] == [f"feedback/ada_right/{LESSON}/{LESSON}.html"]
