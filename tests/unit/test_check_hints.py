"""Hints for the classic backward-pass slips, part-by-part verdicts for dicts and tuples, and
the order and relevance rules of hints (issue 16)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dlbricks import check

RNG = np.random.default_rng(1616)
A, B, G = RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4))


def failure(fn, *args, **kwargs) -> str:
    with pytest.raises(AssertionError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def hints(message: str) -> list[str]:
    return [line for line in message.splitlines() if line.startswith("Hint:")]


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# -- the slips ------------------------------------------------------------------------------
def test_swapped_inputs_in_a_product_rule_are_named():
    right = (G * B, G * A)          # dL/da = g * b, dL/db = g * a
    swapped = (G * A, G * B)        # each input's gradient computed with its own value
    message = failure(check.close, swapped, right, label="Mul.backward")
    assert "2 of 2 items wrong: [0], [1]" in message
    assert "Hint: the values at [0] and [1] are swapped" in message
    assert "g * b" not in message and "g * a" not in message  # the answer is not given


def test_gradients_in_the_wrong_order_among_keys():
    right = {"W": A, "b": B[0]}
    message = failure(check.close, {"W": A, "b": A[0]}, right, label="grads")
    assert "1 of 2 keys wrong: ['b']; right: ['W']." in message
    assert "swapped" not in message


def test_a_dict_of_gradients_says_which_keys_are_right():
    right = {"W1": A, "b1": B[0], "W2": G, "b2": np.array([0.5])}
    wrong = dict(right, W1=A * 2.0, b2=np.array([0.7]))
    message = failure(check.close, wrong, right, label="two_layer_backward")
    assert message.startswith("two_layer_backward: 2 of 4 keys wrong: ['W1'], ['b2']; right: ['b1'], ['W2'].")
    assert "at ['W1']:" in message  # the first wrong key's details follow


def test_input_used_for_output_in_sigmoid_backward():
    a = 2.0 * A
    z = sigmoid(a)
    right = G * z * (1 - z)
    used_input = G * a * (1 - a)
    slips = {"the derivative uses the input a where the formula needs the output z = sigmoid(a)":
             used_input}
    message = failure(check.close, used_input, right, label="Sigmoid.backward", slips=slips)
    assert hints(message) == ["Hint: The derivative uses the input a where the formula needs "
                              "the output z = sigmoid(a)."]
    # another wrong answer does not trigger that slip
    other = failure(check.close, right + 1.0, right, label="Sigmoid.backward", slips=slips)
    assert "uses the input" not in other


def test_missing_outer_factor_of_the_chain_rule():
    # z = exp(a x + b y + c): every partial derivative carries the outer factor z
    a, x, b, y, c = 2.0, 3.0, -1.0, 4.0, 0.5
    z = math.exp(a * x + b * y + c)
    right = np.array([x * z, a * z, y * z, b * z, z])
    without_outer = np.array([x, a, y, b, 1.0])
    message = failure(check.close, without_outer, right, label="partials")
    [hint] = hints(message)
    assert "divided by the same number 12.18" in hint and "outer derivative" in hint


def test_one_missing_path_of_a_sum_of_paths():
    # f = x*y + x: x reaches f along two paths, df/dx = y + 1
    y = RNG.normal(size=5)
    right = y + 1.0
    one_path = y
    slips = {"only the path through x*y is counted: x also reaches f directly, and the "
             "gradient adds the contributions of all paths": one_path}
    message = failure(check.close, one_path, right, label="df/dx", slips=slips)
    assert "adds the contributions of all paths" in message
    # without the test's slip, the values alone (an offset of 1 everywhere) still speak
    assert "off by the same constant" in failure(check.close, one_path, right, label="df/dx")


# -- order and relevance ----------------------------------------------------------------------
def test_sum_for_mean_gets_no_integer_division_hint():
    p, labels = np.array([0.9, 0.2, 0.6, 0.4]), np.array([1, 0, 0, 0])
    summed = np.sum((p > 0.5) == labels)          # an integer 3, where the mean 0.75 was wanted
    message = failure(check.close, summed, 0.75, n_samples=4, label="accuracy",
                      hint="accuracy = (rows where (p > 0.5) equals y) / N")
    found = hints(message)
    assert found[0] == "Hint: accuracy = (rows where (p > 0.5) equals y) / N"  # the exercise's own first
    assert "4 times the expected value" in found[1]
    assert not any("integer" in h or "//" in h for h in found), found


def test_integer_division_still_named_when_it_is_the_cause():
    expected = np.array([0.5, 1.5, 2.5])
    message = failure(check.close, np.array([0, 1, 2]), expected)
    assert any("fractional part cut off" in h or "integer" in h for h in hints(message))


def test_the_exercises_own_hint_comes_before_the_guessed_ones():
    message = failure(check.shape, np.zeros((5, 1)), (5,), label="predict_no_hidden",
                      hint="X: (N, 2) @ w: (2,) gives (N,); do not reshape w into (2, 1).")
    found = hints(message)
    assert found[0].startswith("Hint: X: (N, 2) @ w: (2,) gives (N,)")
    assert len(found) == 2 and "np.squeeze" in found[1]


@pytest.mark.parametrize("factor", [-1.0, 2.0, 0.5, -2.0])
def test_sign_and_factor_hints_use_no_idea_of_a_later_lesson(factor):
    expected = np.array([0.3, -1.2, 2.5])
    [hint] = hints(failure(check.close, factor * expected, expected))
    for later in ("y_pred", "lr", "update", "downhill", "derivative", "loss"):
        assert later not in hint, (later, hint)


def test_gradient_names_a_known_slip_of_the_test():
    # f(x) = sum(x * sigmoid(x) * g): x reaches f along two paths; a gradient with one path only
    x, g = RNG.normal(size=6), RNG.normal(size=6)
    s = sigmoid(x)
    one_path = g * s
    slips = {"only the direct path is counted: the paths add up": one_path}
    message = failure(check.gradient, lambda v: float(np.sum(v * sigmoid(v) * g)), x, one_path,
                      label="swish backward", slips=slips)
    assert hints(message) == ["Hint: Only the direct path is counted: the paths add up."]
    check.gradient(lambda v: float(np.sum(v * sigmoid(v) * g)), x, g * (s + x * s * (1 - s)),
                   label="swish backward", slips=slips)  # the right gradient passes
