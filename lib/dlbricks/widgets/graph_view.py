"""GraphView: a ``dlbricks.graph`` graph drawn as SVG, walked forward then backward.

The picture is laid out by level (:func:`dlbricks.graph.parallel_levels`):
leaves in the left column, the output in the right one. Every node is a box
with its op (or name), its value after the forward pass and its gradient
after the backward pass; every edge parent -> child carries

* the local derivative d child / d parent (when both are single numbers),
  known as soon as the forward pass has computed the child, and
* the gradient the child sends back to the parent in the backward pass
  (``child.grad * local derivative``, i.e. :func:`dlbricks.graph.local_gradients`).

Nodes in the same column (same level) do not depend on each other, so a
runtime could compute them at the same time; each column gets its own band
of colour and the legend says so.

The Step button walks the forward pass (topological order, one node per
click) and then the backward pass (reverse order), highlighting the current
node. Sliders for scalar leaves change their value *in place*, recompute the
forward pass (and the backward pass, when gradients were shown) and redraw.

The SVG uses stable classes and data attributes so that tests and a browser
can find things: ``<g class="node" data-op="mul" data-index="3" data-level="1">``,
``<g class="edge" data-from="0" data-to="3" data-slot="0" data-local="..." data-grad="...">``,
``class="node current"`` for the highlighted node, ``class="level-band"`` per
level and ``class="notice"`` for the "gradients not computed yet" message.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import graph
from .render import View, esc, fmt

__all__ = ["GraphView"]

# Box and grid geometry (SVG user units = pixels at 100 %).
BOX_W, BOX_H = 118, 58
COL_GAP, ROW_GAP = 104, 20
MARGIN, TOP, LEGEND_H = 16, 44, 100
MIN_WIDTH = 560
# The drawing never widens the output area: it scales to the cell's width (viewBox), down
# to MIN_SCALE of its natural size; a wider overview scrolls inside its own area while the
# buttons and the step sentence stay put. While a pass is walked, the picture is a window
# of WINDOW_W units that follows the current node.
WINDOW_W = 960
MIN_SCALE = 0.6
COL_W, ROW_H = BOX_W + COL_GAP, BOX_H + ROW_GAP

LEVEL_FILLS = ("#edf3fb", "#fdf2e4", "#ecf7ee", "#f5edfa", "#fbeef0", "#eaf6f7")
LEAF_STROKES = {"variable": "#2e7d32", "const": "#607d8b", "placeholder": "#1565c0"}
OP_STROKE, CURRENT_STROKE = "#37474f", "#e65100"
GRAD_COLOUR = "#c62828"
EDGE_FONT = 9.5
CHAR_W = 0.62  # average glyph width of a sans-serif digit, in font sizes (a safe over-estimate)



def _symbol(op: str) -> str:
    """How an op is written in its box: its ``graph.OPS`` symbol, else its name."""
    spec = graph.OPS.get(op)
    return spec.symbol if spec is not None and spec.symbol else op


def _infix(op: str) -> str | None:
    spec = graph.OPS.get(op)
    return spec.infix if spec is not None else None


def _is_scalar(value: np.ndarray | None) -> bool:
    return value is not None and np.size(value) == 1


def _number(value: np.ndarray) -> float:
    return float(np.asarray(value).reshape(-1)[0])


def _summary(value: np.ndarray | None) -> str:
    """A value short enough for a box: the number, or the array's shape."""
    if value is None:
        return "?"
    if _is_scalar(value):
        return fmt(_number(value), 4)
    return f"shape {tuple(np.shape(value))}"


def _grad_summary(grad: np.ndarray | None) -> str:
    if grad is None:
        return "?"
    if _is_scalar(grad):
        return fmt(_number(grad), 4)
    return f"\u2016\u00b7\u2016 {fmt(float(np.linalg.norm(grad)), 3)}"


def _long(value: np.ndarray | None) -> str:
    """A value for the status line: the whole array when small."""
    if value is None:
        return "not computed"
    if _is_scalar(value):
        return fmt(_number(value), 5)
    return np.array2string(np.asarray(value), precision=3, threshold=12, edgeitems=2)


class GraphView(View):
    """Draw a ``dlbricks.graph`` graph and step through its forward and backward pass.

    Parameters
    ----------
    output : dlbricks.graph.Tensor
        The node to draw with everything it depends on (usually the loss ``z``).
        Eager graphs draw at once; a symbolic graph needs one ``Session().run``
        first so that its placeholders hold values.
    inputs : dict name -> Tensor, or a sequence of Tensors, optional
        Leaves (holding one number each) that get a slider. By default every
        scalar leaf that has a name or requires a gradient gets one.
    title : str, optional
        Shown above the buttons.

    Attributes
    ----------
    step_button, back_button, reset_button : ipywidgets.Button
        Walk forward (then backward) one node, undo one step, go back to the
        overview.
    sliders : dict name -> ipywidgets.FloatSlider
        One per scalar input; moving it sets the leaf's value in place and
        recomputes the graph.
    widget : ipywidgets.VBox
        What the notebook displays.
    position : int or None
        None for the overview (everything known is shown); ``0 .. n-1`` while
        the forward pass is walked, ``n .. 2n-1`` while the backward pass is.

    Notes
    -----
    The backward walk recomputes the gradients from zero (``zero_grad`` then
    ``backward``) so that it never shows gradients accumulated by earlier
    calls. A non-scalar output is differentiated as the sum of its entries
    (upstream gradient ``np.ones_like(output.value)``).
    """

    def __init__(self, output: graph.Tensor, inputs: Mapping[str, graph.Tensor] | Sequence[graph.Tensor] | None = None,
                 *, title: str | None = None):
        if not isinstance(output, graph.Tensor):
            raise TypeError(f"GraphView draws a dlbricks.graph.Tensor, got {type(output).__name__}: "
                            "build the expression from graph.Tensor values first.")
        if output.op in ("grad", "sgd"):
            raise ValueError(f"GraphView draws computations; {output.op!r} nodes are Session "
                             "instructions. Draw the loss tensor instead.")
        self.output = output
        views = graph.walk(output)  # topological order, with parent indices and levels
        self.nodes = [v.node for v in views]
        self.levels = [v.level for v in views]
        self.parents = [v.parents for v in views]
        self._positions = self._layout()
        self.inputs = self._choose_inputs(inputs)
        self.position: int | None = None
        self._build_controls(title)
        self._refresh()

    # -- public state ------------------------------------------------------------
    @property
    def phase(self) -> str:
        """"overview", "forward" or "backward"."""
        if self.position is None:
            return "overview"
        return "forward" if self.position < len(self.nodes) else "backward"

    @property
    def current(self) -> int | None:
        """Index (topological order) of the highlighted node, or None."""
        n = len(self.nodes)
        if self.position is None:
            return None
        return self.position if self.position < n else 2 * n - 1 - self.position

    @property
    def svg(self) -> str:
        """The current drawing as an ``<svg>`` string."""
        return self._draw()

    @property
    def html(self) -> str:
        """The drawing in a ``<div>`` that scrolls it sideways when it is too wide (what the widget shows)."""
        return (f'<div class="dlbricks-graph-view" style="overflow-x:auto;max-width:100%">'
                f'{self.svg}</div>')

    def static_html(self) -> str:
        """The step sentence and the drawing, as the notebook keeps them for static views."""
        return (f'<div class="dlbricks-static"><p class="graph-status">{esc(self.status)}</p>'
                f'{self.html}</div>')

    def viewbox(self) -> tuple[float, float, float, float]:
        """(x, y, width, height) of the part of the drawing shown now, in SVG units.

        The whole drawing in the overview; while a pass is walked and the drawing is
        wider than ``WINDOW_W``, a window of that width centred on the current node.
        """
        width, height = self._size()
        i = self.current
        if i is None or width <= WINDOW_W:
            return 0.0, 0.0, width, height
        centre = self._positions[i][0] + BOX_W / 2
        x = min(max(centre - WINDOW_W / 2, 0.0), width - WINDOW_W)
        return x, 0.0, float(WINDOW_W), height

    @property
    def status(self) -> str:
        """One or two sentences on what the current step does (plain text)."""
        return self._status_text()

    def gradients_ready(self) -> bool:
        """True when a backward pass has filled ``.grad`` of the nodes that need one."""
        return any(n.grad is not None for n in self.nodes if n.requires_grad)

    # -- actions -------------------------------------------------------------------
    def step(self) -> None:
        """Advance one node: forward in topological order, then backward in reverse."""
        if not self._values_ready():  # nothing to walk: the status line says why
            self._refresh()
            return
        n = len(self.nodes)
        if self.position is None:
            self.position = 0
        elif self.position + 1 < 2 * n:
            self.position += 1
        else:
            self.position = None
        if self.position == n:
            self._run_backward()
        self._refresh()

    def back(self) -> None:
        """Undo one step (from the first forward step back to the overview)."""
        if self.position is None:
            return
        self.position = self.position - 1 if self.position > 0 else None
        self._refresh()

    def reset(self) -> None:
        """Leave the walk and show the overview again."""
        self.position = None
        self._refresh()

    def set_input(self, name: str, value: float) -> None:
        """Give the input leaf ``name`` a new value and recompute (what a slider does)."""
        if name not in self.inputs:
            raise KeyError(f"{name!r} is not an input of this view; inputs are {sorted(self.inputs)}.")
        leaf = self.inputs[name]
        dtype = leaf.value.dtype if leaf.value is not None else np.float64
        shape = leaf.value.shape if leaf.value is not None else ()
        leaf.value = np.full(shape, value, dtype=dtype)
        self.recompute()
        slider = self.sliders.get(name)
        if slider is not None and slider.value != value:
            slider.value = value  # keeps the slider in step when called from code

    def recompute(self) -> None:
        """Run the forward pass again (and the backward pass, when gradients were shown)."""
        had_grads = self.gradients_ready()
        if self._values_ready():
            feeds = {n: n.value for n in self.nodes if n.op == "placeholder"}
            with np.errstate(all="ignore"):
                graph.Session().run(self.output, feeds)
            if had_grads or self.phase == "backward":
                self._run_backward()
        self._refresh()

    # -- ipywidgets plumbing ---------------------------------------------------------
    def _build_controls(self, title: str | None) -> None:
        import ipywidgets as W

        self.step_button = W.Button(description="Step \u25b6", tooltip="forward pass node by node, then backward")
        self.back_button = W.Button(description="\u25c0 Back", tooltip="undo one step")
        self.reset_button = W.Button(description="Reset", tooltip="leave the walk: show the overview")
        self.step_button.on_click(lambda _b: self.step())
        self.back_button.on_click(lambda _b: self.back())
        self.reset_button.on_click(lambda _b: self.reset())
        self.sliders: dict[str, Any] = {}
        for name, leaf in self.inputs.items():
            v = _number(leaf.value)
            lo, hi = min(-3.0, v - 3.0), max(3.0, v + 3.0)
            slider = W.FloatSlider(value=v, min=lo, max=hi, step=0.01, description=name,
                                   continuous_update=True, readout_format=".2f")
            slider.observe(lambda change, name=name: self._on_slider(name, change), names="value")
            self.sliders[name] = slider
        self.status_html = W.HTML(layout=W.Layout(min_height="3em"))
        # the picture takes the output's width and no more: only the drawing scrolls
        self.picture = W.HTML(layout=W.Layout(width="100%", max_width="100%"))
        rows = [W.HTML(f"<b>{esc(title)}</b>")] if title else []
        rows.append(W.HBox([self.back_button, self.step_button, self.reset_button]))
        if self.sliders:
            rows.append(W.HBox(list(self.sliders.values()), layout=W.Layout(flex_flow="row wrap")))
        rows += [self.status_html, self.picture]
        self.widget = W.VBox(rows, layout=W.Layout(width="100%", max_width="100%"))

    def _on_slider(self, name: str, change: Mapping[str, Any]) -> None:
        leaf = self.inputs[name]
        if leaf.value is not None and _number(leaf.value) == change["new"]:
            return
        self.set_input(name, float(change["new"]))

    def _refresh(self) -> None:
        self.picture.value = self.html
        self.status_html.value = f'<span class="graph-status">{esc(self.status)}</span>'

    # -- graph bookkeeping -----------------------------------------------------------
    def _choose_inputs(self, inputs) -> dict[str, graph.Tensor]:
        leaves = [n for n in self.nodes if not n.parents]
        if inputs is None:
            chosen = {}
            for i, n in enumerate(self.nodes):
                if not n.parents and _is_scalar(n.value) and (n.name or n.requires_grad):
                    chosen[n.name or f"leaf #{i}"] = n
            return chosen
        pairs = inputs.items() if isinstance(inputs, Mapping) else ((t.name, t) for t in inputs)
        chosen = {}
        for name, t in pairs:
            if not isinstance(t, graph.Tensor) or not any(t is leaf for leaf in leaves):
                raise ValueError(f"input {name!r} must be a leaf Tensor of the drawn graph "
                                 "(a value the expression starts from, not a computed node).")
            if not _is_scalar(t.value):
                raise ValueError(f"input {name!r} holds shape {t.shape}: sliders move single numbers, "
                                 "so pass only scalar leaves in inputs.")
            if not name:
                raise ValueError("every input needs a name: pass inputs as a dict name -> Tensor "
                                 "or give the tensors names.")
            chosen[str(name)] = t
        return chosen

    def _values_ready(self) -> bool:
        return all(n.value is not None for n in self.nodes if n.op == "placeholder")

    def _run_backward(self) -> None:
        if not self._values_ready() or not self.output.requires_grad:
            return
        graph.zero_grad(self.nodes)
        seed = None if _is_scalar(self.output.value) else np.ones_like(self.output.value)
        with np.errstate(all="ignore"):
            self.output.backward(seed)

    def _edge_gradients(self, i: int) -> tuple:
        """What node i sent to each parent slot in the last backward pass."""
        return tuple(g for _, g in graph.local_gradients(self.nodes[i]))

    def local_derivatives(self, i: int) -> tuple[float | None, ...]:
        """d node_i / d parent for each parent slot, when both are single numbers (else None)."""
        node = self.nodes[i]
        values = [p.value for p in node.parents]
        if (node.op not in graph.OPS or not _is_scalar(node.value)
                or not all(_is_scalar(v) for v in values)):
            return (None,) * len(node.parents)
        with np.errstate(all="ignore"):
            local = graph.OPS[node.op].backward(np.ones_like(node.value), node.value, *values, **node.attrs)
        return tuple(None if d is None else _number(d) for d in local)

    # -- what is visible at the current step -------------------------------------------
    def _visible(self) -> tuple[set[int], set[int]]:
        """(nodes whose value is shown, nodes whose gradient is shown)."""
        n, pos = len(self.nodes), self.position
        everyone = set(range(n))
        if pos is None:
            return everyone, (everyone if self.gradients_ready() else set())
        if pos < n:
            return set(range(pos + 1)), set()
        return everyone, set(range(2 * n - 1 - pos, n))

    def _status_text(self) -> str:
        if not self._values_ready():
            return ("values not computed yet: this graph has placeholders without values. Run it once "
                    "with graph.Session().run(output, feed_dict) and draw it again.")
        n = len(self.nodes)
        who = self.output.name or "z"
        if self.position is None:
            if not self.output.requires_grad:
                return ("No tensor in this graph requires a gradient, so there is no backward pass: "
                        "make the leaves with requires_grad=True (or graph.variable).")
            if not self.gradients_ready():
                return (f"gradients not computed yet: {self._how_to_get_gradients()}. Values are "
                        "from the forward pass; columns are levels of nodes that could run in parallel.")
            return (f"Overview: values from the forward pass and gradients d{who}/d(node) from the "
                    "backward pass. Press Step to walk through both passes.")
        i = self.current
        node = self.nodes[i]
        label = self._label(i)
        if self.phase == "forward":
            head = f"Forward step {self.position + 1}/{n}: "
            if not node.parents:
                return head + f"#{i} {label} is a leaf holding {_long(node.value)}."
            return head + f"#{i} {label} computes {self._formula(i)}."
        head = f"Backward step {self.position - n + 1}/{n}: "
        if node.grad is None:
            return head + f"#{i} {label} needs no gradient (nothing upstream requires one)."
        text = head + f"#{i} {label} has d{who}/d(#{i}) = {_long(node.grad)}"
        if i == n - 1:
            text += " (the seed of the backward pass)"
        sends = []
        for slot, (p, g_sent, local) in enumerate(zip(self.parents[i], self._edge_gradients(i),
                                                     self.local_derivatives(i))):
            if g_sent is None:
                continue
            if local is not None and _is_scalar(node.grad):
                sends.append(f"{fmt(_number(node.grad), 4)} \u00d7 {fmt(local, 4)} = "
                             f"{fmt(_number(g_sent), 4)} to #{p} {self._label(p)}")
            else:
                sends.append(f"{_grad_summary(g_sent)} to #{p} {self._label(p)}")
        if sends:
            text += "; by the chain rule it sends " + ", ".join(sends)
        if self.position == n:
            text += ". (Gradients were recomputed from zero for this walk.)"
        return text + "."

    def _symbolic(self) -> bool:
        return any(n.op in ("placeholder", "variable") for n in self.nodes)

    def _how_to_get_gradients(self) -> str:
        who = self.output.name or "z"
        if self._symbolic():  # a session graph: gradients come from grad nodes run in a Session
            return ("press Step through the backward pass (in session style, run "
                    f"graph.gradients({who}, ...) in a Session to compute them)")
        return f"call {who}.backward() or press Step through the backward pass"

    def _label(self, i: int) -> str:
        node = self.nodes[i]
        if not node.parents:
            return node.name or node.op
        return f"{node.name} = {node.op}" if node.name else node.op

    def _formula(self, i: int) -> str:
        node = self.nodes[i]
        args = [_long(p.value) if _is_scalar(p.value) else f"#{j}" for p, j in zip(node.parents, self.parents[i])]
        if _infix(node.op) and len(args) == 2:
            expr = f"{args[0]} {_infix(node.op)} {args[1]}"
        elif node.op == "pow":
            expr = f"{args[0]} ** {fmt(node.attrs['exponent'])}"
        else:
            expr = f"{node.op}({', '.join(args)})"
        return f"{expr} = {_long(node.value)}"

    # -- drawing ---------------------------------------------------------------------
    def _layout(self) -> list[tuple[float, float]]:
        """Top-left corner of each box: column = level, rows chosen for few edge crossings.

        Each computed node sits near the mean height of its parents. The leaves' order is
        then improved a few times by the barycentre rule (each leaf moves towards the mean
        height of the nodes it feeds), and the placement with the fewest crossings is kept.
        """
        leaves = [i for i, lvl in enumerate(self.levels) if lvl == 0]
        children: dict[int, list[int]] = {i: [] for i in range(len(self.nodes))}
        for i, parents in enumerate(self.parents):
            for p in parents:
                children[p].append(i)
        best_y, best_crossings = None, None
        order = leaves
        for _ in range(4):
            y = self._place(order)
            crossings = self._count_crossings(y)
            if best_crossings is None or crossings < best_crossings:
                best_y, best_crossings = y, crossings
            if crossings == 0:
                break
            centre = {i: float(np.mean([y[c] for c in children[i]])) if children[i] else y[i] for i in order}
            new_order = sorted(order, key=lambda i: (centre[i], order.index(i)))
            if new_order == order:
                break
            order = new_order
        return [(MARGIN + self.levels[i] * COL_W, TOP + best_y[i]) for i in range(len(self.nodes))]

    def _place(self, leaf_order: list[int]) -> dict[int, float]:
        """Heights (top of each box, from 0) for leaves in ``leaf_order``, the rest near their parents."""
        columns: dict[int, list[int]] = {}
        for i, lvl in enumerate(self.levels):
            columns.setdefault(lvl, []).append(i)
        y: dict[int, float] = {i: k * ROW_H for k, i in enumerate(leaf_order)}
        for lvl in sorted(columns):
            if lvl == 0:
                continue
            members = columns[lvl]
            desired = {i: float(np.mean([y[p] for p in self.parents[i]])) for i in members}
            last = -np.inf
            for i in sorted(members, key=lambda i: (desired[i], i)):
                y[i] = max(desired[i], last + ROW_H)
                last = y[i]
        return y

    def _count_crossings(self, y: Mapping[int, float]) -> int:
        """Pairs of edges that cross between two neighbouring columns (long edges interpolated)."""
        spans = []
        for i, parents in enumerate(self.parents):
            k = len(parents)
            for slot, p in enumerate(parents):
                y0 = y[p] + BOX_H / 2
                y1 = y[i] + BOX_H * (slot + 1) / (k + 1)
                spans.append((self.levels[p], self.levels[i], y0, y1))

        def height(span, lvl):
            lp, li, y0, y1 = span
            return y0 + (y1 - y0) * (lvl - lp) / (li - lp)

        count = 0
        for a in range(len(spans)):
            for b in range(a + 1, len(spans)):
                lo = max(spans[a][0], spans[b][0])
                hi = min(spans[a][1], spans[b][1])
                for lvl in range(lo, hi):
                    before = height(spans[a], lvl) - height(spans[b], lvl)
                    after = height(spans[a], lvl + 1) - height(spans[b], lvl + 1)
                    if before * after < 0:
                        count += 1
        return count

    def crossings(self) -> int:
        """How many pairs of edges cross in the drawing (a measure of its readability)."""
        n = len(self.nodes)
        return self._count_crossings({i: self._positions[i][1] - TOP for i in range(n)})

    def _size(self) -> tuple[float, float]:
        """Natural (width, height) of the whole drawing in SVG units (= px at 100 %)."""
        n_levels = max(self.levels) + 1
        width = max(MIN_WIDTH, 2 * MARGIN + n_levels * COL_W - COL_GAP)
        bottom = max(yy for _, yy in self._positions) + BOX_H
        return float(width), float(bottom + 14 + LEGEND_H)

    def _draw(self) -> str:
        width, height = self._size()
        bottom = max(yy for _, yy in self._positions) + BOX_H
        vx, vy, vw, vh = self.viewbox()
        n_levels = max(self.levels) + 1
        values_shown, grads_shown = self._visible()
        body = ['<defs><marker id="dlb-arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" '
                'markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#78909c"/></marker></defs>']
        body += self._draw_levels(n_levels, bottom)
        body.append('<g class="edges">')
        for i in range(len(self.nodes)):
            for slot, p in enumerate(self.parents[i]):
                body.append(self._draw_edge(p, i, slot, i in values_shown, i in grads_shown))
        body.append("</g>")
        body.append('<g class="nodes">')
        for i in range(len(self.nodes)):
            body.append(self._draw_node(i, i in values_shown, i in grads_shown))
        body.append("</g>")
        body += self._draw_legend(bottom + 14, vx)
        # width 100 % of the output, at most the natural size, at least MIN_SCALE of it
        style = f"width:100%;max-width:{vw:g}px;min-width:{MIN_SCALE * vw:g}px;height:auto;display:block"
        return (f'<svg class="dlbricks-svg graph-view" xmlns="http://www.w3.org/2000/svg" '
                f'viewBox="{vx:g} {vy:g} {vw:g} {vh:g}" width="{vw:g}" height="{vh:g}" '
                f'preserveAspectRatio="xMinYMin meet" style="{style}" font-family="sans-serif">\n'
                + "\n".join(body) + "\n</svg>")

    def _draw_levels(self, n_levels: int, bottom: float) -> list[str]:
        parts = ['<g class="levels">']
        for lvl in range(n_levels):
            x = MARGIN + lvl * COL_W - 8
            count = self.levels.count(lvl)
            fill = LEVEL_FILLS[lvl % len(LEVEL_FILLS)]
            parts.append(f'<rect class="level-band" data-level="{lvl}" data-count="{count}" x="{x:g}" y="6" '
                         f'width="{BOX_W + 16:g}" height="{bottom - 6 + 6:g}" rx="8" fill="{fill}"/>')
            what = "leaves" if lvl == 0 else f"level {lvl}"
            parts.append(f'<text class="level-label" x="{x + (BOX_W + 16) / 2:g}" y="22" font-size="11" '
                         f'text-anchor="middle" fill="#455a64">{esc(what)}: {count} in parallel</text>')
        parts.append("</g>")
        return parts

    def _port(self, i: int, slot: int | None) -> tuple[float, float]:
        x, y = self._positions[i]
        if slot is None:  # right side, middle: where the output leaves
            return x + BOX_W, y + BOX_H / 2
        k = len(self.parents[i])
        return x, y + BOX_H * (slot + 1) / (k + 1)

    def _free_lane(self, level: int, y: float) -> float:
        """A height near ``y`` where an edge can cross column ``level`` without hiding behind a box."""
        boxes = [self._positions[j][1] for j, lvl in enumerate(self.levels) if lvl == level]
        for top in boxes:
            if top - 6 <= y <= top + BOX_H + 6:
                above, below = top - ROW_GAP / 2, top + BOX_H + ROW_GAP / 2
                return above if abs(y - above) <= abs(y - below) else below
        return y

    def _edge_path(self, p: int, i: int, slot: int) -> tuple[str, tuple[float, float], float]:
        """SVG path of edge p -> i: curves in the gaps, straight through the columns it crosses.

        Returns the path, the child's port and where the final straight stretch (the label's
        place) starts.
        """
        x0, y0 = self._port(p, None)
        x1, y1 = self._port(i, slot)
        xm = x1 - 0.72 * COL_GAP
        points = [(x0, y0)]
        lp, li = self.levels[p], self.levels[i]
        for lvl in range(lp + 1, li):
            left = MARGIN + lvl * COL_W
            lane = self._free_lane(lvl, y0 + (y1 - y0) * (lvl - lp) / (li - lp))
            points += [(left - 6, lane), (left + BOX_W + 6, lane)]
        points.append((xm, y1))
        d = [f"M{x0:g},{y0:g}"]
        for k, ((xa, ya), (xb, yb)) in enumerate(zip(points, points[1:])):
            if k % 2:  # across a column, in its free lane
                d.append(f"L{xb:g},{yb:g}")
            else:      # in a gap between columns
                bend = (xb - xa) / 2
                d.append(f"C{xa + bend:g},{ya:g} {xb - bend:g},{yb:g} {xb:g},{yb:g}")
        d.append(f"L{x1 - 1:g},{y1:g}")
        return " ".join(d), (x1, y1), xm

    def _draw_edge(self, p: int, i: int, slot: int, child_computed: bool, child_visited: bool) -> str:
        path, (x1, y1), xm = self._edge_path(p, i, slot)
        local = self.local_derivatives(i)[slot] if child_computed else None
        sent = self._edge_gradients(i)[slot] if child_visited else None
        attrs = f'class="edge" data-from="{p}" data-to="{i}" data-slot="{slot}"'
        labels = []
        if local is not None:
            attrs += f' data-local="{local!r}"'
            labels.append(f'<tspan class="edge-local" fill="#37474f">\u2202 {esc(fmt(local, 3))}</tspan>')
        if sent is not None:
            attrs += f' data-grad="{_number(sent)!r}"' if _is_scalar(sent) else ""
            attrs += f' data-grad-shape="{esc(tuple(np.shape(sent)))}"'
            text = fmt(_number(sent), 3) if _is_scalar(sent) else _grad_summary(sent)
            labels.append(f'<tspan class="edge-grad" fill="{GRAD_COLOUR}"> \u2190 {esc(text)}</tspan>')
        out = [f"<g {attrs}>",
               f'<path d="{path}" fill="none" stroke="#90a4ae" stroke-width="1.4" marker-end="url(#dlb-arrow)"/>']
        if labels:
            out.append(self._edge_label(labels, xm, x1, y1))
        out.append("</g>")
        return "".join(out)

    @staticmethod
    def _edge_label(labels: list[str], xm: float, x1: float, y1: float) -> str:
        """The edge's label on its last straight stretch, squeezed to fit between the boxes."""
        text = re.sub(r"<[^>]+>", "", "".join(labels))
        room = x1 - xm - 4  # the stretch lies in the gap between two columns: never over a box
        fit = ""
        if EDGE_FONT * CHAR_W * len(text) > room:  # a long number: squeeze the glyphs, keep them all
            fit = f' textLength="{room:g}" lengthAdjust="spacingAndGlyphs"'
        return (f'<text class="edge-label" x="{(xm + x1) / 2:g}" y="{y1 - 3:g}" font-size="{EDGE_FONT:g}" '
                f'text-anchor="middle"{fit}>{"".join(labels)}</text>')

    def _draw_node(self, i: int, value_shown: bool, grad_shown: bool) -> str:
        node = self.nodes[i]
        x, y = self._positions[i]
        leaf = not node.parents
        classes = ["node", "leaf" if leaf else "op"]
        if i == self.current:
            classes.append("current")
        stroke = LEAF_STROKES.get(node.op, OP_STROKE) if leaf else OP_STROKE
        width = 1.4
        if i == self.current:
            stroke, width = CURRENT_STROKE, 3.5
        attrs = (f'class="{" ".join(classes)}" data-op="{esc(node.op)}" data-index="{i}" '
                 f'data-level="{self.levels[i]}"')
        if node.name:
            attrs += f' data-name="{esc(node.name)}"'
        value = node.value if value_shown else None
        if _is_scalar(value):
            attrs += f' data-value="{_number(value)!r}"'
        elif value is not None:
            attrs += f' data-shape="{esc(tuple(np.shape(value)))}"'
        grad_text, grad_fill = "grad: not yet", "#9e9e9e"
        if grad_shown:
            if node.grad is not None:
                grad_text, grad_fill = f"grad {_grad_summary(node.grad)}", GRAD_COLOUR
                if _is_scalar(node.grad):
                    attrs += f' data-grad="{_number(node.grad)!r}"'
            else:
                grad_text = "no grad (constant)"
        if leaf:
            title = node.name or node.op
            kind = node.op if node.op != "const" or not node.requires_grad else "leaf"
        else:
            sym = _symbol(node.op)
            title = f"{node.name} = {node.op}" if node.name else sym
            kind = ""
        tip = f"#{i} {self._label(i)} (level {self.levels[i]})"
        fill = "#fff8e1" if i == self.current else "#ffffff"
        size = 13.0 if len(title) <= 14 else max(8.0, round(13.0 * 14 / len(title), 1))  # fit the box
        return "".join([
            f'<g {attrs}><title>{esc(tip)}</title>',
            f'<rect x="{x:g}" y="{y:g}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{width:g}"/>',
            f'<text x="{x + 4:g}" y="{y + 11:g}" font-size="9" fill="#90a4ae">#{i}{" " + kind if kind else ""}</text>',
            f'<text class="node-op" x="{x + BOX_W / 2:g}" y="{y + 24:g}" font-size="{size:g}" font-weight="bold" '
            f'text-anchor="middle" fill="#263238">{esc(title)}</text>',
            f'<text class="node-value" x="{x + BOX_W / 2:g}" y="{y + 39:g}" font-size="11" text-anchor="middle" '
            f'fill="#263238">{esc(_summary(value) if value_shown else "value ?")}</text>',
            f'<text class="node-grad" x="{x + BOX_W / 2:g}" y="{y + 52:g}" font-size="11" text-anchor="middle" '
            f'fill="{grad_fill}">{esc(grad_text)}</text>',
            "</g>",
        ])

    def _draw_legend(self, top: float, left: float = 0.0) -> list[str]:
        who = self.output.name or "z"
        lines = [
            "Columns are levels: the nodes in one column do not depend on each other,",
            "so they could run in parallel.  Box: op or name, value (forward pass),",
            f"grad = d{who}/d(node) (backward pass).  Edge: \u2202 = local derivative",
            "d child / d parent;  \u2190 = gradient sent back to the parent (chain rule).",
            "Arrays show their shape, and the size \u2016\u00b7\u2016 (Euclidean norm) of their gradient.",
        ]
        parts = ['<g class="legend">']
        for k, line in enumerate(lines):
            parts.append(f'<text x="{left + MARGIN:g}" y="{top + 12 + 15 * k:g}" font-size="11" fill="#455a64">'
                         f"{esc(line)}</text>")
        if self.position is None and self._values_ready() and self.output.requires_grad \
                and not self.gradients_ready():
            parts.append(f'<text class="notice" x="{left + MARGIN:g}" y="{top + 12 + 15 * len(lines):g}" '
                         f'font-size="12" font-weight="bold" fill="{GRAD_COLOUR}">gradients not computed '
                         f"yet: {esc(self._how_to_get_gradients())}</text>")
        elif not self._values_ready():
            parts.append(f'<text class="notice" x="{left + MARGIN:g}" y="{top + 12 + 15 * len(lines):g}" font-size="12" '
                         f'font-weight="bold" fill="{GRAD_COLOUR}">values not computed yet: run '
                         "graph.Session().run(output, feed_dict) first</text>")
        parts.append("</g>")
        return parts
