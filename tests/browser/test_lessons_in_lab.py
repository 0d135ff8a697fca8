"""The lessons as a student meets them: JupyterLab in a real (headless) Chromium.

For every release notebook: open it, run every cell (unsolved exercises raise
NotImplementedError, so cells run one by one rather than with Run All), and
check that each widget the notebook builds is drawn in a 1,000 px wide output area
without sticking out of it sideways, and answers its controls: a graph view walks its nodes with Step, sliders move and the picture
changes. The page must raise no JavaScript error and log no console error.
Screenshots of every widget go to tests/artifacts/browser/<lesson>/.

Then nbgrader's Validate button, clicked in the notebook toolbar, must report
the failing exercises of an untouched release and pass a solved notebook.

Run:  DLBRICKS_QUICK=1 .venv/bin/python -m pytest tests/browser -m browser
"""
from __future__ import annotations

import shutil
import time

import pytest

from .lab import ARTIFACTS, NotebookDriver, release_notebooks, widget_cells
from .widget_checks import (ViewReport, check_drawn, check_fits, check_graph_view_walk,
                            exercise_controls, screenshot, view_kind)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

NOTEBOOKS = release_notebooks()
VALIDATE_TIMEOUT = 900_000  # ms: Validate runs the whole notebook in a new kernel


def _artifacts(name: str):
    folder = ARTIFACTS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _assert_no_page_errors(log, where: str) -> None:
    problems = log.problems()
    assert not problems, f"JavaScript errors in {where}:\n" + "\n".join(problems)


def test_release_notebooks_exist():
    assert NOTEBOOKS, "no release/NN_slug/NN_slug.ipynb found: run `make release`"


def _check_view(page, view, stem, first: bool) -> ViewReport:
    """Draw checks, screenshots and control checks of one widget view."""
    view.scroll_into_view_if_needed()
    kind = view_kind(view)
    report = ViewReport(kind=kind)
    check_drawn(view, kind)
    check_fits(view, kind)  # in the 1,000 px output no control sticks out sideways
    screenshot(page, view, stem.with_name(f"{stem.name}-{kind}.png"), report)
    if kind == "dlbricks-graph-view":
        check_graph_view_walk(view, report)
    exercise_controls(page, view, report)
    if kind == "dlbricks-graph-view" and first:
        # For the screenshot: n Steps walk the forward pass, n/2 more reach mid-backward.
        steps = 3 * view.locator("svg.graph-view g.node").count() // 2
        step = view.locator("button.widget-button", has_text="Step").first
        for _ in range(steps):
            step.click()
        view.locator(".graph-status", has_text="Backward step").wait_for()
    screenshot(page, view, stem.with_name(f"{stem.name}-{kind}-after.png"), report)
    assert report.actions, f"{stem.name} ({kind}) has no control that changes its picture"
    return report


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.parent.name for p in NOTEBOOKS])
def test_lesson_runs_and_its_widgets_work(lab_server, lab_page, notebook):
    page, log = lab_page
    lesson = notebook.parent.name
    out = _artifacts(lesson)
    nb = NotebookDriver(page, lab_server, f"{lesson}/{notebook.name}")
    clock = [("start", time.monotonic())]
    nb.open()
    width = nb.fit_output_width(1000)  # the output width the issue-16 walkthrough had (~970 px)
    assert abs(width - 1000) <= 2, f"could not make the output 1000 px wide (got {width})"
    clock.append(("open", time.monotonic()))
    nb.run_every_cell()
    clock.append(("run cells", time.monotonic()))
    page.screenshot(path=str(out / "notebook-end.png"))

    # Every code cell ran (the prompt got an execution count), whatever it raised.
    for i in nb.code_cells():
        assert nb.prompt(i).inner_text().strip("[]: ").isdigit(), f"{lesson}: cell {i} did not run"

    # Each cell that builds a widget shows it, and raised nothing: a widget must not
    # depend on an exercise the student has not solved yet.
    expected = widget_cells(nb.notebook)
    for i in expected:
        errors = nb.error_names(i)
        assert not errors, f"{lesson}: widget cell {i} raised {errors} in the untouched release"
        assert nb.widgets(i).count() >= 1, f"{lesson}: cell {i} builds a widget but none is drawn"
    assert "Error displaying widget" not in nb.panel.inner_text(), f"{lesson}: a widget failed to display"

    _assert_no_page_errors(log, f"{lesson} (while its cells ran)")

    views = nb.widgets()
    assert views.count() >= len(expected)
    reports = []
    for k in range(views.count()):
        reports.append(_check_view(page, views.nth(k), out / f"widget{k + 1:02d}", first=(k == 0)))
        clock.append((f"widget {k + 1}", time.monotonic()))
    timings = ", ".join(f"{name} {t - before:.0f} s" for (_, before), (name, t) in zip(clock, clock[1:]))
    (out / "widgets.txt").write_text("\n".join(f"{r.kind}: {'; '.join(r.actions) or 'no controls'}"
                                               for r in reports) + f"\ntimings: {timings}\n"
                                      + f"outside requests answered by the stub: {sorted(set(log.outside_requests))}\n")
    _assert_no_page_errors(log, lesson)


@pytest.mark.parametrize("folder, expect_pass", [("", False), ("_solutions", True)],
                         ids=["release-fails", "solution-passes"])
def test_nbgrader_validate_button(lab_server, lab_page, folder, expect_pass):
    page, log = lab_page
    lesson = NOTEBOOKS[0].parent.name
    rel = "/".join(p for p in (folder, lesson, f"{lesson}.ipynb") if p)
    nb = NotebookDriver(page, lab_server, rel)
    nb.open()
    nb.panel.locator(".validate-button").click()
    dialog = page.locator(".jp-Dialog", has_text="Validation Results")
    dialog.wait_for(timeout=VALIDATE_TIMEOUT)
    message = dialog.locator("#validation-message")
    out = _artifacts(f"validate-{'solution' if expect_pass else 'release'}")
    page.screenshot(path=str(out / "validation-dialog.png"))
    text = message.inner_text()
    classes = message.get_attribute("class") or ""
    if expect_pass:
        assert "validation-success" in classes, f"Validate on the solved {lesson} reported:\n{text[:3000]}"
        assert "Success! Your notebook passes all the tests." in text
    else:
        assert "validation-failed" in classes, f"Validate on the untouched {lesson} reported:\n{text[:3000]}"
        assert "NotImplementedError" in text, f"the failures name no NotImplementedError:\n{text[:3000]}"
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    _assert_no_page_errors(log, f"Validate on {rel}")
