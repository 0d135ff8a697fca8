"""Forbidden calls: what an exercise rules out is found however the student reaches it.

The static analysis (``find_uses``) is what the grader's parent process runs on the
submitted cells, so each way round it a student might try has its own test here; the
runtime recorder (``record_calls``) and the check used in test cells follow.
"""
from __future__ import annotations

import numpy as np
import pytest

from dlbricks import check
from dlbricks.check.calls import canonical, find_uses, record_calls

SIGMOID_RULES = ["dlbricks.losses.sigmoid", "np.exp"]
OWN_SIGMOID = "import numpy as np\ndef sigmoid(z):\n    z = np.asarray(z, dtype=float)\n    return 1 / (1 + np.e ** (-z))"


def uses(cells, function="sigmoid", forbidden=SIGMOID_RULES):
    return [u.name for u in find_uses(cells, function, forbidden)]


def test_declared_names_are_spelled_out():
    assert canonical("np.sum") == "numpy.sum" and canonical("tf.matmul") == "tensorflow.matmul"
    assert canonical("@") == "@" and canonical(".sum") == ".sum"
    with pytest.raises(ValueError, match="numpy.sum"):
        canonical("")


def test_own_code_passes():
    assert uses(["import numpy as np\nX = np.exp(3.0)", OWN_SIGMOID]) == []


@pytest.mark.parametrize("cells", [
    pytest.param(["import numpy as np", "def sigmoid(z):\n    return 1 / (1 + np.exp(-z))"], id="direct"),
    pytest.param(["from dlbricks.losses import sigmoid"], id="the import is the answer"),
    pytest.param(["from dlbricks.losses import sigmoid as s", "def sigmoid(z):\n    return s(z)"],
                 id="import-as"),
    pytest.param(["import dlbricks.losses as L\nf = L.sigmoid", "def sigmoid(z):\n    return f(z)"],
                 id="module-level alias"),
    pytest.param(["import dlbricks\ndef sigmoid(z):\n    return getattr(dlbricks.losses, 'sig' + 'moid')(z)"],
                 id="getattr with a constant string"),
    pytest.param(["import numpy as np\ndef sigmoid(z):\n    return vars(np)['exp'](z)"], id="vars()[...]"),
    pytest.param(["import numpy as np\ndef sigmoid(z):\n    return np.__dict__['exp'](z)"], id="__dict__[...]"),
    pytest.param(["def sigmoid(z):\n    from dlbricks import losses\n    return losses.sigmoid(z)"],
                 id="import inside the function"),
    pytest.param(["def sigmoid(z):\n    return __import__('numpy').exp(-z)"], id="__import__"),
    pytest.param(["import importlib\ndef sigmoid(z):\n    m = importlib.import_module('dlbricks.losses')\n"
                  "    return m.sigmoid(z)"], id="importlib.import_module"),
    pytest.param(["import numpy\ndef helper(z):\n    return numpy.exp(z)",
                  "def sigmoid(z):\n    return 1 / (1 + helper(-z))"], id="helper in another cell"),
    pytest.param(["import numpy as np\nimport functools\nex = functools.partial(np.exp)",
                  "def sigmoid(z):\n    return 1 / (1 + ex(-z))"], id="partial"),
    pytest.param(["import numpy as np\nex = lambda v: np.exp(v)", "def sigmoid(z):\n    return 1 / (1 + ex(-z))"],
                 id="lambda"),
    pytest.param(["import dlbricks.losses\ndef sigmoid(z, f=dlbricks.losses.sigmoid):\n    return f(z)"],
                 id="default argument"),
    pytest.param(["from numpy.core.umath import exp as e\ndef sigmoid(z):\n    return 1 / (1 + e(-z))"],
                 id="re-export (same object)"),
    pytest.param(["%matplotlib inline\nimport numpy as np", "def sigmoid(z):\n    return np.exp(z)"],
                 id="cell with IPython magic"),
    pytest.param(["import numpy as np\nclass K:\n    def go(self, z):\n        return np.exp(z)",
                  "def sigmoid(z):\n    return K().go(z)"], id="method of a class"),
])
def test_each_way_round_is_found(cells):
    assert uses(cells), cells


def test_code_the_check_cannot_read_counts_as_a_use():
    from dlbricks.check.calls import HIDDEN_CODE, HIDDEN_NAME

    assert uses(["import numpy as np\ndef sigmoid(z):\n    return eval('np.e' + 'xp(-z)')"]) == [HIDDEN_CODE]
    assert uses(["import numpy as np\ndef sigmoid(z, name='exp'):\n    return getattr(np, name)(z)"]) == [HIDDEN_NAME]
    assert uses(["def sigmoid(z, m='numpy'):\n    return __import__(m).exp(z)"]) == [HIDDEN_NAME]
    assert uses(["import sys\ndef sigmoid(z):\n    return sys.modules['numpy'].exp(z)"]) == ["numpy.exp"]
    assert uses(["exec('def sigmoid(z):\\n    import dlbricks.losses as L\\n    return L.sigmoid(z)')"]) == [HIDDEN_CODE]
    # a computed attribute of something that is not one of the declared packages is the student's business
    assert uses(["def sigmoid(z, attr='real'):\n    return getattr(z, attr)"]) == []


def test_values_computed_at_module_level_are_data_not_calls():
    # E was computed with np.exp once; the function itself only raises a number to a power
    cells = ["import numpy as np\nE = np.exp(1.0)\nX = np.exp(np.zeros(3))",
             "def sigmoid(X):\n    return 1 / (1 + E ** (-X))"]
    assert uses(cells) == []


def test_the_last_definition_counts():
    """A cell run again after an edit (or a later cell) replaces the earlier definition."""
    assert uses(["from dlbricks.losses import sigmoid", OWN_SIGMOID]) == []
    assert uses([OWN_SIGMOID, "from dlbricks.losses import sigmoid"]) == ["dlbricks.losses.sigmoid"]


def test_matmul_operator_and_methods():
    assert uses(["def mm(A, B):\n    return A @ B"], "mm", ["@"]) == ["@"]
    assert uses(["def mm(A, B):\n    import operator\n    return operator.matmul(A, B)"], "mm", ["@"]) == ["@"]
    assert uses(["def mm(A, B):\n    return A.__matmul__(B)"], "mm", ["@"]) == ["@"]
    assert uses(["def s(a):\n    return getattr(a, 'sum')(axis=0)"], "s", [".sum"]) == [".sum"]
    assert uses(["def s(a):\n    return a.sum(axis=0)"], "s", [".sum", "np.sum"]) == [".sum"]
    assert uses(["def mm(A, B):\n    return [[sum(a * b for a, b in zip(r, c)) for c in zip(*B)] for r in A]"],
                "mm", ["@", "np.matmul", ".sum"]) == []


def test_where_it_is_said():
    (use,) = find_uses(["import numpy as np", "def sigmoid(z):\n    t = -z\n    return 1 / (1 + np.exp(t))"],
                       "sigmoid", ["np.exp"])
    assert (use.function, use.cell, use.line, use.code) == ("sigmoid", 2, 3, "np.exp")
    assert "sigmoid uses numpy.exp" in str(use) and "cell 2, line 3" in str(use)


def test_unparsable_cells_and_missing_functions_find_nothing():
    assert uses(["def sigmoid(z:\n    return np.exp(z)"]) == []
    assert uses(["import numpy as np"]) == []


# --------------------------------------------------------------------------
# What actually runs
# --------------------------------------------------------------------------
def _notebook(code: str) -> dict:
    namespace: dict = {"__name__": "__main__"}
    exec(compile(code, "<cell>", "exec"), namespace)
    return namespace


def test_calls_are_recorded_through_any_alias():
    ns = _notebook("import numpy as np\nfrom numpy import exp as E\n"
                   "def a(z):\n    return np.exp(z)\n"
                   "def b(z):\n    return E(z)\n"
                   "def c(z):\n    return getattr(np, 'ex' + 'p')(z)\n"
                   "def d(z):\n    return np.tanh(z)\n")
    for name in "abc":
        assert record_calls(ns[name], ["np.exp"], (np.zeros(2),)) == (["numpy.exp"], None), name
    assert record_calls(ns["d"], ["np.exp"], (np.zeros(2),)) == ([], None)
    assert ns["E"] is np.exp and np.exp.__class__ is np.ufunc  # everything put back


def test_calls_inside_libraries_are_not_the_students():
    ns = _notebook("import numpy as np\ndef m(z):\n    return np.mean(z)")  # np.mean may use sum internally
    assert record_calls(ns["m"], ["np.sum"], (np.ones(3),)) == ([], None)


def test_the_error_of_the_call_is_returned():
    ns = _notebook("def f(z):\n    raise NotImplementedError")
    seen, error = record_calls(ns["f"], ["np.exp"], (1.0,))
    assert seen == [] and isinstance(error, NotImplementedError)


# --------------------------------------------------------------------------
# The check in a test cell
# --------------------------------------------------------------------------
def test_check_forbidden_fails_at_once_naming_the_call(monkeypatch):
    import dlbricks.check.calls as calls

    ns = _notebook("import numpy as np\ndef sigmoid(z):\n    return 1 / (1 + np.exp(-z))")
    monkeypatch.setattr(calls, "_notebook_cells", lambda f: ["import numpy as np",
                                                             "def sigmoid(z):\n    return 1 / (1 + np.exp(-z))"])
    with pytest.raises(AssertionError) as info:
        check.forbidden(ns["sigmoid"], "np.exp", args=(np.zeros(2),), label="sigmoid writes exp itself")
    message = str(info.value)
    assert message.startswith("sigmoid writes exp itself") and "numpy.exp" in message and "`np.exp`" in message


def test_check_forbidden_passes_own_code_and_records_it(monkeypatch, tmp_path):
    import dlbricks.check.calls as calls

    ns = _notebook(OWN_SIGMOID)
    monkeypatch.setattr(calls, "_notebook_cells", lambda f: [OWN_SIGMOID])
    record = tmp_path / "records.jsonl"
    monkeypatch.setenv(check.RECORD_ENV, str(record))
    check.forbidden(ns["sigmoid"], *SIGMOID_RULES, args=(np.zeros(2),))
    line = record.read_text().splitlines()[-1]
    assert check.rejudge(line, line)
    bad = line.replace('"actual":[]', '"actual":["sigmoid uses numpy.exp: `np.exp`"]')
    passed, message = check.rejudge_details(bad, line)
    assert not passed and "numpy.exp" in message


def test_check_forbidden_catches_the_library_function_itself(monkeypatch):
    import dlbricks.check.calls as calls
    from dlbricks.losses import sigmoid

    monkeypatch.setattr(calls, "_notebook_cells", lambda f: [])
    with pytest.raises(AssertionError, match="dlbricks.losses.sigmoid"):
        check.forbidden(sigmoid, "dlbricks.losses.sigmoid")


def test_check_forbidden_lets_an_unsolved_exercise_say_so(monkeypatch):
    import dlbricks.check.calls as calls

    ns = _notebook("def sigmoid(z):\n    raise NotImplementedError")
    monkeypatch.setattr(calls, "_notebook_cells", lambda f: ["def sigmoid(z):\n    raise NotImplementedError"])
    with pytest.raises(NotImplementedError):
        check.forbidden(ns["sigmoid"], "np.exp", args=(0.0,))


def test_check_forbidden_rejects_a_bad_declaration():
    with pytest.raises(ValueError, match="forbidden"):
        check.forbidden(len)
