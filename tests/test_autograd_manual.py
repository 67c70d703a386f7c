"""The hand-written backward of `aibook.autograd.manual` against our `Tensor`, torch's autograd
and finite differences (float64).

Tolerances, from the arithmetic (u = 2**-53 ~ 1.1e-16). Each gradient entry is a sum of
products; two implementations that add in different orders, or whose exp, log and tanh
differ in the last bit, differ by at most c * u * (the same sum taken over absolute values),
with c about the number of terms along the chain, here <= N + H + K + 10 ~ 50. `magnitudes`
computes those absolute sums, and the comparisons allow 1e-12 of them, 9e3 u (the worst seen
over 300 random draws of the sizes below was 57 u). Relative to the absolute sums, not to
each entry: an entry that cancels to nearly 0 has no relative accuracy in any
implementation. A wrong line of the backward (a missing transpose, 1 - A1 instead of
1 - A1^2, a missing 1/N) is off by O(1) of them.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from aibook.autograd import MLP, Tensor, cross_entropy
from aibook.autograd import manual as M

TOL = 1e-12


def draw(seed: int, N: int, D: int, H: int, K: int, scale: float = 1.0):
    """params as MLP([D, H, K], "tanh", seed) makes them, X ~ scale * N(0, 1), y uniform."""
    rng = np.random.default_rng(seed)
    params = M.init_params(D, H, K, seed=seed)
    return params, scale * rng.standard_normal((N, D)), rng.integers(0, K, N)


def magnitudes(params, cache) -> dict[str, np.ndarray]:
    """Each gradient's chain of sums taken over absolute values: the scale of its rounding.

    tanh'(z) = 1 - A1^2 is replaced by 1, its bound: A1 may differ in the last bit between
    two tanh implementations, and then 1 - A1^2 differs by ~u absolutely, not relatively.
    """
    X, y, A1, P = cache["X"], cache["y"], cache["A1"], cache["P"]
    N = len(y)
    onehot = np.eye(P.shape[1])[y]
    dZ2 = (P + onehot) / N
    dA1 = dZ2 @ np.abs(params["W2"]).T
    return {"dW2": np.abs(A1).T @ dZ2, "db2": dZ2.sum(axis=0), "dW1": np.abs(X).T @ dA1,
            "db1": dA1.sum(axis=0), "dX": dA1 @ np.abs(params["W1"]).T}


def assert_close(ours: dict, theirs: dict, scale: dict) -> None:
    for name in scale:
        err = np.abs(ours[name] - theirs[name])
        assert np.all(err <= TOL * scale[name]), \
            f"{name}: error {(err / scale[name]).max():.3g} x its rounding scale"


def engine_grads(params, X, y):
    """The same network in our Tensor engine: MLP([D, H, K], "tanh") with the same weights."""
    D, H = params["W1"].shape
    K = params["W2"].shape[1]
    model = MLP([D, H, K], "tanh")
    for layer, W, b in zip(model.layers, ("W1", "W2"), ("b1", "b2"), strict=True):
        layer.W.data, layer.b.data = params[W].copy(), params[b].copy()
    Xt = Tensor(X, requires_grad=True)
    loss = cross_entropy(model(Xt), y)
    loss.backward()
    first, second = model.layers
    return loss.item(), {"dW1": first.W.grad, "db1": first.b.grad, "dW2": second.W.grad,
                         "db2": second.b.grad, "dX": Xt.grad}


def torch_grads(params, X, y):
    """torch.autograd on the same formula; torch.nn.Linear would store W transposed."""
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    Xt = torch.tensor(X, requires_grad=True)
    logits = torch.tanh(Xt @ t["W1"] + t["b1"]) @ t["W2"] + t["b2"]
    loss = F.cross_entropy(logits, torch.from_numpy(y))
    loss.backward()
    grads = {f"d{k}": v.grad.numpy() for k, v in t.items()}
    return loss.item(), {**grads, "dX": Xt.grad.numpy()}


sizes = {"N": st.integers(1, 16), "D": st.integers(1, 8), "H": st.integers(1, 8),
         "K": st.integers(1, 6), "seed": st.integers(0, 2**31 - 1),
         "scale": st.sampled_from([0.1, 1.0, 10.0])}  # 10: many tanh units saturate


@given(**sizes)
@settings(max_examples=60, deadline=None)
def test_manual_backward_matches_our_engine_and_torch(N, D, H, K, seed, scale):
    params, X, y = draw(seed, N, D, H, K, scale)
    loss, cache = M.forward(params, X, y)
    grads = M.backward(params, cache)
    scale_of = magnitudes(params, cache)
    # the loss: mean of logsumexp - Z2[y], terms of size <= 2 max|Z2| + log K
    loss_tol = TOL * (1 + 2 * np.abs(cache["Z2"]).max() + np.log(K))
    for reference in (engine_grads, torch_grads):
        ref_loss, ref_grads = reference(params, X, y)
        assert loss == pytest.approx(ref_loss, rel=0, abs=loss_tol)
        assert set(ref_grads) == set(grads)
        assert_close(grads, ref_grads, scale_of)
        for name, g in grads.items():
            assert g.shape == ref_grads[name].shape, name


@given(N=st.integers(1, 16), K=st.integers(1, 8), seed=st.integers(0, 2**31 - 1),
       spread=st.sampled_from([1.0, 10.0, 30.0]))
@settings(max_examples=60, deadline=None)
def test_long_way_equals_short_way(N, K, seed, spread):
    # every entry of dZ2 lies in [-1/N, 1/N] and both ways compute it to a few u / N. The long
    # way divides by probs: they stay far above underflow (1e-308) while logits of a row differ
    # by less than 700, and with spread <= 30 a difference of 700 is a 16-sigma draw
    rng = np.random.default_rng(seed)
    Z2, y = spread * rng.standard_normal((N, K)), rng.integers(0, K, N)
    loss_long, dZ2_long = M.softmax_cross_entropy_long(Z2, y)
    m = Z2.max(axis=1, keepdims=True)
    E = np.exp(Z2 - m)
    P = E / E.sum(axis=1, keepdims=True)
    dZ2 = M.softmax_cross_entropy_grad(P, y)
    np.testing.assert_allclose(dZ2_long, dZ2, rtol=0, atol=TOL / N)
    np.testing.assert_allclose(dZ2.sum(axis=1), 0, atol=TOL / N)  # rows of dZ2 sum to 0
    lse = m[:, 0] + np.log(E.sum(axis=1))  # the loss as forward computes it
    assert loss_long == pytest.approx(np.mean(lse - Z2[np.arange(N), y]),
                                      rel=0, abs=TOL * (1 + np.abs(Z2).max()))


def test_long_way_equals_the_cached_short_way_in_the_network():
    params, X, y = draw(0, 12, 5, 7, 4)
    _, cache = M.forward(params, X, y)
    _, dZ2_long = M.softmax_cross_entropy_long(cache["Z2"], y)
    np.testing.assert_allclose(dZ2_long, M.softmax_cross_entropy_grad(cache["P"], y),
                               rtol=0, atol=TOL / 12)


@given(seed=st.integers(0, 2**31 - 1))
@settings(max_examples=10, deadline=None)
def test_manual_backward_matches_central_differences(seed):
    # (f(x + h) - f(x - h)) / 2h errs by h^2 |f'''| / 6 + u |f| / h ~ 2e-11 for h = 1e-5 and
    # f, f''' = O(1) (tanh and softmax have bounded derivatives; inputs ~N(0, 1)): 1e-8
    # leaves a factor of ~500. Four entries of each tensor, drawn at random.
    params, X, y = draw(seed, 6, 4, 5, 3)
    grads = M.backward(params, M.forward(params, X, y)[1])
    rng = np.random.default_rng(seed)
    h = 1e-5
    tensors = {**params, "X": X}
    for name, T in tensors.items():
        for _ in range(4):
            idx = tuple(int(rng.integers(n)) for n in T.shape)
            old = T[idx]
            T[idx] = old + h
            up = M.forward(params, tensors["X"], y)[0]
            T[idx] = old - h
            down = M.forward(params, tensors["X"], y)[0]
            T[idx] = old
            assert grads[f"d{name}"][idx] == pytest.approx((up - down) / (2 * h), abs=1e-8), \
                (name, idx)


def test_a_wrong_backward_would_be_caught():
    # the comparison has teeth: 1 - A1 for tanh' is off by O(1) of the rounding scale
    params, X, y = draw(1, 8, 4, 5, 3)
    _, cache = M.forward(params, X, y)
    grads = M.backward(params, cache)
    wrong = dict(grads, dW1=X.T @ ((M.softmax_cross_entropy_grad(cache["P"], y)
                                    @ params["W2"].T) * (1 - cache["A1"])))
    with pytest.raises(AssertionError, match="dW1"):
        assert_close(wrong, torch_grads(params, X, y)[1], magnitudes(params, cache))


def test_params_follow_linear_orientation_and_mlp_init():
    params = M.init_params(3, 4, 2, seed=5)
    assert {k: v.shape for k, v in params.items()} == {
        "W1": (3, 4), "b1": (4,), "W2": (4, 2), "b2": (2,)}
    model = MLP([3, 4, 2], "tanh", seed=5)
    np.testing.assert_array_equal(params["W1"], model.layers[0].W.data)
    np.testing.assert_array_equal(params["b2"], model.layers[1].b.data)
    params["W1"][0, 0] += 1  # a copy: the model is untouched
    assert params["W1"][0, 0] != model.layers[0].W.data[0, 0]


def test_bad_inputs_raise_clear_errors():
    params, X, y = draw(0, 5, 3, 4, 2)
    with pytest.raises(ValueError, match=r"missing \['b2'\]"):
        M.forward({k: v for k, v in params.items() if k != "b2"}, X, y)
    with pytest.raises(ValueError, match=r"got W1 \(3, 4\), b1 \(4,\), W2 \(5, 2\)"):
        M.forward(dict(params, W2=np.zeros((5, 2))), X, y)
    with pytest.raises(ValueError, match=r"expected X of shape \(N, D\) = \(N, 3\)"):
        M.forward(params, X[:, :2], y)
    with pytest.raises(ValueError, match=r"expected X of shape .* with N >= 1, got \(0, 3\)"):
        M.forward(params, X[:0], y[:0])
    with pytest.raises(ValueError, match=r"labels y of shape \(N,\) = \(5,\), got \(4,\)"):
        M.forward(params, X, y[:4])
    with pytest.raises(ValueError, match=r"labels must be in \[0, K\) = \[0, 2\)"):
        M.forward(params, X, np.array([0, 1, 2, 0, 1]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, K\)"):
        M.forward(params, X, np.array([0, -1, 1, 0, 1]))
    with pytest.raises(ValueError, match="labels y must be integers"):
        M.forward(params, X, np.array([0, 0.5, 1, 0, 1]))
    with pytest.raises(TypeError, match="X must hold numbers"):
        M.forward(params, np.array([["a"] * 3] * 5), y)
    with pytest.raises(ValueError, match="the cache lacks"):
        M.backward(params, {"X": X})
    with pytest.raises(ValueError, match="does not come from these params"):
        M.backward(M.init_params(3, 6, 2), M.forward(params, X, y)[1])
    with pytest.raises(ValueError, match="softmax_cross_entropy_long: labels must be in"):
        M.softmax_cross_entropy_long(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="expected a 2-layer MLP with tanh"):
        M.params_of(MLP([3, 4, 2], "relu"))


def test_integer_valued_float_labels_are_accepted():
    params, X, y = draw(0, 5, 3, 4, 2)
    assert M.forward(params, X, y.astype(float))[0] == M.forward(params, X, y)[0]
