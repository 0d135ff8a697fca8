"""The class report, checked against a direct count on a synthetic class with known mistakes.

240 students x 2 assignments, judged by ``dlbricks.check`` and the grader's
own ``judge_test`` (see ``synthetic_class.py``); every number of the report is
recomputed here from the ground truth (who made which mistake), never from
the report's own code.
"""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from autograder.report import build_report, load_results, message_key, render_html, save_result, write_report
from autograder.steps.record import NotebookGrade

from .synthetic_class import EXERCISES, MISTAKE_WORDS, synthetic_class

N_STUDENTS = 240
ASSIGNMENTS = ("01_synthetic", "02_synthetic")


@pytest.fixture(scope="module")
def synthetic():
    records, truth = synthetic_class(N_STUDENTS, ASSIGNMENTS, seed=3)
    return records, truth, build_report(records)


def _graded(truth, assignment):
    return {s: t for (s, a), t in truth.items() if a == assignment and t["status"] == "graded"}


def _points(variants: dict[str, str]) -> dict[str, float]:
    return {ex.grade_id: ex.points if variants[ex.grade_id] == "right" else 0.0 for ex in EXERCISES}


def test_the_class_is_big_and_varied(synthetic):
    records, truth, report = synthetic
    graded = [t for t in truth.values() if t["status"] == "graded"]
    assert len(graded) >= 400 and len({s for s, _ in truth}) == N_STUDENTS
    made = {v for t in graded for v in t["variants"].values()}
    assert made >= {"right", "transposed", "sum_not_mean", "sign_error", "not_done", "hidden_only"}
    assert report["students"] == N_STUDENTS and report["submissions"] == len(truth)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_scores_histogram_and_statuses_match_a_direct_count(synthetic, assignment):
    _, truth, report = synthetic
    a = next(x for x in report["assignments"] if x["name"] == assignment)
    graded = _graded(truth, assignment)
    scores = [sum(_points(t["variants"]).values()) for t in graded.values()]
    assert a["graded"] == len(graded)
    assert a["mean"] == pytest.approx(np.mean(scores)) and a["median"] == pytest.approx(np.median(scores))
    max_score = sum(ex.points for ex in EXERCISES)
    counts, _ = np.histogram(scores, bins=10, range=(0, max_score))
    assert a["histogram"]["counts"] == counts.tolist()
    statuses = {}
    for (s, name), t in truth.items():
        if name == assignment:
            statuses[t["status"]] = statuses.get(t["status"], 0) + 1
    assert a["statuses"] == statuses
    flagged = sorted(s for s, t in graded.items() if "timeout" in t["flags"])
    assert [e["student"] for e in a["flags"].get("timeout", [])] == flagged


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_pass_rates_mean_points_and_discrimination_match_a_direct_computation(synthetic, assignment):
    _, truth, report = synthetic
    a = next(x for x in report["assignments"] if x["name"] == assignment)
    graded = _graded(truth, assignment)
    students = sorted(graded)
    tests = {t["grade_id"]: t for t in a["tests"]}
    assert list(tests) == [ex.grade_id for ex in EXERCISES]
    for ex in EXERCISES:
        t = tests[ex.grade_id]
        chosen = [graded[s]["variants"][ex.grade_id] for s in students]
        passed = np.array([v == "right" for v in chosen], dtype=float)
        visible_ok = np.array([v in ("right", "hidden_only") for v in chosen], dtype=float)
        assert t["n"] == len(students)
        assert t["pass_rate"] == pytest.approx(passed.mean())
        assert t["visible_pass_rate"] == pytest.approx(visible_ok.mean())
        assert t["hidden_pass_rate"] == pytest.approx(passed.mean())  # every wrong variant fails a hidden test
        assert t["mean_points"] == pytest.approx(passed.mean() * ex.points)
        rest = np.array([sum(_points(graded[s]["variants"]).values()) for s in students]) - passed * ex.points
        assert t["discrimination"] == pytest.approx(np.corrcoef(passed, rest)[0, 1])
        # weaker students make more mistakes: every test tells them apart
        assert t["discrimination"] > 0.1


def test_each_mistake_is_named_with_its_share_and_examples(synthetic):
    _, truth, report = synthetic
    a = report["assignments"][0]
    graded = _graded(truth, a["name"])
    by_id = {t["grade_id"]: t for t in a["tests"]}
    for ex in EXERCISES:
        first_check = by_id[ex.grade_id]["checks"][0]
        hidden_check = next(c for c in by_id[ex.grade_id]["checks"] if c["hidden"])
        for variant, word in MISTAKE_WORDS.items():
            if variant not in ex.variants:
                continue
            who = sorted(s for s, t in graded.items() if t["variants"][ex.grade_id] == variant)
            if not who:
                continue
            # a cell stopped by an error is counted once, by its error, not under each check
            pool = by_id[ex.grade_id]["stopped"] if variant == "not_done" else first_check["messages"]
            msg = next(m for m in pool if word in m["text"])
            assert msg["count"] == len(who), (ex.grade_id, variant)
            assert msg["share"] == pytest.approx(len(who) / len(graded))
            assert [e["student"] for e in msg["examples"]] == who[:3]
            assert msg["examples"][0]["feedback"] == f"feedback/{who[0]}/{a['name']}/{a['name']}.html"
        if "hidden_only" in ex.variants:  # visible check passes; the hidden one names the missing bias
            who = [s for s, t in graded.items() if t["variants"][ex.grade_id] == "hidden_only"]
            assert first_check["failed"] == 0
            msg = next(m for m in hidden_check["messages"] if "missing bias" in m["text"])
            assert msg["count"] == len(who)
    # the most frequent message comes first
    for t in a["tests"]:
        for c in t["checks"]:
            counts = [m["count"] for m in c["messages"]]
            assert counts == sorted(counts, reverse=True)


def test_a_test_that_almost_nobody_passes_is_warned_about():
    records, truth = synthetic_class(60, ("01_synthetic",), seed=5)
    # a broken hidden test: everybody fails ex4 although the visible check passes
    for r in records:
        for t in r["tests"]:
            if t["grade_id"] == "ex4_bias_tests":
                t["status"], t["points"] = "failed", 0.0
                for c in t["checks"]:
                    if c["hidden"]:
                        c["passed"], c["message"] = False, "values differ from the expected ones."
                    else:
                        c["passed"], c["message"] = True, ""
    report = build_report(records)
    warnings = report["warnings"]
    assert len(warnings) == 1 and "ex4_bias_tests" in warnings[0] and "hidden tests" in warnings[0]
    assert "only 0 of" in warnings[0]


def test_message_keys_ignore_the_students_numbers():
    a = "values differ.\nHint: every entry is 5 times the expected value: did you sum where a mean was wanted"
    b = "values differ.\nHint: every entry is 4 times the expected value: did you sum where a mean was wanted"
    assert message_key(a) == message_key(b) != message_key("expected shape (4, 5), got shape (5, 4).")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links, self.images, self.tables, self.scripts, self.ids = [], [], 0, 0, set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a":
            self.links.append(attrs.get("href", ""))
        elif tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "table":
            self.tables += 1
        elif tag == "script":
            self.scripts += 1


def test_the_page_is_self_contained_and_every_link_resolves(tmp_path, synthetic):
    records, _, _ = synthetic
    records = [r for r in records if r["student"] < "s0030"]  # a small class keeps this test fast
    for r in records:  # the feedback pages the links point to
        page = tmp_path / "feedback" / r["student"] / r["assignment"] / f"{r['notebook']}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text("<html></html>")
    _, html_path = write_report(tmp_path, records)
    text = html_path.read_text()
    page = _Page()
    page.feed(text)
    assert page.scripts == 0 and not re.search(r"(src|href)=\"(https?:)?//", text), "no network, no script"
    assert len(page.images) == len(ASSIGNMENTS) and all(s.startswith("data:image/png;base64,") for s in page.images)
    assert page.tables >= len(ASSIGNMENTS) + 1  # a table of tests per assignment, the students
    for link in page.links:
        if link.startswith("#"):
            assert link[1:] in page.ids, link
        else:
            assert (tmp_path / link).is_file(), link
    assert sum(1 for link in page.links if link.startswith("feedback/")) >= 30


def test_records_round_trip_through_the_output_folder(tmp_path):
    from .synthetic_class import judged_variants

    variants = judged_variants()
    tests = [variants[ex.grade_id]["right"] for ex in EXERCISES]
    from autograder.steps.judge import Judgement

    grade = NotebookGrade("ann", "a1", "a1", "graded", {t.grade_id: t.points for t in tests}, 8.0,
                          judgement=Judgement(tests), seconds=3.5)
    save_result(tmp_path, grade)
    save_result(tmp_path, NotebookGrade("bob", "a1", "a1", "invalid", {}, 8.0, detail="not JSON"))
    (tmp_path / "results" / "eve" / "a1").mkdir(parents=True)
    (tmp_path / "results" / "eve" / "a1" / "a1.json").write_text("{not json")  # skipped, not fatal
    records = load_results(tmp_path)
    assert [(r["student"], r["status"]) for r in records] == [("ann", "graded"), ("bob", "invalid")]
    json_path, html_path = write_report(tmp_path)
    report = json.loads(json_path.read_text())
    assert report["assignments"][0]["graded"] == 1 and report["assignments"][0]["mean"] == 8.0
    assert "bob" in render_html(report) and html_path.is_file()


def test_a_late_submission_shows_its_time_late_and_penalty(tmp_path):
    late = NotebookGrade("ann", "a1", "a1", "graded", {"t": 3.0}, 8.0, flags=["late"],
                         seconds_late=2 * 3600 + 300, late_penalty=3.0)
    save_result(tmp_path, late)
    save_result(tmp_path, NotebookGrade("bob", "a1", "a1", "graded", {"t": 8.0}, 8.0))
    json_path, html_path = write_report(tmp_path)
    cells = {row["student"]: row["assignments"]["a1"] for row in json.loads(json_path.read_text())["rows"]}
    assert (cells["ann"]["seconds_late"], cells["ann"]["late_penalty"]) == (7500.0, 3.0)
    assert cells["bob"]["seconds_late"] == 0.0
    page = html_path.read_text()
    assert "late, late by 2 h 05 min, penalty 3" in page and page.count("late by") == 1
