"""Gradient descent and penalty methods to play with (lesson 03).

``DescentExplorer``
    Gradient descent ``x <- x - lr * grad f(x)`` on a 1-D loss (the quadratic
    ``(x - a)^2`` of the course notes, or a non-convex quartic with two minima)
    or on an elongated 2-D bowl. Sliders set the learning rate, the number of
    steps and the start point; the view draws the path of the iterates on the
    loss, the loss per step, and names the regime (converges, oscillates,
    bounces, diverges).

``PenaltyExplorer``
    ``min (x - a)^2 subject to x = b`` replaced by a penalised objective with a
    weight ``C``: the squared penalty ``C (x - b)^2`` or the linear ``C (x - b)``
    written on the slide. A log-scale slider moves ``C``; the view draws the
    objective and its minimiser, and how the minimiser moves with ``C`` (toward
    ``b`` for the squared penalty, off to minus infinity for the linear one).

Why the regimes are what they are: near a minimum with curvature ``h`` (the
second derivative), one step maps the distance to the minimum ``e`` to
``(1 - lr * h) e``. The step contracts when ``|1 - lr h| < 1``, i.e.
``0 < lr < 2 / h``; it overshoots (the sign of ``e`` flips) when
``1 - lr h < 0``, i.e. ``lr > 1 / h``. For ``(x - a)^2``, ``h = 2``: converges
for ``0 < lr < 1``, oscillates for ``0.5 < lr < 1``, diverges for ``lr > 1``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib.ticker import NullFormatter

from .render import View, esc, figure_to_svg, fmt, new_figure

__all__ = [
    "DescentProblem", "DescentRun", "PROBLEMS", "quadratic_problem", "quartic_problem",
    "bowl_problem", "descent_path", "run_descent", "classify_regime", "REGIMES",
    "penalised_minimiser", "penalised_objective", "DescentExplorer", "PenaltyExplorer",
]

# Iterates beyond this distance from the origin count as "ran away"; stopping
# there keeps float overflow (and its RuntimeWarning) out of the notebook.
ESCAPE_RADIUS = 1e6

REGIMES = {
    "converges": "converges: every step moves toward the minimum without overshooting it.",
    "oscillates": ("oscillates: each step overshoots the minimum (the error changes sign), "
                   "but the overshoot shrinks, so it still converges."),
    "bounces": ("bounces: the overshoot does not shrink: the learning rate sits on the "
                "stability limit, or no minimum is stable at this learning rate."),
    "diverges": "diverges: each overshoot is larger than the last and the loss grows without bound.",
    "stays put": "stays put: the learning rate is 0 or the start is already a minimum.",
}


# --------------------------------------------------------------------------------------
# The losses
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DescentProblem:
    """A loss to descend, with what the view needs to draw and judge it.

    Points are arrays of shape ``(dim,)``; ``f`` also takes a stack ``(..., dim)``
    and returns ``(...)``.

    Attributes
    ----------
    key, label, formula : names for code, for the menu, and the formula shown
    dim : 1 or 2
    f : loss, ``(..., dim) -> (...)``
    grad : gradient, ``(dim,) -> (dim,)``
    minima : list of ``(point (dim,), curvatures (dim,))``: every local minimum
        with the second derivatives along the axes (the Hessian is diagonal)
    quadratic : True when ``f`` is exactly quadratic (the step rule is then exact
        everywhere, not only near a minimum)
    window : plotting range per axis, ``((lo, hi),)`` or ``((lo, hi), (lo, hi))``
    start : default start point, ``(dim,)``
    """

    key: str
    label: str
    formula: str
    dim: int
    f: Callable[[np.ndarray], np.ndarray]
    grad: Callable[[np.ndarray], np.ndarray]
    minima: tuple[tuple[np.ndarray, np.ndarray], ...]
    quadratic: bool
    window: tuple[tuple[float, float], ...]
    start: tuple[float, ...]

    @property
    def f_min(self) -> float:
        """The lowest loss over all minima (the global minimum)."""
        return min(float(self.f(np.asarray(p, dtype=np.float64))) for p, _ in self.minima)


def quadratic_problem(a: float = 2.0) -> DescentProblem:
    """``f(x) = (x - a)^2`` with ``f'(x) = 2x - 2a``; the one minimum ``x = a`` has curvature 2."""
    a = float(a)
    return DescentProblem(
        key="quadratic", label="1-D quadratic (x − a)²", formula=f"f(x) = (x − {fmt(a)})²", dim=1,
        f=lambda x: (np.asarray(x)[..., 0] - a) ** 2,
        grad=lambda x: 2.0 * (np.asarray(x) - a),
        minima=((np.array([a]), np.array([2.0])),), quadratic=True,
        window=((a - 4.0, a + 4.0),), start=(a - 3.0,))


# The quartic x^4/4 - x^2 + 0.4 x: two valleys of different depth and a hump between.
_QUARTIC_TILT = 0.4


def _quartic_minima() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    roots = np.roots([1.0, 0.0, -2.0, _QUARTIC_TILT])        # f'(x) = x^3 - 2x + tilt
    real = np.sort(roots[np.abs(roots.imag) < 1e-9].real)
    minima = []
    for r in real:
        h = 3.0 * r * r - 2.0                                  # f''(x)
        if h > 0:
            minima.append((np.array([r]), np.array([h])))
    return tuple(minima)


def quartic_problem() -> DescentProblem:
    """``f(x) = x^4/4 - x^2 + 0.4x``: non-convex, a deep minimum near -1.5 and a shallow one near 1.3."""
    t = _QUARTIC_TILT
    return DescentProblem(
        key="quartic", label="1-D non-convex x⁴/4 − x² + 0.4x",
        formula=f"f(x) = x⁴/4 − x² + {fmt(t)}x", dim=1,
        f=lambda x: 0.25 * np.asarray(x)[..., 0] ** 4 - np.asarray(x)[..., 0] ** 2 + t * np.asarray(x)[..., 0],
        grad=lambda x: np.asarray(x) ** 3 - 2.0 * np.asarray(x) + t,
        minima=_quartic_minima(), quadratic=False,
        window=((-2.6, 2.6),), start=(2.2,))


def bowl_problem() -> DescentProblem:
    """``f(x, y) = 0.1 x^2 + y^2``: an elongated bowl, curvatures 0.2 (flat, along x) and 2 (steep, along y).

    The steep direction has the curvature of ``(x - a)^2``, so the learning rate
    limits are the same (oscillation above 0.5, divergence above 1), while the
    flat direction shrinks by only ``1 - 0.2 lr`` per step: the speed is set by
    the flattest direction, the largest usable step by the steepest.
    """
    return DescentProblem(
        key="bowl", label="2-D elongated bowl 0.1x² + y²", formula="f(x, y) = 0.1x² + y²", dim=2,
        f=lambda p: 0.1 * np.asarray(p)[..., 0] ** 2 + np.asarray(p)[..., 1] ** 2,
        grad=lambda p: np.array([0.2, 2.0]) * np.asarray(p),
        minima=((np.zeros(2), np.array([0.2, 2.0])),), quadratic=True,
        window=((-10.0, 10.0), (-4.0, 4.0)), start=(-8.0, 3.0))


def _problems(a: float) -> dict[str, DescentProblem]:
    return {p.key: p for p in (quadratic_problem(a), quartic_problem(), bowl_problem())}


PROBLEMS: dict[str, DescentProblem] = _problems(2.0)


# --------------------------------------------------------------------------------------
# Gradient descent and its regime
# --------------------------------------------------------------------------------------
def descent_path(grad: Callable[[np.ndarray], np.ndarray], x0: Sequence[float] | np.ndarray, lr: float,
                 steps: int, escape: float = ESCAPE_RADIUS) -> np.ndarray:
    """The iterates of plain gradient descent ``x_{t+1} = x_t - lr * grad(x_t)``.

    Parameters
    ----------
    grad : gradient of the loss, ``(D,) -> (D,)``
    x0 : start point, ``(D,)``
    lr : learning rate (step size), >= 0
    steps : number of updates
    escape : stop early once an iterate is farther than this from the origin
        (or not finite), so a diverging run ends before floats overflow

    Returns
    -------
    path : ``(T + 1, D)`` float64 with ``path[0] = x0``; ``T = steps`` unless the
        run escaped, then ``T < steps`` and ``path[-1]`` is the first escaped iterate
    """
    x = np.array(x0, dtype=np.float64).reshape(-1)
    path = [x.copy()]
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(int(steps)):
            x = x - lr * np.asarray(grad(x), dtype=np.float64)
            path.append(x.copy())
            if not np.all(np.isfinite(x)) or np.max(np.abs(x)) > escape:
                break
    return np.array(path)


def classify_regime(problem: DescentProblem, path: np.ndarray, lr: float) -> str:
    """Name the regime of a gradient-descent run: a key of :data:`REGIMES`.

    Near a minimum with curvatures ``h``, each step multiplies the distance to
    it by ``r = 1 - lr * h`` per axis. With ``m = max |r|`` over the axes that
    still have a distance to cover: ``m > 1`` diverges (a non-quadratic loss
    may instead bounce around without escaping), ``m = 1`` bounces, ``r < 0``
    on some axis oscillates, otherwise converges. For a quadratic this is exact;
    for the quartic it is judged at the minimum nearest the last iterate.

    Parameters
    ----------
    problem : the loss that was descended
    path : ``(T + 1, D)`` iterates from :func:`descent_path`
    lr : the learning rate used
    """
    last = path[-1]
    if not np.all(np.isfinite(last)) or np.max(np.abs(last)) > ESCAPE_RADIUS:
        return "diverges"
    if lr == 0:
        return "stays put"
    point, curvature = min(problem.minima, key=lambda m: float(np.sum((last - m[0]) ** 2)))
    # Axes with nothing to cover (start exactly at the minimum there) do not move.
    active = np.abs(path[0] - point) > 1e-12 if problem.quadratic else np.ones(problem.dim, bool)
    if not np.any(active):
        return "stays put"
    factors = 1.0 - lr * curvature[active]
    largest = float(np.max(np.abs(factors)))
    if largest > 1.0 + 1e-12:
        return "diverges" if problem.quadratic else "bounces"
    if largest >= 1.0 - 1e-12:
        return "bounces"
    return "oscillates" if np.any(factors < 0) else "converges"


@dataclass
class DescentRun:
    """One gradient-descent run: ``path (T+1, D)``, ``losses (T+1,)``, regime and step factors."""

    problem: DescentProblem
    lr: float
    path: np.ndarray
    losses: np.ndarray
    regime: str
    factors: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def escaped(self) -> bool:
        """True when the run stopped early because the iterates ran away."""
        last = self.path[-1]
        return bool(not np.all(np.isfinite(last)) or np.max(np.abs(last)) > ESCAPE_RADIUS)

    @property
    def final_loss(self) -> float:
        return float(self.losses[-1])


def run_descent(problem: DescentProblem, lr: float, steps: int,
                start: Sequence[float] | np.ndarray | None = None) -> DescentRun:
    """Descend ``problem`` from ``start`` (default ``problem.start``) and judge the regime."""
    x0 = np.array(problem.start if start is None else start, dtype=np.float64).reshape(-1)
    if x0.shape != (problem.dim,):
        raise ValueError(f"The {problem.key} loss needs a start point with {problem.dim} "
                         f"coordinate(s), got {x0.size}.")
    path = descent_path(problem.grad, x0, lr, steps)
    with np.errstate(over="ignore", invalid="ignore"):
        losses = np.asarray(problem.f(path), dtype=np.float64)
    point, curvature = min(problem.minima, key=lambda m: float(np.sum((path[-1] - m[0]) ** 2)))
    return DescentRun(problem=problem, lr=float(lr), path=path, losses=losses,
                      regime=classify_regime(problem, path, lr), factors=1.0 - lr * curvature)


# --------------------------------------------------------------------------------------
# Penalties
# --------------------------------------------------------------------------------------
def penalised_objective(x: np.ndarray, a: float, b: float, C: float, penalty: str = "squared") -> np.ndarray:
    """``(x - a)^2 + C (x - b)^2`` (``penalty="squared"``) or ``(x - a)^2 + C (x - b)`` ("linear").

    ``x`` may have any shape; the result has the same shape.
    """
    x = np.asarray(x, dtype=np.float64)
    if penalty == "squared":
        return (x - a) ** 2 + C * (x - b) ** 2
    if penalty == "linear":
        return (x - a) ** 2 + C * (x - b)
    raise ValueError(f"penalty must be 'squared' or 'linear', got {penalty!r}.")


def penalised_minimiser(a: float, b: float, C: float | np.ndarray, penalty: str = "squared") -> float | np.ndarray:
    """Where the penalised objective is smallest (set its derivative to zero).

    squared: ``2(x - a) + 2C(x - b) = 0`` gives ``x* = (a + C b) / (1 + C)``, which
    tends to ``b`` as ``C`` grows (``x* - b = (a - b) / (1 + C)``).
    linear: ``2(x - a) + C = 0`` gives ``x* = a - C / 2``: it does not approach
    ``b`` but runs off to minus infinity as ``C`` grows (it passes ``b`` only
    at the single value ``C = 2(a - b)``, the Lagrange multiplier).
    ``C`` may be an array; the result then has its shape.
    """
    C = np.asarray(C, dtype=np.float64) if np.ndim(C) else float(C)
    if penalty == "squared":
        return (a + C * b) / (1.0 + C)
    if penalty == "linear":
        return a - C / 2.0
    raise ValueError(f"penalty must be 'squared' or 'linear', got {penalty!r}.")


# --------------------------------------------------------------------------------------
# Widgets
# --------------------------------------------------------------------------------------
def _two_panels(width: float, height: float, ratio: tuple[float, float] = (3.0, 2.0)):
    """A figure from :func:`render.new_figure` split into a wide left and a narrow right panel."""
    fig, left = new_figure(width, height)
    grid = fig.add_gridspec(1, 2, width_ratios=ratio, wspace=0.32)
    left.set_subplotspec(grid[0])
    right = fig.add_subplot(grid[1])
    return fig, left, right


class DescentExplorer(View):
    """Gradient descent on a 1-D or 2-D loss, with the path of the iterates and the regime.

    Parameters
    ----------
    problem : "quadratic" (``(x - a)^2``), "quartic" (non-convex) or "bowl" (2-D)
    lr : learning rate, 0 to 1.2
    steps : number of updates, 0 to 100
    start : start point (``(x,)`` or ``(x, y)``); default: the problem's own
    a : the ``a`` of ``(x - a)^2``

    Public controls
    ---------------
    ``problem_dropdown``, ``lr_slider``, ``steps_slider``, ``start_slider`` (x0),
    ``start_y_slider`` (y0, shown for the 2-D bowl only). ``run`` holds the
    current :class:`DescentRun`; ``regime``, ``path`` and ``final_loss`` read it.
    The HTML root carries ``data-problem``, ``data-regime``, ``data-lr`` and
    ``data-steps``; SVG groups have the ids ``loss-curve`` / ``loss-contours``,
    ``descent-path`` (one marker per iterate), ``start-point``,
    ``final-point``, ``minimum`` and ``loss-history``.
    """

    def __init__(self, problem: str = "quadratic", lr: float = 0.1, steps: int = 20,
                 start: Sequence[float] | None = None, a: float = 2.0) -> None:
        import ipywidgets as W

        self.problems = _problems(a)
        if problem not in self.problems:
            raise ValueError(f"problem must be one of {sorted(self.problems)}, got {problem!r}.")
        style = {"description_width": "initial"}
        self.problem_dropdown = W.Dropdown(
            options=[(p.label, p.key) for p in self.problems.values()], value=problem,
            description="loss", style=style, layout=W.Layout(width="320px"))
        self.lr_slider = W.FloatSlider(value=lr, min=0.0, max=1.2, step=0.01, readout_format=".2f",
                                       description="learning rate", continuous_update=False, style=style)
        self.steps_slider = W.IntSlider(value=steps, min=0, max=100, description="steps",
                                        continuous_update=False, style=style)
        self.start_slider = W.FloatSlider(description="start x₀", step=0.1, continuous_update=False,
                                          style=style)
        self.start_y_slider = W.FloatSlider(description="start y₀", step=0.1, continuous_update=False,
                                            style=style)
        self._output = W.HTML()
        self._svg = ""
        self._busy = False
        self._set_start_controls(self.problems[problem], start)
        self.widget = W.VBox([
            W.HBox([self.problem_dropdown, self.lr_slider]),
            W.HBox([self.steps_slider, self.start_slider, self.start_y_slider]),
            self._output,
        ])
        self.problem_dropdown.observe(self._on_problem, names="value")
        for control in (self.lr_slider, self.steps_slider, self.start_slider, self.start_y_slider):
            control.observe(self._on_change, names="value")
        self._redraw()

    # ---- state ---------------------------------------------------------------------
    @property
    def problem(self) -> DescentProblem:
        return self.problems[self.problem_dropdown.value]

    @property
    def start(self) -> np.ndarray:
        values = [self.start_slider.value, self.start_y_slider.value]
        return np.array(values[: self.problem.dim], dtype=np.float64)

    @property
    def regime(self) -> str:
        """The current regime: a key of :data:`REGIMES`."""
        return self.run.regime

    @property
    def path(self) -> np.ndarray:
        """The current iterates, ``(T + 1, D)``."""
        return self.run.path

    @property
    def final_loss(self) -> float:
        return self.run.final_loss

    # ---- events ----------------------------------------------------------------------
    def _set_start_controls(self, problem: DescentProblem, start: Sequence[float] | None) -> None:
        start = problem.start if start is None else tuple(float(s) for s in start)
        if len(start) != problem.dim:
            raise ValueError(f"The {problem.key} loss needs a start with {problem.dim} coordinate(s), "
                             f"got {len(start)}.")
        sliders = (self.start_slider, self.start_y_slider)
        for axis, slider in enumerate(sliders):
            lo, hi = problem.window[min(axis, problem.dim - 1)]
            # min/max first in the order that never makes min > max on the way
            if lo > slider.max:
                slider.max, slider.min = hi, lo
            else:
                slider.min, slider.max = lo, hi
            slider.value = start[axis] if axis < problem.dim else 0.0
        self.start_y_slider.layout.display = "" if problem.dim == 2 else "none"

    def _on_problem(self, change) -> None:
        self._busy = True
        try:
            self._set_start_controls(self.problem, None)
        finally:
            self._busy = False
        self._redraw()

    def _on_change(self, change) -> None:
        if not self._busy:
            self._redraw()

    # ---- drawing ---------------------------------------------------------------------
    def _redraw(self) -> None:
        self.run = run_descent(self.problem, self.lr_slider.value, self.steps_slider.value, self.start)
        self._svg = self._draw(self.run)
        run = self.run
        summary = self._summary(run)
        self._output.value = (
            f'<div class="dlbricks-descent" data-problem="{esc(run.problem.key)}" '
            f'data-regime="{esc(run.regime)}" data-lr="{run.lr:g}" data-steps="{len(run.path) - 1}">'
            f'<p class="descent-summary" style="margin:4px 0">{summary}</p>{self._svg}</div>')

    def _summary(self, run: DescentRun) -> str:
        problem = run.problem
        last = run.path[-1]
        where = ", ".join(fmt(v, 4) for v in last)
        steps = len(run.path) - 1
        if run.escaped:
            end = f"after {steps} steps the iterate left |x| ≤ {ESCAPE_RADIUS:g} (run stopped)"
        else:
            end = (f"after {steps} steps: x = ({where}), loss {fmt(run.final_loss, 4)} "
                   f"(minimum {fmt(problem.f_min, 4)})")
        axes = ["x", "y"][: problem.dim]
        factor = ", ".join(f"{ax}: {fmt(r, 3)}" for ax, r in zip(axes, run.factors))
        return (f"<b>{esc(problem.formula)}</b>, lr = {run.lr:g}: <b class=\"regime\">"
                f"{esc(run.regime)}</b>. {esc(REGIMES[run.regime].split(': ', 1)[1])}<br>"
                f"{esc(end)}. Per-step factor 1 − lr·f″ near the minimum ({esc(factor)}): "
                "|factor| &lt; 1 shrinks the error, a negative factor overshoots.")

    def _draw(self, run: DescentRun) -> str:
        problem = run.problem
        fig, ax, hist = _two_panels(8.4, 3.3)
        shown = run.path[np.all(np.isfinite(run.path), axis=1)]
        (xlo, xhi) = problem.window[0]
        if problem.dim == 1:
            grid = np.linspace(xlo, xhi, 400)
            curve = problem.f(grid[:, None])
            (line,) = ax.plot(grid, curve, color="0.35", lw=1.5, label=problem.formula)
            line.set_gid("loss-curve")
            ylo, yhi = float(curve.min()), float(curve.max())
            pad = 0.08 * (yhi - ylo)
            ax.set_ylim(ylo - pad, yhi + pad)
            with np.errstate(over="ignore", invalid="ignore"):
                heights = problem.f(shown)
            points = np.column_stack([shown[:, 0], heights])
            ax.set_ylabel("loss f(x)")
            minima = np.array([[p[0], float(problem.f(p))] for p, _ in problem.minima])
        else:
            (ylo, yhi) = problem.window[1]
            gx, gy = np.meshgrid(np.linspace(xlo, xhi, 200), np.linspace(ylo, yhi, 120))
            values = problem.f(np.stack([gx, gy], axis=-1))
            contours = ax.contour(gx, gy, values, levels=np.geomspace(0.05, values.max(), 12),
                                  colors="0.6", linewidths=0.8)
            contours.set_gid("loss-contours")
            ax.set_aspect("equal")
            ax.set_ylim(ylo, yhi)
            ax.set_ylabel("y")
            points = shown
            minima = np.array([p for p, _ in problem.minima])
        ax.set_xlim(xlo, xhi)
        ax.set_xlabel("x")
        colour = {"converges": "tab:green", "oscillates": "tab:orange", "bounces": "tab:purple",
                  "diverges": "tab:red", "stays put": "tab:gray"}[run.regime]
        (trail,) = ax.plot(points[:, 0], points[:, 1], "-o", color=colour, ms=3.5, lw=1.0,
                           label="iterates")
        trail.set_gid("descent-path")
        (first,) = ax.plot(points[:1, 0], points[:1, 1], "s", color="black", ms=6, label="start")
        first.set_gid("start-point")
        (final,) = ax.plot(points[-1:, 0], points[-1:, 1], "*", color=colour, ms=11,
                           markeredgecolor="black", label="last")
        final.set_gid("final-point")
        (best,) = ax.plot(minima[:, 0], minima[:, 1], "x", color="black", ms=7, label="minimum")
        best.set_gid("minimum")
        ax.set_title(f"{problem.formula}, lr = {run.lr:g}: {run.regime}", fontsize=9)
        ax.legend(fontsize=7, loc="upper center" if problem.dim == 1 else "lower right")

        # Right: how far the loss is above the minimum, per step (log scale).
        with np.errstate(over="ignore", invalid="ignore"):
            gap = run.losses - problem.f_min
        steps = np.arange(len(gap))
        ok = np.isfinite(gap)
        (history,) = hist.semilogy(steps[ok], np.maximum(gap[ok], 1e-16), "-o", color=colour,
                                   ms=2.5, lw=1.0)
        history.set_gid("loss-history")
        hist.set_xlabel("step t")
        hist.set_ylabel("f(x_t) − min f")
        hist.set_xlim(-0.5, max(1, len(gap) - 1) + 0.5)
        hist.set_title("loss above the minimum", fontsize=9)
        hist.grid(True, which="major", alpha=0.3)
        hist.yaxis.set_minor_formatter(NullFormatter())   # minor log labels only clutter
        return figure_to_svg(fig)


class PenaltyExplorer(View):
    """``min (x - a)^2 s.t. x = b`` by a penalty of weight ``C``: squared versus linear.

    Parameters
    ----------
    a, b : the target of the loss and the value the constraint demands (a != b)
    C : penalty weight, 0.01 to 1000 (log-scale slider)
    penalty : "squared" (``C (x - b)^2``, the right one) or "linear" (``C (x - b)``,
        as written on the slide)

    Public controls
    ---------------
    ``c_slider`` (a ``FloatLogSlider``) and ``penalty_toggle``. ``minimiser`` is
    the current minimiser of the penalised objective. The HTML root carries
    ``data-penalty``, ``data-c`` and ``data-minimiser``; SVG groups have the ids
    ``objective-curve``, ``loss-term``, ``penalty-term``, ``minimiser-point``
    (or ``minimiser-offscreen`` when it lies left or right of the plot),
    ``constraint-line``, ``minimiser-vs-c-squared``, ``minimiser-vs-c-linear``
    and ``current-c``.
    """

    def __init__(self, a: float = 3.0, b: float = 1.0, C: float = 1.0, penalty: str = "squared") -> None:
        import ipywidgets as W

        if penalty not in ("squared", "linear"):
            raise ValueError(f"penalty must be 'squared' or 'linear', got {penalty!r}.")
        if a == b:
            raise ValueError("Choose a != b: with a = b the constraint is already met and nothing moves.")
        self.a, self.b = float(a), float(b)
        style = {"description_width": "initial"}
        self.c_slider = W.FloatLogSlider(value=C, base=10, min=-2, max=3, step=0.05,
                                         description="penalty weight C", readout_format=".3g",
                                         continuous_update=False, style=style)
        self.penalty_toggle = W.ToggleButtons(
            options=[("squared  C(x − b)²", "squared"), ("linear  C(x − b)", "linear")],
            value=penalty, description="penalty", style=style)
        self._output = W.HTML()
        self._svg = ""
        self.widget = W.VBox([W.HBox([self.c_slider]), self.penalty_toggle, self._output])
        self.c_slider.observe(self._redraw, names="value")
        self.penalty_toggle.observe(self._redraw, names="value")
        self._redraw()

    @property
    def C(self) -> float:
        return float(self.c_slider.value)

    @property
    def penalty(self) -> str:
        return self.penalty_toggle.value

    @property
    def minimiser(self) -> float:
        """The minimiser of the current penalised objective."""
        return float(penalised_minimiser(self.a, self.b, self.C, self.penalty))

    @property
    def window(self) -> tuple[float, float]:
        lo, hi = sorted((self.a, self.b))
        return lo - 3.0, hi + 3.0

    def _summary(self) -> str:
        a, b, C, x = self.a, self.b, self.C, self.minimiser
        if self.penalty == "squared":
            return (f"Squared penalty: x* = (a + C·b)/(1 + C) = <b>{fmt(x, 4)}</b>; distance to b = "
                    f"|a − b|/(1 + C) = {fmt(abs(x - b), 3)}. As C grows, x* → b = {fmt(b)}: "
                    "the penalty is ≥ 0 and zero only where the constraint holds.")
        off = "" if self.window[0] <= x <= self.window[1] else " (off the plot)"
        return (f"Linear penalty: x* = a − C/2 = <b>{fmt(x, 4)}</b>{off}; distance to b = "
                f"{fmt(abs(x - b), 3)}. As C grows, x* runs off to −∞, not to b = {fmt(b)}: "
                "C(x − b) is negative for x &lt; b, so it rewards breaking the constraint. "
                f"Only C = 2(a − b) = {fmt(2 * (a - b))} happens to land on b.")

    def _redraw(self, change=None) -> None:
        self._svg = self._draw()
        self._output.value = (
            f'<div class="dlbricks-penalty" data-penalty="{esc(self.penalty)}" data-c="{self.C:g}" '
            f'data-minimiser="{self.minimiser:.6g}"><p class="penalty-summary" style="margin:4px 0">'
            f'{self._summary()}</p>{self._svg}</div>')

    def _draw(self) -> str:
        a, b, C, kind = self.a, self.b, self.C, self.penalty
        fig, ax, side = _two_panels(8.4, 3.3)
        lo, hi = self.window
        x = np.linspace(lo, hi, 400)
        loss = (x - a) ** 2
        term = C * (x - b) ** 2 if kind == "squared" else C * (x - b)
        total = loss + term
        (g1,) = ax.plot(x, loss, "--", color="0.55", lw=1.0, label="(x − a)²")
        g1.set_gid("loss-term")
        name = "C(x − b)²" if kind == "squared" else "C(x − b)"
        (g2,) = ax.plot(x, term, ":", color="tab:blue", lw=1.0, label=name)
        g2.set_gid("penalty-term")
        (g3,) = ax.plot(x, total, "-", color="tab:red", lw=1.8, label=f"(x − a)² + {name}")
        g3.set_gid("objective-curve")
        top = 1.3 * max((lo - a) ** 2, (hi - a) ** 2)
        # the linear penalty goes negative: leave room below zero to see it run off
        bottom = -0.6 * top if kind == "linear" else -0.08 * top
        ax.set_ylim(bottom, top)
        ax.axhline(0, color="0.8", lw=0.6)
        g4 = ax.axvline(b, color="black", lw=0.8)
        g4.set_gid("constraint-line")
        ax.axvline(a, color="0.7", lw=0.6, ls=":")
        ax.text(b, bottom + 0.02 * (top - bottom), " x = b", fontsize=7, va="bottom")
        ax.text(a, bottom + 0.02 * (top - bottom), " a", fontsize=7, va="bottom")
        x_star = self.minimiser
        if lo <= x_star <= hi:
            y_star = float(penalised_objective(x_star, a, b, C, kind))
            (g5,) = ax.plot([x_star], [min(max(y_star, bottom), top)], "o", color="tab:red",
                            ms=7, markeredgecolor="black", label=f"minimiser x* = {fmt(x_star, 3)}")
            g5.set_gid("minimiser-point")
        else:
            edge = lo if x_star < lo else hi
            g5 = ax.annotate(f"x* = {fmt(x_star, 4)}\n(off the plot)", xy=(edge, 0.5 * bottom),
                             xytext=(edge + (0.25 if x_star < lo else -0.25) * (hi - lo), 0.5 * bottom),
                             fontsize=7, ha="center", va="center",
                             arrowprops={"arrowstyle": "->", "color": "tab:red"})
            g5.set_gid("minimiser-offscreen")
        ax.set_xlim(lo, hi)
        ax.set_xlabel("x")
        ax.set_ylabel("objective")
        ax.set_title(f"a = {fmt(a)}, b = {fmt(b)}, C = {fmt(C)}: {kind} penalty", fontsize=9)
        ax.legend(fontsize=6.5, loc="upper center", framealpha=0.9)

        # Right: the minimiser against C, for both penalties.
        cs = np.geomspace(1e-2, 1e3, 200)
        (s1,) = side.semilogx(cs, penalised_minimiser(a, b, cs, "squared"), color="tab:green",
                              lw=1.5, label="squared → b")
        s1.set_gid("minimiser-vs-c-squared")
        (s2,) = side.semilogx(cs, penalised_minimiser(a, b, cs, "linear"), color="tab:purple",
                              lw=1.5, label="linear → −∞")
        s2.set_gid("minimiser-vs-c-linear")
        side.axhline(b, color="black", lw=0.8, ls="--")
        side.axhline(a, color="0.6", lw=0.6, ls=":")
        side.text(1e3, b, "b ", fontsize=7, ha="right", va="bottom")
        side.text(1e3, a, "a ", fontsize=7, ha="right", va="bottom")
        marker_y = min(max(x_star, lo), hi)
        (s3,) = side.plot([C], [marker_y], "o", color="tab:red", ms=6, markeredgecolor="black")
        s3.set_gid("current-c")
        side.set_ylim(lo, hi)
        side.set_xlabel("C (log scale)")
        side.set_ylabel("minimiser x*")
        side.set_title("where the minimum sits", fontsize=9)
        side.legend(fontsize=7, loc="lower left")
        return figure_to_svg(fig)
