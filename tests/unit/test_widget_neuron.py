"""NeuronPlayground: builds, follows its sliders and toggle, draws what it should."""
from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

from dlbricks.data import load_banknote  # noqa: E402
from dlbricks.widgets import NeuronPlayground  # noqa: E402
from dlbricks.widgets.neuron import HIDDEN_B, HIDDEN_W  # noqa: E402

# Four points, two per class, on either side of the line x1 = 0.
TOY_X = np.array([[-2.0, 0.0], [-1.0, 1.0], [1.0, -1.0], [2.0, 0.5]])
TOY_Y = np.array([1, 1, 0, 0])


def logistic(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


def ids(svg: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', svg))


def readout(pg: NeuronPlayground, name: str) -> str:
    match = re.search(rf"data-{name}='([^']*)'", pg.html)
    assert match, f"data-{name} missing from the readout: {pg.html}"
    return match.group(1)


def toy(**kwargs) -> NeuronPlayground:
    return NeuronPlayground(X=TOY_X, y=TOY_Y, resolution=15, **kwargs)


@pytest.fixture(scope="module")
def banknote_playground() -> NeuronPlayground:
    return NeuronPlayground(resolution=31)


def test_defaults_are_the_slides_neuron_on_the_banknote_test_split(banknote_playground):
    pg = banknote_playground
    _, X_test, _, y_test = load_banknote(features="two")
    assert (pg.w1_slider.value, pg.w2_slider.value, pg.b_slider.value) == (0.3, 0.1, 1.0)
    assert not pg.hidden_toggle.value
    assert pg.X.shape == X_test.shape and np.array_equal(pg.y, y_test)
    # pen and paper: z = 1.0 + 0.3 * 1 + 0.1 * 2.2 = 1.52
    assert pg.pen_and_paper_probability == pytest.approx(1 / (1 + math.exp(-1.52)), rel=1e-12)
    expected = np.mean((logistic(1.0 + X_test @ np.array([0.3, 0.1])) > 0.5) == (y_test == 1))
    assert pg.accuracy == pytest.approx(expected)
    assert float(readout(pg, "accuracy")) == pytest.approx(expected, abs=1e-6)
    assert float(readout(pg, "p-pen")) == pytest.approx(0.820538, abs=1e-6)


def test_drawing_has_shading_line_points_and_the_pen_and_paper_point(banknote_playground):
    svg = banknote_playground.svg
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    for gid in ("p-shading", "decision-boundary", "points-genuine", "points-forged",
                "pen-and-paper-point", "pen-and-paper-label"):
        assert gid in ids(svg), f"{gid} missing from the drawing"
    assert not any(i.startswith("hidden-unit") for i in ids(svg))
    assert "p = 0.821" in svg
    assert "accuracy 31.5 %" in svg
    assert "0.3·x1 + 0.1·x2 + 1 = 0" in banknote_playground.html


def test_each_slider_changes_probability_drawing_and_readout():
    pg = toy(w1=-1.0, w2=0.0, b=0.0)
    assert pg.accuracy == 1.0  # p > 0.5 exactly where x1 < 0
    before_svg, before_html = pg.svg, pg.html
    pg.w1_slider.value = 1.0  # flipped: every point on the wrong side
    assert pg.accuracy == 0.0
    assert pg.svg != before_svg and pg.html != before_html
    assert float(readout(pg, "accuracy")) == 0.0
    pg.w2_slider.value = 2.0
    pg.b_slider.value = -0.5
    x = np.array([1.0, 2.2])
    assert pg.pen_and_paper_probability == pytest.approx(logistic(-0.5 + 1.0 * x[0] + 2.0 * x[1]))
    assert "1·x1 + 2·x2 - 0.5 = 0" in pg.html
    assert np.allclose(pg.probability(TOY_X), logistic(TOY_X @ np.array([1.0, 2.0]) - 0.5))


def test_probability_is_one_half_on_the_line_w_dot_x_plus_b_equals_zero():
    pg = toy(w1=0.3, w2=0.1, b=1.0)
    x1 = np.linspace(-5, 5, 7)
    on_line = np.column_stack([x1, -(0.3 * x1 + 1.0) / 0.1])  # x2 = -(w1 x1 + b) / w2
    assert np.allclose(pg.probability(on_line), 0.5)


def test_hidden_toggle_feeds_the_neuron_two_fixed_hidden_units():
    # spread like the banknotes, so that both hidden units' lines cross the picture
    wide = np.array([[-6.0, -12.0], [-3.0, 10.0], [5.0, -10.0], [6.0, 12.0]])
    pg = NeuronPlayground(X=wide, y=TOY_Y, resolution=15, w1=-9.0, w2=-9.0, b=3.0)
    flat_svg = pg.svg
    pg.hidden_toggle.value = True
    assert readout(pg, "hidden") == "true"
    h = logistic(wide @ HIDDEN_W + HIDDEN_B)
    assert np.allclose(pg.probability(wide), logistic(h @ np.array([-9.0, -9.0]) + 3.0))
    assert pg.svg != flat_svg
    assert {"hidden-unit-1", "hidden-unit-2"} <= ids(pg.svg)
    assert "h1" in pg.html and "h2" in pg.html
    pg.hidden_toggle.value = False
    assert readout(pg, "hidden") == "false"
    assert not any(i.startswith("hidden-unit") for i in ids(pg.svg))


def test_hidden_layer_beats_every_straight_line_on_the_banknotes():
    _, X_test, _, y_test = load_banknote(features="two")
    pg = NeuronPlayground(w1=-9.0, w2=-9.0, b=3.0, hidden=True, resolution=11)
    # the best single neuron (logistic regression) reaches about 0.89-0.90 here
    assert pg.accuracy > 0.93
    assert pg.accuracy == pytest.approx(
        np.mean((logistic(logistic(X_test @ HIDDEN_W + HIDDEN_B) @ [-9, -9] + 3) > 0.5) == y_test))


def test_constant_probability_draws_no_boundary_and_warns_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pg = toy(w1=0.0, w2=0.0, b=2.0)
        assert "decision-boundary" not in ids(pg.svg)
        assert "no boundary" in pg.html
        assert pg.accuracy == 0.5  # every note called forged; half of them are
        pg.w1_slider.value = -1.0
        assert "decision-boundary" in ids(pg.svg)


def test_bad_points_get_a_sentence():
    with pytest.raises(ValueError, match="both X"):
        NeuronPlayground(X=TOY_X)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        NeuronPlayground(X=np.zeros((4, 3)), y=TOY_Y)
    with pytest.raises(ValueError, match="split"):
        NeuronPlayground(split="validation")


def test_displays_through_its_ipywidgets_container():
    pg = toy()
    bundle = pg._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert pg.w1_slider in pg.widget.children[0].children[0].children
