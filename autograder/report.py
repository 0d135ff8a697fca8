"""The class report: what a whole class did on each test, check and mistake.

Every grading run keeps one small record per submitted notebook in
``OUT/results/STUDENT/ASSIGNMENT/NOTEBOOK.json`` (status, flags, timing and
the judgement: every test cell's points and every check's label, verdict and
message), then writes ``OUT/report.json`` and ``OUT/report.html`` from all the
records in ``OUT``. The report is built from the judgement alone (the
:class:`~autograder.steps.judge.TestResult` and ``CheckResult`` data), never
from the kernel, and can be rebuilt at any time with ``autograder report``.

Per assignment it gives the score distribution, per test cell the pass rate
(the cell, its visible checks and its hidden tests separately), the mean
points and a discrimination index (the point-biserial correlation between
passing the cell and the rest of the assignment's score), and per check the
most frequent failure messages and hints across the class with links to
example students' feedback pages. It lists flags and timings, and warns about
a test that the solution passes but (almost) no student does.

The page is one self-contained HTML file (inline CSS, matplotlib figures as
embedded PNG, no script, no network) that opens at once for 500 students x 8
lessons (``benchmarks/report_generation.py``).
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

from .config import format_delay
from .notebook_io import atomic_write_text

RESULTS_DIR = "results"
REPORT_HTML = "report.html"
REPORT_JSON = "report.json"
MESSAGE_LIMIT = 600  # characters of a check's message kept in a record
TOP_MESSAGES = 3  # failure messages shown per check
EXAMPLES = 3  # example students per failure message
WARN_PASS_RATE = 0.10  # "almost nobody passes": at most this share of the class
WARN_MIN_GRADED = 5  # ... among at least this many graded submissions
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


# ---------------------------------------------------------------------------
# The per-notebook records
# ---------------------------------------------------------------------------
def result_path(out: Path, student: str, assignment: str, notebook: str) -> Path:
    return out / RESULTS_DIR / student / assignment / f"{notebook}.json"


def feedback_href(student: str, assignment: str, notebook: str) -> str:
    """The feedback page of a notebook, relative to ``OUT`` (where the report is)."""
    return "feedback/" + "/".join(quote(p, safe="") for p in (student, assignment, f"{notebook}.html"))


def result_record(grade: Any) -> dict[str, Any]:
    """The record of one :class:`~autograder.steps.record.NotebookGrade` (plain JSON data)."""
    tests = []
    judgement = getattr(grade, "judgement", None)
    for t in (judgement.tests if judgement is not None else []):
        tests.append({"grade_id": t.grade_id, "points": float(t.points), "max_points": float(t.max_points),
                      "status": t.status, "error": t.error[:MESSAGE_LIMIT], "tampering": bool(t.tampering),
                      "differs": t.differs[:MESSAGE_LIMIT], "judged_outside": bool(t.judged_outside),
                      "checks": [{"label": c.label[:200], "hidden": bool(c.hidden), "passed": bool(c.passed),
                                  "message": shorten(c.message), "ran": bool(c.ran)} for c in t.checks]})
    return {"student": grade.student, "assignment": grade.assignment, "notebook": grade.notebook,
            "status": grade.status, "flags": list(grade.flags), "points": dict(grade.points),
            "max_score": float(grade.max_score), "seconds": round(float(getattr(grade, "seconds", 0.0) or 0.0), 3),
            "detail": grade.detail[:MESSAGE_LIMIT], "tests": tests,
            "late": getattr(grade, "late", ""), "seconds_late": float(getattr(grade, "seconds_late", 0.0) or 0.0),
            "late_penalty": float(getattr(grade, "late_penalty", 0.0) or 0.0)}


def shorten(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """``message`` cut to about ``limit`` characters, its hint lines kept whole (they name the mistake)."""
    if len(message) <= limit:
        return message
    lines = message.splitlines()
    hints = "\n".join(ln for ln in lines if ln.strip().startswith("Hint:"))[:limit // 2]
    body = "\n".join(ln for ln in lines if not ln.strip().startswith("Hint:"))
    room = max(0, limit - len(hints) - 2)
    return (body[:room] + "…" + ("\n" + hints if hints else "")).strip()


def save_result(out: Path, grade: Any) -> Path:
    """Write the record of ``grade`` (replacing the one of an earlier run)."""
    path = result_path(out, grade.student, grade.assignment, grade.notebook)
    atomic_write_text(path, json.dumps(result_record(grade), separators=(",", ":")))
    return path


def load_results(out: Path) -> list[dict[str, Any]]:
    """Every record under ``OUT/results`` (unreadable ones are skipped: the report is a view)."""
    records = []
    root = out / RESULTS_DIR
    for path in sorted(root.glob("*/*/*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and {"student", "assignment", "notebook", "status"} <= set(record):
            records.append(record)
    return records


# ---------------------------------------------------------------------------
# The numbers
# ---------------------------------------------------------------------------
def message_line(message: str) -> str:
    """The line of a failure message that names the mistake: its hint when it has one, else its first line."""
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    hint = next((ln for ln in lines if ln.startswith("Hint:")), None)
    return (hint or (lines[0] if lines else "(no message)"))[:400]


def message_key(message: str) -> str:
    """What a failure message says, without the student's own numbers.

    Numbers become ``#``, so that "5 times the expected value" and "4 times
    the expected value" (or "got 3.2" and "got 4.1") count as one message.
    """
    return NUMBER.sub("#", message_line(message))


def point_biserial(item: list[float], rest: list[float]) -> float | None:
    """Pearson correlation of a 0/1 item with the rest score (None when either does not vary)."""
    n = len(item)
    if n < 3 or len(rest) != n:
        return None
    mi, mr = sum(item) / n, sum(rest) / n
    sxy = sum((a - mi) * (b - mr) for a, b in zip(item, rest))
    sxx = sum((a - mi) ** 2 for a in item)
    syy = sum((b - mr) ** 2 for b in rest)
    if sxx <= 0 or syy <= 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def histogram(scores: list[float], max_score: float, bins: int = 10) -> dict[str, list[float]]:
    """Counts of ``scores`` in ``bins`` equal bins over [0, max_score] (the last bin closed)."""
    top = max_score if max_score > 0 else max(scores, default=1.0) or 1.0
    edges = [top * i / bins for i in range(bins + 1)]
    counts = [0] * bins
    for s in scores:
        k = min(bins - 1, max(0, int(s / top * bins))) if top > 0 else 0
        counts[k] += 1
    return {"edges": edges, "counts": counts}


@dataclass
class _Tally:
    """Accumulates one test cell of one notebook over the class."""

    notebook: str
    grade_id: str
    max_points: float
    order: int
    n: int = 0
    passed: int = 0
    not_run: int = 0
    points: float = 0.0
    visible_n: int = 0
    visible_ok: int = 0
    hidden_n: int = 0
    hidden_ok: int = 0
    in_kernel: int = 0
    tampering: int = 0
    checks: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    item: dict[str, float] = field(default_factory=dict)  # student -> 1 passed / 0
    stops: dict[str, dict[str, Any]] = field(default_factory=dict)  # why cells stopped, without a failure of their own
    got: dict[str, float] = field(default_factory=dict)  # student -> points earned on this cell


def build_report(records: Iterable[dict[str, Any]], generated: str | None = None) -> dict[str, Any]:
    """The report's numbers (``report.json``) from the per-notebook records."""
    records = list(records)
    by_assignment: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_assignment[r["assignment"]].append(r)
    assignments = [_assignment_report(name, rs) for name, rs in sorted(by_assignment.items())]
    students: dict[str, dict[str, Any]] = {}
    for name, rs in sorted(by_assignment.items()):
        for student, cells in _per_student(rs).items():
            students.setdefault(student, {})[name] = cells
    warnings = [w for a in assignments for w in a["warnings"]]
    statuses = Counter()
    for a in assignments:
        statuses.update(a["statuses"])
    return {
        "generated": generated or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "students": len(students),
        "submissions": sum(statuses.values()),
        "statuses": dict(sorted(statuses.items())),
        "warnings": warnings,
        "assignments": assignments,
        "rows": [{"student": s, "assignments": students[s]} for s in sorted(students)],
    }


def _per_student(records: list[dict]) -> dict[str, dict[str, Any]]:
    """student -> this assignment's auto score, maximum, status, flags and feedback links."""
    out: dict[str, dict[str, Any]] = {}
    for r in sorted(records, key=lambda r: (r["student"], r["notebook"])):
        row = out.setdefault(r["student"], {"score": 0.0, "max_score": 0.0, "status": r["status"], "flags": [],
                                            "feedback": [], "seconds_late": 0.0, "late_penalty": 0.0})
        row["seconds_late"] = max(row["seconds_late"], float(r.get("seconds_late", 0.0) or 0.0))
        row["late_penalty"] += float(r.get("late_penalty", 0.0) or 0.0)
        row["score"] += sum(float(v) for v in r.get("points", {}).values())
        row["max_score"] += float(r.get("max_score", 0.0))
        if r["status"] != "graded":
            row["status"] = r["status"] if row["status"] == "graded" else row["status"]
        row["flags"] = list(dict.fromkeys(row["flags"] + list(r.get("flags", []))))
        row["feedback"].append(feedback_href(r["student"], r["assignment"], r["notebook"]))
    return out


def _assignment_report(name: str, records: list[dict]) -> dict[str, Any]:
    per_student = _per_student(records)
    graded_students = sorted(s for s, row in per_student.items() if row["status"] == "graded")
    max_score = max((row["max_score"] for row in per_student.values()), default=0.0)
    scores = [per_student[s]["score"] for s in graded_students]
    tallies: dict[tuple[str, str], _Tally] = {}
    statuses = Counter(row["status"] for row in per_student.values())
    flags: dict[str, dict[str, str]] = defaultdict(dict)  # flag -> student -> feedback link
    seconds = []
    for r in records:
        for f in r.get("flags", []):
            flags[f].setdefault(r["student"], feedback_href(r["student"], r["assignment"], r["notebook"]))
        if r["status"] == "graded":
            seconds.append((float(r.get("seconds", 0.0)), r["student"], r["notebook"]))
            _tally_record(r, tallies)
    tests = []
    warnings = []
    for tally in sorted(tallies.values(), key=lambda t: (t.notebook, t.order)):
        rest = [per_student[s]["score"] - tally.got[s] for s in tally.item]
        test = _test_summary(tally, point_biserial(list(tally.item.values()), rest))
        if test["warning"]:
            warnings.append(f"{name}/{tally.notebook} {tally.grade_id}: {test['warning']}")
        tests.append(test)
    seconds.sort(reverse=True)
    secs = [s for s, _, _ in seconds]
    return {
        "name": name,
        "max_score": max_score,
        "graded": len(graded_students),
        "statuses": dict(sorted(statuses.items())),
        "mean": statistics.fmean(scores) if scores else None,
        "median": statistics.median(scores) if scores else None,
        "histogram": histogram(scores, max_score),
        "tests": tests,
        "flags": {f: [{"student": s, "feedback": link} for s, link in sorted(students.items())]
                  for f, students in sorted(flags.items())},
        "timings": {"mean": statistics.fmean(secs) if secs else None,
                    "median": statistics.median(secs) if secs else None,
                    "max": secs[0] if secs else None,
                    "slowest": [{"student": st, "notebook": nb, "seconds": s,
                                 "feedback": feedback_href(st, name, nb)} for s, st, nb in seconds[:5]]},
        "warnings": warnings,
    }


def _tally_record(r: dict, tallies: dict[tuple[str, str], _Tally]) -> None:
    for order, t in enumerate(r.get("tests", [])):
        key = (r["notebook"], t["grade_id"])
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = _Tally(r["notebook"], t["grade_id"], float(t["max_points"]), order)
        tally.n += 1
        ok = t["status"] == "passed"
        tally.passed += ok
        tally.not_run += t["status"] == "not_run"
        tally.points += float(t["points"])
        tally.in_kernel += not t.get("judged_outside", True)
        tally.tampering += bool(t.get("tampering"))
        tally.item[r["student"]] = 1.0 if ok else 0.0
        tally.got[r["student"]] = float(t["points"])
        visible = [c for c in t["checks"] if not c["hidden"]]
        hidden = [c for c in t["checks"] if c["hidden"]]
        if visible:
            tally.visible_n += 1
            tally.visible_ok += all(c["passed"] for c in visible)
        if hidden:
            tally.hidden_n += 1
            tally.hidden_ok += all(c["passed"] for c in hidden)
        # A check that was never reached (the cell stopped earlier, or did not run) says nothing
        # about that check: such cells are counted once, by why they stopped, unless a check
        # failed for a reason of its own (the stop is then that failure's consequence).
        own = [c for c in t["checks"] if not c["passed"] and not _consequence(c["message"])]
        stopped = not ok and not own
        if stopped:
            _count(tally.stops, _stop_reason(t), r)
        for k, c in enumerate(t["checks"]):
            check = tally.checks.setdefault((k, c["label"]), {"label": c["label"], "hidden": c["hidden"], "n": 0,
                                                               "failed": 0, "messages": {}})
            check["n"] += 1
            if c["passed"] or _consequence(c["message"]):
                continue
            check["failed"] += 1
            _count(check["messages"], c["message"], r)


CONSEQUENCES = ("not reached:", "not run", "no result was recorded", "not counted:")


def _consequence(message: str) -> bool:
    """A check's message that only repeats why its cell stopped."""
    return message.startswith(CONSEQUENCES)


def _stop_reason(test: dict[str, Any]) -> str:
    if test["status"] == "not_run":
        return "the test did not run (the notebook stopped before it)"
    if test.get("tampering"):
        return "tampering: dlbricks.check was replaced while the test ran"
    if test.get("differs"):
        return f"passed in the notebook, but {test['differs']}"
    messages = [c["message"] for c in test["checks"] if not c["passed"]]
    if any(m.startswith("not counted:") for m in messages):
        return "not counted: dlbricks.check was replaced during this test"
    if test.get("error"):
        return f"the test stopped at {test['error']}"
    return messages[0] if messages else "the test failed"


def _count(table: dict[str, dict[str, Any]], message: str, r: dict[str, Any]) -> None:
    key = message_key(message)
    entry = table.setdefault(key, {"text": message_line(message), "count": 0, "examples": []})
    entry["count"] += 1
    if len(entry["examples"]) < EXAMPLES:
        entry["examples"].append({"student": r["student"],
                                  "feedback": feedback_href(r["student"], r["assignment"], r["notebook"])})


def _rate(k: int, n: int) -> float | None:
    return k / n if n else None


def _test_summary(t: _Tally, discrimination: float | None) -> dict[str, Any]:
    pass_rate = _rate(t.passed, t.n)
    visible, hidden = _rate(t.visible_ok, t.visible_n), _rate(t.hidden_ok, t.hidden_n)
    warning = ""
    if t.n >= WARN_MIN_GRADED and pass_rate is not None and pass_rate <= WARN_PASS_RATE:
        warning = (f"the solution passes this test but only {t.passed} of {t.n} graded submissions do "
                   f"({pass_rate:.0%})")
        if visible is not None and hidden is not None and visible >= 0.5 and hidden <= WARN_PASS_RATE:
            warning += (f"; {visible:.0%} pass its visible checks, so look at the hidden tests: they may ask for "
                        "more than the exercise states")
        warning += "."
    checks = []
    for (_, _), c in sorted(t.checks.items()):
        messages = sorted(c["messages"].values(), key=lambda m: -m["count"])
        checks.append({"label": c["label"], "hidden": c["hidden"], "n": c["n"], "failed": c["failed"],
                       "fail_rate": _rate(c["failed"], c["n"]),
                       "messages": [{"text": m["text"], "count": m["count"], "share": _rate(m["count"], t.n),
                                     "examples": m["examples"]} for m in messages[:TOP_MESSAGES]],
                       "other_messages": max(0, len(messages) - TOP_MESSAGES)})
    stops = sorted(t.stops.values(), key=lambda m: -m["count"])
    return {"notebook": t.notebook, "grade_id": t.grade_id, "max_points": t.max_points, "n": t.n,
            "stopped": [{"text": m["text"], "count": m["count"], "share": _rate(m["count"], t.n),
                         "examples": m["examples"]} for m in stops],
            "pass_rate": pass_rate, "visible_pass_rate": visible, "hidden_pass_rate": hidden,
            "not_run_rate": _rate(t.not_run, t.n), "mean_points": t.points / t.n if t.n else None,
            "discrimination": discrimination, "judged_in_kernel": t.in_kernel, "tampering": t.tampering,
            "warning": warning, "checks": checks}


# ---------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem auto;max-width:75rem;
padding:0 1rem;color:#1d1d1f;line-height:1.4}
h1{font-size:1.5rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #d0d7de}
h3{font-size:1.05rem;margin-top:1.4rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border-bottom:1px solid #e1e4e8;padding:.25rem .6rem;
text-align:left;vertical-align:top}th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.warn{background:#fff8c5;border:1px solid #eac54f;border-radius:6px;padding:.5rem .8rem;margin:.5rem 0}
.low{color:#cf222e;font-weight:600}.muted{color:#57606a}
pre{white-space:pre-wrap;word-break:break-word;margin:.2rem 0;font-size:.85rem;background:#f6f8fa;
padding:.3rem .5rem;border-radius:4px}
img{max-width:100%}.figs{display:flex;flex-wrap:wrap;gap:1rem}
nav a{margin-right:.8rem}
"""


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:.0%}"


def _num(x: float | None, fmt: str = "{:.2f}") -> str:
    return "" if x is None else fmt.format(x)


def _anchor(*parts: str) -> str:
    return "a-" + re.sub(r"[^A-Za-z0-9_-]", "_", "-".join(parts))


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figures(a: dict[str, Any]) -> list[tuple[str, str]]:
    """(alt text, base64 PNG) of the assignment's figure: the score histogram beside the pass rates.

    One figure with fixed margins per assignment (no layout engine: each
    extra draw is most of what a figure costs).
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    tests = a["tests"]
    width = 4.0 + max(4.0, 0.42 * len(tests) + 1.2)
    fig = Figure(figsize=(width, 2.7))
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.2, top=0.88, wspace=0.28)
    hist_ax, rate_ax = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    h = a["histogram"]
    edges = h["edges"]
    hist_ax.bar(edges[:-1], h["counts"], width=[b - a_ for a_, b in zip(edges[:-1], edges[1:])], align="edge",
                color="#4c78a8", edgecolor="white")
    hist_ax.set_xlabel(f"auto-graded score (of {a['max_score']:g})", fontsize=8)
    hist_ax.set_ylabel("students", fontsize=8)
    hist_ax.set_title("score distribution", fontsize=9)
    xs = range(len(tests))
    vis = [t["visible_pass_rate"] if t["visible_pass_rate"] is not None else 0 for t in tests]
    hid = [t["hidden_pass_rate"] if t["hidden_pass_rate"] is not None else 0 for t in tests]
    rate_ax.bar([x - 0.2 for x in xs], vis, width=0.4, label="visible checks", color="#59a14f")
    rate_ax.bar([x + 0.2 for x in xs], hid, width=0.4, label="hidden tests", color="#e15759")
    rate_ax.set_xticks(list(xs))
    rate_ax.set_xticklabels([str(i + 1) for i in xs])
    rate_ax.set_xlabel("test cell (numbered as in the table)", fontsize=8)
    rate_ax.set_ylabel("share passing", fontsize=8)
    rate_ax.set_ylim(0, 1.05)
    rate_ax.legend(fontsize=7, loc="lower left")
    rate_ax.set_title("pass rate per test", fontsize=9)
    for ax in (hist_ax, rate_ax):
        ax.tick_params(labelsize=7)
    fig.suptitle(a["name"], fontsize=10)
    return [(f"{a['name']}: score histogram and pass rate per test", _png(fig))]


def render_html(report: dict[str, Any]) -> str:
    """``report.html``: one self-contained page (no script, no network)."""
    parts = [f"<h1>Class report</h1><p class=\"muted\">{report['students']} students, {report['submissions']} "
             f"assignment submissions ({_esc(', '.join(f'{n} {s}' for s, n in report['statuses'].items()))}); "
             f"generated {_esc(report['generated'])}. Scores here are the auto-graded tests; written answers "
             "are graded in the formgrader (<code>autograder formgrade</code>).</p>"]
    nav = "".join(f'<a href="#{_anchor(a["name"])}">{_esc(a["name"])}</a>' for a in report["assignments"])
    parts.append(f'<nav>{nav}<a href="#students">students</a></nav>')
    if report["warnings"]:
        parts.append('<h2 id="warnings">Warnings</h2>'
                     + "".join(f'<p class="warn">{_esc(w)}</p>' for w in report["warnings"]))
    for a in report["assignments"]:
        parts.append(_assignment_html(a))
    parts.append(_students_html(report))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'\"><title>Class report</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


def _assignment_html(a: dict[str, Any]) -> str:
    name = a["name"]
    out = [f'<h2 id="{_anchor(name)}">{_esc(name)}</h2>',
           f"<p>{a['graded']} of {sum(a['statuses'].values())} submissions graded"
           + (f" ({_esc(', '.join(f'{n} {s}' for s, n in a['statuses'].items() if s != 'graded'))})"
              if len(a["statuses"]) > 1 or "graded" not in a["statuses"] else "") + "; "
           f"mean {_num(a['mean'])}, median {_num(a['median'])} of {a['max_score']:g} auto-graded points.</p>"]
    for w in a["warnings"]:
        out.append(f'<p class="warn">{_esc(w)}</p>')
    figs = _figures(a)
    out.append('<div class="figs">' + "".join(
        f'<img alt="{_esc(alt)}" src="data:image/png;base64,{data}">' for alt, data in figs) + "</div>")
    rows = []
    for i, t in enumerate(a["tests"], 1):
        low = ' class="n low"' if t["pass_rate"] is not None and t["pass_rate"] < 0.5 else ' class="n"'
        note = []
        if t["judged_in_kernel"]:
            note.append("judged in the student's kernel")
        if t["tampering"]:
            note.append(f"{t['tampering']} tampering")
        cell = _esc(t["grade_id"])
        if any(c["failed"] for c in t["checks"]) or t["stopped"]:  # it has a section under "Most frequent failures"
            cell = f'<a href="#{_anchor(name, t["notebook"], t["grade_id"])}">{cell}</a>'
        rows.append(f"<tr><td class=\"n\">{i}</td><td>{cell}</td><td class=\"n\">{t['max_points']:g}</td>"
                    f"<td{low}>{_pct(t['pass_rate'])}</td><td class=\"n\">{_pct(t['visible_pass_rate'])}</td>"
                    f"<td class=\"n\">{_pct(t['hidden_pass_rate'])}</td><td class=\"n\">{_num(t['mean_points'])}</td>"
                    f"<td class=\"n\">{_num(t['discrimination'])}</td><td class=\"muted\">{_esc('; '.join(note))}</td></tr>")
    out.append("<table><tr><th>#</th><th>test cell</th><th>points</th><th>passed</th><th>visible checks</th>"
               "<th>hidden tests</th><th>mean points</th><th>discrimination</th><th></th></tr>"
               + "".join(rows) + "</table>")
    out.append('<p class="muted">passed: share of graded submissions earning the cell\'s points; visible checks / '
               "hidden tests: share passing all of them; discrimination: point-biserial correlation of passing "
               "the cell with the rest of the assignment's score (near 0 or negative: the test does not tell "
               "strong from weak students).</p>")
    out.append("<h3>Most frequent failures</h3>")
    any_failure = False
    for t in a["tests"]:
        failed = [c for c in t["checks"] if c["failed"]]
        if not failed and not t["stopped"]:
            continue
        any_failure = True
        items = [f"<li>stopped before its checks: <b>{_pct(m['share'])}</b> ({m['count']}): {_esc(m['text'])}; e.g. "
                 + ", ".join(f'<a href="{_esc(e["feedback"])}">{_esc(e["student"])}</a>' for e in m["examples"])
                 + "</li>" for m in t["stopped"]]
        for c in failed:
            msgs = "".join(
                f"<li><b>{_pct(m['share'])}</b> ({m['count']}): <pre>{_esc(m['text'])}</pre>e.g. "
                + ", ".join(f'<a href="{_esc(e["feedback"])}">{_esc(e["student"])}</a>' for e in m["examples"])
                + "</li>" for m in c["messages"])
            more = f"<li class=\"muted\">and {c['other_messages']} other message(s)</li>" if c["other_messages"] else ""
            tag = " <span class=\"muted\">(hidden test)</span>" if c["hidden"] else ""
            items.append(f"<li>{_esc(c['label'])}{tag}: failed by {c['failed']} of {c['n']} "
                         f"({_pct(c['fail_rate'])})<ul>{msgs}{more}</ul></li>")
        out.append(f'<h4 id="{_anchor(name, t["notebook"], t["grade_id"])}">{_esc(t["grade_id"])}</h4>'
                   f"<ul>{''.join(items)}</ul>")
    if not any_failure:
        out.append("<p>No check failed.</p>")
    if a["flags"]:
        out.append("<h3>Flags</h3><table><tr><th>flag</th><th>students</th></tr>" + "".join(
            f"<tr><td>{_esc(f)}</td><td>{', '.join(_link(s) for s in ss)}</td></tr>"
            for f, ss in a["flags"].items()) + "</table>")
    tm = a["timings"]
    if tm["mean"] is not None:
        slow = ", ".join(f'<a href="{_esc(s["feedback"])}">{_esc(s["student"])}</a> ({s["seconds"]:.1f} s)'
                         for s in tm["slowest"])
        out.append(f"<h3>Timings</h3><p>Run time per notebook: mean {tm['mean']:.1f} s, median {tm['median']:.1f} s, "
                   f"longest {tm['max']:.1f} s. Slowest: {slow}.</p>")
    return "\n".join(out)


def _link(entry: dict[str, str]) -> str:
    return f'<a href="{_esc(entry["feedback"])}">{_esc(entry["student"])}</a>'


def _students_html(report: dict[str, Any]) -> str:
    names = [a["name"] for a in report["assignments"]]
    head = "".join(f"<th>{_esc(n)}</th>" for n in names)
    rows = []
    for row in report["rows"]:
        cells = []
        for n in names:
            cell = row["assignments"].get(n)
            if cell is None:
                cells.append("<td></td>")
                continue
            text = f"{cell['score']:g}/{cell['max_score']:g}"
            if cell["status"] != "graded":
                text += f" {cell['status']}"
            if cell["flags"]:
                text += " ⚑"
            notes = list(cell["flags"])
            if cell.get("seconds_late"):  # the time late and the penalty, from the course's deadlines
                penalty = f", penalty {cell['late_penalty']:g}" if cell.get("late_penalty") else ""
                notes.append(f"late by {format_delay(cell['seconds_late'])}{penalty}")
            title = _esc(", ".join(notes))
            link = cell["feedback"][0] if cell["feedback"] else ""
            cells.append(f'<td class="n" title="{title}"><a href="{_esc(link)}">{_esc(text)}</a></td>')
        rows.append(f"<tr><td>{_esc(row['student'])}</td>{''.join(cells)}</tr>")
    return (f'<h2 id="students">Students</h2><p class="muted">Each score links to the student\'s feedback page; '
            "⚑: flagged (hover for the flags).</p>"
            f"<table><tr><th>student</th>{head}</tr>{''.join(rows)}</table>")


def write_report(out: Path, records: list[dict[str, Any]] | None = None) -> tuple[Path, Path]:
    """Write ``OUT/report.json`` and ``OUT/report.html`` from the records in ``OUT`` (or ``records``)."""
    report = build_report(load_results(out) if records is None else records)
    json_path, html_path = out / REPORT_JSON, out / REPORT_HTML
    atomic_write_text(json_path, json.dumps(report, indent=1) + "\n")
    atomic_write_text(html_path, render_html(report))
    return json_path, html_path
