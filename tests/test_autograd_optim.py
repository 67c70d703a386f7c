"""Weight decay in `aibook.autograd.optim` (Adam's L2 and AdamW's decoupled decay) and the
schedules of `aibook.autograd.schedules`, against torch.optim (float64); how L2 and decoupled
decay differ; the learning-rate range test on least squares.

Plain SGD, momentum, SGD with weight decay and Adam already follow torch.optim in
tests/test_autograd_nn.py; this file adds Adam(weight_decay) and AdamW.

Tolerances, from the arithmetic (u = 2**-53 ~ 1.1e-16): the model is a tanh MLP with at most
6 units a layer, inputs ~N(0, 1), so every gradient entry is computed to ~100 u relative
between two summation orders (see tests/test_autograd_nn.py). An Adam step moves a weight by
about lr (lr * m_hat / sqrt(v_hat)), computed to ~100 u relative: 20 steps at lr <= 0.05
drift apart by ~20 * 0.05 * 100 u ~ 1e-14. The weights are O(1), so they are compared to
1e-12 absolute, a factor of ~100 to spare (the largest gap measured was 4e-16). A wrong rule
(L2 where decoupled decay belongs, decay not scaled by lr) is off by ~lr * wd * |theta|
~ 1e-4 per step or more.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from aibook.autograd import MLP, SGD, Adam, Linear, Tensor, cross_entropy, mse, train_step
from aibook.autograd.optim import AdamW
from aibook.autograd.schedules import Scheduler, lr_range_test, suggest_lr, warmup_cosine
from aibook.finetune.params import warmup_factor

TOL = 1e-12
STEPS = 20


def torch_copy(model: MLP) -> torch.nn.Sequential:
    """The same tanh MLP in torch (torch.nn.Linear stores W transposed, as (d_out, d_in))."""
    layers: list[torch.nn.Module] = []
    for i, lin in enumerate(model.layers):
        t = torch.nn.Linear(*lin.W.shape).double()
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(lin.W.data.T.copy()))
            t.bias.copy_(torch.from_numpy(lin.b.data.copy()))
        layers.append(t)
        if i < len(model.layers) - 1:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


def problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((16, 4)), rng.integers(0, 3, 16)
    return X, y, MLP([4, 6, 3], "tanh", seed=seed)


def weights(model: MLP) -> list[np.ndarray]:
    """Our weights in torch's order and orientation: W1^T, b1, W2^T, b2."""
    return [p.copy() for lin in model.layers for p in (lin.W.data.T, lin.b.data)]


def trajectory(make_opt, steps: int = STEPS, seed: int = 0) -> list[list[np.ndarray]]:
    """Our weights after each of `steps` full-batch steps of make_opt(params)."""
    X, y, model = problem(seed)
    opt = make_opt(model.parameters())
    out = []
    for _ in range(steps):
        train_step(model, opt, X, y)
        out.append(weights(model))
    return out


def torch_trajectory(make_opt, steps: int = STEPS, seed: int = 0) -> list[list[np.ndarray]]:
    X, y, model = problem(seed)
    reference = torch_copy(model)
    opt = make_opt(reference.parameters())
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(reference(Xt), yt).backward()
        opt.step()
        out.append([p.detach().numpy().copy() for p in reference.parameters()])
    return out


def max_gap(a: list[list[np.ndarray]], b: list[list[np.ndarray]]) -> float:
    return max(np.abs(p - q).max() for ps, qs in zip(a, b, strict=True)
               for p, q in zip(ps, qs, strict=True))


@pytest.mark.parametrize("name, ours, theirs", [
    ("adam-l2", lambda p: Adam(p, lr=0.01, weight_decay=0.1),
     lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1)),
    ("adam-l2-betas", lambda p: Adam(p, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.5),
     lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.5)),
    ("adamw-defaults", lambda p: AdamW(p), lambda p: torch.optim.AdamW(p)),
    ("adamw", lambda p: AdamW(p, lr=0.01, weight_decay=0.1),
     lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1)),
    ("adamw-betas", lambda p: AdamW(p, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.5),
     lambda p: torch.optim.AdamW(p, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.5)),
])
def test_weight_decay_follows_torch_trajectory_for_20_steps(name, ours, theirs):
    a, b = trajectory(ours), torch_trajectory(theirs)
    assert len(a) == len(b) == STEPS
    assert max_gap(a, b) <= TOL, name
    # and the weights did move: Adam's first step alone moves each weight by ~lr
    assert np.abs(a[-1][0] - weights(problem()[2])[0]).max() > 1e-3


def test_adamw_without_decay_is_adam():
    a = trajectory(lambda p: AdamW(p, lr=0.01, weight_decay=0.0))
    b = trajectory(lambda p: Adam(p, lr=0.01))
    assert max_gap(a, b) == 0.0  # the same operations in the same order


def test_l2_in_adam_and_decoupled_decay_give_different_trajectories():
    # the same wd = 0.1 at lr = 0.01: AdamW shrinks each weight by lr * wd * |theta| ~ 5e-4
    # per step beside the Adam step; Adam's L2 term wd * theta is normalised with the gradient
    # instead. After 20 steps they are far apart compared with TOL (measured: 0.36)
    l2 = trajectory(lambda p: Adam(p, lr=0.01, weight_decay=0.1))
    decoupled = trajectory(lambda p: AdamW(p, lr=0.01, weight_decay=0.1))
    assert max_gap(l2, decoupled) > 1e-3


def test_for_a_weight_the_loss_ignores_adamw_decays_geometrically_and_l2_in_adam_does_not():
    # a weight with no gradient from the loss: AdamW multiplies it by (1 - lr wd) each step,
    # exactly; Adam with L2 sees g = wd * theta, and Adam's update g / sqrt(v) is blind to
    # the scale of g, so the weight moves by ~lr per step whatever wd is
    lr, theta0 = 0.01, 1.0

    def run(opt_class, wd):
        w = Tensor(np.array([theta0]), requires_grad=True)
        opt = opt_class([w], lr=lr, weight_decay=wd)
        path = []
        for _ in range(STEPS):
            w.grad = np.zeros(1)  # the loss does not depend on w
            opt.step()
            path.append(w.data[0])
        return np.array(path)

    t = np.arange(1, STEPS + 1)
    for wd in (0.1, 0.01):
        np.testing.assert_allclose(run(AdamW, wd), theta0 * (1 - lr * wd) ** t, rtol=1e-13)
    # Adam + L2: the two wd's differ only through eps = 1e-8 against |g| >= 0.01 * 0.8, a
    # relative 1e-6 of each ~lr step: <= 20 * 0.01 * 1e-6 = 2e-7 apart after 20 steps
    np.testing.assert_allclose(run(Adam, 0.1), run(Adam, 0.01), rtol=0, atol=1e-6)
    # each step moves it by lr * m_hat / sqrt(v_hat), a ratio near 1 for a gradient that
    # keeps its sign and changes slowly (g = wd * theta shrinks by < 20 % over the 20 steps)
    moved = theta0 - run(Adam, 0.01)[-1]
    assert 0.5 * STEPS * lr < moved < 1.5 * STEPS * lr
    # AdamW with the same wd = 0.01 moves it by 1 - (1 - 1e-4)^20 ~ 2e-3, ~100 times less
    assert moved > 50 * (theta0 - run(AdamW, 0.01)[-1])


def sgd_with_decoupled_decay(lr: float, wd: float, momentum: float = 0.0):
    """Our SGD without weight decay, after a decay theta <- (1 - lr * wd) theta of its own."""
    X, y, model = problem()
    opt = SGD(model.parameters(), lr=lr, momentum=momentum)
    out = []
    for _ in range(STEPS):
        opt.zero_grad()
        cross_entropy(model(Tensor(X)), y).backward()
        for p in opt.params:  # after backward, so the gradient is taken at the old theta
            p.data *= 1 - lr * wd
        opt.step()
        out.append(weights(model))
    return out


def test_under_plain_sgd_l2_equals_decoupled_decay_scaled_by_lr():
    # theta - lr (g + wd theta) = (1 - lr wd) theta - lr g: one update, two roundings apart
    lr, wd = 0.1, 0.05
    l2 = trajectory(lambda p: SGD(p, lr=lr, weight_decay=wd))
    assert max_gap(l2, sgd_with_decoupled_decay(lr, wd)) <= TOL
    # and they are not both trivially equal to no decay at all: lr * wd = 5e-3 per step
    assert max_gap(l2, trajectory(lambda p: SGD(p, lr=lr))) > 1e-3


def test_with_momentum_l2_and_decoupled_decay_differ():
    # momentum accumulates the L2 term wd * theta in v, and decoupled decay is not in v
    lr, wd = 0.1, 0.05
    l2 = trajectory(lambda p: SGD(p, lr=lr, momentum=0.9, weight_decay=wd))
    assert max_gap(l2, sgd_with_decoupled_decay(lr, wd, momentum=0.9)) > 1e-3


def test_adamw_rejects_negative_weight_decay():
    with pytest.raises(ValueError, match="AdamW: weight_decay must be >= 0"):
        AdamW(MLP([2, 1]).parameters(), weight_decay=-0.1)
    with pytest.raises(ValueError, match="betas must be in"):
        AdamW(MLP([2, 1]).parameters(), betas=(1.0, 0.9))


# ---- learning-rate schedules (aibook.autograd.schedules) ---------------------------------
#
# Tolerance of the schedules: torch's LinearLR and CosineAnnealingLR update the lr recursively
# (lr_k = lr_{k-1} * ratio), each step adding a few u relative; over T <= 300 steps that is
# <= 1e3 u ~ 1e-13 of lr_max (the worst measured over 300 random schedules: 32 u). Compared to
# 1e-12 * lr_max. An off-by-one in the convention is off by ~lr_max / W or ~lr_max / (T - W).


def torch_warmup_cosine(T: int, W: int, lr_max: float, lr_min: float):
    """The lr of torch's k-th update, k = 1..T, in the loop opt.step(); sched.step()."""
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=lr_max)
    if W == 1:  # no warm-up: the first update is already at the peak
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=T - 1, eta_min=lr_min)
    elif W == T:  # no cosine
        sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / W, total_iters=W - 1)
    else:
        linear = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / W, total_iters=W - 1)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=T - W, eta_min=lr_min)
        sched = torch.optim.lr_scheduler.SequentialLR(opt, [linear, cosine], milestones=[W - 1])
    lrs = []
    for _ in range(T):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(lrs)


@given(T=st.integers(2, 300), W_frac=st.floats(0, 1), lr_max=st.floats(1e-5, 10.0),
       min_frac=st.sampled_from([0.0, 0.01, 0.5, 1.0]))
@settings(max_examples=60, deadline=None)
def test_warmup_cosine_equals_torch_sequential_linear_then_cosine(T, W_frac, lr_max, min_frac):
    W = 1 + round(W_frac * (T - 1))  # 1 <= W <= T
    lr_min = min_frac * lr_max
    ours = np.array([warmup_cosine(k, T, W, lr_max, lr_min) for k in range(1, T + 1)])
    np.testing.assert_allclose(ours, torch_warmup_cosine(T, W, lr_max, lr_min),
                               rtol=0, atol=1e-12 * lr_max)


def test_warmup_cosine_landmarks():
    T, W, lr_max, lr_min = 100, 10, 0.1, 0.001
    lr = [warmup_cosine(s, T, W, lr_max, lr_min) for s in range(T + 1)]
    assert lr[0] == 0.0  # the line starts at 0, a point no update takes
    assert lr[1] == pytest.approx(lr_max / W, rel=1e-15)
    assert lr[W] == lr_max and lr[T] == pytest.approx(lr_min, rel=1e-15)
    assert lr[(T + W) // 2 + 0] == pytest.approx((lr_max + lr_min) / 2, rel=1e-12)  # cos(pi/2)
    assert np.all(np.diff(lr[: W + 1]) > 0) and np.all(np.diff(lr[W:]) < 0)
    assert warmup_cosine(T + 1, T, W, lr_max, lr_min) == lr_min  # stays there after T
    assert warmup_cosine(10**6, T, W, lr_max, lr_min) == lr_min
    assert warmup_cosine(np.int64(W), T, W, lr_max) == lr_max  # numpy ints are ints


def test_warmup_cosine_edge_cases():
    # W = 0: the peak sits at s = 0, before the first update
    assert warmup_cosine(0, 10, 0, 1.0) == 1.0
    assert warmup_cosine(1, 10, 0, 1.0) == pytest.approx((1 + np.cos(np.pi / 10)) / 2)
    assert warmup_cosine(10, 10, 0, 1.0) == 0.0
    # W = T: warm-up only; lr_min = lr_max: flat after the warm-up; T = 1
    assert [warmup_cosine(s, 4, 4, 1.0) for s in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert {warmup_cosine(s, 10, 2, 0.3, 0.3) for s in range(2, 11)} == {0.3}
    assert warmup_cosine(1, 1, 1, 0.5) == 0.5 and warmup_cosine(1, 1, 0, 0.5) == 0.0


def test_warmup_cosine_is_transformers_curve_counted_from_1():
    # finetune.warmup_factor is get_cosine_schedule_with_warmup's multiplier at step s; the
    # curve is the same, only which s the first update takes differs (there s = 0, lr 0)
    T, W, lr_max = 50, 7, 0.3
    for s in range(T + 1):
        assert warmup_cosine(s, T, W, lr_max) == pytest.approx(
            lr_max * warmup_factor(s, W, T, "cosine"), rel=1e-14, abs=1e-17)


def test_warmup_cosine_rejects_bad_arguments():
    with pytest.raises(ValueError, match="0 <= warmup_steps <= total_steps.*warmup_steps=11"):
        warmup_cosine(1, 10, 11, 0.1)
    with pytest.raises(ValueError, match="need total_steps >= 1"):
        warmup_cosine(0, 0, 0, 0.1)
    with pytest.raises(ValueError, match="warmup_steps=-1"):
        warmup_cosine(1, 10, -1, 0.1)
    with pytest.raises(ValueError, match="need 0 <= lr_min <= lr_max and lr_max > 0"):
        warmup_cosine(1, 10, 2, -0.1)
    with pytest.raises(ValueError, match="lr_min=-0.01"):
        warmup_cosine(1, 10, 2, 0.1, lr_min=-0.01)
    with pytest.raises(ValueError, match="lr_min=0.2, lr_max=0.1"):
        warmup_cosine(1, 10, 2, 0.1, lr_min=0.2)
    with pytest.raises(ValueError, match="lr_max > 0"):
        warmup_cosine(1, 10, 2, 0.0)
    with pytest.raises(ValueError, match="lr_max=nan"):
        warmup_cosine(1, 10, 2, float("nan"))
    with pytest.raises(ValueError, match="step must be >= 0, got -1"):
        warmup_cosine(-1, 10, 2, 0.1)
    with pytest.raises(TypeError, match="step must be an int, got 1.5"):
        warmup_cosine(1.5, 10, 2, 0.1)
    with pytest.raises(TypeError, match="total_steps must be an int"):
        warmup_cosine(1, 10.0, 2, 0.1)


def test_scheduler_drives_our_sgd_as_torch_schedulers_drive_torch_sgd():
    # the whole trajectory, lr schedule included, equals torch's: TOL as for the optimizers
    T, W, lr_max, lr_min = 20, 5, 0.2, 0.01
    X, y, model = problem()
    reference = torch_copy(model)
    opt = SGD(model.parameters(), lr=lr_max, momentum=0.9)
    sched = Scheduler(opt, lambda k: warmup_cosine(k, T, W, lr_max, lr_min))
    opt_t = torch.optim.SGD(reference.parameters(), lr=lr_max, momentum=0.9)
    linear = torch.optim.lr_scheduler.LinearLR(opt_t, start_factor=1 / W, total_iters=W - 1)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt_t, T_max=T - W, eta_min=lr_min)
    sched_t = torch.optim.lr_scheduler.SequentialLR(opt_t, [linear, cosine], milestones=[W - 1])
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    used = []
    for _ in range(T):
        used.append(opt.lr)
        assert opt.lr == pytest.approx(opt_t.param_groups[0]["lr"], rel=0, abs=1e-12 * lr_max)
        train_step(model, opt, X, y)
        sched.step()
        opt_t.zero_grad()
        F.cross_entropy(reference(Xt), yt).backward()
        opt_t.step()
        sched_t.step()
        theirs = [p.detach().numpy() for p in reference.parameters()]
        assert max(np.abs(a - b).max() for a, b in zip(weights(model), theirs, strict=True)) \
            <= TOL
    assert used == [warmup_cosine(k, T, W, lr_max, lr_min) for k in range(1, T + 1)]
    assert sched.lrs[:T] == used and sched.k == T + 1 and opt.lr == lr_min


def test_scheduler_rejects_what_it_cannot_drive():
    with pytest.raises(TypeError, match="has no attribute `lr`"):
        Scheduler(object(), lambda k: 0.1)
    opt = SGD(MLP([2, 1]).parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"lr_at\(1\) = -0.1"):
        Scheduler(opt, lambda k: -0.1)
    sched = Scheduler(opt, lambda k: 0.1 if k < 3 else float("inf"))
    sched.step()
    with pytest.raises(ValueError, match=r"lr_at\(3\) = inf"):
        sched.step()


# ---- the learning-rate range test ---------------------------------------------------------


def least_squares(seed: int):
    """y = X w + noise with features of unequal scales; the Hessian of our mse on (w, b).

    mse = mean_i (x_i w + b - y_i)^2 has Hessian (2 / N) Xa^T Xa, Xa = [X, 1]; full-batch
    gradient descent converges iff lr < 2 / lambda_max.
    """
    rng = np.random.default_rng(seed)
    N, d = 64, 5
    X = rng.standard_normal((N, d)) * np.array([3.0, 1.0, 1.0, 0.5, 0.2])
    y = X @ rng.standard_normal((d, 1)) + 0.1 * rng.standard_normal((N, 1))
    Xa = np.hstack([X, np.ones((N, 1))])
    lambda_max = np.linalg.eigvalsh(2 / N * Xa.T @ Xa).max()

    def make_model_and_opt():
        model = Linear(d, 1, seed=seed)
        return model, SGD(model.parameters(), lr=1e-3)

    return X, y, lambda_max, make_model_and_opt


@given(seed=st.integers(0, 2**31 - 1))
@settings(max_examples=10, deadline=None)
def test_range_test_suggests_an_lr_within_a_decade_below_the_edge_of_stability(seed):
    # measured over 200 seeds, the suggestion fell at edge / 2.9 to edge / 3.4 (see
    # suggest_lr): the bounds edge and edge / 100 leave a factor of ~3 on one side and ~30 on
    # the other
    X, y, lambda_max, make = least_squares(seed)
    edge = 2 / lambda_max
    lrs, losses = lr_range_test(make, [(X, y)], 1e-4, 10.0, 400, loss_fn=mse)
    suggestion = suggest_lr(lrs, losses)
    assert edge / 100 < suggestion < edge
    assert len(lrs) < 400 and lrs[-1] > edge  # it stopped on divergence, past the edge
    assert losses[-1] > 4 * losses.min()
    np.testing.assert_allclose(lrs, 1e-4 * 1e5 ** (np.arange(len(lrs)) / 399), rtol=1e-12)
    # and the suggestion trains. Below the edge, GD on a quadratic lowers the loss at every
    # step: f(w - lr g) = f(w) - lr |g|^2 + lr^2 g^T H g / 2 <= f(w) - lr |g|^2 (1 - lr
    # lambda_max / 2). Over 200 steps the loss fell at least 5-fold on each of 200 seeds
    # (worst ratio 0.18); asserted: 2-fold
    model, opt = make()
    opt.lr = suggestion
    path = np.array([train_step(model, opt, X, y, mse) for _ in range(200)])
    assert np.all(np.diff(path) < 0) and path[-1] < 0.5 * path[0]


def test_range_test_with_beta_0_records_raw_losses_and_cycles_batches():
    X, y, _, make = least_squares(0)
    batches = [(X[:32], y[:32]), (X[32:], y[32:])]
    lrs, losses = lr_range_test(make, batches, 1e-4, 1e-3, 5, loss_fn=mse, beta=0.0)
    model, opt = make()  # the same fresh model, stepped by hand
    raw = []
    for k, lr in enumerate(lrs):
        opt.lr = lr
        raw.append(train_step(model, opt, *batches[k % 2], mse))
    np.testing.assert_array_equal(losses, raw)
    assert len(lrs) == 5 and lrs[0] == 1e-4 and lrs[-1] == pytest.approx(1e-3, rel=1e-15)


def test_range_test_and_suggest_lr_reject_bad_arguments():
    X, y, _, make = least_squares(0)
    with pytest.raises(ValueError, match="need 0 < lr_min < lr_max"):
        lr_range_test(make, [(X, y)], 1.0, 0.1, 10, loss_fn=mse)
    with pytest.raises(ValueError, match="need 0 < lr_min < lr_max"):
        lr_range_test(make, [(X, y)], -1e-3, 0.1, 10, loss_fn=mse)
    with pytest.raises(ValueError, match="steps must be >= 2"):
        lr_range_test(make, [(X, y)], 1e-3, 0.1, 1, loss_fn=mse)
    with pytest.raises(ValueError, match="got no batches"):
        lr_range_test(make, [], 1e-3, 0.1, 10, loss_fn=mse)
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\)"):
        lr_range_test(make, [(X, y)], 1e-3, 0.1, 10, loss_fn=mse, beta=1.0)
    with pytest.raises(TypeError, match="must return \\(model, optimizer\\)"):
        lr_range_test(lambda: (make()[0], torch.optim.SGD([torch.zeros(1)], lr=0.1)),
                      [(X, y)], 1e-3, 0.1, 10, loss_fn=mse)
    with pytest.raises(ValueError, match="same length >= 2"):
        suggest_lr([1e-3, 1e-2], [1.0])
    with pytest.raises(ValueError, match="positive and increasing"):
        suggest_lr([1e-2, 1e-3], [1.0, 2.0])
    with pytest.raises(ValueError, match="must be finite"):
        suggest_lr([1e-3, 1e-2], [1.0, float("nan")])
    with pytest.warns(UserWarning, match="did not reach divergence"):
        assert suggest_lr([1e-3, 1e-2, 1e-1], [3.0, 2.0, 1.0]) == pytest.approx(1e-2)
