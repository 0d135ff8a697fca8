"""A synthetic class of graded submissions with known mistakes (report tests and benchmark).

Each exercise is judged the way the grader judges a real notebook: the
solution's check records and a student's check records are made by
``dlbricks.check`` itself (recording on), and
:func:`autograder.steps.judge.judge_test` decides the test cell from them, so
the failure messages and hints are the library's own ("your result is the
transpose of the expected one", "5 times the expected value: did you sum where
a mean was wanted"). Every judged variant of every exercise is computed once;
a class is then students drawing a variant per exercise (weaker students make
more mistakes), and the ground truth of who made which mistake is returned
with the records so that a test can count everything directly.
"""
from __future__ import annotations

import copy
import json
import os
import random
import tempfile
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from autograder.report import result_record
from autograder.steps.execute import CellResult, SegmentResult
from autograder.steps.judge import Judgement, TestResult, judge_test
from autograder.steps.record import NotebookGrade

_rng = np.random.default_rng(7)
X = _rng.normal(size=(4, 3))
W = _rng.normal(size=(3, 5))
BATCH = _rng.normal(size=(5, 3))
BATCH_HIDDEN = _rng.normal(size=(5, 2))
V = _rng.normal(size=6) + 3.0


@dataclass(frozen=True)
class Check:
    label: str
    hidden: bool
    expected: np.ndarray


@dataclass(frozen=True)
class Exercise:
    grade_id: str
    points: float
    checks: tuple[Check, ...]
    # variant name -> what the student's code returns for a check (None: the cell stops with an error)
    variants: dict[str, Callable[[Check], np.ndarray] | None]


def _same(c: Check) -> np.ndarray:
    return c.expected


EXERCISES = (
    Exercise("ex1_matmul_tests", 2.0, (
        Check("X @ W for a (4, 3) batch", False, X @ W),
        Check("X @ W for a (3, 3) batch", False, X[:3] @ W),
        Check("X @ W for another batch", True, (X * 2) @ W)),
        {"right": _same, "transposed": lambda c: c.expected.T.copy(), "not_done": None}),
    Exercise("ex2_batch_mean_tests", 2.0, (
        Check("mean over a batch of 5", False, BATCH.mean(axis=0)),
        Check("mean over a hidden batch of 5", True, BATCH_HIDDEN.mean(axis=0))),
        {"right": _same, "sum_not_mean": lambda c: c.expected * 5, "not_done": None}),
    Exercise("ex3_gradient_tests", 3.0, (
        Check("gradient of the loss", False, V * 0.5),
        Check("gradient at another point", True, V - 1.0)),
        {"right": _same, "sign_error": lambda c: -c.expected, "not_done": None}),
    Exercise("ex4_bias_tests", 1.0, (
        Check("z = X @ w + b", False, X @ W[:, 0] + 0.5),
        Check("z for a hidden batch", True, X[::-1] @ W[:, 1] + 0.25)),
        # passes the visible check, forgets the bias on the hidden input
        {"right": _same, "hidden_only": lambda c: c.expected - (0.25 if c.hidden else 0.0)}),
)
MISTAKE_WORDS = {"transposed": "transpose", "sum_not_mean": "sum where a mean was wanted",
                 "sign_error": "opposite sign", "not_done": "NotImplementedError"}


def _records(pairs: list[tuple[np.ndarray | None, Check]]) -> list[dict]:
    """The check records ``dlbricks.check.close`` writes for (actual, check) pairs."""
    from dlbricks import check

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "records.jsonl")
        old = os.environ.get(check.RECORD_ENV)
        os.environ[check.RECORD_ENV] = path
        try:
            for actual, c in pairs:
                try:
                    check.close(actual, c.expected, label=c.label)
                except AssertionError:
                    pass
        finally:
            if old is None:
                del os.environ[check.RECORD_ENV]
            else:
                os.environ[check.RECORD_ENV] = old
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh]


def _segments(ex: Exercise, values: list[np.ndarray] | None) -> list[SegmentResult]:
    segs = []
    for hidden in (False, True):
        checks = [(i, c) for i, c in enumerate(ex.checks) if c.hidden == hidden]
        if not checks:
            continue
        if values is None:
            error = {"ename": "NotImplementedError", "evalue": "", "traceback": []}
            segs.append(SegmentResult(hidden, True, "error", error, []))
        else:
            segs.append(SegmentResult(hidden, True, "ok", None, _records([(values[i], c) for i, c in checks])))
    return segs


def _reference(ex: Exercise) -> list[dict]:
    return [{"hidden": s.hidden, "records": s.records} for s in _segments(ex, [c.expected for c in ex.checks])]


def judged_variants() -> dict[str, dict[str, TestResult]]:
    """grade_id -> variant -> the judged test cell (computed once per variant)."""
    out: dict[str, dict[str, TestResult]] = {}
    for ex in EXERCISES:
        reference = _reference(ex)
        for name, make in ex.variants.items():
            values = None if make is None else [make(c) for c in ex.checks]
            segs = _segments(ex, values)
            status = "ok" if all(s.status == "ok" for s in segs) else "error"
            cell = CellResult(0, status, segs, [], False, 0.1)
            out.setdefault(ex.grade_id, {})[name] = judge_test(ex.grade_id, ex.points, reference, cell)
    return out


def _pick(ex: Exercise, ability: float, rnd: random.Random) -> str:
    if rnd.random() < ability:
        return "right"
    wrong = [v for v in ex.variants if v != "right"]
    return rnd.choice(wrong)


def synthetic_class(n_students: int, assignments: tuple[str, ...] = ("01_synthetic",), seed: int = 0,
                    variants: dict[str, dict[str, TestResult]] | None = None
                    ) -> tuple[list[dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]:
    """Result records of ``n_students`` x ``assignments``, and the ground truth.

    Returns
    -------
    records : what ``autograder grade`` keeps in OUT/results (one per notebook)
    truth : (student, assignment) -> {"status", "variants": {grade_id: variant}, "flags", "seconds"}
    """
    variants = variants or judged_variants()
    rnd = random.Random(seed)
    max_score = sum(ex.points for ex in EXERCISES)
    records, truth = [], {}
    for i in range(n_students):
        student = f"s{i:04d}"
        ability = rnd.uniform(0.2, 1.0)
        for assignment in assignments:
            roll = rnd.random()
            status = "invalid" if roll < 0.03 else "missing" if roll < 0.05 else "graded"
            flags = ["timeout"] if status == "graded" and rnd.random() < 0.02 else []
            seconds = round(rnd.uniform(2.0, 30.0), 2)
            picked = {ex.grade_id: _pick(ex, ability, rnd) for ex in EXERCISES} if status == "graded" else {}
            tests = [copy.deepcopy(variants[gid][v]) for gid, v in picked.items()]
            grade = NotebookGrade(student=student, assignment=assignment, notebook=assignment, status=status,
                                  points={ex.grade_id: 0.0 for ex in EXERCISES}, max_score=max_score,
                                  flags=flags, seconds=seconds if status == "graded" else 0.0,
                                  detail="the file is not valid notebook JSON" if status == "invalid" else "")
            if status == "graded":
                grade.points = {t.grade_id: t.points for t in tests}
                grade.judgement = Judgement(tests, flags)
            records.append(result_record(grade))
            truth[(student, assignment)] = {"status": status, "variants": picked, "flags": flags,
                                            "seconds": grade.seconds}
    return records, truth
