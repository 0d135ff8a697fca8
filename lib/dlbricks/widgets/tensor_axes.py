"""Which entries a sum over an axis adds up, and when a matrix product is defined (lesson 01).

``AxisSumExplorer``
    A small integer tensor of order 1, 2 or 3 (by default shape ``(2, 3, 4)``).
    Pick the axis to sum over (None, 0, 1, 2) and ``keepdims``; every input
    entry is coloured by the output entry it is added into, the result is
    drawn below in the same colours, and its shape is written out. The summed
    axis is drawn with length 1, which is exactly what ``keepdims=True`` keeps.

``MatmulShapeChecker``
    Integer sliders set ``A: (n, k)`` and ``B: (k2, m)``. The view says whether
    ``A @ B`` is defined (it is when the inner sizes agree, ``k == k2``),
    colours the inner sizes green or red, and for a defined product draws
    ``C: (n, m)``; a chosen entry ``C[i, j]`` lights up together with the row
    ``A[i, :]`` and the column ``B[:, j]`` whose dot product it is.

Indices are 0-based everywhere, as in numpy and TensorFlow (the course's
slides count from 1: their ``c_11`` is ``C[0, 0]`` here).

The pure functions (:func:`reduced_shape`, :func:`sum_groups`,
:func:`product_shape`) carry the maths; the widgets only draw what they return.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .render import View, esc, fmt, svg_document

__all__ = [
    "reduced_shape", "sum_groups", "ProductShape", "product_shape", "GROUP_COLOURS",
    "AxisSumExplorer", "MatmulShapeChecker",
]

# Light fills (dark text stays readable); group g gets GROUP_COLOURS[g % 12].
GROUP_COLOURS = (
    "#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462",
    "#b3de69", "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f",
)
MAX_SIZE = 6  # largest length per axis the views draw legibly
CELL = 34     # cell side in SVG pixels


# --------------------------------------------------------------------------------------
# The maths
# --------------------------------------------------------------------------------------
def _normalise_axis(axis: int | None, ndim: int) -> int | None:
    """Turn a negative axis into its positive twin; reject axes the tensor does not have."""
    if axis is None:
        return None
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis must be None or an int, got {axis!r}.")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} does not exist for a tensor of order {ndim}: "
                         f"use None or an axis from {-ndim} to {ndim - 1}.")
    return int(axis) % ndim


def reduced_shape(shape: Sequence[int], axis: int | None, keepdims: bool = False) -> tuple[int, ...]:
    """The shape of ``np.sum(x, axis=axis, keepdims=keepdims)`` for ``x`` of ``shape``.

    The summed axis disappears, or stays with length 1 when ``keepdims`` is true;
    ``axis=None`` sums everything (shape ``()``, or all ones with ``keepdims``).
    """
    shape = tuple(int(n) for n in shape)
    axis = _normalise_axis(axis, len(shape))
    if axis is None:
        return (1,) * len(shape) if keepdims else ()
    if keepdims:
        return shape[:axis] + (1,) + shape[axis + 1:]
    return shape[:axis] + shape[axis + 1:]


def sum_groups(shape: Sequence[int], axis: int | None) -> np.ndarray:
    """For every input entry, the (flat, C-order) index of the output entry it is added into.

    Parameters
    ----------
    shape : the input's shape, ``(d0, ..., d_{r-1})``
    axis : the axis summed over, or None for the sum of everything

    Returns
    -------
    groups : int array of ``shape``
        ``groups[idx]`` is the position, in ``result.ravel()``, of the output
        entry that ``x[idx]`` contributes to (``result = np.sum(x, axis)``).
        Entries that differ only in ``axis`` share a group.
    """
    shape = tuple(int(n) for n in shape)
    axis = _normalise_axis(axis, len(shape))
    if axis is None:
        return np.zeros(shape, dtype=np.int64)
    kept = [np.indices(shape)[d] for d in range(len(shape)) if d != axis]
    out_shape = reduced_shape(shape, axis)
    if not kept:  # order-1 input: one output entry
        return np.zeros(shape, dtype=np.int64)
    return np.ravel_multi_index(tuple(kept), out_shape).astype(np.int64)


@dataclass(frozen=True)
class ProductShape:
    """Whether ``A @ B`` is defined for matrices of the given shapes, and why.

    Attributes
    ----------
    shape_a, shape_b : ``(n, k)`` and ``(k2, m)``
    defined : True when ``k == k2``
    result : ``(n, m)`` when defined, else None
    reason : one sentence a student can act on
    """

    shape_a: tuple[int, int]
    shape_b: tuple[int, int]
    defined: bool
    result: tuple[int, int] | None
    reason: str


def product_shape(shape_a: Sequence[int], shape_b: Sequence[int]) -> ProductShape:
    """Apply the matrix-product shape rule ``(n, k) @ (k, m) -> (n, m)``.

    Both shapes must have two positive sizes (matrices); the product is
    defined exactly when the inner sizes agree (columns of A == rows of B).
    """
    a, b = tuple(shape_a), tuple(shape_b)
    for name, s in (("A", a), ("B", b)):
        if len(s) != 2 or not all(isinstance(n, (int, np.integer)) and n > 0 for n in s):
            raise ValueError(f"the shape of {name} must be two positive integers (rows, columns), got {s}.")
    a = (int(a[0]), int(a[1]))
    b = (int(b[0]), int(b[1]))
    if a[1] == b[0]:
        return ProductShape(a, b, True, (a[0], b[1]),
                            f"A has {a[1]} columns and B has {b[0]} rows: the inner sizes match, "
                            f"so A @ B has shape ({a[0]}, {b[1]}).")
    return ProductShape(a, b, False, None,
                        f"A has {a[1]} columns but B has {b[0]} rows: the inner sizes differ, so "
                        "row · column dot products do not line up and A @ B is not defined.")


def _index_text(idx: Sequence[int]) -> str:
    return ", ".join(str(int(i)) for i in idx)


def _value_text(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else fmt(v, 3)


def _cell(x: float, y: float, fill: str, text: str, css: str, data: dict[str, object],
          title: str, stroke: str = "#555", stroke_width: float = 1.0) -> str:
    attrs = " ".join(f'data-{k}="{esc(v)}"' for k, v in data.items())
    label = (f'<text x="{x + CELL / 2:g}" y="{y + CELL / 2 + 4:g}" text-anchor="middle" '
             f'font-size="12">{esc(text)}</text>') if text else ""
    return (f'<g class="{css}" {attrs}><title>{esc(title)}</title>'
            f'<rect x="{x:g}" y="{y:g}" width="{CELL}" height="{CELL}" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{stroke_width:g}"/>{label}</g>')


# --------------------------------------------------------------------------------------
# AxisSumExplorer
# --------------------------------------------------------------------------------------
class AxisSumExplorer(View):
    """Pick an axis of a small tensor and see which entries are summed, and the result's shape.

    Parameters
    ----------
    x : array-like of order 1, 2 or 3, at most 6 entries per axis
        Default: integers 0..9 of shape ``(2, 3, 4)`` (seeded). The course's
        ``[[1, 3], [2, 0], [0, 1]]`` works too.
    axis : None (sum everything) or an axis of ``x``
    keepdims : keep the summed axis with length 1

    Public controls and state
    -------------------------
    ``axis_toggle`` (values "None", "0", "1", ...), ``keepdims_checkbox``;
    ``axis``, ``keepdims``, ``result`` (``np.sum(x, axis, keepdims=...)``),
    ``groups`` (:func:`sum_groups`), ``x``. The HTML root has ``data-axis``,
    ``data-keepdims`` and ``data-result-shape``; input cells are
    ``<g class="cell input-cell" data-index="i,j,k" data-group="g">``, output
    cells ``<g class="cell output-cell" data-index="..." data-group="g"
    data-value="v">`` (``data-index`` is the index into ``result``), and the
    summed axis' label has the class ``axis-label summed``.
    """

    def __init__(self, x: Sequence | np.ndarray | None = None, axis: int | None = None,
                 keepdims: bool = False) -> None:
        import ipywidgets as W

        if x is None:
            x = np.random.default_rng(1).integers(0, 10, size=(2, 3, 4))
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"x must hold numbers, got dtype {x.dtype}.")
        if not 1 <= x.ndim <= 3:
            raise ValueError(f"x must have order 1, 2 or 3 to be drawn, got shape {x.shape}.")
        if not all(1 <= n <= MAX_SIZE for n in x.shape):
            raise ValueError(f"every axis of x must have 1 to {MAX_SIZE} entries to stay legible, "
                             f"got shape {x.shape}.")
        self.x = x
        axis = _normalise_axis(axis, x.ndim)
        self.axis_toggle = W.ToggleButtons(
            options=[("None (everything)", "None")] + [(f"axis {d}", str(d)) for d in range(x.ndim)],
            value="None" if axis is None else str(axis), description="sum over",
            style={"description_width": "initial", "button_width": "auto"})
        self.keepdims_checkbox = W.Checkbox(value=bool(keepdims), description="keepdims",
                                            indent=False)
        self._output = W.HTML()
        self._svg = ""
        self.widget = W.VBox([W.HBox([self.axis_toggle, self.keepdims_checkbox]), self._output])
        self.axis_toggle.observe(self._redraw, names="value")
        self.keepdims_checkbox.observe(self._redraw, names="value")
        self._redraw()

    # ---- state -----------------------------------------------------------------------
    @property
    def axis(self) -> int | None:
        value = self.axis_toggle.value
        return None if value == "None" else int(value)

    @property
    def keepdims(self) -> bool:
        return bool(self.keepdims_checkbox.value)

    @property
    def result(self) -> np.ndarray:
        """``np.sum(x, axis=axis, keepdims=keepdims)`` as an array (order 0 for a full sum)."""
        return np.asarray(np.sum(self.x, axis=self.axis, keepdims=self.keepdims))

    @property
    def groups(self) -> np.ndarray:
        return sum_groups(self.x.shape, self.axis)

    # ---- drawing ---------------------------------------------------------------------
    def _redraw(self, change=None) -> None:
        self._svg = self._draw()
        result = self.result
        call = f"np.sum(x, axis={self.axis}" + (", keepdims=True)" if self.keepdims else ")")
        self._output.value = (
            f'<div class="dlbricks-axis-sum" data-axis="{self.axis}" '
            f'data-keepdims="{str(self.keepdims).lower()}" '
            f'data-result-shape="{esc(tuple(result.shape))}">'
            f'<p class="axis-sum-summary" style="margin:4px 0">{self._summary()}</p>'
            f'{self._svg}<pre class="axis-sum-result" style="margin:4px 0">'
            f'{esc(call)}\n{esc(np.array2string(result))}\nshape {esc(tuple(result.shape))}'
            f'</pre></div>')

    def _summary(self) -> str:
        x, axis, result = self.x, self.axis, self.result
        shape = tuple(x.shape)
        if axis is None:
            what = (f"All {x.size} entries are added into one number, {_value_text(result.sum())}: "
                    f"shape {shape} → {tuple(result.shape)}.")
        else:
            what = (f"Entries that differ only in their index along axis {axis} share a colour and "
                    f"are added up: {shape[axis]} entries per sum, {result.size} sums. Axis {axis} "
                    f"{'stays with length 1' if self.keepdims else 'disappears'}: shape {shape} → "
                    f"{tuple(result.shape)}.")
        return esc(what)

    def _layout(self) -> tuple[tuple[int, int, int], int]:
        """The input seen as (slabs, rows, columns) and how many leading axes were added."""
        pad = 3 - self.x.ndim
        return (1,) * pad + tuple(self.x.shape), pad

    def _draw(self) -> str:
        x, axis = self.x, self.axis
        (slabs, rows, cols), pad = self._layout()
        groups = self.groups
        result = np.sum(x, axis=axis, keepdims=True)  # drawn with the summed axis kept
        gap = 26
        slab_w = cols * CELL
        left = 20
        top = 46
        body: list[str] = []

        # Axis names: which direction is which axis, the summed one highlighted.
        names = {0: "slabs, left to right", 1: "rows, downwards", 2: "columns, across"}
        labels = []
        for d in range(x.ndim):
            summed = axis is None or axis == d
            css = "axis-label summed" if summed else "axis-label"
            colour = "#c0392b" if summed else "#333"
            weight = "bold" if summed else "normal"
            labels.append(f'<tspan class="{css}" data-axis="{d}" fill="{colour}" font-weight="{weight}">'
                          f'axis {d}: {x.shape[d]} {names[d + pad]}</tspan>')
        body.append(f'<text x="{left}" y="16" font-size="12">{" | ".join(labels)}</text>')
        body.append(f'<text x="{left}" y="36" font-size="12" font-weight="bold">x, shape '
                    f'{esc(tuple(x.shape))}</text>')

        flat_x = x.reshape(slabs, rows, cols)
        flat_g = groups.reshape(slabs, rows, cols)
        for s in range(slabs):
            x0 = left + s * (slab_w + gap)
            for r in range(rows):
                for c in range(cols):
                    idx = np.unravel_index(s * rows * cols + r * cols + c, x.shape)
                    g = int(flat_g[s, r, c])
                    out_idx = tuple(i for d, i in enumerate(idx) if d != axis) if axis is not None else ()
                    body.append(_cell(
                        x0 + c * CELL, top + r * CELL, GROUP_COLOURS[g % len(GROUP_COLOURS)],
                        _value_text(flat_x[s, r, c]), "cell input-cell",
                        {"index": _index_text(idx), "group": g},
                        f"x[{_index_text(idx)}] = {_value_text(flat_x[s, r, c])} is added into "
                        + (f"result[{_index_text(out_idx)}]" if out_idx else "the single result")))
            if slabs > 1:
                body.append(f'<text x="{x0:g}" y="{top + rows * CELL + 14:g}" font-size="11" '
                            f'fill="#555">x[{s}, :, :]</text>')

        # The result, drawn in the input's geometry with the summed axis of length 1.
        out_top = top + rows * CELL + 56
        r_slabs, r_rows, r_cols = (1,) * pad + tuple(result.shape)
        out_shape = tuple(self.result.shape)
        call = f"sum over {'everything' if axis is None else f'axis {axis}'}"
        body.append(f'<text x="{left}" y="{out_top - 10:g}" font-size="12" font-weight="bold">'
                    f'{esc(call)} → shape {esc(out_shape)}</text>')
        flat_r = result.reshape(r_slabs, r_rows, r_cols)
        for s in range(r_slabs):
            x0 = left + s * (slab_w + gap)
            for r in range(r_rows):
                for c in range(r_cols):
                    kept_idx = np.unravel_index(s * r_rows * r_cols + r * r_cols + c, result.shape)
                    # index into the actual result (without the kept axis unless keepdims)
                    if axis is None:
                        out_idx = kept_idx if self.keepdims else ()
                        g = 0
                    else:
                        squeezed = tuple(i for d, i in enumerate(kept_idx) if d != axis)
                        out_idx = kept_idx if self.keepdims else squeezed
                        g = int(np.ravel_multi_index(squeezed, reduced_shape(x.shape, axis))) if squeezed else 0
                    value = flat_r[s, r, c]
                    body.append(_cell(
                        x0 + c * CELL, out_top + r * CELL, GROUP_COLOURS[g % len(GROUP_COLOURS)],
                        _value_text(value), "cell output-cell",
                        {"index": _index_text(out_idx), "group": g, "value": _value_text(value)},
                        (f"result[{_index_text(out_idx)}]" if out_idx else "result")
                        + f" = {_value_text(value)}",
                        stroke="#000", stroke_width=2.0))
        width = left * 2 + slabs * slab_w + (slabs - 1) * gap
        width = max(width, 560)
        height = out_top + r_rows * CELL + 16
        return svg_document(width, height, body, css_class="dlbricks-svg axis-sum")


# --------------------------------------------------------------------------------------
# MatmulShapeChecker
# --------------------------------------------------------------------------------------
ROW_FILL = "#fdb462"     # the row A[i, :]
COL_FILL = "#80b1d3"     # the column B[:, j]
ENTRY_FILL = "#bc80bd"   # the entry C[i, j]
PLAIN_FILL = "#f4f4f4"


class MatmulShapeChecker(View):
    """Shapes of ``A: (n, k)`` and ``B: (k2, m)``: is ``A @ B`` defined, and what makes ``C[i, j]``.

    Parameters
    ----------
    a_shape, b_shape : starting shapes (each size 1 to 6); default the course's (2, 2) and (2, 3)
    A, B : optional matrices; while the sliders show their shapes the cells hold
        their numbers and the chosen entry is computed out in full
    entry : the starting output entry ``(i, j)``

    Public controls and state
    -------------------------
    ``a_rows_slider`` (n), ``a_cols_slider`` (k), ``b_rows_slider`` (k2),
    ``b_cols_slider`` (m), ``row_slider`` (i), ``col_slider`` (j); ``shape_a``,
    ``shape_b``, ``product`` (a :class:`ProductShape`), ``defined``,
    ``result_shape``, ``entry``, ``formula``. The HTML root has
    ``data-defined`` and ``data-result-shape``. SVG: cells ``<g class="cell
    a-cell|b-cell|c-cell" data-row data-col>`` with the extra class
    ``selected`` on the highlighted row of A, column of B and entry of C; the
    inner sizes are ``<text class="dim inner-dim" data-match="true|false">``.
    """

    def __init__(self, a_shape: Sequence[int] = (2, 2), b_shape: Sequence[int] = (2, 3),
                 A: Sequence | np.ndarray | None = None, B: Sequence | np.ndarray | None = None,
                 entry: tuple[int, int] = (0, 0)) -> None:
        import ipywidgets as W

        self.A = None if A is None else np.asarray(A)
        self.B = None if B is None else np.asarray(B)
        for name, m in (("A", self.A), ("B", self.B)):
            if m is not None and (m.ndim != 2 or m.dtype.kind not in "biuf"):
                raise ValueError(f"{name} must be a matrix of numbers (order 2), got shape {m.shape}.")
        if self.A is not None:
            a_shape = self.A.shape
        if self.B is not None:
            b_shape = self.B.shape
        product_shape(a_shape, b_shape)  # validates both shapes
        for s in (*a_shape, *b_shape):
            if s > MAX_SIZE:
                raise ValueError(f"sizes up to {MAX_SIZE} can be drawn, got shapes {tuple(a_shape)} "
                                 f"and {tuple(b_shape)}.")
        style = {"description_width": "initial"}

        def size_slider(value: int, text: str):
            return W.IntSlider(value=int(value), min=1, max=MAX_SIZE, description=text,
                               continuous_update=False, style=style, layout=W.Layout(width="230px"))

        self.a_rows_slider = size_slider(a_shape[0], "A rows n")
        self.a_cols_slider = size_slider(a_shape[1], "A columns k")
        self.b_rows_slider = size_slider(b_shape[0], "B rows k2")
        self.b_cols_slider = size_slider(b_shape[1], "B columns m")
        self.row_slider = W.IntSlider(value=0, min=0, max=MAX_SIZE - 1, description="entry row i",
                                      continuous_update=False, style=style, layout=W.Layout(width="230px"))
        self.col_slider = W.IntSlider(value=0, min=0, max=MAX_SIZE - 1, description="entry column j",
                                      continuous_update=False, style=style, layout=W.Layout(width="230px"))
        self._output = W.HTML()
        self._svg = ""
        self._busy = False
        self._fit_entry_sliders(entry)
        self.widget = W.VBox([
            W.HBox([self.a_rows_slider, self.a_cols_slider]),
            W.HBox([self.b_rows_slider, self.b_cols_slider]),
            W.HBox([self.row_slider, self.col_slider]),
            self._output,
        ])
        for control in (self.a_rows_slider, self.a_cols_slider, self.b_rows_slider, self.b_cols_slider):
            control.observe(self._on_shape, names="value")
        for control in (self.row_slider, self.col_slider):
            control.observe(self._on_entry, names="value")
        self._redraw()

    # ---- state -----------------------------------------------------------------------
    @property
    def shape_a(self) -> tuple[int, int]:
        return (int(self.a_rows_slider.value), int(self.a_cols_slider.value))

    @property
    def shape_b(self) -> tuple[int, int]:
        return (int(self.b_rows_slider.value), int(self.b_cols_slider.value))

    @property
    def product(self) -> ProductShape:
        return product_shape(self.shape_a, self.shape_b)

    @property
    def defined(self) -> bool:
        return self.product.defined

    @property
    def result_shape(self) -> tuple[int, int] | None:
        return self.product.result

    @property
    def entry(self) -> tuple[int, int]:
        return (int(self.row_slider.value), int(self.col_slider.value))

    def _numbers(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The given matrices, each only while the sliders show its shape."""
        a = self.A if self.A is not None and self.A.shape == self.shape_a else None
        b = self.B if self.B is not None and self.B.shape == self.shape_b else None
        return a, b

    @property
    def formula(self) -> str:
        """``C[i, j]`` written as the dot product of row i of A and column j of B (empty if undefined)."""
        if not self.defined:
            return ""
        i, j = self.entry
        k = self.shape_a[1]
        terms = " + ".join(f"A[{i},{t}]·B[{t},{j}]" for t in range(k))
        text = f"C[{i},{j}] = {terms}"
        a, b = self._numbers()
        if a is not None and b is not None:
            numbers = " + ".join(f"{_value_text(a[i, t])}·{_value_text(b[t, j])}" for t in range(k))
            text += f" = {numbers} = {_value_text(float(a[i, :] @ b[:, j]))}"
        return text

    # ---- events ----------------------------------------------------------------------
    def _fit_entry_sliders(self, entry: tuple[int, int] | None = None) -> None:
        """Keep i < n and j < m as the shapes change."""
        n, m = self.shape_a[0], self.shape_b[1]
        i, j = entry if entry is not None else self.entry
        self.row_slider.max = max(n - 1, 0)
        self.col_slider.max = max(m - 1, 0)
        self.row_slider.value = min(max(int(i), 0), n - 1)
        self.col_slider.value = min(max(int(j), 0), m - 1)

    def _on_shape(self, change) -> None:
        self._busy = True
        try:
            self._fit_entry_sliders()
        finally:
            self._busy = False
        self._redraw()

    def _on_entry(self, change) -> None:
        if not self._busy:
            self._redraw()

    # ---- drawing ---------------------------------------------------------------------
    def _redraw(self) -> None:
        self._svg = self._draw()
        product = self.product
        status = "defined" if product.defined else "not defined"
        formula = (f'<br><code class="matmul-formula">{esc(self.formula)}</code>'
                   if product.defined else "")
        shape = product.result if product.defined else "none"
        self._output.value = (
            f'<div class="dlbricks-matmul" data-defined="{str(product.defined).lower()}" '
            f'data-result-shape="{esc(shape)}"><p class="matmul-summary" style="margin:4px 0">'
            f'<b>{esc(product.shape_a)} @ {esc(product.shape_b)}: {status}.</b> {esc(product.reason)}'
            f'{formula}</p>{self._svg}</div>')

    def _grid(self, name: str, values: np.ndarray | None, shape: tuple[int, int], x0: float,
              y0: float, selected) -> list[str]:
        body = []
        css = f"{name.lower()}-cell"
        for r in range(shape[0]):
            for c in range(shape[1]):
                chosen = selected(r, c)
                fill = {"A": ROW_FILL, "B": COL_FILL, "C": ENTRY_FILL}[name] if chosen else PLAIN_FILL
                text = _value_text(values[r, c]) if values is not None else ""
                where = f"{name}[{r}, {c}]"
                title = f"{where} = {text}" if text else where
                body.append(_cell(x0 + c * CELL, y0 + r * CELL, fill, text,
                                  f"cell {css}{' selected' if chosen else ''}",
                                  {"row": r, "col": c}, title))
        return body

    def _shape_label(self, name: str, shape: tuple[int, int], x0: float, y: float,
                     inner: str | None, match: bool) -> str:
        """``name: (rows, cols)`` with the inner size coloured (green when it matches)."""
        colour = "#1e8449" if match else "#c0392b"
        parts = []
        for pos, size in enumerate(shape):
            if (inner == "cols" and pos == 1) or (inner == "rows" and pos == 0):
                parts.append(f'<tspan class="dim inner-dim" data-match="{str(match).lower()}" '
                             f'fill="{colour}" font-weight="bold">{size}</tspan>')
            else:
                parts.append(f'<tspan class="dim">{size}</tspan>')
        return (f'<text class="shape-label" data-matrix="{name}" x="{x0:g}" y="{y:g}" '
                f'font-size="13">{name}: ({parts[0]}, {parts[1]})</text>')

    def _draw(self) -> str:
        product = self.product
        (n, k), (k2, m) = self.shape_a, self.shape_b
        i, j = self.entry
        a_vals, b_vals = self._numbers()
        top = 34
        gap = 40
        ax = 20
        bx = ax + k * CELL + gap
        cx = bx + m * CELL + gap
        body: list[str] = []
        match = product.defined
        body.append(self._shape_label("A", (n, k), ax, 20, "cols", match))
        body.append(self._shape_label("B", (k2, m), bx, 20, "rows", match))
        body += self._grid("A", a_vals, (n, k), ax, top, lambda r, c: match and r == i)
        body.append(f'<text x="{bx - gap / 2:g}" y="{top + CELL * 0.6:g}" text-anchor="middle" '
                    f'font-size="18">@</text>')
        body += self._grid("B", b_vals, (k2, m), bx, top, lambda r, c: match and c == j)
        body.append(f'<text x="{cx - gap / 2:g}" y="{top + CELL * 0.6:g}" text-anchor="middle" '
                    f'font-size="18">=</text>')
        if match:
            c_vals = a_vals @ b_vals if a_vals is not None and b_vals is not None else None
            body.append(f'<text class="shape-label" data-matrix="C" x="{cx:g}" y="20" font-size="13">'
                        f'C: ({n}, {m})</text>')
            body += self._grid("C", c_vals, (n, m), cx, top, lambda r, c: r == i and c == j)
            right = cx + m * CELL
        else:
            body.append(f'<text class="undefined-product" x="{cx:g}" y="{top + CELL * 0.6:g}" '
                        f'font-size="14" fill="#c0392b" font-weight="bold">not defined: {k} ≠ {k2}</text>')
            right = cx + 170
        rows = max(n, k2, 1)
        bottom = top + rows * CELL + 22
        rule = (f"({n}, {k}) @ ({k2}, {m}) → ({n}, {m})" if match
                else f"({n}, {k}) @ ({k2}, {m}): inner sizes {k} and {k2} must be equal")
        body.append(f'<text class="shape-rule" x="{ax}" y="{bottom:g}" font-size="12">{esc(rule)}</text>')
        return svg_document(max(right + 20, 420), bottom + 10, body, css_class="dlbricks-svg matmul")
