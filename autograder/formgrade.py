"""``autograder formgrade --out OUT``: nbgrader's own formgrader on a grading run's output.

A grading run leaves in ``OUT`` what nbgrader's formgrader reads: the gradebook
(every test's auto score, ``needs_manual_grade`` False once it was judged) and
``autograded/STUDENT/ASSIGNMENT/NOTEBOOK.ipynb`` (the executed notebooks, with
no active content from the student: see :func:`autograder.grade.write_autograded`). This
command starts a Jupyter server on ``127.0.0.1`` with only the formgrader
extension, rooted at ``OUT``, and prints the pages to open: the list of
submissions per notebook, where "needs manual grade" marks what a person must
look at (the written answers, and any test the grader could not judge).

Points and comments given there go into the gradebook; a re-grade keeps them
(the grader only writes auto scores), and ``autograder export`` then counts them.
"""
from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

CONFIG_NAME = "nbgrader_config.py"
LITERAL_INFO = "student-text"  # the info string that marks a student's markdown shown as text


def literal_markdown(text: str) -> str:
    """A student's markdown as a fenced code block: the formgrader shows it as text.

    Rendered as markdown it could carry HTML, ``javascript:`` links or outside
    images into the formgrader's page (an authenticated Jupyter server); in a
    fence longer than any run of backticks inside, it is only text.
    """
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{LITERAL_INFO}\n{text}\n{fence}"


def original_markdown(text: str) -> str:
    """The student's markdown behind :func:`literal_markdown` (other text unchanged)."""
    match = re.fullmatch(r"(`{3,})" + LITERAL_INFO + r"\n(.*)\n\1", text, re.S)
    return match.group(2) if match else text


def write_config(out: Path, db_url: str | None = None) -> Path:
    """``OUT/nbgrader_config.py``: the course directory is ``OUT``, the gradebook the run's."""
    out = out.resolve()
    url = db_url or f"sqlite:///{out / 'gradebook.db'}"
    path = out / CONFIG_NAME
    path.write_text("# Written by `autograder formgrade`: nbgrader's formgrader on this grading output.\n"
                    "c = get_config()  # noqa: F821\n"
                    f"c.CourseDirectory.root = {str(out)!r}\n"
                    f"c.CourseDirectory.db_url = {url!r}\n", encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(out: Path, port: int, token: str) -> list[str]:
    """The Jupyter server with nbgrader's formgrader and nothing that runs code from the page."""
    return [sys.executable, "-m", "jupyter_server",
            f"--ServerApp.root_dir={out}", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0", "--ServerApp.open_browser=False",
            f"--IdentityProvider.token={token}",
            # only the formgrader: the student-side nbgrader extensions, JupyterLab and terminals stay off
            "--ServerApp.jpserver_extensions={'jupyterlab': False, 'notebook': False, "
            "'jupyter_lsp': False, 'notebook_shim': False, "
            "'nbgrader.server_extensions.validate_assignment': False, "
            "'nbgrader.server_extensions.assignment_list': False, "
            "'nbgrader.server_extensions.course_list': False, "
            "'nbgrader.server_extensions.formgrader': True}",
            "--ServerApp.terminals_enabled=False"] + (["--allow-root"] if os.geteuid() == 0 else [])


def pages(base: str, out: Path, token: str, db_url: str | None = None) -> list[str]:
    """The formgrader pages worth opening: each notebook's list of submissions."""
    from .export import read_gradebook

    lines = [f"{base}/formgrader?token={token}   (first: it logs you in)"]
    try:
        subs, _, _ = read_gradebook(db_url or f"sqlite:///{(out / 'gradebook.db').resolve()}")
    except Exception:
        return lines
    pending: dict[tuple[str, str], int] = {}
    for (student, assignment), sub in subs.items():
        for nb_name, cells in sub.manual.items():
            if sub.pending:
                pending[(assignment, nb_name)] = pending.get((assignment, nb_name), 0) + 1
    for (assignment, nb_name), n in sorted(pending.items()):
        lines.append(f"{base}/formgrader/gradebook/{assignment}/{nb_name}   "
                     f"({n} submission(s) with answers to grade)")
    return lines


def serve(out: Path, port: int | None = None, db_url: str | None = None, token: str | None = None) -> int:
    """Run the formgrader on ``out`` until interrupted; returns the exit code."""
    out = out.resolve()
    gradebook = out / "gradebook.db"
    if db_url is None and not gradebook.is_file():
        print(f"There is no gradebook in {out}: grade first (autograder grade SUBMITTED --out {out}).",
              file=sys.stderr)
        return 2
    write_config(out, db_url)
    port = port or free_port()
    token = token or secrets.token_hex(16)
    proc = subprocess.Popen(server_command(out, port, token), cwd=out, env=dict(os.environ))
    base = f"http://127.0.0.1:{port}"
    print("nbgrader's formgrader is starting; open:")
    for line in pages(base, out, token, db_url):
        print(f"  {line}")
    print("Give points and comments to the written answers (\"needs manual grade\"), then stop with Ctrl-C and run "
          f"`autograder export --out {out}` for the final grades and refreshed feedback.", flush=True)

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    previous = signal.signal(signal.SIGTERM, stop)  # a plain kill stops the server too
    try:
        return proc.wait()
    except (KeyboardInterrupt, SystemExit):
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
