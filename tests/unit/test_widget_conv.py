"""ConvExplorer (lesson 08): builds, follows its controls, and draws the convolution it computes."""
from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("ipywidgets")

from dlbricks import nn  # noqa: E402
from dlbricks.widgets import ConvExplorer  # noqa: E402
from dlbricks.widgets.conv import KERNELS, default_image, padding_plan  # noqa: E402

pytestmark = pytest.mark.filterwarnings("error")    # a widget must not warn (stderr in notebooks)


def _rects(svg: str, css: str) -> list[dict[str, str]]:
    """Attributes of every ``<rect class="... css ...">`` in the drawing."""
    found = []
    for match in re.finditer(r'<rect class="([^"]*)"([^>]*)>', svg):
        classes = match.group(1).split()
        if css in classes:
            attrs = dict(re.findall(r'data-([\w-]+)="([^"]*)"', match.group(2)))
            attrs["classes"] = classes
            found.append(attrs)
    return found


def _data(html: str, name: str) -> str:
    return re.search(rf'data-{name}="([^"]*)"', html).group(1)


def _digit() -> np.ndarray:
    """A 12 x 12 grey image with values in [0, 1] and no symmetry (seeded)."""
    return np.random.default_rng(8).uniform(0, 1, size=(12, 12)).round(2)


# ---- the maths -----------------------------------------------------------------------
@pytest.mark.parametrize("n, k, s", [(28, 3, 1), (28, 3, 2), (7, 3, 2), (10, 3, 3), (5, 5, 2), (6, 2, 4)])
def test_padding_plan_follows_tensorflow(n, k, s):
    valid = padding_plan(n, k, s, "valid")
    assert valid.out == (n - k) // s + 1 and (valid.before, valid.after) == (0, 0)
    same = padding_plan(n, k, s, "same")
    assert same.out == -(-n // s)
    total = max((same.out - 1) * s + k - n, 0)
    assert (same.before, same.after) == (total // 2, total - total // 2)
    # the padded length holds exactly the windows the stride visits
    assert (n + same.before + same.after - k) // s + 1 == same.out
    assert str(same.out) in same.formula and str(valid.out) in valid.formula


def test_padding_plan_puts_the_extra_zero_after():
    plan = padding_plan(10, 4, 1, "same")         # 3 zeros: 1 before, 2 after
    assert (plan.before, plan.after, plan.out) == (1, 2, 10)


def test_kernels_detect_the_edges_they_are_named_after():
    x = np.zeros((6, 6))
    x[:, 3:] = 1.0                                  # a vertical edge (dark left, bright right)
    img = x[None, :, :, None]
    for name in ("sobel_x", "prewitt_x"):
        y = nn.conv2d(img, KERNELS[name][:, :, None, None], padding="valid")[0, :, :, 0]
        assert y.max() > 0 and np.all(y[:, 0] == 0)     # responds only across the edge
    for name in ("sobel_y", "prewitt_y"):
        y = nn.conv2d(img, KERNELS[name][:, :, None, None], padding="valid")[0, :, :, 0]
        assert np.all(y == 0)                             # blind to a vertical edge
    flat = nn.conv2d(np.ones((1, 5, 5, 1)), KERNELS["laplacian"][:, :, None, None])[0, :, :, 0]
    assert np.all(flat == 0)


# ---- the widget ------------------------------------------------------------------------
def test_builds_with_defaults_and_draws_every_cell():
    view = ConvExplorer()
    assert view.image.shape == default_image().shape
    assert view.out_shape == (8, 8)                 # 10 - 3 + 1, 'valid', stride 1
    assert len(_rects(view.svg, "input-cell")) == 100
    assert len(_rects(view.svg, "pad-cell")) == 0
    assert len(_rects(view.svg, "kernel-cell")) == 9
    outputs = _rects(view.svg, "output-cell")
    assert len(outputs) == 64
    assert [c["state"] for c in outputs].count("current") == 1
    assert _data(view.html, "out-shape") == "8,8"
    assert "floor((10 − 3) / 1) + 1 = 8" in view.html
    assert view._repr_mimebundle_() is not None


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_output_matches_tf_rules_and_the_dot_products(padding, stride):
    image = _digit()
    view = ConvExplorer(image, kernel="sobel_y", stride=stride, padding=padding)
    expected = nn.conv2d(image[None, :, :, None], KERNELS["sobel_y"][:, :, None, None],
                         strides=stride, padding=padding)[0, :, :, 0]
    assert view.out_shape == expected.shape
    assert view.position_slider.max == expected.size - 1
    for position in range(0, expected.size, 5):
        view.position_slider.value = position
        i, j = view.cell
        # the written-out terms add up to the output cell, which is the library's value
        total = sum(x * w for x, w in view.terms)
        assert total == pytest.approx(expected[i, j], abs=1e-12)
        assert view.value == pytest.approx(expected[i, j], abs=1e-12)
        assert view.formula.startswith(f"y[{i}, {j}] = ")


def test_position_moves_the_window_and_fills_the_output():
    view = ConvExplorer(_digit(), kernel="laplacian", stride=2, padding="same")
    assert view.out_shape == (6, 6)
    view.position_slider.value = 8                  # row 1, column 2
    assert view.cell == (1, 2)
    window = _rects(view.svg, "in-window")
    rows = sorted({int(c["row"]) for c in window})
    cols = sorted({int(c["col"]) for c in window})
    assert rows == [2, 3, 4] and cols == [4, 5, 6]  # padded coordinates start at i*s, j*s
    assert re.search(r'<rect class="window" data-top="2" data-left="4"', view.svg)
    np.testing.assert_array_equal(view.window, view.padded[2:5, 4:7])
    states = {(int(c["row"]), int(c["col"])): c["state"] for c in _rects(view.svg, "output-cell")}
    assert states[(1, 2)] == "current"
    assert states[(0, 5)] == "done" and states[(1, 1)] == "done"
    assert states[(1, 3)] == "pending" and states[(5, 5)] == "pending"
    done = [c for c in _rects(view.svg, "output-cell") if c["state"] != "pending"]
    assert len(done) == 9 and all("value" in c for c in done)


def test_step_button_advances_and_wraps():
    view = ConvExplorer(kernel="prewitt_x")
    n = view.out_shape[0] * view.out_shape[1]
    before = view.svg
    view.step_button.click()
    assert view.position == 1 and view.svg != before
    assert _data(view.html, "position") == "1"
    view.position_slider.value = n - 1
    view.step()
    assert view.position == 0


def test_same_padding_draws_the_zeros_tensorflow_adds():
    image = np.ones((7, 7))
    view = ConvExplorer(image, kernel="blur", stride=2, padding="same")
    # n=7, k=3, s=2: out 4, (4-1)*2+3-7 = 2 zeros, 1 before and 1 after
    assert view.out_shape == (4, 4)
    assert view.padded.shape == (9, 9)
    pads = _rects(view.svg, "pad-cell")
    assert len(pads) == 81 - 49 and all(float(c["value"]) == 0 for c in pads)
    assert {(int(c["row"]), int(c["col"])) for c in pads} >= {(0, 0), (8, 8), (0, 4), (4, 8)}
    assert "2 → 1 before, 1 after" in view.html
    view.stride_slider.value = 1                   # 2 zeros again, still split 1 / 1
    assert view.out_shape == (7, 7) and view.padded.shape == (9, 9)
    view.stride_slider.value = 3                   # out 3, (3-1)*3+3-7 = 2 zeros
    assert view.out_shape == (3, 3)


def test_changing_controls_redraws_and_keeps_the_position_valid():
    view = ConvExplorer(_digit(), kernel="sobel_x", padding="same")
    view.position_slider.value = 143               # the last of 12 x 12
    view.stride_slider.value = 3                   # now 4 x 4 cells
    assert view.position_slider.max == 15 and view.position <= 15
    assert _data(view.html, "out-shape") == "4,4" and _data(view.html, "stride") == "3"
    before = view.svg
    view.kernel_dropdown.value = "sobel_y"
    assert view.svg != before and _data(view.html, "kernel") == "sobel_y"
    cells = {(c["row"], c["col"]): c["value"] for c in _rects(view.svg, "kernel-cell")}
    assert float(cells[("0", "1")]) == -2 and float(cells[("2", "1")]) == 2
    view.padding_toggle.value = "valid"            # 12 - 3 = 9, // 3 + 1 = 4
    assert view.out_shape == (4, 4) and _data(view.html, "padding") == "valid"
    assert not _rects(view.svg, "pad-cell")


def test_show_all_fills_every_output_cell():
    view = ConvExplorer(kernel="laplacian", position=3)
    assert sum(c["state"] == "pending" for c in _rects(view.svg, "output-cell")) == 64 - 4
    view.show_all_checkbox.value = True
    states = [c["state"] for c in _rects(view.svg, "output-cell")]
    assert states.count("pending") == 0 and states.count("current") == 1


def test_custom_kernel_and_uint8_image():
    image = (np.arange(36).reshape(6, 6) * 7).astype(np.uint8)
    kernel = np.array([[1.0, 2.0], [0.0, -1.0]])     # asymmetric: a flip would show
    view = ConvExplorer(image, kernel=kernel)
    assert view.kernel_name == "custom" and view.out_shape == (5, 5)
    x = image / 255.0
    expected = x[0, 0] * 1 + x[0, 1] * 2 + x[1, 1] * -1     # cross-correlation, no flip
    assert view.value == pytest.approx(expected)
    assert "custom 2×2" in str(view.kernel_dropdown.options)


def test_digit_sized_image_is_drawn_small_but_complete():
    image = np.random.default_rng(0).integers(0, 256, size=(28, 28)).astype(np.uint8)
    view = ConvExplorer(image, padding="same")
    assert len(_rects(view.svg, "input-cell")) == 30 * 30
    assert len(_rects(view.svg, "output-cell")) == 28 * 28


def test_valid_is_refused_when_the_kernel_does_not_fit():
    view = ConvExplorer(np.ones((2, 2)), kernel="laplacian", padding="same")
    assert view.out_shape == (2, 2)
    view.padding_toggle.value = "valid"
    assert view.padding == "same" and view.out_shape == (2, 2)


@pytest.mark.parametrize("kwargs, message", [
    ({"image": np.zeros((30, 30))}, "sides must be 1 to 28"),
    ({"image": np.zeros((2, 3, 4))}, "grey image"),
    ({"kernel": "sharpen"}, "unknown kernel"),
    ({"kernel": np.ones((9, 9))}, "sides 1 to 7"),
    ({"stride": 5}, "stride must be"),
    ({"padding": "full"}, "padding must be"),
    ({"image": np.zeros((2, 2))}, "does not fit"),
])
def test_bad_arguments_say_what_to_do(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConvExplorer(**kwargs)
