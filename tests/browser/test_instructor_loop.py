"""The instructor's loop in a real browser: the class report, nbgrader's formgrader, export, re-grade.

The session's graded class of lesson 01 (``graded_class``: 200-odd students
made from the samples, the samples among them) is graded once for the whole
session; these tests work on a copy of its output. In headless Chromium: the
report page renders without a console error, its figure and tables are there
and its links lead somewhere; in
``autograder formgrade`` a written answer gets points and a comment through
the formgrader's own form; ``autograder export`` shows auto + manual totals
and feedback with the comment; and a re-grade of that student keeps them.
"""
from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from grading.graded_class import CLASS_TIMEOUT, copy_out

from .lab import CHROMIUM_ARGS, ROOT, _free_port, chromium_path

# graded-class: the tests that share the session's graded class run on one worker, which grades it once
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("graded-class"), pytest.mark.timeout(CLASS_TIMEOUT)]

AUTOGRADER = str(Path(sys.executable).with_name("autograder"))
LESSON = "01_tensors"
STUDENTS = ("ada_right", "ben_partial", "dan_mistakes")  # samples in the class, looked at by name
BROWSED = 6  # feedback pages the report test opens in the browser (every link is checked on disk)
WRITTEN = "written_why_gpu"  # the lesson's written answer (2 points)
COMMENT = "Right idea: many independent multiply-adds. Say why memory bandwidth matters too."
ENV = dict(os.environ, DLBRICKS_QUICK="1", TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")


def _grade(submitted: Path, out: Path) -> str:
    proc = subprocess.run([AUTOGRADER, "--course-dir", str(ROOT), "grade", str(submitted), "--assignment", LESSON,
                           "--out", str(out), "--no-progress"], env=ENV, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout


def _copy_students(target: Path, students) -> Path:
    for s in students:
        shutil.copytree(ROOT / "examples" / "submitted" / s / LESSON, target / s / LESSON)
    return target


@pytest.fixture(scope="module")
def graded(graded_class, tmp_path_factory):
    assert graded_class.lesson == LESSON
    base = tmp_path_factory.mktemp("instructor-loop")
    readable = sum(s.kind != "cy_broken" for s in graded_class.students.values())  # cut-off files are not listed
    return base, copy_out(graded_class, base / "out"), readable


@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api

    executable = chromium_path()
    if executable is None:
        pytest.fail("Chromium is not installed: run `apt-get install chromium` as root (make setup does).")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "grades.csv").open(newline="") as fh:
        return {r["student_id"]: r for r in csv.DictReader(fh)}


def test_the_report_page_renders_with_its_plots_tables_and_working_links(graded, browser):
    _, out, _ = graded
    context = browser.new_context()
    outside: list[str] = []
    context.route(re.compile(r"^(?!file:)"), lambda route: (outside.append(route.request.url), route.abort()))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    try:
        page.goto((out / "report.html").as_uri())
        assert errors == [] and outside == [], (errors, outside)
        images = page.locator("img")
        assert images.count() == 1
        assert page.evaluate("() => [...document.images].every(i => i.complete && i.naturalWidth > 300)")
        assert page.locator("table").count() >= 2
        assert "transpose" in page.inner_text("body")  # dan's planted mistake, by name
        # every in-page link has its target; every feedback link opens a feedback page
        anchors = page.evaluate("() => [...document.querySelectorAll('a[href^=\"#\"]')].map(a => a.getAttribute('href'))")
        assert anchors and all(page.locator(f"[id='{a[1:]}']").count() == 1 for a in anchors)
        assert errors == []
        links = set(page.evaluate(
            "() => [...document.querySelectorAll('a[href^=\"feedback/\"]')].map(a => a.getAttribute('href'))"))
        graded_rows = [r for r in _rows(out).values() if r["status"] != "invalid"]
        assert len(links) >= len(graded_rows) and all((out / link).is_file() for link in links)
        for link in sorted(links)[:BROWSED]:
            page.goto((out / link).as_uri())
            assert page.title().startswith("Feedback:"), link
        page.goto((out / "report.html").as_uri())
        page.locator("a[href^='feedback/dan_mistakes']").first.click()
        page.wait_for_load_state()
        assert "Student: dan_mistakes" in page.inner_text("body")
    finally:
        context.close()


class Formgrader:
    """``autograder formgrade --out OUT`` as an instructor starts it."""

    def __init__(self, out: Path) -> None:
        self.port = _free_port()
        self.proc = subprocess.Popen([AUTOGRADER, "formgrade", "--out", str(out), "--port", str(self.port)],
                                     env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.token = ""
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not self.token:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            found = re.search(r"token=([0-9a-f]+)", line)
            self.token = found.group(1) if found else ""
        assert self.token, "".join(self.lines)
        self.base = f"http://127.0.0.1:{self.port}"
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.base}/api/status?token={self.token}", timeout=5)
                return
            except OSError:
                time.sleep(1)
        raise AssertionError("the formgrader did not come up:\n" + "".join(self.lines))

    def url(self, path: str) -> str:
        return f"{self.base}{path}?token={self.token}"

    def stop(self) -> None:
        self.proc.terminate()  # the command stops its Jupyter server too
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


def test_a_written_answer_graded_in_the_formgrader_is_exported_and_survives_regrading(graded, browser):
    base, out, n_readable = graded
    before = _rows(out)["ada_right"]
    auto = float(before["max_score"]) - float(before["manual_max"])  # every test passed
    written = float(before["manual_max"])
    assert written == 2 and (float(before["auto_score"]), before["manual_score"], before["manual_pending"]) == \
        (auto, "0", "yes")
    server = Formgrader(out)
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    page = context.new_page()
    try:
        page.goto(server.url("/formgrader"))  # the first link the command prints: it logs the browser in
        page.goto(f"{server.base}/formgrader/gradebook/{LESSON}/{LESSON}")
        page.wait_for_selector(f"text=Submission #{n_readable}", timeout=60_000)  # names hidden by default
        # each submission is listed as needing a person only for its written answer
        submissions = page.evaluate(f"""async () => (await (await fetch(
            '/formgrader/api/submitted_notebooks/{LESSON}/{LESSON}')).json())""")
        ada = next(s for s in submissions if s["student"] == "ada_right")
        assert len(submissions) == n_readable and set(STUDENTS) <= {s["student"] for s in submissions}
        assert ada["needs_manual_grade"] and ada["code_score"] == ada["max_code_score"] == auto
        page.goto(f"{server.base}/formgrader/submissions/{ada['id']}/")
        page.wait_for_load_state("networkidle", timeout=120_000)  # the form's models are bound by then
        score = page.locator(f"input.score#{WRITTEN}")
        with page.expect_response(lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT",
                                  timeout=60_000):
            score.fill("1.5")
            score.press("Tab")
        comment = page.locator(f"textarea#{WRITTEN.split('_tests')[0]}-comment")
        with page.expect_response(lambda r: "/formgrader/api/comment/" in r.url and r.request.method == "PUT",
                                  timeout=60_000):
            comment.fill(COMMENT)
            comment.press("Tab")
        # with the written answer graded nothing is left for a person: every judged test was settled
        after = page.evaluate(f"""async () => (await (await fetch(
            '/formgrader/api/submitted_notebooks/{LESSON}/{LESSON}')).json())""")
        ada = next(s for s in after if s["student"] == "ada_right")
        assert not ada["needs_manual_grade"] and ada["score"] == auto + 1.5
    finally:
        context.close()
        server.stop()

    proc = subprocess.run([AUTOGRADER, "--course-dir", str(ROOT), "export", "--out", str(out)], env=ENV,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    ada = _rows(out)["ada_right"]
    assert (ada["auto_score"], ada["manual_score"], ada["score"], ada["max_score"], ada["manual_pending"]) == \
        (f"{auto:g}", "1.5", f"{auto + 1.5:g}", f"{auto + written:g}", "no")
    assert (out / "grades_wide.csv").read_text().splitlines()[2] == f"ada_right,{auto + 1.5:g}"
    feedback = (out / "feedback" / "ada_right" / LESSON / f"{LESSON}.html").read_text()
    assert "1.5 / 2 points, graded by hand" in feedback and COMMENT in feedback

    # ada hands in again and is re-graded: the written answer's points and comment stay
    _grade(_copy_students(base / "resubmitted", ["ada_right"]), out)
    ada = _rows(out)["ada_right"]
    assert (ada["auto_score"], ada["manual_score"], ada["score"], ada["manual_pending"]) == \
        (f"{auto:g}", "1.5", f"{auto + 1.5:g}", "no")
    subprocess.run([AUTOGRADER, "--course-dir", str(ROOT), "export", "--out", str(out)], env=ENV, check=True,
                   capture_output=True, timeout=600)
    assert COMMENT in (out / "feedback" / "ada_right" / LESSON / f"{LESSON}.html").read_text()
