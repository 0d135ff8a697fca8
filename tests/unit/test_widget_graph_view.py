"""GraphView: one box per node, Step order, edge gradients, sliders, the before-backward notice."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip("ipywidgets")

from dlbricks import graph as G  # noqa: E402
from dlbricks.widgets import GraphView  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


def _exp_graph(a=2.0, x=3.0, b=-1.0, y=4.0, c=0.5):
    """z = exp(a*x + b*y + c) with every leaf named and differentiable."""
    leaves = {name: G.Tensor(v, requires_grad=True, name=name)
              for name, v in dict(a=a, x=x, b=b, y=y, c=c).items()}
    z = G.exp(leaves["a"] * leaves["x"] + leaves["b"] * leaves["y"] + leaves["c"])
    z.name = "z"
    return z, leaves


def _groups(svg: str, cls: str) -> list[ET.Element]:
    root = ET.fromstring(svg)  # also proves the drawing is well-formed XML
    return [g for g in root.iter(f"{SVG}g") if cls in g.get("class", "").split()]


def _nodes(view: GraphView) -> list[ET.Element]:
    return _groups(view.svg, "node")


def _current(view: GraphView) -> list[int]:
    return [int(g.get("data-index")) for g in _groups(view.svg, "current")]


@pytest.mark.parametrize("build", [
    lambda: G.Tensor(1.0, requires_grad=True, name="x") + G.Tensor(2.0, requires_grad=True, name="y"),
    lambda: _exp_graph()[0].parents[0],            # a*x + b*y + c
    lambda: _exp_graph()[0],                        # exp(a*x + b*y + c)
])
def test_one_box_per_node_with_its_op(build):
    z = build()
    order = G.topological_order(z)
    boxes = _nodes(GraphView(z))
    assert len(boxes) == len(order)
    assert [g.get("data-op") for g in sorted(boxes, key=lambda g: int(g.get("data-index")))] == \
        [n.op for n in order]


def test_levels_are_parallel_levels_and_each_has_a_band():
    z, _ = _exp_graph()
    view = GraphView(z)
    levels = G.parallel_levels(z)
    order = G.topological_order(z)
    for g in _nodes(view):
        assert int(g.get("data-level")) == levels[order[int(g.get("data-index"))]]
    root = ET.fromstring(view.svg)
    bands = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "level-band"]
    assert sorted(int(r.get("data-level")) for r in bands) == list(range(max(levels.values()) + 1))
    # the two products a*x and b*y share level 1: they could run in parallel
    level1 = next(r for r in bands if r.get("data-level") == "1")
    assert level1.get("data-count") == "2"


def test_before_backward_it_says_so_instead_of_showing_zeros():
    z, _ = _exp_graph()
    view = GraphView(z)
    assert "gradients not computed yet" in view.svg
    assert "call z.backward()" in view.status
    assert all(g.get("data-grad") is None for g in _nodes(view))
    z.backward()
    view = GraphView(z)
    assert "gradients not computed yet" not in view.svg
    grads = {g.get("data-name"): float(g.get("data-grad")) for g in _nodes(view) if g.get("data-name")}
    e = np.exp(2.5)
    assert grads == pytest.approx({"a": 3 * e, "x": 2 * e, "b": 4 * e, "y": -e, "c": e, "z": 1.0})


def test_step_walks_forward_in_topological_order_then_backward_in_reverse():
    z, _ = _exp_graph()
    view = GraphView(z)
    n = len(G.topological_order(z))
    assert _current(view) == []
    seen = []
    for _ in range(2 * n):
        view.step_button.click()
        seen.append((view.phase, _current(view)))
    assert seen == [("forward", [i]) for i in range(n)] + [("backward", [i]) for i in reversed(range(n))]
    view.step_button.click()  # past the end: back to the overview, everything shown
    assert view.phase == "overview" and _current(view) == []
    assert "gradients not computed yet" not in view.svg


def test_forward_walk_reveals_values_one_node_at_a_time():
    z, _ = _exp_graph()
    view = GraphView(z)
    view.step()
    view.step()
    view.step()  # node #2 = a*x is current
    shown = {int(g.get("data-index")): g.get("data-value") for g in _nodes(view)}
    assert [i for i, v in shown.items() if v is not None] == [0, 1, 2]
    assert float(shown[2]) == 6.0
    assert "2 \u00d7 3 = 6" in view.status
    view.back_button.click()
    assert _current(view) == [1]
    view.reset_button.click()
    assert view.phase == "overview" and _current(view) == []


def test_edge_labels_equal_local_gradients_during_the_backward_walk():
    z, leaves = _exp_graph()
    view = GraphView(z)
    order = G.topological_order(z)
    n = len(order)
    for _ in range(n + 3):  # forward walk, then the output, #8 and #7 (c) backward
        view.step()
    for edge in _groups(view.svg, "edge"):
        child = order[int(edge.get("data-to"))]
        parent = order[int(edge.get("data-from"))]
        visited = int(edge.get("data-to")) >= n - 3
        if visited:
            sent_parent, sent = G.local_gradients(child)[int(edge.get("data-slot"))]
            assert sent_parent is parent
            assert float(edge.get("data-grad")) == pytest.approx(float(sent))
        else:
            assert edge.get("data-grad") is None  # the backward pass has not reached it yet
    # the local derivative of exp is exp itself; of a*x with respect to a it is x
    edges = {(int(e.get("data-from")), int(e.get("data-to"))): e for e in _groups(view.svg, "edge")}
    assert float(edges[(8, 9)].get("data-local")) == pytest.approx(np.exp(2.5))
    assert float(edges[(0, 2)].get("data-local")) == pytest.approx(3.0)
    # and the walk's gradients are fresh, not accumulated on top of an earlier backward()
    assert leaves["a"].grad is None or leaves["a"].grad == pytest.approx(3 * np.exp(2.5))


def test_a_node_that_uses_the_same_parent_twice_gets_two_edges():
    x = G.Tensor(3.0, requires_grad=True, name="x")
    z = x * x
    z.backward()
    view = GraphView(z)
    edges = _groups(view.svg, "edge")
    assert [(e.get("data-from"), e.get("data-to"), e.get("data-slot")) for e in edges] == \
        [("0", "1", "0"), ("0", "1", "1")]
    assert [float(e.get("data-grad")) for e in edges] == [3.0, 3.0]  # together dz/dx = 2x = 6
    assert x.grad == pytest.approx(6.0)


def test_backward_walk_recomputes_gradients_from_zero():
    z, leaves = _exp_graph()
    z.backward()
    z.backward()  # the accumulation pitfall: grads are now doubled
    assert leaves["a"].grad == pytest.approx(6 * np.exp(2.5))
    view = GraphView(z)
    for _ in range(len(G.topological_order(z)) + 1):
        view.step()
    assert leaves["a"].grad == pytest.approx(3 * np.exp(2.5))


def test_slider_changes_the_input_and_everything_updates():
    z, leaves = _exp_graph()
    z.backward()
    view = GraphView(z)
    assert sorted(view.sliders) == ["a", "b", "c", "x", "y"]
    before = view.svg
    view.sliders["a"].value = 1.0  # as if the student dragged it
    assert view.svg != before
    w = 1.0 * 3.0 - 4.0 + 0.5
    assert z.value == pytest.approx(np.exp(w))
    out = next(g for g in _nodes(view) if g.get("data-name") == "z")
    assert float(out.get("data-value")) == pytest.approx(np.exp(w))
    a_box = next(g for g in _nodes(view) if g.get("data-name") == "a")
    assert float(a_box.get("data-grad")) == pytest.approx(3.0 * np.exp(w))  # backward redone too
    view.set_input("y", 0.0)
    assert view.sliders["y"].value == 0.0
    assert z.value == pytest.approx(np.exp(3.0 + 0.5))


def test_slider_before_backward_keeps_the_notice():
    z, _ = _exp_graph()
    view = GraphView(z)
    view.sliders["c"].value = 1.5
    assert z.value == pytest.approx(np.exp(6.0 - 4.0 + 1.5))
    assert "gradients not computed yet" in view.svg


def test_inputs_dict_chooses_the_sliders_and_rejects_computed_nodes():
    z, leaves = _exp_graph()
    view = GraphView(z, inputs={"weight a": leaves["a"]})
    assert list(view.sliders) == ["weight a"]
    with pytest.raises(ValueError, match="leaf"):
        GraphView(z, inputs={"inner": z.parents[0]})


def test_small_network_with_arrays_draws_shapes_and_no_sliders():
    rng = np.random.default_rng(0)
    X = G.constant(rng.normal(size=(4, 2)), name="X")
    W1, b1 = G.variable(rng.normal(size=(2, 3)), name="W1"), G.variable(np.zeros(3), name="b1")
    W2, b2 = G.variable(rng.normal(size=(3, 2)), name="W2"), G.variable(np.zeros(2), name="b2")
    loss = G.softmax_cross_entropy(G.relu(X @ W1 + b1) @ W2 + b2, np.array([0, 1, 1, 0]))
    loss.backward()
    view = GraphView(loss)
    assert view.sliders == {}
    boxes = {g.get("data-name"): g for g in _nodes(view) if g.get("data-name")}
    assert boxes["W1"].get("data-shape") == "(2, 3)"
    ops = sorted(g.get("data-op") for g in _nodes(view))
    assert ops.count("matmul") == 2 and ops.count("variable") == 4
    for _ in range(2 * len(view.nodes)):
        view.step()  # walks arrays too, without errors
    assert view.phase == "backward" and view.current == 0


def test_symbolic_graph_without_values_explains_itself():
    x = G.placeholder((None,), name="x")
    w = G.variable(2.0, name="w")
    loss = G.mean((w * x) ** 2)
    view = GraphView(loss)
    assert "values not computed yet" in view.status
    view.step()
    assert view.phase == "overview"
    G.Session().run(loss, {"x": np.array([1.0, 2.0])})
    view = GraphView(loss)
    assert "gradients not computed yet" in view.svg
    view.set_input("w", 1.0)
    assert loss.value == pytest.approx(2.5)


def test_non_tensor_output_is_refused_with_a_sentence():
    with pytest.raises(TypeError, match="dlbricks.graph.Tensor"):
        GraphView(3.0)


def test_an_edge_that_skips_a_level_does_not_run_behind_a_box():
    t = {n: G.Tensor(v, requires_grad=True, name=n) for n, v in dict(a=2.0, x=3.0, b=-1.0).items()}
    q = t["a"] * t["x"] + t["b"]
    z = q * q + q            # q -> z skips the level of q*q, which sits at q's height
    view = GraphView(z)
    boxes = [(float(r.get("x")), float(r.get("y")), float(r.get("width")), float(r.get("height")))
             for g in _nodes(view) for r in g.iter(f"{SVG}rect")]
    for edge in _groups(view.svg, "edge"):
        path = next(edge.iter(f"{SVG}path")).get("d")
        for (xa, ya), (xb, yb) in _straight_stretches(path):
            for bx, by, bw, bh in boxes:  # a straight stretch must not cross any box
                inside_x = min(xa, xb) < bx + bw - 1 and max(xa, xb) > bx + 1
                assert not (inside_x and by < ya < by + bh), (path, (bx, by))


def _straight_stretches(path: str) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The horizontal "L" segments of an SVG path made of M, C and L commands."""
    tokens = path.replace("M", " M ").replace("C", " C ").replace("L", " L ").split()
    point, command, pending, stretches = None, None, [], []
    for tok in tokens:
        if tok in ("M", "C", "L"):
            command, pending = tok, []
            continue
        xy = tuple(map(float, tok.split(",")))
        pending.append(xy)
        if command == "L" and point is not None and point[1] == xy[1]:
            stretches.append((point, xy))
        if command in ("M", "L") or len(pending) == 3:
            point = xy
    return stretches
