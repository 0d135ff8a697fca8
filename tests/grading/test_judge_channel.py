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


def test_course_library_functions_cross_by_name_and_objects_of_the_test_do_not_cross():
    assert encode_argument(G.tanh) == {"$fn": ["dlbricks.graph", "tanh"]}
    own = lambda z: z  # noqa: E731 - the test's own function: called back, not sent
    assert encode_argument(own) == {"$jf": id(own)}
    with pytest.raises(TypeError, match="cannot be passed"):
        encode_argument(G.Session().run)  # a method of an object of the test
    with pytest.raises(TypeError, match="cannot be passed"):
        encode_argument(object())
    with pytest.raises(codec.CodecError):
        codec.decode({"$fn": ["os", "system"]})


def test_the_judge_imports_tensorflow_only_when_code_uses_it(monkeypatch):
    import sys

    from autograder.sandbox_runner import judge_process
    from autograder.sandbox_runner.judge_process import LazyModule, lazy_imports

    code = lazy_imports("import numpy as np\nimport tensorflow as tf\nimport matplotlib.pyplot as plt\nx = 1")
    assert "__lazy_module__('tensorflow')" in code and "__lazy_module__('matplotlib.pyplot')" in code
    assert "import numpy as np" in code
    assert lazy_imports("import os, tensorflow") == "import os, tensorflow"  # mixed: left as written
    monkeypatch.setattr(judge_process, "LAZY_LIBRARIES", ("keras_never_installed_here",))
    namespace = {"__lazy_module__": LazyModule}
    exec(lazy_imports("import json as j\nimport keras_never_installed_here as k"), namespace)
    assert isinstance(namespace["k"], LazyModule) and "keras_never_installed_here" not in sys.modules
    with pytest.raises(ModuleNotFoundError):
        namespace["k"].anything  # the import happens, and fails, on first use


def test_the_lessons_own_setup_code_prints_nothing_in_the_judge_so_printing_a_version_imports_nothing():
    from autograder.sandbox_runner.judge_process import transform

    setup = ("import tensorflow as tf\nimport numpy as np\n"
             "print('quick mode:', QUICK, '| TensorFlow', tf.__version__, f'{np.pi:.2f}')\n"
             "print(train())\nx = 1")
    code = transform(setup, setup=True)
    assert "tf.__version__" not in code  # would import TensorFlow; nobody sees the set-up's output
    assert "print(train())" in code and "x = 1" in code  # a call may change lesson state: kept
    assert "tf.__version__" in transform(setup)  # a test's prints are the student's feedback: kept
    namespace = {"__lazy_module__": LazyModuleStandIn, "QUICK": True, "train": lambda: "trained"}
    exec(compile(code, "<setup>", "exec"), namespace)
    assert namespace["tf"].read == []  # TensorFlow never touched


class LazyModuleStandIn:
    def __init__(self, name: str) -> None:
        self.read: list[str] = []

    def __getattr__(self, attr: str):
        self.read.append(attr)
        raise AssertionError(f"the set-up read {attr}")


def test_a_function_of_the_test_is_called_back_with_plain_data_only():
    channel = Channel(None, None)
    grad = lambda x: 2 * np.asarray(x) - 6.0  # noqa: E731
    sent: dict = {}
    assert encode_argument(grad, sent) == {"$jf": id(grad)}
    call = {"$call": id(grad), "args": codec.encode([np.array([1.0, 4.0])]), "kwargs": codec.encode({})}
    answer = json.loads(channel.call_back(json.dumps(call), sent))
    assert np.array_equal(codec.decode(answer["ok"]), [-4.0, 2.0])
    # Only the functions sent with this request, only called, only with plain data.
    for garbage in ({**call, "$call": 1}, {**call, "extra": 1}, {**call, "args": {"$h": 1, "t": "x", "c": True}},
                    "not json"):
        answer = json.loads(channel.call_back(garbage if isinstance(garbage, str) else json.dumps(garbage), sent))
        assert "raised" in answer and "ok" not in answer
    v = G.variable(np.zeros(2))
    answer = json.loads(channel.call_back(json.dumps({**call, "$call": id(v)}), {id(v): v}))
    assert "not a call of a function the test passed" in answer["message"]
    # An exception of the test's function comes back as its builtin type and message.
    bad = {"$call": id(grad), "args": codec.encode(["text"]), "kwargs": codec.encode({})}
    assert json.loads(channel.call_back(json.dumps(bad), sent))["bases"][0] in ("UFuncTypeError", "TypeError")
    # While the student's code calls back, the judge does not turn to the student's objects.
    channel.in_callback = True
    with pytest.raises(ProxyError, match="calls back"):
        channel.request({"op": "get", "name": "x"})


def test_the_students_side_calls_the_judge_through_input(monkeypatch):
    """The student's side of a call back: the request as an input prompt, the answer decoded."""
    import types

    from IPython.core import getipython

    channel, sent = Channel(None, None), {}
    grad = lambda x: 2 * x - 6.0  # noqa: E731
    kernel = types.SimpleNamespace(raw_input=lambda prompt: channel.call_back(prompt, sent))
    monkeypatch.setattr(getipython, "get_ipython", lambda: types.SimpleNamespace(kernel=kernel))
    monkeypatch.setattr(codec, "RECEIVES_JUDGE_FUNCTIONS", True)
    function = codec.decode(json.loads(json.dumps(encode_argument(grad, sent))))
    assert isinstance(function, codec.JudgeFunction) and function(5.0) == 4.0
    with pytest.raises(TypeError):
        function("text")
    monkeypatch.setattr(codec, "RECEIVES_JUDGE_FUNCTIONS", False)  # the judge never makes one
    with pytest.raises(codec.CodecError):
        codec.decode({"$jf": id(grad)})
