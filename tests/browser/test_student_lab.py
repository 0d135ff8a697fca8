"""The student's Lab (``make lab``, the Docker image's default) in a real headless Chromium.

- nbgrader's instructor tools are absent (no Formgrader, no Create Assignment sidebar, no
  Nbgrader menu), while the instructor's Lab (``make lab-instructor``) has them, and
  opening and saving a lesson leaves every cell's metadata as it was;
- a notebook whose widgets were used, saved, closed and reopened shows every figure;
- in a 1,000 px wide output every widget fits: no control scrolls sideways out of the cell,
  and the graph view's current node stays in sight through both passes.

Run:  DLBRICKS_QUICK=1 .venv/bin/python -m pytest tests/browser/test_student_lab.py -m browser
"""
from __future__ import annotations

import json

import pytest

from .lab import ARTIFACTS, NotebookDriver, release_notebooks, widget_cells
from .widget_checks import ViewReport, check_fits, check_graph_walk_stays_visible, screenshot, view_kind

pytestmark = [pytest.mark.slow, pytest.mark.browser]

LESSONS = {p.parent.name: p for p in release_notebooks()}
INSTRUCTOR_UI = {
    "Create Assignment sidebar": '[data-id="nbgrader-create_assignemnt"], #nbgrader-create_assignemnt',
    "Nbgrader menu": '.lm-MenuBar-item:has-text("Nbgrader")',
}


def _lesson(name: str) -> str:
    if name not in LESSONS:
        pytest.fail(f"release/{name} is missing: run make release")
    return f"{name}/{LESSONS[name].name}"


def _formgrader_status(server) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(server.url("formgrader"), timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def _instructor_ui(page) -> list[str]:
    return [name for name, selector in INSTRUCTOR_UI.items() if page.locator(selector).count()]


def test_the_instructors_lab_has_the_tools_the_students_lacks(lab_server, lab_page):
    """The contrast that keeps the student-side test honest: these selectors do find the tools."""
    page, _ = lab_page
    nb = NotebookDriver(page, lab_server, _lesson("01_tensors"))
    nb.open()
    nb.panel.locator(".validate-button").wait_for()
    page.locator(INSTRUCTOR_UI["Nbgrader menu"]).first.wait_for(timeout=60_000)
    assert sorted(_instructor_ui(page)) == sorted(INSTRUCTOR_UI)
    assert _formgrader_status(lab_server) == 200


def test_the_students_lab_has_no_instructor_tools_and_leaves_metadata_alone(student_server, student_page):
    page, log = student_page
    rel = _lesson("01_tensors")
    before = json.loads((student_server.root / rel).read_text())
    nb = NotebookDriver(page, student_server, rel)
    nb.open()
    nb.panel.locator(".validate-button").wait_for()  # the student keeps Validate
    page.wait_for_timeout(3000)  # every extension has loaded and had its chance to touch the notebook
    assert _instructor_ui(page) == [], f"instructor tools in the student's Lab: {_instructor_ui(page)}"
    assert page.get_by_text("Formgrader", exact=True).count() == 0
    assert _formgrader_status(student_server) == 404, "the Formgrader server extension answers"
    # JupyterLab itself fills in the kernel's language_info when the kernel starts (that
    # alone marks the notebook modified); nothing else may change, and no cell's metadata.
    nb.save()
    after = json.loads((student_server.root / rel).read_text())
    ignored = {"language_info", "widgets"}
    assert {k: v for k, v in after["metadata"].items() if k not in ignored} == \
        {k: v for k, v in before["metadata"].items() if k not in ignored}
    assert len(after["cells"]) == len(before["cells"])
    for k, (old, new) in enumerate(zip(before["cells"], after["cells"])):
        assert new["metadata"] == old["metadata"], f"cell {k}'s metadata changed: {old['metadata']} -> {new['metadata']}"
        assert new["source"] == old["source"] or "".join(new["source"]) == "".join(old["source"]), f"cell {k}'s source changed"
    assert not log.problems(), log.problems()


@pytest.mark.parametrize("lesson", ["01_tensors", "04_graphs_and_backprop"])
def test_a_reopened_notebook_shows_every_figure(student_server, student_page, lesson):
    """Lesson 01's tensor-axes widget, and lesson 04's graph views (the largest widgets)."""
    page, log = student_page
    rel = _lesson(lesson)
    nb = NotebookDriver(page, student_server, rel)
    nb.open()
    nb.fit_output_width(1000)
    nb.run_every_cell()
    cells = widget_cells(nb.notebook)
    assert cells, f"{lesson} builds no widget any more: pick a lesson that does"
    views = nb.widgets()
    for k in range(views.count()):
        check_fits(views.nth(k), view_kind(views.nth(k)))
    nb.save()
    saved = json.loads((student_server.root / rel).read_text())
    for i in cells:
        html = [o["data"].get("text/html", "") for o in saved["cells"][i].get("outputs", [])
                if o.get("output_type") in ("display_data", "execute_result")]
        assert any("<svg" in "".join(h) for h in html), f"cell {i} kept no static picture of its widget"
    assert saved["metadata"].get("widgets"), "the student's Lab did not save the widget state"

    # closed: kernel gone, page gone; then opened again
    page.goto("about:blank")
    student_server.shutdown_kernels()
    nb = NotebookDriver(page, student_server, rel)
    nb.open()
    page.wait_for_timeout(3000)
    out = ARTIFACTS / "student-lab"
    out.mkdir(parents=True, exist_ok=True)
    for i in cells:
        cell = nb.cells.nth(i)
        cell.scroll_into_view_if_needed()
        svg = cell.locator(".jp-OutputArea-output svg").first
        svg.wait_for(timeout=60_000)
        box = svg.bounding_box()
        assert box and box["width"] > 20 and box["height"] > 20, f"cell {i}: no figure after reopening"
        page.screenshot(path=str(out / f"reopened-{lesson[:2]}-cell{i}.png"), clip=cell.bounding_box())
    text = nb.panel.inner_text()
    assert "model not found" not in text and "Error displaying widget" not in text, \
        "a widget failed to display after reopening"
    assert not log.problems(), log.problems()


def test_graph_views_fit_a_1000px_output_and_follow_the_current_node(student_server, student_page):
    page, log = student_page
    rel = _lesson("04_graphs_and_backprop")
    nb = NotebookDriver(page, student_server, rel)
    nb.open()
    width = nb.fit_output_width(1000)
    assert abs(width - 1000) <= 2, f"could not make the output 1000 px wide (got {width})"
    nb.run_every_cell()
    views = nb.widgets()
    assert views.count() >= len(widget_cells(nb.notebook))
    out = ARTIFACTS / "student-lab"
    out.mkdir(parents=True, exist_ok=True)
    for k in range(views.count()):
        view = views.nth(k)
        view.scroll_into_view_if_needed()
        kind = view_kind(view)
        report = ViewReport(kind=kind)
        check_fits(view, kind)
        if kind == "dlbricks-graph-view":
            check_graph_walk_stays_visible(view, report)
        screenshot(page, view, out / f"graph{k + 1:02d}-1000px.png", report)
    assert not log.problems(), log.problems()
