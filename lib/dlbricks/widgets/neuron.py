"""NeuronPlayground: one sigmoid neuron on the banknote task, moved by hand.

Three sliders set the output neuron's weights ``w1``, ``w2`` and bias ``b``.
The drawing shows the banknote points (variance, skewness) coloured by class,
the probability ``p(forged)`` as shading, the line (or curve) where
``p = 0.5``, the pen-and-paper point ``x = (1, 2.2)`` with its probability,
and the accuracy on the shown points.

A toggle puts a small hidden layer of two fixed sigmoid units in front of the
neuron. The sliders then weight the hidden units ``h1, h2`` instead of the
inputs ``x1, x2``: the same neuron, fed with new features, and the boundary
in the input plane is no longer straight.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..losses import sigmoid
from .render import View, esc, figure_to_svg, fmt, new_figure

__all__ = ["NeuronPlayground", "HIDDEN_W", "HIDDEN_B", "PEN_AND_PAPER_X"]

# The slides' pen-and-paper banknote, x = (x1, x2).
PEN_AND_PAPER_X = np.array([1.0, 2.2])

# The fixed hidden layer, W_{from,to}: (2 inputs, 2 units), bias (2,). Each unit is a
# "looks genuine" detector: h1 fires for high variance (line x1 ~ 1.36 + 0.14 x2),
# h2 for high variance plus skewness (0.8 x1 + 1.25 x2 > 8.4, the upper-left genuine
# cluster). They are rounded from a 2-2-1 network trained with dlbricks.train.fit on the
# training split; with output weights w = (-9, -9), b = 3 ("forged when neither unit
# fires") the network classifies about 95 % of the test split correctly.
HIDDEN_W = np.array([[1.1, 0.8],
                     [-0.15, 1.25]])
HIDDEN_B = np.array([-1.5, -8.4])

_CLASS_STYLE = (  # label 0 genuine, 1 forged: colour and marker differ (colour-blind safe)
    {"name": "genuine", "color": "#1f5fa8", "marker": "o"},
    {"name": "forged", "color": "#c0392b", "marker": "^"},
)


def _signed(x: float) -> str:
    """``+ 0.3`` or ``- 0.3``: a term of a sum written the way people write it."""
    return f"- {fmt(-x)}" if x < 0 else f"+ {fmt(x)}"


class NeuronPlayground(View):
    """Sliders for one sigmoid neuron on the two-feature banknote task.

    Parameters
    ----------
    w1, w2, b : float
        Start values of the sliders (default: the slides' 0.3, 0.1, 1.0).
    hidden : bool
        Start with the fixed hidden layer switched on.
    split : {"test", "train"}
        Which part of ``dlbricks.data.load_banknote(features="two")`` to show
        and score.
    X, y : arrays, optional
        Other points to show instead: ``X: (N, 2)``, ``y: (N,)`` labels 0/1.
    resolution : int
        Grid points per axis for the probability shading.
    continuous_update : bool
        Redraw while a slider is dragged (True) or when it is released.

    Attributes
    ----------
    w1_slider, w2_slider, b_slider : ipywidgets.FloatSlider
        The output neuron's weights and bias.
    hidden_toggle : ipywidgets.ToggleButton
        Switches the two-unit hidden layer on and off.
    widget : ipywidgets.VBox
        The controls, a text readout and the drawing.
    """

    SLIDER_RANGE = (-10.0, 10.0)

    def __init__(self, w1: float = 0.3, w2: float = 0.1, b: float = 1.0, hidden: bool = False,
                 split: str = "test", X: np.ndarray | None = None, y: np.ndarray | None = None,
                 resolution: int = 81, continuous_update: bool = False) -> None:
        import ipywidgets as widgets

        self.X, self.y = self._points(split, X, y)
        self.resolution = int(resolution)
        self._grid = self._make_grid()
        lo, hi = self.SLIDER_RANGE
        # a 440 px slider leaves a track of about 300 px: 0.07 per pixel over -10..10,
        # and the arrow keys move by the step, 0.05
        slider = dict(min=lo, max=hi, step=0.05, readout_format=".2f",
                      continuous_update=continuous_update,
                      layout=widgets.Layout(width="440px"))
        self.w1_slider = widgets.FloatSlider(value=w1, description="w1", **slider)
        self.w2_slider = widgets.FloatSlider(value=w2, description="w2", **slider)
        self.b_slider = widgets.FloatSlider(value=b, description="b", **slider)
        self.hidden_toggle = widgets.ToggleButton(
            value=bool(hidden), description="hidden layer (2 units)",
            tooltip="Feed the neuron two fixed hidden units h1, h2 instead of x1, x2",
            layout=widgets.Layout(width="240px"))
        self.readout = widgets.HTML()
        self.plot = widgets.HTML()
        controls = widgets.VBox([self.w1_slider, self.w2_slider, self.b_slider, self.hidden_toggle])
        self.widget = widgets.VBox([widgets.HBox([controls, self.readout]), self.plot])
        for control in (self.w1_slider, self.w2_slider, self.b_slider, self.hidden_toggle):
            control.observe(self._redraw, names="value")
        self._redraw()

    # ------------------------------------------------------------------ the model
    @property
    def weights(self) -> tuple[np.ndarray, float]:
        """The output neuron's ``w: (2,)`` and ``b`` as the sliders set them."""
        return np.array([self.w1_slider.value, self.w2_slider.value]), float(self.b_slider.value)

    @property
    def hidden(self) -> bool:
        """True when the fixed hidden layer feeds the neuron."""
        return bool(self.hidden_toggle.value)

    def features(self, X: np.ndarray) -> np.ndarray:
        """What the output neuron sees: ``X: (N, 2)`` itself, or ``h = sigmoid(X @ W_h + b_h)``."""
        X = np.asarray(X, dtype=np.float64)
        return sigmoid(X @ HIDDEN_W + HIDDEN_B) if self.hidden else X

    def probability(self, X: np.ndarray) -> np.ndarray:
        """``p(forged)`` for ``X: (N, 2)`` -> ``(N,)``: ``sigmoid(features(X) @ w + b)``."""
        w, b = self.weights
        return sigmoid(self.features(X) @ w + b)

    @property
    def accuracy(self) -> float:
        """Fraction of the shown points classified right (forged when ``p > 0.5``)."""
        return float(np.mean((self.probability(self.X) > 0.5) == (self.y == 1)))

    @property
    def pen_and_paper_probability(self) -> float:
        """``p(forged)`` at the slides' point ``x = (1, 2.2)``."""
        return float(self.probability(PEN_AND_PAPER_X[None, :])[0])

    def boundary_equation(self) -> str:
        """The set where ``p = 0.5`` (that is ``z = 0``), as text."""
        w, b = self.weights
        v1, v2 = ("h1", "h2") if self.hidden else ("x1", "x2")
        if not w.any():
            return f"z = {fmt(b)} everywhere: no boundary, p is the same for every note"
        return f"{fmt(w[0])}·{v1} {_signed(w[1])}·{v2} {_signed(b)} = 0"

    # ------------------------------------------------------------------ drawing
    @staticmethod
    def _points(split: str, X: np.ndarray | None, y: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray]:
        if X is not None or y is not None:
            if X is None or y is None:
                raise ValueError("Pass both X (N, 2) and y (N,), or neither to use the banknotes.")
            X, y = np.asarray(X, dtype=np.float64), np.asarray(y).reshape(-1)
            if X.ndim != 2 or X.shape[1] != 2 or len(X) != len(y):
                raise ValueError(f"X must be (N, 2) and y (N,); got {X.shape} and {y.shape}.")
            return X, y
        if split not in ("test", "train"):
            raise ValueError(f'split must be "test" or "train", got {split!r}.')
        from ..data import load_banknote

        X_train, X_test, y_train, y_test = load_banknote(features="two")
        return (X_test, y_test) if split == "test" else (X_train, y_train)

    def _make_grid(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.X.min(axis=0), self.X.max(axis=0)
        pad = 0.06 * (hi - lo)
        g1 = np.linspace(lo[0] - pad[0], hi[0] + pad[0], self.resolution)
        g2 = np.linspace(lo[1] - pad[1], hi[1] + pad[1], self.resolution)
        return np.meshgrid(g1, g2)

    def _draw(self) -> str:
        fig, ax = new_figure(5.6, 4.4)
        G1, G2 = self._grid
        P = self.probability(np.column_stack([G1.ravel(), G2.ravel()])).reshape(G1.shape)
        shading = ax.contourf(G1, G2, P, levels=np.linspace(0.0, 1.0, 11), cmap="RdBu_r",
                              vmin=0.0, vmax=1.0, alpha=0.55)
        shading.set_gid("p-shading")
        cbar = fig.colorbar(shading, ax=ax, ticks=[0, 0.25, 0.5, 0.75, 1.0])
        cbar.set_label("p(forged)")
        if P.min() < 0.5 < P.max():  # otherwise there is no boundary to draw (and no warning)
            line = ax.contour(G1, G2, P, levels=[0.5], colors="black", linewidths=2.0)
            line.set_gid("decision-boundary")
        if self.hidden:  # each hidden unit's own straight line h_k = 0.5, for comparison
            for k in range(HIDDEN_W.shape[1]):
                H = sigmoid(G1 * HIDDEN_W[0, k] + G2 * HIDDEN_W[1, k] + HIDDEN_B[k])
                if H.min() < 0.5 < H.max():
                    unit = ax.contour(G1, G2, H, levels=[0.5], colors="#333333",
                                      linewidths=1.2, linestyles="dashed")
                    unit.set_gid(f"hidden-unit-{k + 1}")
        for label, style in enumerate(_CLASS_STYLE):
            mask = self.y == label
            pts = ax.scatter(self.X[mask, 0], self.X[mask, 1], s=14, c=style["color"],
                             marker=style["marker"], edgecolors="white", linewidths=0.4,
                             label=f"{style['name']} ({int(mask.sum())})")
            pts.set_gid(f"points-{style['name']}")
        p_pen = self.pen_and_paper_probability
        star = ax.scatter([PEN_AND_PAPER_X[0]], [PEN_AND_PAPER_X[1]], s=160, marker="*",
                          c="gold", edgecolors="black", linewidths=1.0, zorder=5,
                          label="x = (1, 2.2)")
        star.set_gid("pen-and-paper-point")
        note = ax.annotate(f"p = {p_pen:.3f}", PEN_AND_PAPER_X, xytext=(8, 8),
                           textcoords="offset points", fontsize=9, zorder=6,
                           bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="black", lw=0.5))
        note.set_gid("pen-and-paper-label")
        ax.set_xlabel("x1: variance of the wavelet image")
        ax.set_ylabel("x2: skewness")
        kind = "with hidden layer" if self.hidden else "single neuron"
        ax.set_title(f"{kind}: accuracy {100 * self.accuracy:.1f} %", fontsize=10)
        # below the axes: inside, it would hide points in every corner
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, fontsize=8,
                  frameon=False)
        return figure_to_svg(fig)

    def _readout_html(self) -> str:
        w, b = self.weights
        p_pen = self.pen_and_paper_probability
        if self.hidden:
            h = sigmoid(PEN_AND_PAPER_X @ HIDDEN_W + HIDDEN_B)
            model = ("h = sigmoid(x·W<sub>h</sub> + b<sub>h</sub>), "
                     "p = sigmoid(b + w1·h1 + w2·h2)")
            inputs = f"h = ({fmt(h[0])}, {fmt(h[1])})"
            z = b + h @ w
        else:
            model = "p = sigmoid(b + w1·x1 + w2·x2)"
            inputs = "x = (1, 2.2)"
            z = b + PEN_AND_PAPER_X @ w
        rows = [
            ("model", model),
            ("p = 0.5 where", esc(self.boundary_equation())),
            ("pen and paper", f"{inputs}: z = {fmt(z, 4)}, p = {p_pen:.4f}"),
            ("accuracy", f"{100 * self.accuracy:.1f} % of {len(self.y)} notes"),
        ]
        body = "".join(f"<tr><th style='text-align:left;padding-right:8px'>{name}</th>"
                       f"<td>{value}</td></tr>" for name, value in rows)
        return (f"<div class='neuron-readout' data-hidden='{str(self.hidden).lower()}' "
                f"data-accuracy='{self.accuracy:.6f}' data-p-pen='{p_pen:.6f}' "
                f"style='font-size:13px;margin-left:12px'><table>{body}</table></div>")

    def _redraw(self, change: Any = None) -> None:
        # the toggle's state must be plain to see: a coloured button that says on/off
        on = self.hidden
        self.hidden_toggle.button_style = "success" if on else ""
        self.hidden_toggle.icon = "check" if on else ""
        self.hidden_toggle.description = f"hidden layer (2 units): {'on' if on else 'off'}"
        self.readout.value = self._readout_html()
        self.plot.value = f"<div class='neuron-playground'>{self._draw()}</div>"

    # ------------------------------------------------------------------ display
    @property
    def svg(self) -> str:
        """The current drawing as an ``<svg>`` string."""
        text = self.plot.value
        return text[text.index("<svg"):text.rindex("</svg>") + len("</svg>")]

    @property
    def html(self) -> str:
        """The current text readout (HTML, with data- attributes for tests)."""
        return self.readout.value

    def static_html(self) -> str:
        """The readout and the drawing, as the notebook keeps them for static views."""
        return f'<div class="dlbricks-static">{self.readout.value}{self.plot.value}</div>'

