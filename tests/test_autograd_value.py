"""The scalar engine `aibook.autograd.Value` against torch.autograd (float64).

Tolerance, from the arithmetic: both engines compute in float64, where one operation
rounds to a relative u = 2**-53 ~ 1.1e-16. The expressions below take at most ~20
operations on inputs |x| <= 3, and their values and gradients stay below ~5e3 (the
largest is d/dx of 0.1 exp(x^2) at x = 3), so rounding differences stay below
20 * u * 5e3 ~ 1e-11 absolute, and ~20 u ~ 2e-15 relative. TOL = 1e-9 (relative or
absolute, whichever is larger) leaves a factor of 100 on top of that, and a wrong
derivative is off by O(1).
"""

import math
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aibook.autograd import ScalarMLP, Value, draw_graph, gradcheck

TOL = 1e-9
reals = st.floats(-3, 3, allow_nan=False)
positive = st.floats(0.1, 3)
away_from_zero = st.one_of(st.floats(-3, -0.1), st.floats(0.1, 3))

UNARY = {
    "neg": (lambda v: -v, lambda t: -t),
    "relu": (lambda v: v.relu(), torch.relu),
    "tanh": (lambda v: v.tanh(), torch.tanh),
    "exp": (lambda v: v.exp(), torch.exp),
    "sigmoid": (lambda v: v.sigmoid(), torch.sigmoid),
    "square": (lambda v: v**2, lambda t: t**2),
    "cube": (lambda v: v**3, lambda t: t**3),
    "number-op": (lambda v: 2 * v - 1 + v / 3 - (1 - v) * 0.5,
                  lambda t: 2 * t - 1 + t / 3 - (1 - t) * 0.5),
}
POSITIVE_UNARY = {
    "log": (lambda v: v.log(), torch.log),
    "sqrt": (lambda v: v**0.5, torch.sqrt),
    "inverse": (lambda v: 1 / v, lambda t: 1 / t),
    "pow-neg": (lambda v: v**-1.5, lambda t: t**-1.5),
}
BINARY = {
    "add": (lambda a, b: a + b),
    "sub": (lambda a, b: a - b),
    "mul": (lambda a, b: a * b),
    "div": (lambda a, b: a / b),
}


def compare_with_torch(f_ours, f_torch, xs: list[float]) -> None:
    vs = [Value(x) for x in xs]
    out = f_ours(*vs)
    out.backward()
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    out_t = f_torch(*ts)
    out_t.backward()
    assert out.data == pytest.approx(out_t.item(), rel=TOL, abs=TOL)
    for v, t in zip(vs, ts, strict=True):
        expected = 0.0 if t.grad is None else t.grad.item()
        assert v.grad == pytest.approx(expected, rel=TOL, abs=TOL)


@pytest.mark.parametrize("name", sorted(UNARY))
@given(x=reals)
@settings(max_examples=20, deadline=None)
def test_unary_op_matches_torch(name, x):
    if name == "relu" and abs(x) < 1e-9:
        return  # the kink: torch and we both use 0, but skip the ambiguity
    ours, theirs = UNARY[name]
    compare_with_torch(ours, theirs, [x])


@pytest.mark.parametrize("name", sorted(POSITIVE_UNARY))
@given(x=positive)
@settings(max_examples=20, deadline=None)
def test_op_on_positive_inputs_matches_torch(name, x):
    ours, theirs = POSITIVE_UNARY[name]
    compare_with_torch(ours, theirs, [x])


@pytest.mark.parametrize("name", sorted(BINARY))
@given(a=reals, b=away_from_zero)
@settings(max_examples=20, deadline=None)
def test_binary_op_matches_torch(name, a, b):
    f = BINARY[name]
    compare_with_torch(f, f, [a, b])


@given(x=away_from_zero, y=reals)
@settings(max_examples=40, deadline=None)
def test_node_used_several_times_accumulates_gradient(x, y):
    # x and y feed several paths; z is reused too: gradients must add up over the DAG
    def f(x, y):
        z = x * y + x.tanh()
        return z * z + (z * x).sigmoid() - y / x + (x * x).exp() * 0.1

    compare_with_torch(f, f, [x, y])


def test_worked_neuron_example_matches_torch():
    x1, x2, w1, w2, b = 2.0, 0.0, -3.0, 1.0, 6.8813735870195432
    vs = [Value(v) for v in (x1, x2, w1, w2, b)]
    out = (vs[0] * vs[2] + vs[1] * vs[3] + vs[4]).tanh()
    out.backward()
    # by hand: d tanh(n)/dn = 1 - tanh(n)^2 and dn/dw1 = x1
    n = x1 * w1 + x2 * w2 + b
    assert vs[2].grad == pytest.approx((1 - math.tanh(n) ** 2) * x1, abs=1e-12)
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (x1, x2, w1, w2, b)]
    torch.tanh(ts[0] * ts[2] + ts[1] * ts[3] + ts[4]).backward()
    for v, t in zip(vs, ts, strict=True):
        assert v.grad == pytest.approx(t.grad.item(), abs=1e-12)


def test_backward_twice_accumulates_leaves_like_torch():
    a = Value(1.5)
    f = (a * a).tanh() + a
    f.backward()
    once = a.grad
    f.backward()  # inner nodes restart from zero; the leaf adds a second copy
    assert a.grad == pytest.approx(2 * once, rel=1e-12)


def test_deep_chain_does_not_hit_recursion_limit():
    x = Value(0.5)
    y = x
    n = sys.getrecursionlimit() * 5
    for _ in range(n):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == pytest.approx(1.0)


@given(a=positive, b=reals)
@settings(max_examples=20, deadline=None)
def test_gradcheck_agrees_with_backward(a, b):
    result = gradcheck(lambda a, b: (a * b).tanh() * a.log() + b.sigmoid(), [Value(a), Value(b)])
    assert result.passed, result
    # central differences with h = 1e-6: truncation h^2 |f^(3)| / 6 <= 1e-12 * 2000 / 6 ~ 3e-10
    # (the third derivative of log a is 2 / a^3 <= 2000 for a >= 0.1) plus rounding
    # u |f| / h ~ 1e-16 * 4 / 1e-6 ~ 4e-10; 1e-6 leaves a factor of 1000, and a wrong
    # derivative is off by O(1)
    assert result.max_abs_error < 1e-6


def test_gradcheck_catches_a_wrong_derivative():
    def bad_square(v):
        out = Value(v.data**2, (v,), "bad")

        def _backward():
            v.grad += 3 * v.data * out.grad  # wrong: should be 2 * v.data

        out._backward = _backward
        return out

    result = gradcheck(bad_square, [Value(1.3)])
    assert not result.passed
    assert result.max_abs_error == pytest.approx(1.3, rel=1e-4)


def test_scalar_mlp_gradients_match_torch():
    mlp = ScalarMLP([3, 4, 2], seed=1)
    x = [0.5, -1.0, 2.0]
    out = mlp(x)
    loss = out[0] * out[0] + out[1]
    loss.backward()
    (W1, b1), (W2, b2) = mlp.layers
    tw = [torch.tensor([[w.data for w in row] for row in W], dtype=torch.float64,
                       requires_grad=True) for W in (W1, W2)]
    tb = [torch.tensor([v.data for v in b], dtype=torch.float64, requires_grad=True)
          for b in (b1, b2)]
    h = torch.relu(tw[0] @ torch.tensor(x, dtype=torch.float64) + tb[0])
    o = tw[1] @ h + tb[1]
    (o[0] ** 2 + o[1]).backward()
    ours = np.array([[w.grad for w in row] for row in W1])
    np.testing.assert_allclose(ours, tw[0].grad.numpy(), atol=1e-12)
    np.testing.assert_allclose([v.grad for v in b2], tb[1].grad.numpy(), atol=1e-12)
    assert len(mlp.parameters()) == 3 * 4 + 4 + 4 * 2 + 2


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(TypeError, match="expected a real number, got str"):
        Value("1.0")
    with pytest.raises(TypeError, match="k must be an int or float"):
        Value(2.0) ** Value(3.0)
    with pytest.raises(ValueError, match="positive number"):
        Value(-1.0).log()
    with pytest.raises(ValueError, match="expected 2 inputs, got 3"):
        ScalarMLP([2, 1])([1.0, 2.0, 3.0])


def test_draw_graph_draws_one_box_per_value():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    y = (a * b + 1).tanh()
    y.label = "y"
    y.backward()
    fig = draw_graph(y)
    texts = [t.get_text() for t in fig.axes[0].texts]
    boxes = [t for t in texts if "data" in t]
    assert len(boxes) == 6  # a, b, a*b, the constant 1, a*b + 1 and y
    assert any(t.splitlines()[0] == "y" for t in boxes)
    assert sum(t in ("*", "+", "tanh") for t in texts) == 3  # one circle per operation
