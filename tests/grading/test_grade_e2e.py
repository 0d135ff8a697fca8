"""End to end: grade a class of crafted submissions once, then check every outcome.

The batch runs through the real command line (`autograder grade`), sandboxed,
two at a time, with short time limits. One module-scoped fixture grades it;
each test below reads what that run left in OUT.
"""
from __future__ import annotations

import csv
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .conftest import FIXTURE_ASSIGNMENT, FIXTURE_COURSE, processes_matching
from .crafted import HIDDEN_SNIPPETS, REPO, SECRET_ENV, SECRET_VALUE, crafted_batch

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("grading-e2e")]

AUTOGRADER = str(Path(sys.executable).with_name("autograder"))


class LoopbackServer:
    """A TCP server outside the sandbox that records every connection it gets."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.received.append(conn.recv(1000) or b"<connected>")
                except OSError:
                    self.received.append(b"<connected>")

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        self.sock.close()


def run_grader(submitted: Path, out: Path, *extra: str, cache: Path, env_extra: dict | None = None,
               timeout: int = 1500, course: Path = FIXTURE_COURSE) -> subprocess.CompletedProcess:
    env = dict(os.environ, AUTOGRADER_CACHE_DIR=str(cache), **(env_extra or {}))
    cmd = [AUTOGRADER, "--course-dir", str(course), "grade", str(submitted), "--out", str(out),
           "--timeout", "6", "--memory", "1024", *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def read_rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "grades.csv").open(newline="") as fh:
        return {r["student_id"]: r for r in csv.DictReader(fh)}


def output_text(out: Path, student: str) -> str:
    """Everything the student's executed notebook printed (from OUT/autograded/)."""
    import nbformat

    nb = nbformat.read(out / "autograded" / student / FIXTURE_ASSIGNMENT / f"{FIXTURE_ASSIGNMENT}.ipynb",
                       as_version=4)
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            parts.append(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                         + o.get("ename", "") + o.get("evalue", ""))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the crafted class once: (batch, rows, out, completed process, server)."""
    tmp = tmp_path_factory.mktemp("crafted")
    server = LoopbackServer()
    try:
        batch = crafted_batch(server.port)
        submitted = tmp / "submitted"
        for item in batch:
            item.write(submitted)
        out = tmp / "out"
        proc = run_grader(submitted, out, "--workers", "2", cache=tmp / "cache",
                          env_extra={SECRET_ENV: SECRET_VALUE})
        rows = read_rows(out) if (out / "grades.csv").exists() else {}
        yield batch, rows, out, proc, server
    finally:
        server.close()


def test_the_batch_completes_with_one_row_per_submission(graded):
    batch, rows, out, proc, _ = graded
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(rows) == sorted(c.student for c in batch)
    assert all(r["assignment"] == FIXTURE_ASSIGNMENT and r["max_score"] == "5" for r in rows.values())
    assert "Graded" in proc.stdout and "grades.csv" in proc.stdout  # the summary


@pytest.mark.parametrize("student", [c.student for c in crafted_batch(0)])
def test_each_submission_gets_its_expected_outcome(graded, student):
    batch, rows, _, proc, _ = graded
    crafted = next(c for c in batch if c.student == student)
    row = rows[student]
    flags = set(filter(None, row["flags"].split(";")))
    assert row["status"] == crafted.status, f"{student}: {row}"
    if crafted.score is not None:
        assert float(row["score"]) == crafted.score, f"{student} ({crafted.note}): {row}"
    assert set(crafted.flags_include) <= flags, f"{student}: flags {flags}"
    assert not set(crafted.flags_exclude) & flags, f"{student}: flags {flags}"


def test_feedback_exists_and_never_shows_hidden_tests(graded):
    batch, _, out, _, _ = graded
    pages = sorted((out / "feedback").rglob("*.html"))
    assert {p.parts[-3] for p in pages} == {c.student for c in batch}
    for page in pages:
        text = page.read_text()
        for snippet in HIDDEN_SNIPPETS:
            assert snippet not in text, f"hidden test code in {page}"
        assert "BEGIN HIDDEN TESTS" not in text
    partial = (out / "feedback" / "partial" / FIXTURE_ASSIGNMENT / f"{FIXTURE_ASSIGNMENT}.html").read_text()
    assert "mse of 50 random pairs" in partial  # hidden tests by name
    assert "did you sum where a mean was wanted" in partial  # the check's hint


def test_snooper_found_nothing_and_secrets_stay_out(graded):
    _, _, out, _, _ = graded
    printed = output_text(out, "snooper")
    # The real checkout, wherever this clone is: the snooper looks for it by its path.
    assert f"{REPO / 'source'} hidden" in printed and f"{REPO / 'tests'} hidden" in printed
    assert "/root/.ssh hidden" in printed  # /root holds only the Python installation
    assert "gradebooks: []" in printed and "notebooks: []" in printed
    assert "gradebooks: ['" not in printed and "notebooks: ['" not in printed
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".ipynb", ".csv"):
            assert SECRET_VALUE not in path.read_text(errors="replace"), f"grader secret leaked into {path}"


def test_network_attempt_reaches_nothing(graded):
    _, _, out, _, server = graded
    assert server.received == []
    printed = output_text(out, "network")
    assert "no network to 127.0.0.1" in printed and "CONNECTED" not in printed


def test_no_process_outlives_its_grading(graded):
    _, _, out, _, _ = graded
    assert "the process limit stopped me" in output_text(out, "spawner")
    assert processes_matching("sleep 986") == []
    assert processes_matching("sleep 987") == []


def test_shadowing_files_beside_the_notebook_are_not_used(graded):
    _, rows, out, _, _ = graded
    assert "shadowed" not in output_text(out, "shadowing")
    assert rows["shadowing"]["score"] == "5"


def test_gradebook_has_the_scores_and_nbgrader_export_works(graded, tmp_path):
    batch, rows, out, _, _ = graded
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        for crafted in batch:
            if crafted.status == "missing":
                assert not [s for s in gb.find_student(crafted.student).submissions]
                continue
            sub = gb.find_submission(FIXTURE_ASSIGNMENT, crafted.student)
            assert sub.score == pytest.approx(float(rows[crafted.student]["score"])), crafted.student
    nbgrader = str(Path(sys.executable).with_name("nbgrader"))
    export = tmp_path / "export.csv"
    proc = subprocess.run([nbgrader, "export", f"--CourseDirectory.db_url=sqlite:///{out / 'gradebook.db'}",
                           f"--CourseDirectory.root={tmp_path}", f"--CsvExportPlugin.to={export}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    with export.open(newline="") as fh:
        exported = {r["student_id"]: float(r["score"]) for r in csv.DictReader(fh)}
    for student, row in rows.items():
        assert exported[student] == pytest.approx(float(row["score"])), student


# Test code of the fixture, visible and hidden: none of it may reach the student's process.
TEST_CODE = HIDDEN_SNIPPETS + ("np.array([0.0, 0.0, 3.0])", "np.array([[0.5, 0.5], [0.25, 0.75]])",
                               "4.0 / 3.0", "check.close(relu(", "check.probabilities(_p")


def test_what_the_students_process_captured_holds_no_test_code(graded):
    """Transformers, event hooks, frames, gc, files and the kernel's own connection: the student's
    kernel never receives a test, so all they captured (printed hex-encoded) holds none of it."""
    batch, _, out, _, _ = graded
    leakers = [c.student for c in batch if c.extra.get("leak")]
    assert len(leakers) >= 4
    for student in leakers:
        printed = output_text(out, student)
        blobs = [re.match(r"[0-9a-f]*", line.split("LEAK:", 1)[1]).group(0)
                 for line in printed.splitlines() if "LEAK:" in line]
        assert blobs, f"{student} printed nothing: {printed[-2000:]}"
        # The output budget may cut a blob: decode the whole bytes before the cut.
        captured = "".join(bytes.fromhex(b[: len(b) // 2 * 2]).decode("utf-8", "replace") for b in blobs)
        for snippet in TEST_CODE:
            assert snippet not in captured, f"{student} captured test code: {snippet}"
        page = (out / "feedback" / student / FIXTURE_ASSIGNMENT / f"{FIXTURE_ASSIGNMENT}.html").read_text()
        for snippet in HIDDEN_SNIPPETS:
            assert snippet not in page
