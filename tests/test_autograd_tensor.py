"""The tensor engine `aibook.autograd.Tensor` against torch.autograd (float64).

Tolerance, from the arithmetic: both engines compute in float64 (u = 2**-53 ~ 1.1e-16 per
operation). Inputs lie in [-2, 2], shapes have at most 5 * 5 * 5 = 125 entries, so a sum
or a matmul adds at most 125 terms of size <= ~10, and an expression chains a handful of
operations: rounding differences stay below ~10 * 125 * u * 10 ~ 1e-12 absolute. TOL = 1e-9
(relative or absolute) leaves a factor of 1000 on top; a missing un-broadcast or a wrong
derivative shows up as a shape error or an O(1) difference. Every random draw comes from
a generator seeded by hypothesis, so a failure replays.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

from aibook.autograd import Tensor, gradcheck, no_grad, unbroadcast

TOL = 1e-9
SETTINGS = settings(max_examples=25, deadline=None)
seeds = st.integers(0, 2**31 - 1)


def data(rng: np.random.Generator, shape, low=-2.0, high=2.0) -> np.ndarray:
    return rng.uniform(low, high, shape)


def compare_with_torch(f_ours, f_torch, arrays, seed: int = 0) -> None:
    """Run f on Tensors and on torch tensors; compare outputs and all input gradients."""
    ours = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, out_t = f_ours(*ours), f_torch(*theirs)
    np.testing.assert_allclose(out.data, out_t.detach().numpy(), rtol=TOL, atol=TOL)
    g = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(g)
    out_t.backward(torch.tensor(g))
    for x, t in zip(ours, theirs, strict=True):
        expected = np.zeros_like(x.data) if t.grad is None else t.grad.numpy()
        assert x.grad is not None and x.grad.shape == x.data.shape
        np.testing.assert_allclose(x.grad, expected, rtol=TOL, atol=TOL)


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4), seed=seeds)
@SETTINGS
def test_binary_op_with_broadcasting_matches_torch(name, shapes, seed):
    rng = np.random.default_rng(seed)
    a_shape, b_shape = shapes.input_shapes
    # positive operands keep a / b and a ** b well defined
    a, b = data(rng, a_shape, 0.5, 2.0), data(rng, b_shape, 0.5, 2.0)
    compare_with_torch(BINARY[name], BINARY[name], [a, b], seed)


def test_mixing_with_plain_numbers_and_arrays_matches_torch():
    x = np.random.default_rng(0).uniform(0.5, 2, (3, 4))
    c = np.arange(4.0)

    def f(t, c):
        return (2 * t - 1 + t / 3 - (1 - t) * 0.5 + 2**t + t**2 + 1 / t + c * t + c).sum()

    # ours takes the numpy array c as it is (ndarray * Tensor calls Tensor.__rmul__)
    compare_with_torch(lambda t: f(t, c), lambda t: f(t, torch.tensor(c)), [x])


UNARY = {
    "neg": (lambda t: -t, lambda t: -t),
    "relu": (lambda t: t.relu(), torch.relu),
    "tanh": (lambda t: t.tanh(), torch.tanh),
    "exp": (lambda t: t.exp(), torch.exp),
    "log": (lambda t: (t * t + 0.1).log(), lambda t: (t * t + 0.1).log()),
    "sigmoid": (lambda t: t.sigmoid(), torch.sigmoid),
    "softmax0": (lambda t: t.softmax(axis=0), lambda t: t.softmax(dim=0)),
    "softmax": (lambda t: t.softmax(), lambda t: t.softmax(dim=-1)),
    "log_softmax": (lambda t: t.log_softmax(), lambda t: t.log_softmax(dim=-1)),
    "log_softmax0": (lambda t: t.log_softmax(axis=0), lambda t: t.log_softmax(dim=0)),
    "sum": (lambda t: t.sum(), lambda t: t.sum()),
    "sum0": (lambda t: t.sum(axis=0), lambda t: t.sum(dim=0)),
    "sum-1keep": (lambda t: t.sum(axis=-1, keepdims=True), lambda t: t.sum(-1, keepdim=True)),
    "mean": (lambda t: t.mean(), lambda t: t.mean()),
    "mean0keep": (lambda t: t.mean(axis=0, keepdims=True), lambda t: t.mean(0, keepdim=True)),
    "max": (lambda t: t.max(), lambda t: t.amax()),
    "max-1": (lambda t: t.max(axis=-1), lambda t: t.amax(dim=-1)),
    "max0keep": (lambda t: t.max(axis=0, keepdims=True), lambda t: t.amax(0, keepdim=True)),
    "reshape": (lambda t: t.reshape(-1), lambda t: t.reshape(-1)),
    "T": (lambda t: t.T, lambda t: t.permute(*reversed(range(t.ndim)))),
    "slice": (lambda t: t[1:], lambda t: t[1:]),
    "first": (lambda t: t[0], lambda t: t[0]),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=5), seed=seeds)
@SETTINGS
def test_unary_op_matches_torch(name, shape, seed):
    ours, theirs = UNARY[name]
    compare_with_torch(ours, theirs, [data(np.random.default_rng(seed), shape)], seed)


@given(n=st.integers(1, 5), k=st.integers(1, 5), m=st.integers(1, 5),
       batch=st.sampled_from([(), (3,), (2, 1)]), seed=seeds)
@SETTINGS
def test_matmul_matches_torch(n, k, m, batch, seed):
    rng = np.random.default_rng(seed)
    a, b = data(rng, (*batch, n, k)), data(rng, (k, m))
    compare_with_torch(lambda x, y: x @ y, lambda x, y: x @ y, [a, b], seed)
    v = data(rng, (k,))  # vector @ matrix and matrix @ vector
    compare_with_torch(lambda x, y: x @ y, lambda x, y: x @ y, [v, b], seed)
    compare_with_torch(lambda x, y: x @ y, lambda x, y: x @ y, [a, v], seed)


def test_integer_array_indexing_adds_repeated_rows():
    rng = np.random.default_rng(0)
    logp = data(rng, (5, 3))
    rows, cols = np.array([0, 1, 2, 3, 4, 0]), np.array([2, 0, 1, 1, 0, 2])  # (0, 2) twice
    compare_with_torch(lambda t: t[rows, cols], lambda t: t[rows, cols], [logp])
    compare_with_torch(lambda t: t[[4, 4, 1]], lambda t: t[[4, 4, 1]], [logp])
    mask = logp > 0
    compare_with_torch(lambda t: t[mask], lambda t: t[torch.from_numpy(mask)], [logp])


def test_transpose_with_axes_matches_torch():
    x = data(np.random.default_rng(1), (2, 3, 4))
    compare_with_torch(lambda t: t.transpose(1, 2, 0), lambda t: t.permute(1, 2, 0), [x])


@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3), seed=seeds)
@SETTINGS
def test_node_used_several_times_accumulates_gradients(shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = data(rng, shapes.input_shapes[0]), data(rng, shapes.input_shapes[1])

    def f(a, b):
        z = a * b + a.tanh()  # a feeds z twice, z is reused three times below
        return (z * z + (z * a).sigmoid() - b * z).sum()

    compare_with_torch(f, f, [a, b], seed)


def test_unbroadcast_sums_back_to_the_input_shape():
    g = np.ones((4, 2, 3))
    assert unbroadcast(g, (3,)).tolist() == [8.0, 8.0, 8.0]
    assert unbroadcast(g, (2, 1)).shape == (2, 1)
    assert unbroadcast(g, (2, 1))[0, 0] == 12.0
    assert unbroadcast(g, ()).item() == 24.0


def test_softmax_and_log_softmax_are_stable_for_huge_logits():
    x = Tensor(np.array([[1000.0, 0.0, -1000.0]]), requires_grad=True)
    lp = x.log_softmax()
    assert np.all(np.isfinite(lp.data)) and lp.data[0, 0] == 0.0
    lp.sum().backward()
    assert np.all(np.isfinite(x.grad))
    np.testing.assert_allclose(x.softmax().data, [[1.0, 0.0, 0.0]], atol=1e-12)


def test_float32_is_kept_through_forward_and_backward():
    W = Tensor(np.ones((3, 2), dtype=np.float32), requires_grad=True)
    x = Tensor(np.ones((4, 3), dtype=np.float32))
    y = ((x @ W).relu() * 2.5 + 1).log_softmax().sum() / 3
    assert y.dtype == np.float32
    y.backward()
    assert W.grad.dtype == np.float32


def test_ints_and_lists_become_float64():
    assert Tensor([1, 2, 3]).dtype == np.float64
    assert Tensor(np.arange(3)).dtype == np.float64
    assert Tensor(2.5).dtype == np.float64


@pytest.mark.parametrize("bad", [np.zeros(2, dtype=np.float16), np.zeros(2, dtype=complex),
                                 np.array(["a"])])
def test_unsupported_dtype_names_the_supported_ones(bad):
    with pytest.raises(TypeError, match=r"unsupported dtype .*float64 and float32"):
        Tensor(bad)


def test_matmul_shape_mismatch_names_both_shapes():
    a, b = Tensor(np.ones((2, 3))), Tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 5\)"):
        a @ b


def test_backward_without_seed_on_nonscalar_raises():
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    with pytest.raises(RuntimeError, match="seed gradient is needed"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"seed gradient has shape \(3,\), expected \(2, 2\)"):
        (x * 2).backward(np.ones(3))


def test_backward_on_a_constant_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(np.ones(2)).sum().backward()


def test_no_grad_records_no_graph():
    w = Tensor(np.ones(3), requires_grad=True)
    with no_grad():
        y = (w * 2).sum()
    assert not y.requires_grad and y._prev == ()
    assert (w * 2).sum().requires_grad  # and it is switched back on afterwards


def test_leaf_gradients_accumulate_and_zero_grad_resets():
    w = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    (w * w).sum().backward()
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad, 2 * 2 * w.data)
    w.zero_grad()
    assert w.grad is None


def test_deep_chain_does_not_hit_recursion_limit():
    x = Tensor(np.ones(2), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0, 1.0])


@given(shape=array_shapes(min_dims=1, max_dims=2, max_side=3), seed=seeds)
@settings(max_examples=10, deadline=None)
def test_gradcheck_agrees_with_backward(shape, seed):
    rng = np.random.default_rng(seed)
    a = Tensor(data(rng, shape), requires_grad=True)
    b = Tensor(data(rng, shape[-1:]), requires_grad=True)
    result = gradcheck(lambda a, b: ((a * b).tanh() + a.softmax() * b).log_softmax(), [a, b])
    # central differences with h = 1e-6 on a scalar of size ~10 (a weighted sum of <= 9
    # log-probabilities): rounding ~ 10 u * 10 / h ~ 1e-8 dominates the h^2 truncation
    # (~1e-11), so 1e-7 leaves a factor of 10; a wrong derivative is off by O(1)
    assert result.passed and result.max_abs_error < 1e-7, result


def test_gradcheck_catches_a_wrong_backward():
    def bad_exp(t):  # the derivative of exp is exp, not 2 exp
        e = np.exp(t.data)
        return Tensor.from_op(e, (t,), lambda g: (2 * g * e,), "bad_exp")

    x = Tensor(np.array([0.1, 0.2, 0.3]), requires_grad=True)
    result = gradcheck(lambda t: bad_exp(t).sum(), [x])
    assert not result.passed
    assert result.max_rel_error == pytest.approx(0.5, rel=1e-4)
