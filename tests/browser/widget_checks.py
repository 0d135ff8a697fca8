"""Checks on one rendered ``dlbricks.widgets`` view: it draws, and every control works.

A view's *picture* is the HTML its ``ipywidgets.HTML`` panes hold (the SVG and
the text around it). A control works when moving it changes its own value in
the page and, after the round trip through the kernel, the picture.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .lab import UPDATE_TIMEOUT

# What each known view must contain (CSS selectors inside the view, with a minimum count).
# A view of a kind not listed here (a widget added later) must still draw an SVG.
EXPECTED_PARTS: dict[str, dict[str, int]] = {
    "dlbricks-graph-view": {"svg.graph-view g.node[data-op]": 2, "svg.graph-view g.edge": 1},
    "dlbricks-axis-sum": {"svg.axis-sum g.input-cell": 2, ".axis-sum-result": 1},
    "dlbricks-matmul": {"svg.matmul .shape-label": 2},
    "neuron-playground": {"svg": 1},
    "dlbricks-descent": {"svg": 1, ".regime": 1},
    "dlbricks-penalty": {"svg": 1},
    "dlbricks-conv": {"svg.conv-explorer rect.input-cell": 4, "svg.conv-explorer rect.kernel-cell": 1},
}

PICTURE_JS = "root => Array.from(root.querySelectorAll('.widget-html-content')).map(e => e.innerHTML).join('\\n')"
# The class naming the view: the first element of the HTML pane that holds the drawing.
KIND_JS = """root => {
  const svg = root.querySelector('.widget-html-content svg');
  if (!svg) return null;
  const pane = svg.closest('.widget-html-content');
  let el = svg;
  while (el.parentElement && el.parentElement !== pane) el = el.parentElement;
  return el.classList.length ? el.classList[0] : el.tagName.toLowerCase();
}"""

# The part of a view that holds something (text, controls, drawings): the view's own box
# spans the notebook's width, which would leave a screenshot mostly blank on the right.
CONTENT_BOX_JS = """root => {
  const r0 = root.getBoundingClientRect();
  let right = r0.left + 10, bottom = r0.top + 10;
  const grow = r => { if (r.width > 0 && r.height > 0) {
    right = Math.max(right, r.right); bottom = Math.max(bottom, r.bottom); } };
  const visit = el => {
    const tag = el.tagName.toLowerCase();
    if (['svg', 'button', 'select', 'input', 'img', 'canvas'].includes(tag)
        || el.classList.contains('noUi-target')) { grow(el.getBoundingClientRect()); return; }
    for (const node of el.childNodes) {
      if (node.nodeType === Node.TEXT_NODE && node.textContent.trim()) {
        const range = document.createRange();
        range.selectNodeContents(node);
        grow(range.getBoundingClientRect());
      } else if (node.nodeType === Node.ELEMENT_NODE && getComputedStyle(node).display !== 'none') {
        visit(node);
      }
    }
  };
  visit(root);
  const pad = 8;  // none above: the output area's border would show
  return {x: Math.max(r0.left - pad, 0), y: r0.top,
          width: Math.min(right, r0.right) - r0.left + 2 * pad,
          height: Math.min(bottom, r0.bottom) - r0.top + pad};
}"""


@dataclass
class ViewReport:
    """What was done to one view (for the test's messages and the artifacts)."""

    kind: str
    actions: list[str] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)


def screenshot(page, view, path: Path, report: ViewReport) -> None:
    """Save a PNG of the view, cropped to its content."""
    view.evaluate("root => root.scrollIntoView({block: 'center'})")
    page.screenshot(path=str(path), clip=view.evaluate(CONTENT_BOX_JS), animations="disabled")
    report.screenshots.append(path)


def picture(view) -> str:
    return view.evaluate(PICTURE_JS)


def view_kind(view) -> str:
    return view.evaluate(KIND_JS) or "no-svg"


def wait_for_new_picture(view, before: str, what: str, quiet: float = 0.6) -> None:
    """Wait until the view's picture differs from ``before`` and then holds still.

    A slider dragged with continuous updates sends several values; waiting for
    ``quiet`` seconds without a redraw keeps the next action from racing them.
    """
    deadline = time.monotonic() + UPDATE_TIMEOUT / 1000
    current = before
    while time.monotonic() < deadline:
        current = picture(view)
        if current != before:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"{what}: the picture did not change within {UPDATE_TIMEOUT // 1000} s")
    still_since = time.monotonic()
    while time.monotonic() - still_since < quiet and time.monotonic() < deadline:
        time.sleep(0.1)
        latest = picture(view)
        if latest != current:
            current, still_since = latest, time.monotonic()


def check_drawn(view, kind: str) -> None:
    """The view shows a visible SVG and the parts its kind always has."""
    svg = view.locator(".widget-html-content svg").first
    box = svg.bounding_box()
    assert box and box["width"] > 20 and box["height"] > 20, f"{kind}: its SVG is not visible (box {box})"
    for selector, minimum in EXPECTED_PARTS.get(kind, {"svg": 1}).items():
        count = view.locator(selector).count()
        assert count >= minimum, f"{kind}: expected at least {minimum} of {selector!r}, found {count}"


def _slider_value(slider) -> float:
    return float(slider.locator(".noUi-handle").get_attribute("aria-valuenow"))


def move_slider(page, view, slider, report: ViewReport) -> bool:
    """Drag a slider's handle about a third of its track; False when it cannot move."""
    handle = slider.locator(".noUi-handle")
    target = slider.locator(".noUi-target")
    if not slider.is_visible() or target.get_attribute("disabled") is not None:
        return False
    low = float(handle.get_attribute("aria-valuemin"))
    high = float(handle.get_attribute("aria-valuemax"))
    if high <= low:
        return False  # a one-value range (e.g. a position slider with one choice)
    label = slider.locator(".widget-label").inner_text().strip() or "slider"
    value = _slider_value(slider)
    before = picture(view)
    handle.scroll_into_view_if_needed()
    hbox, tbox = handle.bounding_box(), target.bounding_box()
    direction = 1 if (value - low) / (high - low) < 0.5 else -1  # towards the far end
    x, y = hbox["x"] + hbox["width"] / 2, hbox["y"] + hbox["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + direction * 0.35 * tbox["width"], y, steps=2)
    page.mouse.up()
    moved = _slider_value(slider)
    assert moved != value, f"{report.kind}: dragging slider {label!r} did not change its value ({value})"
    wait_for_new_picture(view, before, f"{report.kind}: slider {label!r} moved {value:g} -> {moved:g}")
    report.actions.append(f"slider {label} {value:g} -> {moved:g}")
    return True


def click_and_expect_change(view, control, what: str, report: ViewReport) -> None:
    before = picture(view)
    control.click()
    wait_for_new_picture(view, before, f"{report.kind}: {what}")
    report.actions.append(what)


def exercise_controls(page, view, report: ViewReport) -> None:
    """Move every slider, then flip toggles, checkboxes and drop-downs and press Step buttons.

    Each action must change the picture; the Step/Back/Reset walk of a graph view
    is checked on its own (:func:`check_graph_view_walk`).
    """
    sliders = view.locator(".widget-slider")
    for k in range(sliders.count()):
        move_slider(page, view, sliders.nth(k), report)
    toggles = view.locator(".widget-toggle-buttons")
    for k in range(toggles.count()):
        other = toggles.nth(k).locator("button:not(.mod-active)").first
        if other.count() and other.is_enabled() and other.is_visible():
            click_and_expect_change(view, other, f"toggle {other.inner_text().strip()!r}", report)
    # a lone ToggleButton (the options of a ToggleButtons carry the same class)
    lone_toggle = ".widget-toggle-button:not(.widget-toggle-buttons .widget-toggle-button)"
    for selector, what in ((lone_toggle, "toggle button"), (".widget-checkbox input", "checkbox")):
        controls = view.locator(selector)
        for k in range(controls.count()):
            control = controls.nth(k)
            if control.is_visible() and control.is_enabled():
                click_and_expect_change(view, control, what, report)
    dropdowns = view.locator(".widget-dropdown select")
    for k in range(dropdowns.count()):
        select = dropdowns.nth(k)
        values = select.evaluate("s => Array.from(s.options).map(o => o.value)")
        current = select.input_value()
        others = [v for v in values if v != current]
        if others and select.is_visible() and select.is_enabled():
            before = picture(view)
            select.select_option(others[-1])
            wait_for_new_picture(view, before, f"{report.kind}: drop-down {current!r} -> {others[-1]!r}")
            report.actions.append(f"drop-down -> {others[-1]}")
    if report.kind != "dlbricks-graph-view":
        steps = view.locator("button.widget-button", has_text="Step")
        for k in range(steps.count()):
            click_and_expect_change(view, steps.nth(k), "Step button", report)


def _current_index(view) -> str | None:
    # read in one go: the kernel may redraw the SVG between two separate queries
    current = view.evaluate("root => Array.from(root.querySelectorAll('svg.graph-view g.node.current'))"
                            ".map(g => g.getAttribute('data-index'))")
    assert len(current) <= 1, f"a graph view highlights more than one node: {current}"
    return current[0] if current else None


def wait_for_current(view, expected: str | None, what: str) -> None:
    deadline = time.monotonic() + UPDATE_TIMEOUT / 1000
    while time.monotonic() < deadline:
        if _current_index(view) == expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"graph view: after {what} the highlighted node is "
                         f"{_current_index(view)!r}, expected {expected!r}")


def check_graph_view_walk(view, report: ViewReport) -> None:
    """Step highlights node #0 then #1 (class "current"), Back returns to #0, Reset clears it."""
    assert _current_index(view) is None, "graph view: a node is highlighted before any Step"
    button = {name: view.locator("button.widget-button", has_text=name).first for name in ("Step", "Back", "Reset")}
    button["Step"].click()
    wait_for_current(view, "0", "one Step")
    status = view.locator(".graph-status").inner_text()
    assert status.startswith("Forward step 1/"), f"graph view: status after one Step reads {status!r}"
    button["Step"].click()
    wait_for_current(view, "1", "two Steps")
    button["Back"].click()
    wait_for_current(view, "0", "Back")
    button["Reset"].click()
    wait_for_current(view, None, "Reset")
    report.actions.append("Step, Step, Back, Reset")


# -- fitting the output area -------------------------------------------------------------------
FIT_JS = """root => {
  const out = root.closest('.jp-OutputArea-output');
  const o = out.getBoundingClientRect();
  const controls = Array.from(root.querySelectorAll(
      'button, .widget-slider, .widget-toggle-buttons, select, .widget-checkbox, .graph-status'))
    .filter(e => e.getBoundingClientRect().width > 0);
  const outside = controls
    .filter(e => { const r = e.getBoundingClientRect(); return r.left < o.left - 1 || r.right > o.right + 1; })
    .map(e => (e.textContent || '').trim().slice(0, 40) || e.className);
  return {width: o.width, overflow: out.scrollWidth - out.clientWidth, outside: outside};
}"""

CURRENT_NODE_JS = """root => {
  const box = root.querySelector('svg.graph-view g.node.current rect');
  if (!box) return null;
  const r = box.getBoundingClientRect();
  const o = root.closest('.jp-OutputArea-output').getBoundingClientRect();
  const p = root.querySelector('.dlbricks-graph-view').getBoundingClientRect();
  const left = Math.max(o.left, p.left), right = Math.min(o.right, p.right);
  return {inside: r.left >= left - 1 && r.right <= right + 1 && r.width > 20,
          node: [Math.round(r.left), Math.round(r.right)], visible: [Math.round(left), Math.round(right)]};
}"""


def check_fits(view, kind: str) -> None:
    """Nothing of the view sticks out of its output area sideways: no control scrolls away."""
    fit = view.evaluate(FIT_JS)
    assert fit["overflow"] <= 1, (f"{kind}: the output area ({fit['width']:.0f} px) scrolls sideways "
                                  f"by {fit['overflow']} px: the whole view is wider than the cell")
    assert not fit["outside"], f"{kind}: controls outside the {fit['width']:.0f} px output: {fit['outside']}"


def check_graph_walk_stays_visible(view, report: ViewReport) -> None:
    """Step through both passes: at every few steps the current node and the controls are visible."""
    n = view.locator("svg.graph-view g.node").count()
    step = view.locator("button.widget-button", has_text="Step").first
    view.locator("button.widget-button", has_text="Reset").first.click()
    wait_for_current(view, None, "Reset")
    looks = {1, n // 2, n, n + 1, (3 * n) // 2, 2 * n}
    for k in range(1, 2 * n + 1):
        step.click()
        position = k - 1
        expected = position if position < n else 2 * n - 1 - position
        wait_for_current(view, str(expected), f"{k} Steps")
        if k in looks:
            check_fits(view, f"graph view after {k} Steps")
            where = view.evaluate(CURRENT_NODE_JS)
            assert where and where["inside"], (f"graph view after {k} Steps: node #{expected} at x "
                                               f"{where and where['node']} is outside the visible "
                                               f"{where and where['visible']}")
    report.actions.append(f"walked {2 * n} Steps with node and controls in view")
