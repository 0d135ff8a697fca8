"""DescentExplorer and PenaltyExplorer: they build, react to their controls, and draw the right thing."""
from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

from dlbricks.widgets import DescentExplorer, PenaltyExplorer  # noqa: E402
from dlbricks.widgets.descent import (  # noqa: E402
    PROBLEMS, bowl_problem, classify_regime, descent_path, penalised_minimiser,
    penalised_objective, quadratic_problem, run_descent,
)

pytestmark = pytest.mark.filterwarnings("error")    # a widget must not warn (stderr in notebooks)


def _groups(svg: str) -> list[str]:
    return re.findall(r'<g id="([a-z-]+)"', svg)


def _markers_in(svg: str, gid: str) -> int:
    """How many markers matplotlib drew inside the group ``gid`` (one ``<use>`` per marker)."""
    start = svg.index(f'<g id="{gid}"')
    depth, i = 0, start
    for match in re.finditer(r"<g[ >]|</g>", svg[start:]):
        depth += 1 if match.group().startswith("<g") else -1
        if depth == 0:
            i = start + match.end()
            break
    return svg[start:i].count("<use ")


def _data(html: str, name: str) -> str:
    return re.search(rf'data-{name}="([^"]*)"', html).group(1)


# ---- the maths behind the view ----------------------------------------------------------
@pytest.mark.parametrize("lr", [0.1, 0.45, 0.8, 1.0, 1.05])
def test_quadratic_path_follows_the_closed_form(lr):
    a, x0, steps = 2.0, -1.0, 12
    path = descent_path(quadratic_problem(a).grad, [x0], lr, steps)
    t = np.arange(steps + 1)
    np.testing.assert_allclose(path[:, 0], a + (1 - 2 * lr) ** t * (x0 - a), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("lr, regime", [
    (0.0, "stays put"), (0.2, "converges"), (0.5, "converges"), (0.51, "oscillates"),
    (0.99, "oscillates"), (1.0, "bounces"), (1.01, "diverges"),
])
def test_quadratic_regimes_match_the_thresholds(lr, regime):
    problem = quadratic_problem(2.0)
    assert classify_regime(problem, descent_path(problem.grad, [-1.0], lr, 10), lr) == regime


def test_bowl_is_limited_by_its_steep_direction():
    problem = bowl_problem()
    run = run_descent(problem, 0.8, 50)
    assert run.regime == "oscillates"
    assert np.all(np.diff(np.sign(run.path[1:10, 1])) != 0)      # y flips sign every step
    assert np.all(np.diff(run.path[:10, 0]) > 0)                  # x creeps monotonically
    assert run_descent(problem, 1.1, 50).regime == "diverges"
    # starting on the flat axis (y = 0) only the flat curvature counts: lr = 1.1 is fine there
    assert run_descent(problem, 1.1, 50, start=(-8.0, 0.0)).regime == "converges"


def test_diverging_run_stops_before_overflow():
    run = run_descent(PROBLEMS["quartic"], 1.0, 100)
    assert run.escaped and run.regime == "diverges"
    assert len(run.path) < 101
    assert np.all(np.isfinite(run.path))


def test_quartic_reaches_the_minimum_of_its_own_valley():
    run = run_descent(PROBLEMS["quartic"], 0.05, 400, start=(2.2,))
    x = run.path[-1, 0]
    assert abs(x ** 3 - 2 * x + 0.4) < 1e-8 and x > 0            # the shallow valley on the right
    left = run_descent(PROBLEMS["quartic"], 0.05, 400, start=(-0.5,))
    assert left.path[-1, 0] < 0 and left.final_loss < run.final_loss


def test_penalised_minimiser_is_where_the_objective_is_smallest():
    xs = np.linspace(-60, 10, 700_001)
    for penalty in ("squared", "linear"):
        for C in (0.1, 1.0, 7.0, 100.0):
            best = xs[np.argmin(penalised_objective(xs, 3.0, 1.0, C, penalty))]
            assert abs(best - penalised_minimiser(3.0, 1.0, C, penalty)) < 1e-3
    assert penalised_minimiser(3.0, 1.0, 4.0, "linear") == pytest.approx(1.0)   # C = 2(a - b) only


# ---- DescentExplorer ----------------------------------------------------------------------
def test_descent_explorer_builds_and_draws_the_path():
    view = DescentExplorer(lr=0.1, steps=20)
    assert view.regime == "converges"
    assert view.path.shape == (21, 1)
    groups = _groups(view.svg)
    for gid in ("loss-curve", "descent-path", "start-point", "final-point", "minimum", "loss-history"):
        assert gid in groups
    assert _markers_in(view.svg, "descent-path") == 21
    assert _data(view.html, "regime") == "converges"
    assert view.svg in view.html
    bundle = view._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert view.lr_slider in view.widget.children[0].children


def test_learning_rate_slider_changes_the_regime():
    view = DescentExplorer(lr=0.1, steps=20)
    for lr, regime in [(0.3, "converges"), (0.8, "oscillates"), (1.0, "bounces"), (1.1, "diverges")]:
        before = view.svg
        view.lr_slider.value = lr
        assert view.regime == regime
        assert _data(view.html, "regime") == regime
        assert f"lr = {lr:g}: {regime}" in view.svg
        assert view.svg != before


def test_steps_and_start_sliders_redraw():
    view = DescentExplorer(lr=0.2, steps=20)
    view.steps_slider.value = 5
    assert view.path.shape == (6, 1)
    assert _markers_in(view.svg, "descent-path") == 6
    assert _data(view.html, "steps") == "5"
    view.start_slider.value = 5.0
    assert view.path[0, 0] == 5.0
    assert view.path[1, 0] == pytest.approx(5.0 - 0.2 * 2 * (5.0 - 2.0))


def test_problem_dropdown_switches_to_the_2d_bowl():
    view = DescentExplorer(lr=0.8)
    assert view.start_y_slider.layout.display == "none"
    view.problem_dropdown.value = "bowl"
    assert view.start_y_slider.layout.display == ""
    assert view.path.shape == (21, 2)
    np.testing.assert_allclose(view.path[0], bowl_problem().start)
    assert "loss-contours" in _groups(view.svg) and "loss-curve" not in _groups(view.svg)
    assert view.regime == "oscillates"
    view.start_y_slider.value = 0.0               # on the flat axis nothing overshoots
    assert view.regime == "converges"
    view.problem_dropdown.value = "quartic"        # lr = 0.8 is too large for either valley
    assert view.path.shape[1] == 1 and _data(view.html, "problem") == "quartic"
    assert view.regime == "diverges"


def test_descent_explorer_rejects_unknown_problem():
    with pytest.raises(ValueError, match="problem must be one of"):
        DescentExplorer(problem="banana")


# ---- PenaltyExplorer ----------------------------------------------------------------------
def test_squared_penalty_moves_the_minimiser_toward_b():
    view = PenaltyExplorer(a=3.0, b=1.0, C=0.1)
    seen = []
    for C in (0.1, 1.0, 10.0, 100.0, 1000.0):
        view.c_slider.value = C
        assert view.minimiser == pytest.approx((3.0 + C * 1.0) / (1.0 + C), rel=1e-9)
        assert float(_data(view.html, "minimiser")) == pytest.approx(view.minimiser, rel=1e-5)
        assert "minimiser-point" in _groups(view.svg)
        seen.append(view.minimiser)
    assert np.all(np.diff(seen) < 0) and abs(seen[-1] - 1.0) < 0.003


def test_linear_penalty_runs_off_instead():
    view = PenaltyExplorer(a=3.0, b=1.0, C=1.0)
    squared_svg = view.svg
    view.penalty_toggle.value = "linear"
    assert _data(view.html, "penalty") == "linear"
    assert view.minimiser == pytest.approx(2.5)
    assert view.svg != squared_svg
    view.c_slider.value = 100.0
    assert view.minimiser == pytest.approx(-47.0)
    assert "minimiser-offscreen" in _groups(view.svg) and "minimiser-point" not in _groups(view.svg)
    assert "runs off" in view.html
    for gid in ("objective-curve", "penalty-term", "loss-term", "constraint-line",
                "minimiser-vs-c-squared", "minimiser-vs-c-linear", "current-c"):
        assert gid in _groups(view.svg)


def test_penalty_explorer_rejects_a_equal_b():
    with pytest.raises(ValueError, match="a != b"):
        PenaltyExplorer(a=1.0, b=1.0)
