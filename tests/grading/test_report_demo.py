"""The demo class's report names the mistakes planted in it (lesson 01, graded for real)."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AUTOGRADER = str(Path(sys.executable).with_name("autograder"))
LESSON = "01_tensors"
# what each planted mistake must be called in the report
WORDS = {"ex3_matmul_loops": "transpose", "ex7_batch_mean_per_channel": "sum where a mean was wanted"}

pytestmark = pytest.mark.slow


def _planted() -> dict:
    spec = importlib.util.spec_from_file_location("make_submissions_for_report", REPO / "examples" / "make_submissions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PLANTED


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    proc = subprocess.run([AUTOGRADER, "--course-dir", str(REPO), "grade", str(REPO / "examples" / "submitted"),
                           "--assignment", LESSON, "--out", str(out), "--no-progress"],
                          env=dict(os.environ, DLBRICKS_QUICK="1"), capture_output=True, text=True, timeout=1800)
    assert (out / "report.json").is_file(), proc.stdout[-2000:] + proc.stderr[-4000:]
    return out, proc.stdout, json.loads((out / "report.json").read_text())


def _examples(entries: list[dict]) -> set[str]:
    return {e["student"] for m in entries for e in m["examples"]}


def test_the_run_says_where_the_report_is(demo_run):
    out, stdout, _ = demo_run
    assert f"Report:   {out / 'report.html'}" in stdout
    assert (out / "report.html").stat().st_size > 10_000


def test_each_planted_mistake_is_named_with_dan_as_its_example(demo_run):
    _, _, report = demo_run
    assert set(WORDS) == set(_planted()[LESSON]), "a planted mistake without its expected wording here"
    tests = {t["grade_id"]: t for t in report["assignments"][0]["tests"]}
    for grade_id, word in WORDS.items():
        messages = [m for c in tests[f"{grade_id}_tests"]["checks"] for m in c["messages"]]
        named = [m for m in messages if word in m["text"]]
        assert named and "dan_mistakes" in _examples(named), (grade_id, messages)
    # nothing else of dan's is wrong
    wrong = {t["grade_id"] for t in tests.values()
             if "dan_mistakes" in _examples([m for c in t["checks"] for m in c["messages"]] + t["stopped"])}
    assert wrong == {f"{g}_tests" for g in WORDS}


def test_the_other_samples_are_described_as_they_are(demo_run):
    _, _, report = demo_run
    a = report["assignments"][0]
    assert a["statuses"] == {"graded": 4, "invalid": 1}  # cy_broken's file is cut off
    assert [e["student"] for e in a["flags"]["tampering"]] == ["eve_malicious"]
    tests = a["tests"]
    last = tests[-1]  # ben_partial left the last exercise undone
    stopped = next(m for m in last["stopped"] if "NotImplementedError" in m["text"])
    assert "ben_partial" in _examples([stopped])
    everything = [m for t in tests for m in t["stopped"] + [m for c in t["checks"] for m in c["messages"]]]
    assert "ada_right" not in _examples(everything)
    row = next(r for r in report["rows"] if r["student"] == "ada_right")["assignments"][LESSON]
    assert row["score"] == row["max_score"] and row["feedback"] == [f"feedback/ada_right/{LESSON}/{LESSON}.html"]
