"""Slide a kernel over an image and watch a convolution being computed (lesson 08).

``ConvExplorer``
    A small grey image (a digit, or a synthetic picture by default), a kernel
    (edge detectors: Sobel, Prewitt, Laplacian; a blur; the identity; or your
    own), and the controls of ``tf.nn.conv2d``: the stride and the padding
    ('valid' or 'same'). A position slider (or the Step button) picks one
    output cell; the view highlights the input window that produces it, writes
    the dot product of window and kernel out term by term, fills in the output
    cells computed so far, and states the output-shape formula with the
    numbers of the current setting.

The maths follows TensorFlow, as :mod:`dlbricks.nn` does (the values shown are
``dlbricks.nn.conv2d``'s): deep-learning "convolution" is a cross-correlation
(the kernel is not flipped); 'valid' keeps only windows that fit,
``out = floor((n - k) / s) + 1``; 'same' pads with zeros so that
``out = ceil(n / s)``, with ``total = max((out - 1) * s + k - n, 0)`` zeros
of which ``total // 2`` go before (top/left) and the rest after
(bottom/right).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import nn
from .render import View, esc, fmt, svg_document

__all__ = ["KERNELS", "KERNEL_LABELS", "PaddingPlan", "padding_plan", "default_image", "ConvExplorer"]

# Kernels as cross-correlation weights (what tf.nn.conv2d multiplies by).
# "x" kernels respond to a change from left to right: they find vertical edges;
# "y" kernels respond to a change from top to bottom: they find horizontal edges.
KERNELS: dict[str, np.ndarray] = {
    "sobel_x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64),
    "sobel_y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float64),
    "prewitt_x": np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], dtype=np.float64),
    "prewitt_y": np.array([[-1, -1, -1], [0, 0, 0], [1, 1, 1]], dtype=np.float64),
    "laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64),
    "blur": np.full((3, 3), 1.0 / 9.0),
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float64),
}
KERNEL_LABELS: dict[str, str] = {
    "sobel_x": "Sobel x (vertical edges)",
    "sobel_y": "Sobel y (horizontal edges)",
    "prewitt_x": "Prewitt x (vertical edges)",
    "prewitt_y": "Prewitt y (horizontal edges)",
    "laplacian": "Laplacian (all edges)",
    "blur": "3×3 box blur",
    "identity": "identity",
}
MAX_IMAGE = 28   # largest image side drawn
MAX_KERNEL = 7   # largest kernel side
MAX_STRIDE = 4


# --------------------------------------------------------------------------------------
# The maths
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PaddingPlan:
    """How one axis of length ``n`` is padded and how many outputs it gives.

    Attributes
    ----------
    n, k, stride : input length, kernel length, stride
    padding : 'valid' or 'same'
    out : output length (``dlbricks.nn.conv_output_size``)
    before, after : zeros added before (top/left) and after (bottom/right)
    formula : the rule with this axis' numbers, e.g. ``"ceil(28 / 2) = 14"``
    """

    n: int
    k: int
    stride: int
    padding: str
    out: int
    before: int
    after: int
    formula: str


def padding_plan(n: int, k: int, stride: int, padding: str) -> PaddingPlan:
    """TensorFlow's output length and padding split along one axis, with the formula written out."""
    padding = str(padding).lower()
    out = nn.conv_output_size(int(n), int(k), int(stride), padding)
    if padding == "valid":
        formula = f"floor(({n} − {k}) / {stride}) + 1 = {out}"
        return PaddingPlan(n, k, stride, padding, out, 0, 0, formula)
    before, after = nn.same_padding(int(n), int(k), int(stride))
    total = before + after
    formula = (f"ceil({n} / {stride}) = {out}; zeros: max(({out} − 1)·{stride} + {k} − {n}, 0) = {total}"
               f" → {before} before, {after} after")
    return PaddingPlan(n, k, stride, padding, out, before, after, formula)


def default_image() -> np.ndarray:
    """A 10 x 10 synthetic "7" in [0, 1]: a horizontal bar on top and a stroke down the right.

    Straight horizontal and vertical strokes make the x and y edge detectors easy to tell apart.
    """
    img = np.zeros((10, 10))
    img[1:3, 1:9] = 1.0          # the top bar
    img[3:9, 6:8] = 1.0          # the down stroke
    img[2, 1:9] = 0.6            # a softer lower edge of the bar
    return img


def _as_image(image: Sequence | np.ndarray | None) -> np.ndarray:
    if image is None:
        return default_image()
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim != 2 or img.dtype.kind not in "biuf":
        raise ValueError(f"image must be a grey image of shape (H, W) (or (H, W, 1)), got shape {img.shape}.")
    if not all(1 <= s <= MAX_IMAGE for s in img.shape):
        raise ValueError(f"image sides must be 1 to {MAX_IMAGE} pixels to stay legible, got {img.shape}; "
                         "crop or downsample it, e.g. image[::2, ::2].")
    if img.dtype.kind in "ui" and img.max() > 1:
        return img.astype(np.float64) / 255.0   # 0..255 pixel values, as load_mnist gives them
    return img.astype(np.float64)


def _as_kernel(kernel: str | Sequence | np.ndarray) -> tuple[str, np.ndarray]:
    if isinstance(kernel, str):
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; use one of {sorted(KERNELS)} or pass a 2-D array.")
        return kernel, KERNELS[kernel]
    w = np.asarray(kernel, dtype=np.float64)
    if w.ndim != 2 or not all(1 <= s <= MAX_KERNEL for s in w.shape):
        raise ValueError(f"a kernel must be a 2-D array with sides 1 to {MAX_KERNEL}, got shape {w.shape}.")
    return "custom", w


# --------------------------------------------------------------------------------------
# Colours
# --------------------------------------------------------------------------------------
def _grey(v: float) -> str:
    """0 -> white, 1 -> black (MNIST is usually shown dark on light, as with cmap='gray_r')."""
    level = int(round(255 * (1.0 - min(max(float(v), 0.0), 1.0))))
    return f"rgb({level},{level},{level})"


def _diverging(v: float, scale: float) -> str:
    """Negative blue, zero white, positive red; ``scale`` maps to full colour."""
    t = 0.0 if scale <= 0 else max(-1.0, min(1.0, float(v) / scale))
    if t >= 0:
        return f"rgb(255,{int(255 - 175 * t)},{int(255 - 185 * t)})"
    t = -t
    return f"rgb({int(255 - 185 * t)},{int(255 - 130 * t)},255)"


def _ink(fill_level: float) -> str:
    return "#fff" if fill_level > 0.55 else "#000"


def _num(v: float, digits: int) -> str:
    """A number for a written-out product: negatives in brackets, ``0.5·(-1)``."""
    text = fmt(v, digits)
    return f"({text})" if text.startswith("-") else text


# --------------------------------------------------------------------------------------
# ConvExplorer
# --------------------------------------------------------------------------------------
class ConvExplorer(View):
    """Slide a kernel over an image: window, dot product, output cell and output shape.

    Parameters
    ----------
    image : (H, W) array, optional
        Grey levels in [0, 1] (integer pixels 0..255 are scaled by 1/255); sides up to 28.
        Default: :func:`default_image`, a 10 x 10 synthetic "7". A digit from
        ``load_mnist`` works as is (28 x 28), or downsampled (``img[::2, ::2]``).
    kernel : name from :data:`KERNELS` or a (kh, kw) array (sides up to 7)
    stride : 1 to 4 (the same along both axes, like ``strides=[1, s, s, 1]``)
    padding : 'valid' or 'same'
    position : the output cell to show, counted row by row from 0
    show_all : fill in every output cell from the start

    Public controls and state
    -------------------------
    Controls: ``kernel_dropdown`` (values: the keys of :data:`KERNELS`, plus
    "custom" when a custom kernel was given), ``stride_slider``,
    ``padding_toggle`` ('valid' / 'same'), ``position_slider`` (0 .. Ho*Wo - 1),
    ``step_button`` (next position, wrapping to 0, also :meth:`step`),
    ``show_all_checkbox`` (fill in every output cell, not only those up to the
    current one). State: ``image``, ``kernel``, ``kernel_name``, ``stride``,
    ``padding``, ``plans`` (rows, columns: :class:`PaddingPlan`), ``out_shape``,
    ``padded`` (the zero-padded image), ``output`` (the whole output map, from
    ``dlbricks.nn.conv2d``), ``position``, ``cell`` (output row, column),
    ``window_origin`` and ``window`` (the input window of the cell, in padded
    coordinates), ``terms`` (pairs (input value, weight)), ``value`` (the
    cell's value) and ``formula`` (the dot product written out).

    Drawing (``.svg``, inside ``.html``): padded-input cells
    ``<rect class="cell input-cell" data-row data-col data-value>`` where row and
    column index the *padded* image, with the extra class ``pad-cell`` for added
    zeros and ``in-window`` for the current window; the window outline
    ``<rect class="window" data-top data-left>``; kernel cells ``class="cell
    kernel-cell"``; output cells ``class="cell output-cell" data-row data-col
    data-state="done|current|pending"`` (``data-value`` once computed). The HTML
    root ``<div class="dlbricks-conv">`` carries ``data-out-shape``,
    ``data-stride``, ``data-padding``, ``data-kernel`` and ``data-position``.
    """

    def __init__(self, image: Sequence | np.ndarray | None = None, kernel: str | Sequence | np.ndarray = "sobel_x",
                 stride: int = 1, padding: str = "valid", position: int = 0, show_all: bool = False) -> None:
        import ipywidgets as W

        self.image = _as_image(image)
        name, w = _as_kernel(kernel)
        self._custom = w if name == "custom" else None
        if not 1 <= int(stride) <= MAX_STRIDE:
            raise ValueError(f"stride must be 1 to {MAX_STRIDE}, got {stride}.")
        padding = str(padding).lower()
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}.")
        options = [(label, key) for key, label in KERNEL_LABELS.items()]
        if self._custom is not None:
            options.append((f"custom {self._custom.shape[0]}×{self._custom.shape[1]}", "custom"))
        style = {"description_width": "initial"}
        self.kernel_dropdown = W.Dropdown(options=options, value=name, description="kernel", style=style,
                                          layout=W.Layout(width="300px"))
        self.stride_slider = W.IntSlider(value=int(stride), min=1, max=MAX_STRIDE, description="stride",
                                         continuous_update=False, style=style, layout=W.Layout(width="220px"))
        self.padding_toggle = W.ToggleButtons(options=[("valid", "valid"), ("same", "same")], value=padding,
                                              description="padding", style={**style, "button_width": "70px"})
        self.position_slider = W.IntSlider(value=0, min=0, max=0, description="output cell",
                                           continuous_update=False, style=style, layout=W.Layout(width="320px"))
        self.step_button = W.Button(description="Step ▶", tooltip="compute the next output cell",
                                    layout=W.Layout(width="90px"))
        self.show_all_checkbox = W.Checkbox(value=bool(show_all), description="show every output cell",
                                            indent=False)
        self._output = W.HTML()
        self._svg = ""
        self._busy = False
        self._check_fits()
        self._fit_position(position)
        self.widget = W.VBox([
            W.HBox([self.kernel_dropdown, self.stride_slider]),
            W.HBox([self.padding_toggle, self.show_all_checkbox]),
            W.HBox([self.position_slider, self.step_button]),
            self._output,
        ])
        for control in (self.kernel_dropdown, self.stride_slider, self.padding_toggle):
            control.observe(self._on_setting, names="value")
        self.position_slider.observe(self._on_position, names="value")
        self.show_all_checkbox.observe(self._on_position, names="value")
        self.step_button.on_click(lambda _button: self.step())
        self._redraw()

    # ---- state -----------------------------------------------------------------------
    @property
    def kernel_name(self) -> str:
        return str(self.kernel_dropdown.value)

    @property
    def kernel(self) -> np.ndarray:
        """The kernel ``(kh, kw)`` as cross-correlation weights."""
        if self.kernel_name == "custom":
            return self._custom
        return KERNELS[self.kernel_name]

    @property
    def stride(self) -> int:
        return int(self.stride_slider.value)

    @property
    def padding(self) -> str:
        return str(self.padding_toggle.value)

    @property
    def plans(self) -> tuple[PaddingPlan, PaddingPlan]:
        """The padding plans of the rows and of the columns."""
        (H, Wd), (kh, kw) = self.image.shape, self.kernel.shape
        return (padding_plan(H, kh, self.stride, self.padding), padding_plan(Wd, kw, self.stride, self.padding))

    @property
    def out_shape(self) -> tuple[int, int]:
        rows, cols = self.plans
        return rows.out, cols.out

    @property
    def padded(self) -> np.ndarray:
        """The image with the zeros that the padding adds (no change for 'valid')."""
        rows, cols = self.plans
        return np.pad(self.image, ((rows.before, rows.after), (cols.before, cols.after)))

    @property
    def output(self) -> np.ndarray:
        """The whole output map ``(Ho, Wo)``, computed by ``dlbricks.nn.conv2d``."""
        x = self.image[None, :, :, None]
        w = self.kernel[:, :, None, None]
        return nn.conv2d(x, w, strides=self.stride, padding=self.padding)[0, :, :, 0]

    @property
    def show_all(self) -> bool:
        return bool(self.show_all_checkbox.value)

    @property
    def position(self) -> int:
        return int(self.position_slider.value)

    @property
    def cell(self) -> tuple[int, int]:
        """The (row, column) of the current output cell."""
        return divmod(self.position, self.out_shape[1])

    @property
    def window_origin(self) -> tuple[int, int]:
        """Top-left corner of the current window, in padded-image coordinates."""
        i, j = self.cell
        return i * self.stride, j * self.stride

    @property
    def window(self) -> np.ndarray:
        top, left = self.window_origin
        kh, kw = self.kernel.shape
        return self.padded[top:top + kh, left:left + kw]

    @property
    def terms(self) -> list[tuple[float, float]]:
        """The products of the dot product, as pairs (input value, kernel weight), row by row."""
        return [(float(x), float(w)) for x, w in zip(self.window.ravel(), self.kernel.ravel())]

    @property
    def value(self) -> float:
        """The current output cell: the sum of the window times the kernel (no flip)."""
        i, j = self.cell
        return float(self.output[i, j])

    @property
    def formula(self) -> str:
        """The current cell's dot product written out, zero weights left out."""
        i, j = self.cell
        parts = [f"{_num(x, 2)}·{_num(w, 3)}" for x, w in self.terms if w != 0]
        body = " + ".join(parts) if parts else "0"
        return f"y[{i}, {j}] = {body} = {fmt(self.value, 4)}"

    # ---- actions ---------------------------------------------------------------------
    def step(self) -> None:
        """Move to the next output cell (after the last one, start again at 0)."""
        n = self.out_shape[0] * self.out_shape[1]
        self.position_slider.value = (self.position + 1) % n

    def _check_fits(self) -> None:
        (H, Wd), (kh, kw) = self.image.shape, self.kernel.shape
        if self.padding == "valid" and (kh > H or kw > Wd):
            raise ValueError(f"the {kh}×{kw} kernel does not fit in the {H}×{Wd} image with 'valid' "
                             "padding; use 'same' or a larger image.")

    def _fit_position(self, position: int | None = None) -> None:
        """Keep the position slider within the current number of output cells."""
        n = self.out_shape[0] * self.out_shape[1]
        wanted = self.position if position is None else int(position)
        self._busy = True
        try:
            if n - 1 > self.position_slider.max:
                self.position_slider.max = n - 1
                self.position_slider.value = min(max(wanted, 0), n - 1)
            else:
                self.position_slider.value = min(max(wanted, 0), n - 1)
                self.position_slider.max = n - 1
        finally:
            self._busy = False

    def _on_setting(self, change) -> None:
        if self.padding == "valid":
            (H, Wd), (kh, kw) = self.image.shape, self.kernel.shape
            if kh > H or kw > Wd:  # an image smaller than the kernel has no 'valid' output: stay on 'same'
                self.padding_toggle.value = "same"
                return
        self._fit_position()
        self._redraw()

    def _on_position(self, change) -> None:
        if not self._busy:
            self._redraw()

    # ---- drawing ---------------------------------------------------------------------
    def _redraw(self) -> None:
        self._svg = self._draw()
        rows, cols = self.plans
        (H, Wd), (kh, kw) = self.image.shape, self.kernel.shape
        rule = ("valid: out = floor((n − k) / s) + 1" if self.padding == "valid"
                else "same: out = ceil(n / s), zeros split with the extra one after")
        shape_text = (f"input {H}×{Wd}, kernel {kh}×{kw}, stride {self.stride}, padding '{self.padding}' "
                      f"({rule})\nrows:    {rows.formula}\ncolumns: {cols.formula}\n"
                      f"output shape: {self.out_shape[0]}×{self.out_shape[1]}")
        Ho, Wo = self.out_shape
        self._output.value = (
            f'<div class="dlbricks-conv" data-out-shape="{Ho},{Wo}" data-stride="{self.stride}" '
            f'data-padding="{self.padding}" data-kernel="{esc(self.kernel_name)}" '
            f'data-position="{self.position}">'
            f'<pre class="conv-shape" style="margin:4px 0">{esc(shape_text)}</pre>'
            f'{self._svg}'
            f'<pre class="conv-dot" style="margin:4px 0;white-space:pre-wrap">{esc(self.formula)}</pre>'
            f'</div>')

    def _draw(self) -> str:
        padded = self.padded
        Hp, Wp = padded.shape
        rows, cols = self.plans
        kernel = self.kernel
        kh, kw = kernel.shape
        Ho, Wo = self.out_shape
        top_w, left_w = self.window_origin
        ci, cj = self.cell
        output = self.output
        scale = float(np.max(np.abs(output))) or 1.0

        side = max(Hp, Wp, Ho, Wo)
        cell = int(max(9, min(30, 340 // side)))
        kcell = 30
        show_numbers = cell >= 26
        top, gap = 40, 36
        x_in = 16
        x_k = x_in + Wp * cell + gap
        x_out = x_k + kw * kcell + gap + 20
        body: list[str] = []

        body.append(f'<text x="{x_in}" y="16" font-size="13" font-weight="bold">input {self.image.shape[0]}×'
                    f'{self.image.shape[1]}' + (f' (padded to {Hp}×{Wp})' if (Hp, Wp) != self.image.shape else "")
                    + '</text>')
        body.append(f'<text x="{x_k}" y="16" font-size="13" font-weight="bold">kernel {kh}×{kw}</text>')
        body.append(f'<text x="{x_out}" y="16" font-size="13" font-weight="bold">output {Ho}×{Wo}</text>')
        body.append(f'<text x="{x_in}" y="32" font-size="11" fill="#555">stride {self.stride}, '
                    f'padding {esc(self.padding)}</text>')

        # the (padded) input
        for r in range(Hp):
            for c in range(Wp):
                v = float(padded[r, c])
                is_pad = not (rows.before <= r < rows.before + self.image.shape[0]
                              and cols.before <= c < cols.before + self.image.shape[1])
                in_win = top_w <= r < top_w + kh and left_w <= c < left_w + kw
                css = "cell input-cell" + (" pad-cell" if is_pad else "") + (" in-window" if in_win else "")
                fill = "#fdf3d8" if is_pad else _grey(v)
                dash = ' stroke-dasharray="2,2"' if is_pad else ""
                x, y = x_in + c * cell, top + r * cell
                body.append(f'<rect class="{css}" data-row="{r}" data-col="{c}" data-value="{fmt(v, 4)}" '
                            f'x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}" '
                            f'stroke="#bbb" stroke-width="0.5"{dash}><title>'
                            f'{"padding zero" if is_pad else f"x[{r - rows.before}, {c - cols.before}]"} = '
                            f'{fmt(v, 3)}</title></rect>')
                if show_numbers:
                    body.append(f'<text x="{x + cell / 2:g}" y="{y + cell / 2 + 4:g}" text-anchor="middle" '
                                f'font-size="10" fill="{_ink(0 if is_pad else v)}">{fmt(v, 2)}</text>')
        body.append(f'<rect class="window" data-top="{top_w}" data-left="{left_w}" x="{x_in + left_w * cell}" '
                    f'y="{top + top_w * cell}" width="{kw * cell}" height="{kh * cell}" fill="none" '
                    f'stroke="#e6550d" stroke-width="3"/>')

        # lines window -> kernel -> output cell: "this window, times this kernel, gives this cell"
        wx = x_in + (left_w + kw) * cell
        wy = top + (top_w + kh / 2) * cell
        ky = top + kh * kcell / 2
        ox = x_out + cj * cell
        oy = top + (ci + 0.5) * cell
        for x1, y1, x2, y2 in ((wx, wy, x_k, ky), (x_k + kw * kcell, ky, ox, oy)):
            body.append(f'<line class="link" x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="#e6550d" '
                        'stroke-width="1.2" stroke-dasharray="4,3"/>')

        # the kernel
        kscale = float(np.max(np.abs(kernel))) or 1.0
        for r in range(kh):
            for c in range(kw):
                w = float(kernel[r, c])
                x, y = x_k + c * kcell, top + r * kcell
                body.append(f'<rect class="cell kernel-cell" data-row="{r}" data-col="{c}" data-value="{fmt(w, 4)}" '
                            f'x="{x}" y="{y}" width="{kcell}" height="{kcell}" fill="{_diverging(w, kscale)}" '
                            f'stroke="#e6550d" stroke-width="1"><title>w[{r}, {c}] = {fmt(w, 4)}</title></rect>')
                body.append(f'<text x="{x + kcell / 2:g}" y="{y + kcell / 2 + 4:g}" text-anchor="middle" '
                            f'font-size="10" fill="{_ink(abs(w) / kscale)}">{fmt(w, 2)}</text>')
        body.append(f'<text x="{x_k}" y="{top + kh * kcell + 16}" font-size="11" fill="#555">'
                    'multiply, add up</text>')
        body.append(f'<text x="{x_k}" y="{top + kh * kcell + 30}" font-size="11" fill="#555">'
                    '(no flip)</text>')

        # the output, filled up to the current cell
        for r in range(Ho):
            for c in range(Wo):
                index = r * Wo + c
                state = ("current" if index == self.position
                         else "done" if index < self.position or self.show_all else "pending")
                x, y = x_out + c * cell, top + r * cell
                if state == "pending":
                    body.append(f'<rect class="cell output-cell" data-row="{r}" data-col="{c}" data-state="pending" '
                                f'x="{x}" y="{y}" width="{cell}" height="{cell}" fill="#fafafa" stroke="#ddd" '
                                f'stroke-width="0.5"/>')
                    continue
                v = float(output[r, c])
                stroke = 'stroke="#e6550d" stroke-width="3"' if state == "current" else 'stroke="#bbb" stroke-width="0.5"'
                body.append(f'<rect class="cell output-cell" data-row="{r}" data-col="{c}" data-state="{state}" '
                            f'data-value="{fmt(v, 4)}" x="{x}" y="{y}" width="{cell}" height="{cell}" '
                            f'fill="{_diverging(v, scale)}" {stroke}><title>y[{r}, {c}] = {fmt(v, 4)}</title></rect>')
                if show_numbers:
                    body.append(f'<text x="{x + cell / 2:g}" y="{y + cell / 2 + 4:g}" text-anchor="middle" '
                                f'font-size="9">{fmt(v, 2)}</text>')
        width = x_out + Wo * cell + 16
        height = top + max(Hp * cell, Ho * cell, kh * kcell + 34) + 10
        return svg_document(width, height, body, css_class="dlbricks-svg conv-explorer")
