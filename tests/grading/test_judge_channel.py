"""The proxy channel with library objects: dlbricks.graph tensors, sessions, library functions
and tf.Variables cross as copies, both sides through the real code (the student's side's
``serve`` and the judge's decoder), without a kernel in between."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dlbricks import graph as G

from autograder.sandbox_runner import codec, student_side
from autograder.sandbox_runner.judge_process import Channel, ProxyError, encode_argument


def call_student(function, *args):
    """Call ``function`` as the judge calls a student's function: request, serve, decode."""
    sent: dict = {}
    request = {"op": "call", "h": student_side._handle(function), "args": encode_argument(list(args), sent)}
    student_side.serve(json.dumps(request))
    return Channel(None, None).decode_answer(student_side.last, sent)


def answer_with(ok, sync=None, sent=None):
    text = json.dumps({"ok": ok} if sync is None else {"ok": ok, "sync": sync})
    return Channel(None, None).decode_answer(text, sent or {})


def dense(x, W, b, activation=None):
    z = G.matmul(x, W) + b
    return z if activation is None else activation(z)


def test_a_graph_built_on_the_judges_nodes_comes_back_on_those_nodes():
    rng = np.random.default_rng(0)
    xv, Wv, bv = rng.normal(size=(5, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    X, W, b = G.placeholder((None, 3), name="X"), G.variable(Wv, name="W"), G.variable(bv, name="b")
    out = call_student(dense, X, W, b, G.relu)  # G.relu crosses by name
    assert type(out) is G.Tensor and out.op == "relu"
    leaves = [n for n in G.topological_order(out) if not n.parents]
    assert {id(n) for n in leaves} == {id(X), id(W), id(b)}  # the judge's own placeholder and variables
    assert np.allclose(G.Session().run(out, {X: xv}), np.maximum(xv @ Wv + bv, 0))
    dW, db = G.Session().run(G.grad(G.mean(out), [W, b]), {X: xv})  # differentiated in the judge
    assert dW.shape == (3, 2) and db.shape == (2,)
    # Several results share their nodes; eager graphs are computed again on arrival.
    p, loss = call_student(lambda z: (G.sigmoid(z), G.mean(G.sigmoid(z))), G.constant(xv[:, 0]))
    assert np.allclose(loss.value, p.value.mean())


def test_variables_the_students_code_changes_come_back_as_values():
    def train(sess, op, X, Y, x, y, steps):
        for _ in range(steps):
            sess.run(op, feed_dict={X: x, Y: y})
        return steps

    X, Y = G.placeholder((None, 2), name="X"), G.placeholder((None,), name="Y")
    v = G.variable(np.zeros(2), name="v")
    op = G.sgd(G.mean((G.matmul(X, v) - Y) ** 2), [v], lr=0.1)
    x = np.random.default_rng(1).normal(size=(20, 2))
    assert call_student(train, G.Session(), op, X, Y, x, x @ np.array([1.0, -2.0]), 300) == 300
    assert np.allclose(v.value, [1.0, -2.0], atol=1e-3)  # the judge's own variable, trained there


def test_a_tf_variable_changed_in_place_comes_back():
    tf = pytest.importorskip("tensorflow")

    def step(variables, lr):
        variables[0].assign_sub(lr * tf.ones_like(variables[0]))
        return float(tf.reduce_sum(variables[0]))

    w = tf.Variable(np.ones(3, np.float32))
    assert call_student(step, [w], 0.25) == pytest.approx(2.25)
    assert np.allclose(w.numpy(), 0.75) and w.dtype == tf.float32


def test_hostile_graphs_and_variable_values_are_refused_with_a_reason():
    with pytest.raises(ProxyError, match="unknown operation"):
        answer_with({"$g": [{"k": "s1", "op": "system", "p": [], "a": {"$d": []}}]})
    with pytest.raises(ProxyError, match="not sent before"):
        answer_with({"$g": [{"k": "s1", "op": "relu", "p": ["s0"], "a": {"$d": []}}]})
    with pytest.raises(ProxyError, match="not sent"):
        answer_with({"$g": [{"k": 12345}]})
    with pytest.raises(ProxyError, match="garbled"):
        answer_with({"$g": [{"k": "s1", "op": "const", "p": [], "a": {"$d": []}, "v": "x", "extra": 1}]})
    # A value claimed for a computed node is not read: the judge computes it from the inputs.
    two = {"$a": "<f8", "s": [], "b": "AAAAAAAAAEA="}
    node = answer_with({"$g": [{"k": "s1", "op": "const", "p": [], "a": {"$d": []}, "v": two},
                               {"k": "s2", "op": "add", "p": ["s1", "s1"], "a": {"$d": []},
                                "v": codec.encode(np.array(100.0))}]})
    assert float(node.value) == 4.0
    with pytest.raises(ProxyError, match="cannot be computed"):
        answer_with({"$g": [{"k": "s1", "op": "const", "p": [], "a": {"$d": []}, "v": two},
                            {"k": "s2", "op": "add", "p": ["s1"], "a": {"$d": []}}]})
    # Variable values: only for variables the judge sent, each in its own shape.
    v = G.variable(np.zeros(3))
    with pytest.raises(ProxyError, match="not sent"):
        answer_with(None, [[1, codec.encode(np.ones(3))]], {id(v): v})
    with pytest.raises(ProxyError, match="shape"):
        answer_with(None, [[id(v), codec.encode(np.ones(4))]], {id(v): v})
    assert np.all(v.value == 0)
    answer_with(None, [[id(v), codec.encode(np.ones(3, np.float32))]], {id(v): v})
    assert v.value.dtype == np.float64 and np.all(v.value == 1)


def test_graph_size_is_bounded(monkeypatch):
    monkeypatch.setattr(codec, "MAX_GRAPH_NODES", 50)
    chain = G.constant(1.0)
    for _ in range(60):
        chain = chain + 1.0
    with pytest.raises(codec.CodecError, match="more than 50"):
        codec.encode(chain, lambda n: codec.encode_graph(n, lambda m: (id(m), False)))


def test_only_course_library_functions_cross_by_name():
    assert encode_argument(G.tanh) == {"$fn": ["dlbricks.graph", "tanh"]}
    with pytest.raises(TypeError, match="cannot be passed"):
        encode_argument(lambda z: z)
    with pytest.raises(TypeError, match="cannot be passed"):
        encode_argument(np.linalg.solve)
    with pytest.raises(codec.CodecError):
        codec.decode({"$fn": ["os", "system"]})
