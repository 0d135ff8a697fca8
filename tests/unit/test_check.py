"""Tests for dlbricks.check: hints on the usual mistakes and the grading record."""
from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

from dlbricks import check


def failure(fn, *args, **kwargs) -> str:
    """Run a check that must fail and return its message."""
    with pytest.raises(AssertionError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    ez = np.exp(z - z.max(axis=axis, keepdims=True))
    return ez / ez.sum(axis=axis, keepdims=True)


RNG = np.random.default_rng(0)  # replaced in every test by its own seeded generator


@pytest.fixture(autouse=True)
def _test_seeded_rng(rng, monkeypatch):
    # The values a test draws depend on that test alone, not on what its xdist worker ran before.
    monkeypatch.setattr(sys.modules[__name__], "RNG", rng)
X = RNG.normal(size=(5, 3))
W = RNG.normal(size=(3, 4))
B = RNG.normal(size=4)
DENSE = X @ W + B


# --------------------------------------------------------------------------
# Right answers pass silently
# --------------------------------------------------------------------------
def test_right_answers_pass_and_print_nothing(capsys):
    check.close(X @ W + B, DENSE, label="dense")
    check.close(DENSE.astype(np.float32), DENSE, label="float32 is close enough")
    check.close([1.0, 2.0], np.array([1.0, 2.0]))
    check.close(np.array([[0.5]]), 0.5, label="one number in a (1, 1) array")
    check.close({"W": W, "b": B}, {"W": W.copy(), "b": B.copy()}, label="grads")
    check.equal(np.array([0, 1, 2]), [0, 1, 2], label="labels")
    check.equal(3, 3.0)
    check.equal("relu", "relu")
    check.shape(DENSE, (5, 4))
    check.shape(DENSE, (None, 4))
    check.probabilities(softmax(DENSE))
    check.at_least(0.9, 0.8)
    check.at_most(0.1, 0.2)
    check.is_true(np.all(DENSE == DENSE))
    check.returns_value(0)
    check.gradient(lambda x: np.sum(x ** 3), np.array([1.0, -2.0]), np.array([3.0, 12.0]))
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_failure_prints_nothing_and_names_the_label(capsys):
    message = failure(check.close, DENSE + 1e-3 * RNG.normal(size=DENSE.shape), DENSE,
                      label="dense_forward(X)")
    assert message.startswith("dense_forward(X): ")
    assert "expected: shape (5, 4)" in message and "actual:   shape (5, 4)" in message
    assert "max abs error" in message and "max rel error" in message
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_unrelated_wrong_answer_gets_no_hint():
    wrong = RNG.normal(size=DENSE.shape)
    message = failure(check.close, wrong, DENSE)
    assert "Hint" not in message


# --------------------------------------------------------------------------
# One test per hint: it fires on its mistake
# --------------------------------------------------------------------------
def test_hint_transposed_same_shape():
    square = RNG.normal(size=(3, 3))
    assert "transpose" in failure(check.close, square.T, square)


def test_hint_transposed_reversed_shape():
    message = failure(check.close, DENSE.T, DENSE)
    assert "expected shape (5, 4), got shape (4, 5)" in message
    assert "transpose of the expected one" in message


def test_hint_transposed_in_shape_check():
    assert "reversed" in failure(check.shape, np.zeros((4, 5)), (5, 4))


def test_hint_missing_bias_row_vector():
    message = failure(check.close, X @ W, DENSE)
    assert "missing bias" in message and "(4,)" in message


def test_hint_constant_offset():
    y = np.array([0.3, 1.7, -2.0, 5.0])
    assert "same constant (+0.5)" in failure(check.close, y + 0.5, y)


def test_hint_sum_instead_of_mean():
    errors = RNG.normal(size=8)
    mse = np.mean(errors ** 2)
    assert "sum where a mean was wanted (over 8 samples)" in failure(
        check.close, np.sum(errors ** 2), mse)


def test_hint_gradient_not_divided_by_batch_size():
    grad = RNG.normal(size=(3, 2))
    assert "divide by the batch size" in failure(check.close, 32 * grad, grad)


def test_hint_mean_instead_of_sum():
    values = RNG.uniform(1, 2, size=6)
    assert "1/6" in failure(check.close, values.mean(), values.sum())


def test_hint_wrong_sign():
    grad = RNG.normal(size=(3, 2))
    assert "opposite sign" in failure(check.close, -grad, grad)


def test_hint_factor_two_and_half():
    grad = RNG.normal(size=5)
    assert "twice the expected" in failure(check.close, 2 * grad, grad)
    assert "half the expected" in failure(check.close, grad / 2, grad)


def test_hint_probabilities_do_not_sum_to_one():
    z = RNG.normal(size=(4, 3))
    p = softmax(z)
    message = failure(check.close, np.exp(z) / 2.0, p)
    assert "sum to 1" in message
    message = failure(check.probabilities, np.exp(z) / 10.0)
    assert "sums along axis -1" in message and "divide by the sum" in message


def test_one_vector_summing_to_one_gets_the_normalisation_hint_only_on_evidence():
    expected = np.array([0.2, 0.3, 0.5])  # weights or a split as much as probabilities
    assert "sum to 1" not in failure(check.close, np.array([0.3, 0.3, 0.5]), expected)
    message = failure(check.close, np.array([2.0, 3.0, 5.0]), expected)
    assert "proportional to them but sum to 10" in message and "divide by their sum" in message


def test_integer_division_hint_on_a_single_number_needs_truncation():
    assert "cut off" in failure(check.close, 0, 0.97)      # correct // total
    assert "cut off" in failure(check.close, 2, 2.75)
    assert "cut off" not in failure(check.close, 1.0, 0.97)  # rounded up: not integer division


def test_hint_softmax_over_wrong_axis():
    z = RNG.normal(size=(4, 3))
    wrong = softmax(z, axis=0)
    assert "wrong axis" in failure(check.close, wrong, softmax(z))
    assert "wrong axis" in failure(check.probabilities, wrong)


def test_hint_logits_instead_of_probabilities():
    z = RNG.normal(size=(4, 3))
    assert "returned the logits" in failure(check.close, z, softmax(z))
    assert "logits" in failure(check.probabilities, z)


def test_hint_missing_sigmoid():
    z = np.array([-1.0, 0.5, 2.0])
    assert "sigmoid of your result" in failure(check.close, z, 1 / (1 + np.exp(-z)))


def naive_softmax(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)


def test_hint_nan_from_softmax_overflow_says_where_and_why():
    z = np.array([[1000.0, 0.0], [1.0, 2.0]])
    naive = naive_softmax(z)  # row 0 becomes [nan, 0]: inf/inf and 1/inf
    for message in (failure(check.close, naive, softmax(z)), failure(check.probabilities, naive)):
        assert "NaN (1 entry, at index (0, 0))" in message
        assert "np.exp overflowing" in message and "Subtract the row maximum" in message
        assert "underflow" not in message


def test_hint_nan_from_softmax_underflow_names_whole_rows():
    z = np.array([[1.0, 2.0], [-1000.0, -999.0], [0.0, 0.0]])
    naive = naive_softmax(z)  # row 1 becomes [nan, nan]: 0/0
    for message in (failure(check.close, naive, softmax(z)), failure(check.probabilities, naive)):
        assert "NaN (all of row 1)" in message
        assert "underflows to 0" in message and "Subtract the row maximum" in message
        assert "overflowing" not in message


def test_hint_nan_outside_a_softmax_does_not_blame_exp():
    message = failure(check.close, np.array([np.nan, 1.0, 2.0]), np.array([0.5, 1.0, 2.0]))
    assert "NaN (1 entry, at index 0)" in message and "0/0" in message
    assert "np.exp" not in message and "softmax" not in message
    message = failure(check.close, float("nan"), 0.37)
    assert "0/0" in message and "np.exp" not in message


def test_hint_nan_everywhere_points_to_an_early_nan():
    message = failure(check.close, np.full((2, 3), np.nan), RNG.normal(size=(2, 3)))
    assert "NaN (every entry)" in message and "look early" in message


def test_hint_nan_where_zero_was_expected_mentions_zero_times_log_zero():
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    p = np.array([[0.9, 0.0], [0.2, 0.8]])
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = y * np.log(p)  # 0 * log(0) is NaN at (0, 1)
    message = failure(check.close, terms, np.where(y > 0, np.log(np.where(y > 0, p, 1.0)), 0.0))
    assert "NaN (1 entry, at index (0, 1))" in message and "0 * log(0)" in message


def test_hint_inf_with_large_expected_values_suggests_log_sum_exp():
    message = failure(check.close, np.array([np.inf, 1.0]), np.array([700.0, 1.0]))
    assert "inf (1 entry, at index 0)" in message
    assert "up to 700" in message and "log-sum-exp" in message


def test_hint_inf_with_small_expected_values_lists_the_causes_only():
    message = failure(check.close, np.array([1.0, np.inf]), np.array([1.0, 2.5]))
    assert "inf (1 entry, at index 1)" in message and "dividing by 0" in message
    assert "log-sum-exp" not in message


def test_hint_negative_inf_is_a_log_of_zero():
    message = failure(check.close, np.array([-np.inf, -0.5]), np.array([-30.0, -0.5]))
    assert "has -inf (1 entry, at index 0)" in message and "np.log(0)" in message
    assert "NaN (" not in message and "np.exp" not in message


def test_hint_nan_and_inf_in_threshold_checks():
    assert "learning rate" in failure(check.at_most, float("nan"), 0.5, label="loss")
    message = failure(check.at_most, float("inf"), 0.5, label="loss")
    assert "the value is inf" in message and "overflow" in message
    assert "np.log(0)" in failure(check.at_least, float("-inf"), -5.0, label="log-likelihood")


# --------------------------------------------------------------------------
# Scale hints speak only on evidence
# --------------------------------------------------------------------------
SCALE_WORDS = ("times the expected", "twice", "half", "opposite sign", "factor of 2",
               "sum where a mean", "mean where a sum", "same constant", "Hint")


def assert_no_hint(message: str) -> None:
    assert not any(word in message for word in SCALE_WORDS), message


@pytest.mark.parametrize("actual,expected", [
    (1.0, 0.5),          # any wrong number is some multiple of the right one
    (3.0, 1.0),
    (4.0, 4.0 / 3.0),    # mse of [1, 2, 3] vs [1, 2, 5] summed instead of averaged: unprovable
    (-0.25, 0.25),
    (0.1, 0.0125),
    (np.array([0.0, 0.0, 3.0]), np.array([0.0, 0.0, 1.5])),   # one informative entry
    (np.full(4, 0.6), np.full(4, 0.3)),                       # all entries the same
])
def test_scale_hints_stay_silent_when_a_ratio_could_be_a_coincidence(actual, expected):
    assert_no_hint(failure(check.close, actual, expected))


def test_scale_hints_stay_silent_on_integer_counts():
    assert_no_hint(failure(check.equal, 1, 2, label="number of gradients"))
    assert_no_hint(failure(check.equal, 12, 4, label="number of parameters"))


def test_scale_hints_speak_on_a_number_that_is_not_simple():
    x = float(RNG.normal())
    assert "opposite sign" in failure(check.close, -x, x)
    assert "twice the expected" in failure(check.close, 2 * x, x)
    assert "your number is 7 times" in failure(check.close, 7 * x, x)


def test_declared_sample_count_lets_a_simple_number_get_the_sum_hint():
    message = failure(check.close, 4.0, 4.0 / 3.0, n_samples=3, label="mse([1, 2, 3], [1, 2, 5])")
    assert "your number is 3 times the expected value: did you sum where a mean was wanted " \
           "(over 3 samples)" in message
    assert "1/3 of the expected value: did you take a mean where a sum was wanted" in failure(
        check.close, 4.0 / 9.0, 4.0 / 3.0, n_samples=3)
    # Another multiple of a simple number is still no evidence of anything.
    assert_no_hint(failure(check.close, 8.0, 4.0 / 3.0, n_samples=3))


def test_declared_count_of_two_beats_the_factor_two_hint():
    p_true = np.array([0.7, 0.8])
    mean_ce = float(-np.mean(np.log(p_true)))
    message = failure(check.close, 2 * mean_ce, mean_ce, n_samples=2)
    assert "sum where a mean was wanted (over 2 samples)" in message and "factor of 2" not in message
    assert "factor of 2" in failure(check.close, 2 * mean_ce, mean_ce)


def test_a_multiple_other_than_the_declared_count_is_stated_without_a_cause():
    x = float(RNG.normal())
    message = failure(check.close, 5 * x, x, n_samples=8)
    assert "your number is 5 times the expected value." in message
    assert "sum where a mean" not in message


def test_arrays_get_scale_hints_over_different_values():
    grad = RNG.normal(size=(2, 3))
    assert "every entry is 4 times" in failure(check.close, 4 * grad, grad, n_samples=4)
    assert "twice" in failure(check.close, np.array([2.0, 4.0]), np.array([1.0, 2.0]))


def test_n_samples_must_be_a_count():
    for bad in (1, 0, -3, 2.5, True, "3"):
        with pytest.raises(ValueError, match="n_samples"):
            check.close(1.0, 1.0, n_samples=bad)
    check.close(1.0, 1.0, n_samples=np.int64(3))


def test_activation_hints_need_evidence_too():
    assert "sigmoid" not in failure(check.close, 0.0, 0.5)
    z = float(RNG.normal())
    assert "sigmoid of your result" in failure(check.close, z, 1 / (1 + np.exp(-z)))
    assert "logits" not in failure(check.close, np.full(4, 3.0), np.full(4, 0.25))


def test_hint_integer_division():
    expected = np.array([0.5, 1.5, 2.5])
    assert "fractional part cut off" in failure(check.close, np.array([1, 3, 5]) // 2, expected)


def test_hint_integer_dtype():
    expected = np.array([0.2, 1.7, 3.1])
    message = failure(check.close, np.array([1, 1, 2]), expected)
    assert "integer dtype (int64)" in message


def test_hint_bool_where_numbers_expected():
    p = np.array([0.2, 0.9, 0.7])
    assert "True/False" in failure(check.close, p > 0.5, p)


def test_hint_floats_where_labels_expected():
    labels = np.array([0, 2, 1])
    assert "np.argmax" in failure(check.equal, np.array([0.1, 2.2, 0.9]), labels)


def test_hint_off_by_one_labels():
    labels = np.array([0, 2, 1])
    assert "off-by-one" in failure(check.equal, labels + 1, labels)


def test_hint_none_returned():
    for message in (failure(check.close, None, DENSE), failure(check.shape, None, (5, 4)),
                    failure(check.returns_value, None), failure(check.at_least, None, 0.5),
                    failure(check.probabilities, None), failure(check.equal, None, 1)):
        assert "`return`" in message


def test_hint_broadcasting_column_against_row():
    y = RNG.normal(size=6)
    y_pred = y.reshape(-1, 1) + 0.1
    message = failure(check.close, y_pred - y, np.full(6, 0.1))
    assert "broadcasting" in message and "(6, 6)" in message


def test_hint_forgot_to_reduce():
    errors = RNG.normal(size=5)
    assert "mean of your array is the expected value" in failure(
        check.close, errors, errors.mean())


def test_hint_reduced_over_all_axes():
    m = RNG.normal(size=(3, 4))
    assert "axis=" in failure(check.close, m.sum(), m.sum(axis=0))


def test_hint_keepdims():
    m = RNG.normal(size=(3, 4))
    assert "keepdims" in failure(check.close, m.sum(axis=1, keepdims=True), m.sum(axis=1))


def test_hint_float32_precision():
    expected = np.array([1.0 + 1e-4, 2.0])
    message = failure(check.close, expected.astype(np.float16), expected)
    assert "float16" in message


def test_hint_fraction_instead_of_percentage():
    assert "percentage" in failure(check.at_least, 0.75, 80, label="accuracy in %")


def test_custom_hint_is_appended():
    message = failure(check.is_true, False, "loss decreased", hint="lower the learning rate")
    assert message == "loss decreased: the condition is False.\nHint: lower the learning rate"


def test_text_case_hint():
    assert "upper/lower case" in failure(check.equal, "ReLU", "relu")


# --------------------------------------------------------------------------
# Behaviour of the checks
# --------------------------------------------------------------------------
def test_tolerance_rule_is_the_documented_one():
    expected = np.array([100.0])
    check.close(expected + 1e-3, expected)  # 1e-3 <= 1e-8 + 1e-5 * 100
    failure(check.close, expected + 2e-3, expected)
    check.close(np.array([1.1]), np.array([1.0]), rtol=0.0, atol=0.1 + 1e-12)
    failure(check.close, np.array([1.1]), np.array([1.0]), rtol=0.0, atol=0.05)


def test_nan_only_matches_nan_at_the_same_place():
    check.close(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]))
    failure(check.close, np.array([1.0, np.nan]), np.array([np.nan, 1.0]))
    failure(check.close, np.array([np.inf]), np.array([1e300]))
    check.close(np.array([-np.inf]), np.array([-np.inf]))
    failure(check.close, np.array([np.inf]), np.array([-np.inf]))


def test_dict_and_list_structures():
    message = failure(check.close, {"W": W, "b": B + 1}, {"W": W, "b": B}, label="grads")
    assert message.startswith("grads: 1 of 2 keys wrong: ['b']; right: ['W'].\nat ['b']:")
    assert "missing keys ['b']" in failure(check.close, {"W": W}, {"W": W, "b": B})
    ragged = [np.ones(2), np.zeros(3)]
    check.close([np.ones(2), np.zeros(3)], ragged)
    assert "at [1]" in failure(check.close, [np.ones(2), np.ones(3)], ragged)


def test_shape_check_reads_tensor_like_shapes():
    class FakeTensor:
        shape = (2, 3)

    check.shape(FakeTensor(), (2, 3))
    assert "(2, 3)" in failure(check.shape, FakeTensor(), (3, 3))
    with pytest.raises(ValueError):
        check.shape(DENSE, (-1, 4))


def test_gradient_check_catches_a_wrong_gradient():
    def loss(w):
        return np.mean((X @ w - 1.0) ** 2)

    w = RNG.normal(size=3)
    right = 2 * X.T @ (X @ w - 1.0) / len(X)
    check.gradient(loss, w, right)
    assert "opposite sign" in failure(check.gradient, loss, w, -right)
    assert "5 times" in failure(check.gradient, loss, w, right * len(X))


def test_gradient_check_reports_a_failing_function():
    def broken(x):
        raise RuntimeError("boom")

    message = failure(check.gradient, broken, np.ones(2), np.ones(2))
    assert "calling f(x) failed (RuntimeError: boom)" in message


def test_is_true_rejects_arrays_with_advice():
    assert "np.all" in failure(check.is_true, np.array([True, False]), "all positive")


def test_unrecordable_values_fail_with_a_reason():
    assert "complex" in failure(check.close, np.array([1 + 2j]), np.array([1.0]))
    assert "cannot be checked" in failure(check.close, object(), 1.0)


# --------------------------------------------------------------------------
# encode_value / decode_value
# --------------------------------------------------------------------------
@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 2 ** 70, 1.5, "text", [1, 2.5, "a"], (1, 2), {"a": [1, {"b": None}]},
])
def test_plain_values_round_trip(value):
    encoded = check.encode_value(value)
    text = json.dumps(encoded, allow_nan=False)
    decoded = check.decode_value(json.loads(text))
    assert decoded == (list(value) if isinstance(value, tuple) else value)


@pytest.mark.parametrize("dtype", ["bool", "int8", "int32", "int64", "uint8", "uint64",
                                   "float16", "float32", "float64"])
def test_arrays_round_trip_exactly(dtype):
    raw = np.array([[0, 1, 2], [3, 250, 7]])
    arr = (raw % 2 == 0) if dtype == "bool" else raw.astype(dtype)
    if dtype.startswith("float"):
        arr = arr / np.asarray(3, dtype=dtype)
    encoded = check.encode_value(arr)
    assert encoded["__ndarray__"] is True and encoded["shape"] == [2, 3]
    decoded = check.decode_value(json.loads(json.dumps(encoded, allow_nan=False)))
    assert decoded.dtype == arr.dtype and decoded.shape == arr.shape
    assert np.array_equal(decoded, arr)


def test_nonfinite_numbers_are_strings():
    arr = np.array([np.nan, np.inf, -np.inf, 1.0], dtype=np.float32)
    encoded = check.encode_value(arr)
    assert encoded["data"] == ["nan", "inf", "-inf", 1.0]
    decoded = check.decode_value(encoded)
    assert decoded.dtype == np.float32
    assert np.array_equal(decoded, arr, equal_nan=True)
    scalar = check.decode_value(json.loads(json.dumps(check.encode_value(float("nan")))))
    assert np.isnan(scalar)


def test_numpy_scalars_keep_their_dtype():
    decoded = check.decode_value(check.encode_value(np.float32(0.1)))
    assert decoded.dtype == np.float32 and decoded.shape == () and decoded == np.float32(0.1)
    assert check.decode_value(check.encode_value(np.int64(3))) == 3


def test_string_arrays_and_empty_arrays():
    words = np.array(["cat", "dog"])
    assert np.array_equal(check.decode_value(check.encode_value(words)), words)
    empty = np.zeros((0, 3))
    decoded = check.decode_value(check.encode_value(empty))
    assert decoded.shape == (0, 3)


def test_objects_with_numpy_method_and_graph_tensors():
    class EagerTensor:
        def numpy(self):
            return np.array([1.0, 2.0])

    class Tensor:
        def __init__(self, value):
            self.value = value
            self.op = "const"

    Tensor.__module__ = "dlbricks.graph"
    assert np.array_equal(check.decode_value(check.encode_value(EagerTensor())), [1.0, 2.0])
    assert np.array_equal(check.decode_value(check.encode_value(Tensor(np.eye(2)))), np.eye(2))
    check.close(EagerTensor(), np.array([1.0, 2.0]))


def test_complex_and_other_types_are_rejected():
    with pytest.raises(TypeError, match="complex"):
        check.encode_value(np.array([1j]))
    with pytest.raises(TypeError, match="complex"):
        check.encode_value(1j)
    with pytest.raises(TypeError):
        check.encode_value(object())
    with pytest.raises(TypeError, match="reserved"):
        check.encode_value({"__ndarray__": 1})


def test_large_values_are_summarised():
    big = np.zeros(11)
    encoded = check.encode_value({"small": np.ones(3), "big": big}, max_elements=10)
    assert "data" in encoded["small"]
    assert encoded["big"]["__too_large__"]["elements"] == 11
    decoded = check.decode_value(encoded)
    assert isinstance(decoded["big"], check.TooLarge)


def test_too_large_value_fails_in_the_kernel_and_when_rejudged(tmp_path, monkeypatch):
    path = tmp_path / "records.jsonl"
    monkeypatch.setenv(check.RECORD_ENV, str(path))
    monkeypatch.setattr(check.codec, "MAX_RECORD_ELEMENTS", 10)
    message = failure(check.close, np.zeros(20), np.zeros(20))
    assert "too large to record" in message
    record = json.loads(path.read_text().splitlines()[-1])
    assert record["passed"] is False
    reference = dict(record, passed=True, actual=check.encode_value(np.zeros(3)))
    assert check.rejudge(record, reference) is False


@pytest.mark.parametrize("garbled", [
    {"__ndarray__": True, "dtype": "float64", "shape": [3], "data": [1.0]},
    {"__ndarray__": True, "dtype": "object", "shape": [1], "data": [1]},
    {"__ndarray__": True, "dtype": "int64", "shape": [1], "data": [1.5]},
    {"__ndarray__": True, "dtype": "float64", "shape": [1], "data": ["oops"]},
    {"__ndarray__": True, "dtype": "float64", "shape": [-1], "data": []},
])
def test_decode_rejects_garbled_arrays(garbled):
    with pytest.raises(ValueError):
        check.decode_value(garbled)


# --------------------------------------------------------------------------
# The record file and rejudge
# --------------------------------------------------------------------------
def read_records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run_checks(path, monkeypatch, calls) -> list[dict]:
    """Run each call with recording on; return the records it appended."""
    monkeypatch.setenv(check.RECORD_ENV, str(path))
    before = len(read_records(path)) if path.exists() else 0
    for fn, args, kwargs in calls:
        try:
            fn(*args, **kwargs)
        except AssertionError:
            pass
    return read_records(path)[before:]


def test_every_call_appends_one_line_before_raising(tmp_path, monkeypatch):
    path = tmp_path / "records.jsonl"
    monkeypatch.setenv(check.RECORD_ENV, str(path))
    check.close(1.0, 1.0, label="first")
    with pytest.raises(AssertionError):
        check.close(2.0, 1.0, label="second")
    records = read_records(path)
    assert [r["label"] for r in records] == ["first", "second"]
    assert [r["passed"] for r in records] == [True, False]
    assert records[0] == {"check": "close", "label": "first", "actual": 1.0, "passed": True,
                          "params": {"rtol": 1e-5, "atol": 1e-8, "expected_shape": []}}


def test_no_record_without_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(check.RECORD_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    check.close(1.0, 1.0)
    assert list(tmp_path.iterdir()) == []


def _scenarios():
    """(label, check function, args for the right answer, args for a wrong answer)."""
    z = np.array([[1.0, 2.0, 0.5], [0.1, 0.2, 0.3]])
    def sq(x):
        return float(np.sum(x ** 2))
    x0 = np.array([1.0, -2.0])
    return [
        ("close", check.close, (DENSE, DENSE), (X @ W, DENSE)),
        ("close dict", check.close, ({"W": W, "b": B}, {"W": W, "b": B}),
         ({"W": W, "b": -B}, {"W": W, "b": B})),
        ("equal", check.equal, (np.array([1, 0, 2]), np.array([1, 0, 2])),
         (np.array([1, 0, 1]), np.array([1, 0, 2]))),
        ("equal text", check.equal, ("relu", "relu"), ("sigmoid", "relu")),
        ("shape", check.shape, (DENSE, (5, 4)), (DENSE.T, (5, 4))),
        ("probabilities", check.probabilities, (softmax(z),), (z,)),
        ("at_least", check.at_least, (0.91, 0.9), (0.85, 0.9)),
        ("at_most", check.at_most, (0.2, 0.3), (0.4, 0.3)),
        ("is_true", check.is_true, (True,), (False,)),
        ("returns_value", check.returns_value, (1.0,), (None,)),
        ("gradient", check.gradient, (sq, x0, 2 * x0), (sq, x0, x0)),
    ]


@pytest.mark.parametrize("name,fn,right,wrong", _scenarios(), ids=[s[0] for s in _scenarios()])
def test_rejudge_agrees_with_the_kernel(tmp_path, monkeypatch, name, fn, right, wrong):
    path = tmp_path / "records.jsonl"
    reference, student_right, student_wrong = run_checks(
        path, monkeypatch, [(fn, right, {"label": name})] * 2 + [(fn, wrong, {"label": name})])
    assert reference["passed"] is True and student_wrong["passed"] is False
    assert check.rejudge(student_right, reference) is True
    assert check.rejudge(student_wrong, reference) is False
    # Records also work as raw JSON lines.
    assert check.rejudge(json.dumps(student_right), json.dumps(reference)) is True


def test_rejudge_ignores_a_monkeypatched_comparison(tmp_path, monkeypatch):
    path = tmp_path / "records.jsonl"
    [reference] = run_checks(path, monkeypatch, [(check.close, (DENSE, DENSE), {})])
    # The student replaces the comparison in their kernel: the check "passes".
    with monkeypatch.context() as patched:
        patched.setattr(check.checks, "judge_close", lambda *args: check.Verdict(True))
        patched.setattr(np, "allclose", lambda *args, **kwargs: True)
        [student] = run_checks(path, monkeypatch, [(check.close, (X @ W, DENSE), {})])
    assert student["passed"] is True
    assert check.rejudge(student, reference) is False
    passed, message = check.rejudge_details(student, reference)
    assert not passed and "missing bias" in message


def test_rejudge_ignores_the_students_params(tmp_path, monkeypatch):
    path = tmp_path / "records.jsonl"
    reference, student = run_checks(path, monkeypatch, [
        (check.close, (1.0, 1.0), {}), (check.close, (1.5, 1.0), {"rtol": 1.0})])
    assert student["passed"] is True
    assert check.rejudge(student, reference) is False
    reference, student = run_checks(path, monkeypatch, [
        (check.at_least, (0.95, 0.9), {}), (check.at_least, (0.5, 0.1), {})])
    assert check.rejudge(student, reference) is False


def test_rejudge_handles_nan_shapes_and_types():
    reference = {"check": "close", "label": "v", "passed": True,
                 "actual": check.encode_value(np.array([1.0, np.nan])),
                 "params": {"rtol": 1e-5, "atol": 1e-8}}

    def student(value):
        return {"check": "close", "label": "v", "passed": True,
                "actual": check.encode_value(value), "params": {}}

    assert check.rejudge(student(np.array([1.0, np.nan])), reference) is True
    assert check.rejudge(student(np.array([np.nan, np.nan])), reference) is False
    assert check.rejudge(student(np.array([1.0, 0.0])), reference) is False
    assert check.rejudge(student(np.array([1.0, np.nan, 3.0])), reference) is False
    assert check.rejudge(student("1.0, nan"), reference) is False
    assert check.rejudge(student({"a": 1}), reference) is False
    assert check.rejudge(student(None), reference) is False


@pytest.mark.parametrize("bad", [
    None, "", "not json", "[]", {}, {"check": "close"}, {"check": 3, "actual": 1},
    {"check": "close", "actual": {"__ndarray__": True, "dtype": "float64", "shape": [9], "data": []}},
    {"check": "close", "actual": {"__unrecordable__": "complex"}},
    {"check": "shape", "actual": [5, 4]},
])
def test_rejudge_never_raises_on_garbage(bad):
    reference = {"check": "close", "label": "v", "passed": True, "actual": 1.0,
                 "params": {"rtol": 1e-5, "atol": 1e-8}}
    assert check.rejudge(bad, reference) is False
    assert check.rejudge(reference, bad) is False


def test_rejudge_needs_a_passing_reference_with_params():
    record = {"check": "close", "label": "v", "passed": False, "actual": 1.0,
              "params": {"rtol": 1e-5, "atol": 1e-8}}
    assert check.rejudge(dict(record), record) is False
    assert check.rejudge(dict(record), dict(record, passed=True, params="x")) is False
    assert check.rejudge(dict(record), dict(record, passed=True, params={"rtol": -1, "atol": 0})) is False
    assert check.rejudge(dict(record), dict(record, passed=True)) is True


def test_rejudge_truth_checks_need_exactly_true():
    reference = {"check": "is_true", "label": "c", "passed": True, "actual": True, "params": {}}
    for fake in (1, "True", [True], {"__ndarray__": True, "dtype": "bool", "shape": [], "data": [True]}):
        assert check.rejudge(dict(reference, actual=fake), reference) is False
    assert check.rejudge(dict(reference, passed=False), reference) is True


def test_shape_rejudge_uses_the_reference_pattern():
    reference = {"check": "shape", "label": "a", "passed": True, "actual": [7, 4],
                 "params": {"expected_shape": [None, 4]}}
    assert check.rejudge(dict(reference, actual=[3, 4]), reference) is True
    assert check.rejudge(dict(reference, actual=[4, 3]), reference) is False
    assert check.rejudge(dict(reference, actual=[3, 4, 1]), reference) is False
    assert check.rejudge(dict(reference, actual=[3, 4], params={"expected_shape": [None, None]}),
                         dict(reference, params={"expected_shape": [None, 5]})) is False


def test_threshold_rejudge_rejects_non_numbers():
    reference = {"check": "at_least", "label": "acc", "passed": True, "actual": 0.95,
                 "params": {"threshold": 0.9}}
    assert check.rejudge(dict(reference, actual=0.92), reference) is True
    for fake in (True, "0.99", None, [0.99, 0.99], check.encode_value(float("nan"))):
        assert check.rejudge(dict(reference, actual=fake), reference) is False
    assert math.isclose(check.decode_value(reference["actual"]), 0.95)


def test_each_hint_fires_only_on_its_own_mistake():
    """A table of mistakes: each message carries its own hint and none of the others."""
    errors = RNG.normal(size=8)
    grad = RNG.normal(size=(3, 2))
    square = RNG.normal(size=(3, 3))
    z = RNG.normal(size=(4, 3))
    fractions = np.array([0.5, 1.5, 2.5])
    y = RNG.normal(size=6)
    hints = {
        "transposed": ("transpose", square.T, square),
        "bias": ("missing bias", X @ W, DENSE),
        "sum": ("sum where a mean", np.sum(errors ** 2), np.mean(errors ** 2)),
        "sign": ("opposite sign", -grad, grad),
        "factor": ("factor of 2", 2 * grad, grad),
        "normalise": ("sum to 1", np.exp(z) / 2.0, softmax(z)),
        "logits": ("returned the logits", z, softmax(z)),
        "nan": ("NaN", np.array([np.nan, 1.0]), np.array([0.5, 1.0])),
        "integer": ("cut off", np.array([0, 1, 2]), fractions),
        "none": ("`return`", None, grad),
        "broadcast": ("broadcasting", y.reshape(-1, 1) - y, np.zeros(6)),
    }
    for name, (keyword, actual, expected) in hints.items():
        message = failure(check.close, actual, expected, label=name)
        assert keyword in message, (name, message)
        others = [k for n, (k, _, _) in hints.items() if n != name]
        assert not any(k in message for k in others), (name, message)


def test_raises_passes_on_the_right_error_and_explains_the_others(tmp_path, monkeypatch):
    import json

    record = tmp_path / "records.jsonl"
    monkeypatch.setenv(check.RECORD_ENV, str(record))

    def strict(x):
        if x < 0:
            raise ValueError("x must be >= 0")
        return x

    check.raises(strict, -1, label="negative input")
    with pytest.raises(AssertionError, match="expected ValueError, but it returned int 1"):
        check.raises(strict, 1, label="positive input")
    with pytest.raises(AssertionError, match="raised TypeError"):
        check.raises(lambda: (_ for _ in ()).throw(TypeError("no")), label="wrong kind")
    with pytest.raises(AssertionError, match="empty message"):
        check.raises(lambda: (_ for _ in ()).throw(ValueError()), label="silent")
    with pytest.raises(NotImplementedError):
        check.raises(lambda: (_ for _ in ()).throw(NotImplementedError()), label="unsolved")
    lines = [json.loads(l) for l in record.read_text().splitlines()]
    assert [(r["check"], r["actual"]) for r in lines] == [("raises", True), ("raises", False),
                                                          ("raises", False), ("raises", False)]
    assert check.rejudge(lines[0], lines[0]) and not check.rejudge(lines[1], lines[0])


def test_declared_sample_count_travels_in_the_record_to_rejudge(tmp_path, monkeypatch):
    path = tmp_path / "records.jsonl"
    calls = [(check.close, (4.0 / 3.0, 4.0 / 3.0), {"n_samples": 3, "label": "mse"}),
             (check.close, (4.0, 4.0 / 3.0), {"n_samples": 3, "label": "mse"})]
    reference, student = run_checks(path, monkeypatch, calls)
    assert reference["params"]["n_samples"] == 3
    passed, message = check.rejudge_details(student, reference)
    assert not passed and "sum where a mean was wanted (over 3 samples)" in message
    # A count the student's kernel claims is not used: only the reference's params count.
    forged = dict(student, params=dict(student["params"], n_samples=7))
    assert "over 3 samples" in check.rejudge_details(forged, reference)[1]
    # A garbled count in a reference only silences the hint; judging is unchanged.
    odd = dict(reference, params=dict(reference["params"], n_samples="3"))
    assert check.rejudge(student, odd) is False and check.rejudge(reference, odd) is True


# --------------------------------------------------------------------------
# demo_uses: demonstration cells before the exercises are solved
# --------------------------------------------------------------------------
def notebook_functions(source: str) -> dict:
    """Define functions the way a notebook cell does (module __main__)."""
    namespace = {"__name__": "__main__"}
    exec(compile(source, "<cell>", "exec"), namespace)
    return namespace


NOTEBOOK = notebook_functions(
    "def accuracy(p, y):\n"
    "    raise NotImplementedError()\n"
    "def predict(x):\n"
    "    return x\n"
    "def helper(x):\n"
    "    raise NotImplementedError()\n"
    "class Mul:\n"
    "    def backward(self, g):\n"
    "        raise NotImplementedError()\n"
)


def test_demo_uses_runs_the_demo_silently_when_everything_is_written(capsys):
    with check.demo_uses("predict") as demo:
        result = NOTEBOOK["predict"](3)
    assert result == 3 and demo.missing is None
    assert capsys.readouterr().out == ""


def test_demo_uses_prints_a_note_instead_of_a_traceback(capsys):
    with check.demo_uses("predict", "accuracy") as demo:
        NOTEBOOK["accuracy"](NOTEBOOK["predict"](1), 1)
        raise AssertionError("not reached")
    assert demo.missing == "accuracy"
    assert capsys.readouterr().out == (
        "This cell uses your predict and accuracy, and accuracy is not written yet: "
        "solve its exercise first, then run this cell again.\n")
    with check.demo_uses(NOTEBOOK["accuracy"]):
        NOTEBOOK["accuracy"](0, 0)
    assert capsys.readouterr().out == (
        "This cell uses your accuracy, which is not written yet: solve its exercise first, "
        "then run this cell again.\n")


def test_demo_uses_names_methods_and_other_notebook_functions(capsys):
    with check.demo_uses("Mul") as demo:
        NOTEBOOK["Mul"]().backward(1.0)
    assert demo.missing == "Mul.backward"
    with check.demo_uses("predict") as demo:
        NOTEBOOK["helper"](1)  # an exercise the demo did not name, still the student's
    assert demo.missing == "helper"
    out = capsys.readouterr().out
    assert "your Mul, and Mul.backward is not written yet" in out
    assert "your predict, and helper is not written yet" in out


def test_demo_uses_lets_other_errors_through():
    def library_function():  # defined in this test module, not in a notebook
        raise NotImplementedError("this optimiser has no sparse support")

    with pytest.raises(NotImplementedError, match="sparse"):
        with check.demo_uses("predict"):
            library_function()
    with pytest.raises(ValueError, match="shapes"):
        with check.demo_uses("predict"):
            raise ValueError("shapes (2, 3) and (4, 5) do not fit")


def test_demo_uses_closes_half_drawn_figures_and_writes_no_record(tmp_path, monkeypatch, capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setenv(check.RECORD_ENV, str(tmp_path / "records.jsonl"))
    with check.demo_uses("accuracy"):
        plt.figure()
        NOTEBOOK["accuracy"](0, 0)
    assert plt.get_fignums() == []
    assert not (tmp_path / "records.jsonl").exists()
    assert "accuracy" in capsys.readouterr().out


def test_demo_uses_needs_names():
    with pytest.raises(ValueError, match="names"):
        check.demo_uses()
    with pytest.raises(ValueError):
        check.demo_uses("")
    with pytest.raises(ValueError):
        check.demo_uses(3)


def test_every_function_of_the_module_is_its_own_code():
    """The autograder reports a check function whose code lives elsewhere as replaced
    (tampering), so no module of the package may hold wrapped functions (e.g. @contextmanager)."""
    import sys
    import types

    modules = [m for n, m in sys.modules.items() if n == "dlbricks.check" or n.startswith("dlbricks.check.")]
    assert {m.__name__ for m in modules} >= {"dlbricks.check.checks", "dlbricks.check.judges",
                                              "dlbricks.check.hints", "dlbricks.check.codec"}
    for module in modules:
        for name, value in vars(module).items():
            if isinstance(value, types.FunctionType):
                home = sys.modules[value.__module__]
                assert value.__code__.co_filename == home.__file__, f"{module.__name__}.{name}"
