"""Lesson 01 widgets: AxisSumExplorer (which entries a sum adds) and MatmulShapeChecker."""
from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("ipywidgets")

from dlbricks.widgets import AxisSumExplorer, MatmulShapeChecker  # noqa: E402
from dlbricks.widgets.tensor_axes import product_shape, reduced_shape, sum_groups  # noqa: E402

COURSE_A = [[1, 3], [2, 0], [0, 1]]


def _cells(svg: str, css: str) -> list[dict[str, str]]:
    """Attributes of every ``<g class="cell <css>...">`` in the drawing."""
    found = []
    for match in re.finditer(r'<g class="cell ([^"]*)"([^>]*)>', svg):
        classes = match.group(1).split()
        if css in classes:
            attrs = dict(re.findall(r'data-([\w-]+)="([^"]*)"', match.group(2)))
            attrs["classes"] = classes
            found.append(attrs)
    return found


def _index(text: str) -> tuple[int, ...]:
    return tuple(int(t) for t in text.split(",")) if text else ()


# ---- the maths -----------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 3, 4), (3, 2), (5,)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduced_shape_matches_numpy(shape, keepdims):
    x = np.ones(shape)
    for axis in [None, *range(len(shape)), -1]:
        assert reduced_shape(shape, axis, keepdims) == np.sum(x, axis=axis, keepdims=keepdims).shape


def test_sum_groups_rebuild_numpy_sums():
    x = np.random.default_rng(3).integers(-5, 9, size=(2, 3, 4))
    for axis in (None, 0, 1, 2, -2):
        groups = sum_groups(x.shape, axis)
        expected = np.sum(x, axis=axis).ravel()
        rebuilt = np.bincount(groups.ravel(), weights=x.ravel(), minlength=expected.size)
        np.testing.assert_array_equal(rebuilt, expected)


def test_sum_groups_of_the_course_matrix():
    np.testing.assert_array_equal(sum_groups((3, 2), 0), [[0, 1], [0, 1], [0, 1]])
    np.testing.assert_array_equal(sum_groups((3, 2), 1), [[0, 0], [1, 1], [2, 2]])
    with pytest.raises(ValueError, match="axis 2 does not exist"):
        sum_groups((3, 2), 2)


def test_product_shape_rule():
    ok = product_shape((2, 2), (2, 3))
    assert ok.defined and ok.result == (2, 3)
    bad = product_shape((2, 3), (2, 3))
    assert not bad.defined and bad.result is None
    assert "3 columns" in bad.reason and "2 rows" in bad.reason
    with pytest.raises(ValueError, match="two positive integers"):
        product_shape((2, 3, 4), (4, 1))


# ---- AxisSumExplorer ------------------------------------------------------------------
def test_axis_sum_explorer_builds_with_one_group_by_default():
    view = AxisSumExplorer()
    assert view.x.shape == (2, 3, 4)
    assert view.axis is None and not view.keepdims
    inputs = _cells(view.svg, "input-cell")
    outputs = _cells(view.svg, "output-cell")
    assert len(inputs) == 24 and {c["group"] for c in inputs} == {"0"}
    assert len(outputs) == 1 and int(outputs[0]["value"]) == view.x.sum()
    assert 'data-result-shape="()"' in view.html
    assert view._repr_mimebundle_() is not None


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_axis_sum_explorer_colours_the_entries_of_each_sum(axis):
    view = AxisSumExplorer()
    view.axis_toggle.value = str(axis)
    expected = np.sum(view.x, axis=axis)
    inputs = _cells(view.svg, "input-cell")
    outputs = _cells(view.svg, "output-cell")
    assert len(inputs) == view.x.size
    assert len(outputs) == expected.size
    # Input entries in one group differ only along the summed axis, and add up to
    # the output entry drawn with that group.
    totals: dict[str, int] = {}
    keys: dict[str, set] = {}
    for cell in inputs:
        idx = _index(cell["index"])
        totals[cell["group"]] = totals.get(cell["group"], 0) + int(view.x[idx])
        keys.setdefault(cell["group"], set()).add(idx[:axis] + idx[axis + 1:])
    assert all(len(k) == 1 for k in keys.values())
    assert all(len([c for c in inputs if c["group"] == g]) == view.x.shape[axis] for g in totals)
    for cell in outputs:
        out_idx = _index(cell["index"])
        assert int(cell["value"]) == expected[out_idx] == totals[cell["group"]]
    assert f'data-result-shape="{expected.shape}"' in view.html
    assert re.search(rf'class="axis-label summed" data-axis="{axis}"', view.svg)
    assert len(re.findall(r'class="axis-label summed"', view.svg)) == 1


def test_axis_sum_explorer_keepdims_keeps_the_axis_with_length_one():
    view = AxisSumExplorer(axis=1)
    before = view.svg
    view.keepdims_checkbox.value = True
    assert view.result.shape == (2, 1, 4)
    assert view.svg != before
    assert 'data-result-shape="(2, 1, 4)"' in view.html
    assert {c["index"] for c in _cells(view.svg, "output-cell")} == {
        f"{s}, 0, {c}" for s in range(2) for c in range(4)}


def test_axis_sum_explorer_on_the_course_matrix():
    view = AxisSumExplorer(COURSE_A)
    assert [value for _, value in view.axis_toggle.options] == ["None", "0", "1"]
    sums = {}
    for axis in ("None", "0", "1"):
        view.axis_toggle.value = axis
        sums[axis] = [int(c["value"]) for c in _cells(view.svg, "output-cell")]
    assert sums == {"None": [7], "0": [3, 4], "1": [4, 2, 1]}


def test_axis_sum_explorer_rejects_what_it_cannot_draw():
    with pytest.raises(ValueError, match="order 1, 2 or 3"):
        AxisSumExplorer(np.zeros((2, 2, 2, 2)))
    with pytest.raises(ValueError, match="1 to 6 entries"):
        AxisSumExplorer(np.zeros((7, 2)))
    with pytest.raises(ValueError, match="does not exist"):
        AxisSumExplorer(np.zeros((2, 2)), axis=2)


# ---- MatmulShapeChecker ---------------------------------------------------------------
def test_matmul_checker_shows_the_course_example_with_the_right_numbers():
    A = np.array([[2, 1], [0, 3]])
    B = np.array([[3, 1, 7], [8, 2, 4]])
    view = MatmulShapeChecker(A=A, B=B)
    assert view.defined and view.result_shape == (2, 3)
    assert 'data-defined="true"' in view.html
    c_cells = _cells(view.svg, "c-cell")
    values = {(int(c["row"]), int(c["col"])): c for c in c_cells}
    assert len(values) == 6
    # The slide prints 11 for C[0, 0]; the product is 2*3 + 1*8 = 14.
    assert view.formula.endswith("= 2·3 + 1·8 = 14")
    assert 'C[0, 0] = 14' in view.svg
    assert all(m == "true" for m in re.findall(r'class="dim inner-dim" data-match="(\w+)"', view.svg))


def test_matmul_checker_highlights_the_row_and_column_of_the_chosen_entry():
    view = MatmulShapeChecker((3, 4), (4, 5))
    view.row_slider.value = 2
    view.col_slider.value = 3
    a_sel = {(int(c["row"]), int(c["col"])) for c in _cells(view.svg, "a-cell") if "selected" in c["classes"]}
    b_sel = {(int(c["row"]), int(c["col"])) for c in _cells(view.svg, "b-cell") if "selected" in c["classes"]}
    c_sel = {(int(c["row"]), int(c["col"])) for c in _cells(view.svg, "c-cell") if "selected" in c["classes"]}
    assert a_sel == {(2, t) for t in range(4)}
    assert b_sel == {(t, 3) for t in range(4)}
    assert c_sel == {(2, 3)}
    assert len(_cells(view.svg, "c-cell")) == 15
    assert view.formula == "C[2,3] = " + " + ".join(f"A[2,{t}]·B[{t},3]" for t in range(4))


def test_matmul_checker_reports_a_mismatch_and_recovers():
    view = MatmulShapeChecker((2, 3), (3, 2))
    view.b_rows_slider.value = 4
    assert not view.defined and view.result_shape is None
    assert 'data-defined="false"' in view.html
    assert _cells(view.svg, "c-cell") == []
    assert re.findall(r'class="dim inner-dim" data-match="(\w+)"', view.svg) == ["false", "false"]
    assert "not defined: 3 ≠ 4" in view.svg
    assert view.formula == ""
    view.a_cols_slider.value = 4
    assert view.defined and view.result_shape == (2, 2)
    assert len(_cells(view.svg, "c-cell")) == 4


def test_matmul_checker_keeps_the_entry_inside_the_result():
    view = MatmulShapeChecker((4, 2), (2, 5), entry=(3, 4))
    assert view.entry == (3, 4)
    view.a_rows_slider.value = 2
    view.b_cols_slider.value = 1
    assert view.entry == (1, 0)
    assert view.row_slider.max == 1 and view.col_slider.max == 0


def test_matmul_checker_shows_numbers_only_while_the_shapes_fit():
    view = MatmulShapeChecker(A=[[1, 2, 3]], B=[[1], [0], [2]])
    assert view.formula.endswith("= 7")
    view.b_cols_slider.value = 2
    assert view.defined
    assert view.formula == "C[0,0] = A[0,0]·B[0,0] + A[0,1]·B[1,0] + A[0,2]·B[2,0]"
    assert 'A[0, 0] = 1' in view.svg and 'B[0, 0] = ' not in view.svg
