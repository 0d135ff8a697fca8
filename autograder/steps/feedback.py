"""Step 7: one HTML feedback page per submitted notebook.

Per exercise it shows the points, each check's name and message (hints
included), and says "Visible checks passed, N hidden tests failed" when that
is what happened. Hidden tests appear by name and message only: test cells are
shown from the master with every hidden block replaced by one placeholder
line, no traceback of a test cell is shown, and every text that came out of
the sandbox is scrubbed of hidden test code lines (a student cell could try to
print them back from the kernel's memory).
"""
from __future__ import annotations

import base64
import binascii
import functools
import html
import re
from typing import Any

from ..master import MasterNotebook
from .judge import Judgement, TestResult

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
SCRUBBED = "[hidden test code removed]"
FLAG_TEXT = {
    "timeout": "a cell ran longer than the time limit and was stopped",
    "memory_limit": ("the notebook ran out of its memory allowance: use smaller arrays or batches, and "
                     "delete large values you no longer need"),
    "kernel_died": "the Python kernel stopped (crashed or exited) before the end",
    "cpu_limit": "the notebook used up its CPU time allowance",
    "tampering": "dlbricks.check was found replaced in the notebook while tests ran",
    "differs_from_solution": ("a test judged in the notebook passed there, but its checks or values differ "
                              "from the solution's; the instructor can review it"),
    "output_truncated": "some output was too long and was cut",
    "tests_restored": "test cells had been edited, moved, duplicated or deleted and were restored",
    "sandbox_crashed": "the grading sandbox stopped unexpectedly",
    "renamed": "the notebook had another file name than the one handed out",
}
MEMORY_NOTE = "out of memory:"


def memory_note(memory_mb: int) -> str:
    """The sentence for a notebook that ran out of memory, naming the limit and what to do
    (no "; ": the grade's detail joins its notes with it)."""
    return (f"{MEMORY_NOTE} the grader lets a notebook use {memory_mb} MB (autograder grade --memory) and this "
            f"one needed more. Use smaller arrays or batches and delete large values you no longer need "
            f"(instructor: if the solution needs more, grade with a larger --memory)")


def _flag_text(flag: str, detail: str) -> str:
    if flag == "memory_limit":  # the detail names the limit it ran into
        said = next((part.strip() for part in detail.split("; ") if part.strip().startswith(MEMORY_NOTE)), "")
        if said:
            return said
    return FLAG_TEXT.get(flag, flag)


HIDDEN_NOT_RUN = "This hidden test did not run: the test stopped before it (see above)."
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#1d1d1f;line-height:1.45}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
.score{font-size:1.3rem;font-weight:600}
pre{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:6px;padding:.6rem;overflow-x:auto;
white-space:pre-wrap;word-break:break-word;font-size:.85rem}
pre.out{background:#fff}pre.err{background:#fff5f5;border-color:#f3c1c1}
.md{border-left:3px solid #e1e4e8;padding-left:.8rem;margin:1rem 0}
.test{border:1px solid #d0d7de;border-radius:8px;padding:.6rem .9rem;margin:.6rem 0 1.4rem}
.test.passed{border-color:#2da44e;background:#f3fbf5}.test.failed,.test.not_run{border-color:#cf222e;background:#fff8f8}
.test .head{font-weight:600}
ul.checks{list-style:none;padding-left:0}ul.checks li{margin:.3rem 0}
.ok{color:#1a7f37}.bad{color:#cf222e}.tag{font-size:.75rem;color:#57606a;border:1px solid #d0d7de;
border-radius:1rem;padding:0 .4rem;margin-left:.3rem}
table{border-collapse:collapse}td,th{border-bottom:1px solid #e1e4e8;padding:.3rem .7rem;text-align:left}
.note{background:#fff8c5;border:1px solid #eac54f;border-radius:6px;padding:.5rem .8rem}
"""


def scrub(text: str, hidden_lines: list[str]) -> str:
    """``text`` without ANSI colours and without any line of hidden test code."""
    text = ANSI.sub("", text)
    for line in hidden_lines:
        if line in text:
            text = text.replace(line, SCRUBBED)
    return text


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


@functools.lru_cache(maxsize=4096)
def _markdown(text: str) -> str:
    """The instructor's markdown as HTML (trusted text from source/).

    Cached: every page of a batch shows the same master markdown, and
    rendering it is most of what a feedback page costs.
    """
    try:
        from nbconvert.filters.markdown import markdown2html

        return markdown2html(text)
    except Exception:
        return f"<pre>{_esc(text)}</pre>"


def _png(data: str) -> str:
    clean = "".join(data.split())
    try:
        base64.b64decode(clean, validate=True)
    except (binascii.Error, ValueError):
        return ""
    return f'<img alt="figure" src="data:image/png;base64,{clean}" style="max-width:100%">'


def _outputs_html(outputs: list[dict], hidden: list[str]) -> str:
    parts = []
    for o in outputs:
        kind = o.get("output_type")
        if kind == "stream":
            cls = "out err" if o.get("name") == "stderr" else "out"
            parts.append(f'<pre class="{cls}">{_esc(scrub(o.get("text", ""), hidden))}</pre>')
        elif kind in ("display_data", "execute_result"):
            data = o.get("data", {})
            if "image/png" in data:
                parts.append(_png(data["image/png"]))
            elif "text/plain" in data:  # never the notebook's own HTML
                parts.append(f'<pre class="out">{_esc(scrub(data["text/plain"], hidden))}</pre>')
        elif kind == "error":
            tb = "\n".join(o.get("traceback", [])) or f"{o.get('ename', '')}: {o.get('evalue', '')}"
            parts.append(f'<pre class="out err">{_esc(scrub(tb, hidden))}</pre>')
    return "\n".join(parts)


HIDDEN_FAILED = ("This hidden test gave a different result from the expected one "
                 "(its inputs and expected value are not shown).")


def _test_html(test: TestResult, visible_code: str, hidden: list[str], has_hidden: bool = False) -> str:
    """One test cell's result. A failed hidden check shows its label and a generic sentence only:
    its message would tell the expected value; so would the error that stopped a cell with hidden tests."""
    items = []
    for c in test.checks:
        mark = '<span class="ok">&#10003;</span>' if c.passed else '<span class="bad">&#10007;</span>'
        tag = '<span class="tag">hidden test</span>' if c.hidden else ""
        message = c.message
        if c.hidden and not c.passed:
            message = HIDDEN_FAILED if c.ran else HIDDEN_NOT_RUN
        msg = f"<pre class=\"out\">{_esc(scrub(message, hidden))}</pre>" if message else ""
        items.append(f"<li>{mark} {_esc(c.label)}{tag}{msg}</li>")
    error = ""
    if test.error and test.status != "passed":
        shown = test.error.split(":", 1)[0] if has_hidden else test.error
        error = f'<p>The test stopped at: <code>{_esc(scrub(shown, hidden))}</code></p>'
    return (f'<pre>{_esc(visible_code)}</pre>'
            f'<div class="test {test.status}"><div class="head">{_num(test.points)} / {_num(test.max_points)} '
            f'point{"s" * (test.max_points != 1)}: {_esc(test.summary())}</div>'
            f'{error}<ul class="checks">{"".join(items)}</ul></div>')


def _manual_html(points: float | None, max_points: float, comment: str) -> str:
    """A written answer's grade from a person: points and comment, or "not graded yet"."""
    if points is None:
        return f'<div class="test not_run"><div class="head">? / {_num(max_points)}: not graded yet.</div></div>'
    state = "passed" if points >= max_points else "failed"
    text = f'<pre class="out">{_esc(comment)}</pre>' if comment else ""
    return (f'<div class="test {state}"><div class="head">{_num(points)} / {_num(max_points)} '
            f'point{"s" * (max_points != 1)}, graded by hand.</div>{text}</div>')


def _num(x: float) -> str:
    return f"{x:g}"


def render_feedback(*, student: str, assignment: str, notebook: str, status: str, score: float,
                    max_score: float, flags: list[str], detail: str, master: MasterNotebook,
                    restored: Any | None = None, cells: dict[int, Any] | None = None,
                    judgement: Judgement | None = None, notes: list[str] | None = None,
                    manual: dict[str, tuple[float | None, float, str]] | None = None) -> str:
    """The feedback page (a complete HTML document) for one submitted notebook.

    Parameters
    ----------
    restored : the restored notebook that was executed (None when not graded).
    cells : execution results by cell index (objects with ``outputs``).
    judgement : the judged tests (None when not graded).
    manual : grade id -> (points or None when not graded yet, maximum, comment) of the
        answers a person grades (written answers), from the gradebook; when given,
        the score shown is the total and each answer shows its points and comment.
    """
    hidden = master.hidden_lines()
    title = f"{assignment} / {notebook}"
    head = [f"<h1>Feedback: {_esc(title)}</h1>",
            f"<p>Student: <b>{_esc(student)}</b></p>",
            f'<p class="score">Score: {_num(score)} / {_num(max_score)}</p>']
    if manual:
        got = sum(p for p, _, _ in manual.values() if p is not None)
        top = sum(m for _, m, _ in manual.values())
        waiting = sum(1 for p, _, _ in manual.values() if p is None)
        head.append(f"<p>Tests: {_num(score - got)} / {_num(max_score - top)}; written answers, graded by hand: "
                    f"{_num(got)} / {_num(top)}" + (f" ({waiting} not graded yet)" if waiting else "") + ".</p>")
    if status != "graded":
        head.append(f'<p class="note">This notebook could not be graded ({_esc(status)}): {_esc(detail)}</p>')
    explained = [_flag_text(f, detail) for f in flags]
    if explained:
        head.append('<p class="note">Please note: ' + "; ".join(_esc(e) for e in explained) + ".</p>")
    body: list[str] = []
    if judgement is not None:
        rows = "".join(f"<tr><td>{_esc(t.grade_id)}</td><td>{_num(t.points)} / {_num(t.max_points)}</td>"
                       f"<td>{_esc(t.summary())}</td></tr>" for t in judgement.tests)
        body.append(f"<h2>Summary</h2><table><tr><th>Test</th><th>Points</th><th></th></tr>{rows}</table>")
    if restored is not None and judgement is not None:
        tests = {t.grade_id: t for t in judgement.tests}
        master_md = set(master.markdown)
        body.append("<h2>Your notebook, with the results</h2>")
        for index, cell in enumerate(restored.cells):
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if cell.cell_type == "markdown":
                body.append(f'<div class="md">{_markdown(cell.source)}</div>' if cell.source in master_md
                            else f'<pre class="md">{_esc(scrub(cell.source, hidden))}</pre>')
                if manual and gid in manual:
                    body.append(_manual_html(*manual[gid]))
            elif cell.cell_type == "code" and gid in tests and master.test(gid) is not None:
                body.append(_test_html(tests[gid], master.test(gid).visible_code, hidden,
                                       master.test(gid).has_hidden))
            elif cell.cell_type == "code":
                body.append(f"<pre>{_esc(scrub(cell.source, hidden))}</pre>")
                result = (cells or {}).get(index)
                if result is not None:
                    body.append(_outputs_html(result.outputs, hidden))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Feedback: {_esc(title)}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(head + body) + "\n</body></html>\n")
