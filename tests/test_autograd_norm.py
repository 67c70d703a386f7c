"""BatchNorm1d and LayerNorm of `aibook.autograd.norm` against torch.nn (float64).

Tolerance, from the arithmetic: both sides compute in float64 (u = 2**-53 ~ 1.1e-16). A
normalised entry x_hat = (x - mu) / sqrt(sigma^2 + eps) is a handful of operations on sums
of at most 16 terms, so it carries a relative error of ~50 u ~ 5e-15; in a batch of N,
|x_hat| <= sqrt(N - 1) < 4. The input gradient, gamma / sigma * (g - mean(g) - x_hat
mean(g x_hat)), is of size ~|gamma| |g| / sigma and adds at most ~50 u of it. Inputs are
x = shift + scale * N(0, 1) with |shift| <= 3 and scale in [0.5, 3], so sigma is usually
O(1) but may be small for N = 2 or D = 1 (cancellation in x - mu then costs up to
|x| u / sigma): errors are therefore measured relative to the size of the compared array,
max |ours - torch| <= TOL * max(1, max |torch|), with TOL = 1e-10. Measured over 3000
random cases of the tests below (N, D, momentum, leading dimensions), the worst scaled error
was 3e-12 (from a small sigma), the median 2e-16 and the 99th percentile 3e-14: TOL leaves
a factor of 30 on the worst. A wrong variance (unbiased instead of biased: a factor
N/(N-1)), a wrong momentum or a missing eps is off by far more (eps alone moves x_hat by
~eps / sigma^2 > 1e-7 relative; the others by O(1)).
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aibook.autograd import BatchNorm1d, LayerNorm, Tensor, gradcheck, no_grad

TOL = 1e-10
SETTINGS = settings(max_examples=30, deadline=None)
seeds = st.integers(0, 2**31 - 1)


def assert_close(ours: np.ndarray, theirs, what: str) -> None:
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    assert ours.shape == theirs.shape, (what, ours.shape, theirs.shape)
    err = np.abs(ours - theirs).max(initial=0.0)
    assert err <= TOL * max(1.0, np.abs(theirs).max(initial=0.0)), (what, err)


def inputs(rng: np.random.Generator, shape) -> np.ndarray:
    """Features with their own offset and scale, so that normalising changes something."""
    D = shape[-1]
    return rng.uniform(-3, 3, D) + rng.uniform(0.5, 3, D) * rng.standard_normal(shape)


def pair(ours, theirs, rng: np.random.Generator):
    """Give our layer and torch's the same random gamma (weight) and beta (bias)."""
    D = ours.gamma.shape[0]
    gamma, beta = rng.uniform(0.5, 2, D) * rng.choice([-1, 1], D), rng.standard_normal(D)
    ours.gamma.data[...], ours.beta.data[...] = gamma, beta
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(gamma))
        theirs.bias.copy_(torch.from_numpy(beta))


def step_both(ours, theirs, X: np.ndarray, rng: np.random.Generator) -> None:
    """Forward and backward (random upstream gradient) through both; compare all of it."""
    for p in (*ours.parameters(), *theirs.parameters()):
        p.grad = None
    x, xt = Tensor(X.copy(), requires_grad=True), torch.tensor(X, requires_grad=True)
    y, yt = ours(x), theirs(xt)
    assert_close(y.data, yt, "output")
    g = rng.standard_normal(X.shape)
    y.backward(g)
    yt.backward(torch.from_numpy(g))
    assert_close(x.grad, xt.grad, "grad of x")
    assert_close(ours.gamma.grad, theirs.weight.grad, "grad of gamma")
    assert_close(ours.beta.grad, theirs.bias.grad, "grad of beta")


# ---- BatchNorm1d ------------------------------------------------------------------------


@given(N=st.integers(2, 16), D=st.integers(1, 12), seed=seeds)
@SETTINGS
def test_batchnorm_train_mode_matches_torch_forward_and_grads(N, D, seed):
    rng = np.random.default_rng(seed)
    ours, theirs = BatchNorm1d(D), torch.nn.BatchNorm1d(D).double()
    pair(ours, theirs, rng)
    step_both(ours, theirs, inputs(rng, (N, D)), rng)
    assert_close(ours.running_mean, theirs.running_mean, "running_mean")
    assert_close(ours.running_var, theirs.running_var, "running_var")


@given(sizes=st.lists(st.integers(2, 16), min_size=2, max_size=6), D=st.integers(1, 12),
       momentum=st.sampled_from([0.1, 0.5, None]), seed=seeds)
@SETTINGS
def test_batchnorm_running_statistics_and_eval_mode_match_torch_after_training(
        sizes, D, momentum, seed):
    # several training steps (batch sizes `sizes`, an SGD step on gamma and beta in between),
    # then eval mode on a new batch: the running statistics, outputs and gradients agree
    rng = np.random.default_rng(seed)
    ours, theirs = BatchNorm1d(D, momentum=momentum), torch.nn.BatchNorm1d(D, momentum=momentum)
    theirs = theirs.double()
    pair(ours, theirs, rng)
    for N in sizes:
        step_both(ours, theirs, inputs(rng, (N, D)), rng)
        assert_close(ours.running_mean, theirs.running_mean, "running_mean")
        assert_close(ours.running_var, theirs.running_var, "running_var")
        with no_grad(), torch.no_grad():
            for p, pt in zip(ours.parameters(), theirs.parameters(), strict=True):
                p.data -= 0.1 * p.grad
                pt -= 0.1 * pt.grad
    assert ours.num_batches_tracked == theirs.num_batches_tracked.item() == len(sizes)
    # the statistics moved away from their start (0, 1): eval mode is not the identity map
    assert np.abs(ours.running_mean).max() > 0.05
    assert ours.eval() is ours and not ours.training
    theirs.eval()
    mean_before = ours.running_mean.copy()
    step_both(ours, theirs, inputs(rng, (int(rng.integers(1, 9)), D)), rng)
    np.testing.assert_array_equal(ours.running_mean, mean_before)  # eval does not update


def test_batchnorm_output_is_standardised_per_feature():
    # gamma = 1, beta = 0: each column has mean 0 and variance sigma^2 / (sigma^2 + eps)
    X = inputs(np.random.default_rng(0), (64, 5))
    y = BatchNorm1d(5)(Tensor(X)).data
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=0), X.var(axis=0) / (X.var(axis=0) + 1e-5), rtol=1e-12)


def test_batchnorm_backward_agrees_with_finite_differences():
    # independent of torch: central differences, h = 1e-6, on outputs of size ~1; rounding
    # ~u / h ~ 1e-10 per entry, truncation ~h^2 ~ 1e-12; gradcheck's atol 1e-5 is far above
    rng = np.random.default_rng(1)
    bn = BatchNorm1d(3)
    pair(bn, torch.nn.BatchNorm1d(3).double(), rng)
    x = Tensor(inputs(rng, (4, 3)), requires_grad=True)
    result = gradcheck(lambda x, g, b: bn(x), [x, bn.gamma, bn.beta])
    assert result.passed, result


def test_batchnorm_batch_of_one_raises_in_training_only():
    x = np.ones((1, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):  # torch, too
        torch.nn.BatchNorm1d(3).double()(torch.from_numpy(x))
    bn = BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"more than 1 example per feature .*\(1, 3\)"):
        bn(Tensor(x))
    assert bn.num_batches_tracked == 0
    # in eval mode one example is normalised with the running statistics (0 and 1 here)
    y = bn.eval()(Tensor(x)).data
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-5), rtol=1e-15)


@pytest.mark.parametrize("shape", [(4, 2), (4, 3, 5), (3,), ()])
def test_batchnorm_wrong_shape_names_the_expected_one(shape):
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3\), got " +
                       str(shape).replace("(", r"\(").replace(")", r"\)")):
        BatchNorm1d(3)(Tensor(np.ones(shape)))


def test_train_and_eval_switch_the_mode_and_return_self():
    bn = BatchNorm1d(2)
    assert bn.training
    assert bn.eval() is bn and not bn.training
    assert bn.train() is bn and bn.training
    assert bn.train(False) is bn and not bn.training


def test_running_statistics_are_state_not_parameters():
    bn = BatchNorm1d(4)
    assert [p.shape for p in bn.parameters()] == [(4,), (4,)]
    assert {id(p) for p in bn.parameters()} == {id(bn.gamma), id(bn.beta)}


def test_batchnorm_updates_running_statistics_under_no_grad_in_training_mode():
    # as torch does: the mode, not the gradient switch, decides
    bn = BatchNorm1d(2)
    with no_grad():
        bn(Tensor(np.array([[1.0, 2.0], [3.0, 6.0]])))
    np.testing.assert_allclose(bn.running_mean, 0.1 * np.array([2.0, 4.0]), rtol=1e-15)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * np.array([2.0, 8.0]), rtol=1e-15)


@pytest.mark.parametrize("kwargs, match", [
    ({"D": 0}, "D must be a positive int"),
    ({"D": 2.0}, "D must be a positive int"),
    ({"D": 2, "eps": 0.0}, "eps must be positive"),
    ({"D": 2, "momentum": 1.5}, "momentum must be in"),
])
def test_batchnorm_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchNorm1d(**kwargs)


# ---- LayerNorm --------------------------------------------------------------------------


@given(lead=st.lists(st.integers(1, 5), min_size=0, max_size=2), N=st.integers(1, 16),
       D=st.integers(1, 12), seed=seeds)
@SETTINGS
def test_layernorm_matches_torch_forward_and_grads(lead, N, D, seed):
    rng = np.random.default_rng(seed)
    ours, theirs = LayerNorm(D), torch.nn.LayerNorm(D).double()
    pair(ours, theirs, rng)
    step_both(ours, theirs, inputs(rng, (*lead, N, D)), rng)


def test_layernorm_output_is_standardised_per_example():
    X = inputs(np.random.default_rng(0), (6, 40))
    y = LayerNorm(40)(Tensor(X)).data
    var = X.var(axis=1)
    np.testing.assert_allclose(y.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=1), var / (var + 1e-5), rtol=1e-12)


def test_layernorm_backward_agrees_with_finite_differences():
    rng = np.random.default_rng(2)
    ln = LayerNorm(4)
    pair(ln, torch.nn.LayerNorm(4).double(), rng)
    x = Tensor(inputs(rng, (2, 3, 4)), requires_grad=True)
    result = gradcheck(lambda x, g, b: ln(x), [x, ln.gamma, ln.beta])
    assert result.passed, result


@pytest.mark.parametrize("shape", [(4, 2), (3, 4), ()])
def test_layernorm_wrong_shape_names_the_expected_one(shape):
    with pytest.raises(ValueError, match=r"expected input of shape \(\.\.\., 3\)"):
        LayerNorm(3)(Tensor(np.ones(shape)))


def test_float32_is_kept():
    x = Tensor(inputs(np.random.default_rng(0), (8, 3)).astype(np.float32), requires_grad=True)
    for layer in (BatchNorm1d(3, dtype=np.float32), LayerNorm(3, dtype=np.float32)):
        y = layer(x)
        assert y.dtype == np.float32
        y.sum().backward()
        assert x.grad.dtype == layer.gamma.grad.dtype == np.float32
    bn = BatchNorm1d(3, dtype=np.float32)
    bn(x)
    assert bn.running_var.dtype == np.float32
