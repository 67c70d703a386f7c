"""Tests for aibook.gan: losses against hand computations, D*, mode metrics, models, training."""

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from aibook.device import seed_for
from aibook.gan import (
    DigitsDiscriminator,
    DigitsGANConfig,
    DigitsGenerator,
    MLPDiscriminator,
    MLPGenerator,
    RingGANConfig,
    discriminator_loss,
    ema_update,
    generator_loss,
    gradient_penalty,
    mode_metrics,
    nearest_neighbour_distances,
    optimal_discriminator,
    pack,
    ring_centers,
    sample_ring,
    train_digits_gan,
    train_ring_gan,
    train_ring_gans,
)
from aibook.gan.metrics import (
    class_balance,
    class_mean_baseline,
    feature_frechet_distance,
    frechet_distance,
    psd_sqrt,
)
from aibook.timing import torch_threads

REAL = [0.0, 2.0, -1.5]  # logits, all exact in float32
FAKE = [-1.0, 0.5]
seeds = st.integers(0, 2**31 - 1)  # hypothesis draws the seed, so a failure replays

EPS32 = torch.finfo(torch.float32).eps  # 1.19e-7: a float32 rounding errs by at most EPS32 / 2
EPS64 = torch.finfo(torch.float64).eps  # 2.2e-16


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The networks here are tiny: one thread is faster and immune to a busy machine."""
    with torch_threads(1):
        yield


def sigmoid(a: float) -> float:
    return 1 / (1 + math.exp(-a))


# ---------------------------------------------------------------- losses
def test_discriminator_loss_equals_hand_computation_and_bce():
    hand = (-sum(math.log(sigmoid(a)) for a in REAL) / len(REAL)
            - sum(math.log(1 - sigmoid(a)) for a in FAKE) / len(FAKE))
    got = discriminator_loss(torch.tensor(REAL, dtype=torch.float64),
                             torch.tensor(FAKE, dtype=torch.float64))
    # float64 both ways: 5 positive terms (softplus values <= 2.2, the loss ~2.5), each
    # computed with <= 5 roundings (exp, log, 1 - s, ...), 2 means and a sum: every step errs
    # by <= EPS64 / 2 relative, <= 32 steps on the way -> 16 EPS64 x the loss.
    assert got.item() == pytest.approx(hand, rel=16 * EPS64, abs=0)
    bce = (F.binary_cross_entropy_with_logits(torch.tensor(REAL), torch.ones(3))
           + F.binary_cross_entropy_with_logits(torch.tensor(FAKE), torch.zeros(2)))
    # float32 BCE: positive terms again; the longest chain is a softplus (<= 4 roundings),
    # a 3-term sum, a division and the final sum (4): <= 8 roundings -> 4 EPS32 relative.
    assert got.item() == pytest.approx(bce.item(), rel=4 * EPS32, abs=0)


def test_generator_losses_equal_hand_computations():
    fake = torch.tensor(FAKE, dtype=torch.float64)
    saturating = sum(math.log(1 - sigmoid(a)) for a in FAKE) / len(FAKE)
    non_saturating = -sum(math.log(sigmoid(a)) for a in FAKE) / len(FAKE)
    # float64, 2 terms of the same sign, <= 16 roundings on the way: 8 EPS64 relative
    assert generator_loss(fake, "saturating").item() == pytest.approx(saturating, rel=8 * EPS64)
    assert generator_loss(fake).item() == pytest.approx(non_saturating, rel=8 * EPS64)


def test_saturating_gradient_vanishes_where_non_saturating_does_not():
    # d/da log(1 - sigmoid(a)) = -sigmoid(a); d/da -log sigmoid(a) = sigmoid(a) - 1 (per sample).
    a = torch.tensor([-8.0, 0.0, 3.0], dtype=torch.float64, requires_grad=True)
    (g_sat,) = torch.autograd.grad(generator_loss(a, "saturating"), a)
    (g_ns,) = torch.autograd.grad(generator_loss(a, "non_saturating"), a)
    s = torch.sigmoid(a.detach())
    # float64 values <= 1/3: a sigmoid (exp, +1, division), 1 - s and /3 on each side:
    # <= 10 roundings of numbers <= 1 -> 5 EPS64 absolute.
    torch.testing.assert_close(g_sat, -s / 3, rtol=0, atol=5 * EPS64)
    torch.testing.assert_close(g_ns, (s - 1) / 3, rtol=0, atol=5 * EPS64)
    assert abs(g_sat[0]) < 1e-3 < abs(g_ns[0])  # D(G(z)) = sigmoid(-8) ~ 3e-4: fakes rejected


def test_losses_reject_bad_input():
    with pytest.raises(ValueError, match="kind must be one of"):
        generator_loss(torch.zeros(2), "minimax")
    with pytest.raises(ValueError, match="empty"):
        discriminator_loss(torch.zeros(0), torch.zeros(2))
    with pytest.raises(TypeError, match="floating-point"):
        generator_loss(torch.zeros(2, dtype=torch.long))
    with pytest.raises(TypeError, match="torch.Tensor"):
        discriminator_loss([0.0], torch.zeros(1))


# ---------------------------------------------------------------- D*
def normal_pdf(x: torch.Tensor, mu: float, sigma: float = 1.0) -> torch.Tensor:
    return torch.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def test_optimal_discriminator_maximises_value_in_1d():
    # p_data = N(0, 1), p_g = N(1, 1): log p_data / p_g = 1/2 - x, so D* = sigmoid(1/2 - x).
    x = torch.linspace(-8, 9, 20001, dtype=torch.float64)
    p_data, p_g = normal_pdf(x, 0.0), normal_pdf(x, 1.0)
    d_star = optimal_discriminator(p_data, p_g)
    # float64: the exponents (x - mu)^2 / 2 <= 41 carry <= 4 roundings each, so each density
    # is off by <= 4 x EPS64/2 x 41 relative (and a few EPS64 more); D* = a / (a + b) moves by
    # <= D* (1 - D*) <= 1/4 of the relative difference of the two, and the sigmoid by a few
    # EPS64: 1/4 x 2 x (82 + 4) EPS64 + 4 EPS64 ~ 47 EPS64 -> 64 EPS64.
    torch.testing.assert_close(d_star, torch.sigmoid(0.5 - x), rtol=0, atol=64 * EPS64)

    def value(D: torch.Tensor) -> float:  # V(D) = int p_data log D + p_g log(1 - D) dx
        return torch.trapezoid(p_data * D.log() + p_g * (1 - D).log(), x).item()

    best = value(d_star)
    # Rounding in V: a sum of 20,001 terms whose absolute values add up to ~1.4 (times the
    # step): <= 20,001 x EPS64 x 1.4 ~ 6e-12 -> 1e-11. The truncated tails (|x - mu| >= 8)
    # hold < 1e-15 of the mass, and the trapezoid rule is spectrally accurate on Gaussians.
    quadrature = 1e-11
    for bump in (0.05, -0.05):  # any perturbation must lower V, by ~4e-3 (second order)
        assert value((d_star + bump * torch.exp(-x**2)).clamp(1e-9, 1 - 1e-9)) < best - 1e-6
    # At the optimum V = -log 4 + 2 JSD(p_data || p_g) >= -log 4; equality iff p_g = p_data.
    assert best > -math.log(4) + quadrature
    assert value(optimal_discriminator(p_data, p_data)) == pytest.approx(-math.log(4),
                                                                        abs=quadrature)


def test_optimal_discriminator_rejects_bad_densities():
    with pytest.raises(ValueError, match="same shape"):
        optimal_discriminator(torch.ones(3), torch.ones(2))
    with pytest.raises(ValueError, match="non-negative"):
        optimal_discriminator(torch.tensor([-0.1]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="undefined"):
        optimal_discriminator(torch.tensor([0.0]), torch.tensor([0.0]))


# ---------------------------------------------------------------- gradient penalty
def test_gradient_penalty_of_linear_critic_is_norm_minus_one_squared():
    w = torch.tensor([3.0, 4.0], dtype=torch.float64)  # ||w|| = 5, so the penalty is 16
    g = torch.Generator().manual_seed(0)
    real = torch.randn(7, 2, dtype=torch.float64, generator=g)
    fake = torch.randn(7, 2, dtype=torch.float64, generator=g)
    gp = gradient_penalty(lambda x: x @ w, real, fake, generator=g)
    # The gradient is w itself; norm, -1, square and mean: <= 5 roundings of numbers <= 16.
    assert gp.item() == pytest.approx(16.0, rel=0, abs=5 * EPS64 * 16)


def test_gradient_penalty_of_quadratic_critic_matches_hand_computation():
    # critic(x) = sum x^2 has gradient 2 x_hat; recompute eps with the same seed.
    g = torch.Generator().manual_seed(0)
    real = torch.randn(5, 1, 2, 2, dtype=torch.float64, generator=g)
    fake = torch.randn(5, 1, 2, 2, dtype=torch.float64, generator=g)
    gp = gradient_penalty(lambda x: (x**2).flatten(1).sum(1), real, fake,
                          generator=torch.Generator().manual_seed(3))
    eps = torch.rand(5, 1, 1, 1, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x_hat = eps * real + (1 - eps) * fake
    hand = ((2 * x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean()
    # float64: x_hat (3 roundings), a norm of 4 squares (5), then 2 n - 1, the square and a
    # mean of 5 (8): <= 16 roundings, each <= EPS64 / 2 relative to the positive result.
    assert gp.item() == pytest.approx(hand.item(), rel=8 * EPS64, abs=0)


def test_gradient_penalty_is_differentiable_in_critic_parameters():
    torch.manual_seed(0)
    critic = torch.nn.Linear(2, 1)
    g = torch.Generator().manual_seed(0)
    gp = gradient_penalty(lambda x: critic(x).squeeze(1), torch.randn(4, 2, generator=g),
                          torch.randn(4, 2, generator=g), generator=g)
    gp.backward()
    assert critic.weight.grad is not None and critic.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(critic, torch.zeros(4, 2), torch.zeros(3, 2))


# ---------------------------------------------------------------- ring and mode metrics
CENTERS = ring_centers()


def test_ring_centers_lie_on_the_circle_evenly():
    assert CENTERS.shape == (8, 2)
    # float32: cos and sin (<= 1 ulp each), x 2 (exact), then a norm (<= 3 roundings):
    # <= 4 EPS32 relative on the radius, whatever the angle's own rounding.
    torch.testing.assert_close(CENTERS.norm(dim=1), torch.full((8,), 2.0), rtol=4 * EPS32,
                               atol=0)
    # The angles 2 pi i / 8 are rounded to float32 (two roundings: <= EPS32 x 2 pi ~ 7.5e-7),
    # which moves each centre by <= 2 x 7.5e-7 along the circle, plus <= 2 EPS32 x 2 from
    # cos and sin: each gap is off by <= 2 x (1.5e-6 + 4.8e-7) + 4 EPS32 x 1.5 < 5e-6.
    gaps = torch.linalg.vector_norm(CENTERS - CENTERS.roll(1, 0), dim=1)
    torch.testing.assert_close(gaps, torch.full((8,), 4 * math.sin(math.pi / 8)), rtol=0,
                               atol=5e-6)


def test_mode_metrics_all_modes_hit():
    samples = CENTERS.repeat(25, 1) + 0.01  # 25 per mode, 0.014 < 3 * 0.02 from each centre
    assert mode_metrics(samples, CENTERS, 0.02) == (8, 1.0)


def test_mode_metrics_one_mode_only():
    samples = CENTERS[3] + 0.02 * torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    modes, hq = mode_metrics(samples, CENTERS, 0.02)
    assert modes == 1
    # chi2(2): P(r < 3 sigma) = 0.9889; the fraction of 500 has sd 0.0047, so 0.02 is 4.3 sd
    # (a draw fails with probability ~2e-5 at any seed).
    assert hq == pytest.approx(1 - math.exp(-4.5), abs=0.02)


def test_mode_metrics_off_mode_noise_scores_zero():
    # Near 0: a point of N(0, 0.3^2 I) is within 3 sigma = 0.06 of the radius-2 ring with
    # probability < exp(-1.94^2 / (2 x 0.09)) ~ 8e-10, so 1000 of them score 0 at any seed.
    samples = 0.3 * torch.randn(1000, 2, generator=torch.Generator().manual_seed(0))
    assert mode_metrics(samples, CENTERS, 0.02) == (0, 0.0)


def test_mode_metrics_counts_threshold_and_mixed_quality():
    on = torch.cat([CENTERS[0].repeat(20, 1), CENTERS[1].repeat(19, 1)])  # 19 < min_count
    samples = torch.cat([on, torch.zeros(39, 2)])
    modes, hq = mode_metrics(samples, CENTERS, 0.02, min_count=20)
    assert modes == 1 and hq == pytest.approx(0.5)
    with pytest.raises(ValueError, match="expected samples"):
        mode_metrics(torch.zeros(5, 3), CENTERS, 0.02)
    with pytest.raises(ValueError, match="std > 0"):
        mode_metrics(on, CENTERS, 0.0)


@settings(max_examples=25, deadline=None)
@given(seed=seeds)
def test_real_ring_samples_cover_every_mode_at_chi2_quality(seed):
    samples = sample_ring(20_000, generator=torch.Generator().manual_seed(seed))
    modes, hq = mode_metrics(samples, CENTERS, 0.02)
    # 2-D Gaussian: P(|x - mu| < 3 sigma) = 1 - exp(-9/2) = 0.9889; the fraction of 20,000
    # has sd 7.4e-4, so 0.004 is 5.4 sd (each mode gets 2,500 +- 47 samples, far above 20).
    assert modes == 8 and hq == pytest.approx(1 - math.exp(-4.5), abs=0.004)


def test_sample_ring_rejects_bad_arguments():
    with pytest.raises(ValueError, match="positive int"):
        sample_ring(0)
    with pytest.raises(ValueError, match="std must be > 0"):
        sample_ring(5, std=-1.0)


# ---------------------------------------------------------------- models
@settings(max_examples=25, deadline=None)
@given(packs=st.integers(1, 6), m=st.integers(1, 4), z_dim=st.integers(1, 5), seed=seeds)
def test_mlp_shapes_and_packing(packs, m, z_dim, seed):
    torch.manual_seed(seed)
    G = MLPGenerator(z_dim=z_dim, hidden=8, depth=2)
    D = MLPDiscriminator(hidden=8, depth=2, pack=m)
    x = G(torch.randn(packs * m, z_dim))
    assert x.shape == (packs * m, 2)
    assert D(x).shape == (packs,)
    packed = pack(x, m)
    for j in range(packs):  # packing only moves numbers: exact
        torch.testing.assert_close(packed[j], torch.cat([x[j * m + i] for i in range(m)]),
                                   rtol=0, atol=0)
    assert packed.shape == (packs, 2 * m)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(2, 9), z_dim=st.integers(1, 16), seed=seeds)
def test_digits_models_shapes_and_range(n, z_dim, seed):
    torch.manual_seed(seed)
    G, D = DigitsGenerator(z_dim=z_dim, width=8), DigitsDiscriminator(width=8)
    images = G(torch.randn(n, z_dim))
    assert images.shape == (n, 1, 8, 8)
    assert images.min() >= 0 and images.max() <= 1
    assert D(images).shape == (n,)


def test_minibatch_std_makes_each_logit_depend_on_the_whole_batch():
    torch.manual_seed(0)
    x = torch.randn(6, 2)
    y = x.clone()
    y[5] += 3.0  # change only the last row
    for mbstd in (False, True):
        D = MLPDiscriminator(hidden=8, depth=2, minibatch_std=mbstd)
        changed = (D(x)[:5] - D(y)[:5]).abs().max().item()
        # Without it rows 0-4 are the same ops on the same numbers: exactly 0. With it they
        # move by |w_std| x (the change in the batch's std), ~1e-2 here; 1e-6 sits between.
        assert (changed > 1e-6) == mbstd
        assert mbstd or changed == 0
    with pytest.raises(ValueError, match="at least 2"):
        MLPDiscriminator(minibatch_std=True)(torch.zeros(1, 2))


def test_models_reject_wrong_shapes():
    with pytest.raises(ValueError, match=r"cannot be split into packs of 3"):
        MLPDiscriminator(pack=3)(torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"expected z of shape \(N, 2\)"):
        MLPGenerator()(torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"expected images \(N, 1, 8, 8\)"):
        DigitsDiscriminator()(torch.zeros(4, 64))
    with pytest.raises(ValueError, match="pack must be a positive int"):
        MLPDiscriminator(pack=0)


# ---------------------------------------------------------------- training
def test_ring_training_repeats_with_a_seed_and_differs_across_seeds():
    cfg = RingGANConfig(steps=12, batch_size=32, hidden=16, depth=2, pack=2, snapshot_every=4)
    a, b, c = (train_ring_gan(cfg, s, progress=False) for s in (0, 0, 1))
    assert a.d_losses == b.d_losses and a.g_losses == b.g_losses
    torch.testing.assert_close(a.sample(50), b.sample(50), rtol=0, atol=0)
    assert a.d_losses != c.d_losses
    assert sorted(a.snapshots) == [1, 4, 8, 12]


def test_ema_update_is_the_exponential_moving_average():
    a0, c = torch.tensor([1.0, -2.0, 4.0]), torch.tensor([3.0, 0.0, 4.0])
    a = a0.clone()
    for _ in range(5):  # constant input: a_k = c + decay^k (a_0 - c)
        ema_update([a], [c], 0.8)
    # float32: 5 lerps of <= 3 roundings each, 3 more for the closed form, all of numbers
    # <= 4: 18 x EPS32 / 2 x 4 -> 9 EPS32 x 4.
    torch.testing.assert_close(a, c + 0.8**5 * (a0 - c), rtol=0, atol=9 * EPS32 * 4)
    b = a0.clone()
    ema_update([b], [c], 0.0)  # decay 0 copies the current value
    assert torch.equal(b, c)
    with pytest.raises(ValueError, match=r"decay must lie in \[0, 1\)"):
        ema_update([a], [c], 1.0)
    with pytest.raises(ValueError, match="shapes"):
        ema_update([a], [torch.zeros(2)], 0.5)
    with pytest.raises(ValueError, match="averages"):
        ema_update([a, a], [c], 0.5)


def test_ring_training_keeps_the_ema_of_the_generator_weights():
    """After 2 steps with decay d: G_ema = d^2 theta_0 + d (1 - d) theta_1 + (1 - d) theta_2,
    with theta_0 the initial weights and theta_1 those of the same run stopped after 1 step."""
    d, seed = 0.7, 3
    cfg = RingGANConfig(steps=2, batch_size=16, hidden=8, depth=2, ema=d, minibatch_std=True)
    two = train_ring_gan(cfg, seed, progress=False)
    one = train_ring_gan(RingGANConfig(**{**vars(cfg), "steps": 1}), seed, progress=False)
    torch.manual_seed(seed_for(seed))
    init = MLPGenerator(cfg.z_dim, 2, cfg.hidden, cfg.depth)  # built as the trainer builds it
    for name, p_ema in two.G_ema.named_parameters():
        theta = [dict(m.named_parameters())[name] for m in (init, one.G, two.G)]
        expected = d**2 * theta[0] + d * (1 - d) * theta[1] + (1 - d) * theta[2]
        # float32: 2 lerps (<= 3 roundings each) against 3 products and 2 sums, all of
        # numbers <= max |theta|: 11 x EPS32 / 2 -> 6 EPS32 x max |theta|.
        scale = max(t.abs().max().item() for t in theta)
        torch.testing.assert_close(p_ema, expected, rtol=0, atol=6 * EPS32 * scale)
        assert not torch.equal(p_ema, theta[2])
    assert not torch.equal(two.sample(20, ema=True), two.sample(20))
    with pytest.raises(ValueError, match="kept no EMA"):
        train_ring_gan(RingGANConfig(steps=1, hidden=8, ema=0.0),
                       progress=False).sample(5, ema=True)
    with pytest.raises(ValueError, match=r"ema must lie in \[0, 1\)"):
        train_ring_gan(RingGANConfig(steps=1, ema=1.0), progress=False)


def test_digits_training_repeats_with_a_seed():
    X = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    cfg = DigitsGANConfig(steps=5, batch_size=8, z_dim=4, width=8)
    a, b = (train_digits_gan(X, cfg, seed=2, progress=False) for _ in range(2))
    assert a.d_losses == b.d_losses
    torch.testing.assert_close(a.sample(6), b.sample(6), rtol=0, atol=0)


def test_training_rejects_bad_configs():
    with pytest.raises(ValueError, match="distinct seeds"):
        train_ring_gans(RingGANConfig(steps=1), seeds=(0, 0), progress=False)
    with pytest.raises(ValueError, match="lr > 0"):
        train_ring_gan(RingGANConfig(lr=0.0), progress=False)
    with pytest.raises(ValueError, match="loss must be"):
        train_ring_gan(RingGANConfig(loss="wasserstein"), progress=False)
    with pytest.raises(ValueError, match=r"expected X of shape \(N, 1, 8, 8\)"):
        train_digits_gan(torch.rand(10, 64), progress=False)
    with pytest.raises(ValueError, match=r"pixels must lie in \[0, 1\]"):
        train_digits_gan(torch.full((10, 1, 8, 8), 2.0), progress=False)


# ---------------------------------------------------------------- nearest neighbours
def test_nearest_neighbour_distances_match_brute_force():
    rng = np.random.default_rng(0)
    q, r = rng.normal(size=(6, 1, 8, 8)), rng.normal(size=(9, 1, 8, 8))
    brute = np.array([min(np.linalg.norm(a - b) for b in r) for a in q])
    got = nearest_neighbour_distances(torch.tensor(q), torch.tensor(r))
    # float32 cdist against float64: the inputs round to float32, then a sum of 64 squares
    # (<= 64 roundings, relative to the sum) and a square root (which halves relative errors):
    # <= 64 EPS32 relative on the distance.
    np.testing.assert_allclose(got.numpy(), brute, rtol=64 * EPS32, atol=0)
    self_nn = nearest_neighbour_distances(torch.tensor(r), torch.tensor(r), exclude_self=True)
    assert (self_nn > 0).all()
    with pytest.raises(ValueError, match="features"):
        nearest_neighbour_distances(torch.zeros(2, 3), torch.zeros(2, 4))


# ---------------------------------------------------------------- sample-quality metrics
def random_spd(rng: np.random.Generator, d: int) -> np.ndarray:
    A = rng.normal(size=(d, d))
    return A @ A.T + 0.1 * np.eye(d)  # eigenvalues >= 0.1: well conditioned


def test_psd_sqrt_squares_back_and_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    C = random_spd(rng, 6)
    R = psd_sqrt(C)
    # float64 eigendecomposition of a matrix with condition number < 1e3: errors of a few
    # hundred EPS64 relative to ||C||; 1e-10 leaves ample room.
    np.testing.assert_allclose(R @ R, C, atol=1e-10 * np.abs(C).max())
    np.testing.assert_allclose(R, scipy.linalg.sqrtm(C).real, atol=1e-10 * np.abs(C).max())
    np.testing.assert_allclose(R, R.T, atol=0)


def test_frechet_distance_closed_forms():
    mu_1, mu_2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    C = random_spd(np.random.default_rng(1), 3)
    # equal covariances: the trace terms cancel, only ||mu_1 - mu_2||^2 = 1 + 0 + 4 = 5 remains
    assert frechet_distance(mu_1, C, mu_2, C) == pytest.approx(5.0, abs=1e-9)
    # diagonal covariances: sum_i (sqrt(a_i) - sqrt(b_i))^2 + ||mu_1 - mu_2||^2
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = 5.0 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()  # 5 + 1 + 1 + 0 = 7
    assert frechet_distance(mu_1, np.diag(a), mu_2, np.diag(b)) == pytest.approx(expected,
                                                                                  abs=1e-9)
    assert frechet_distance(mu_1, C, mu_1, C) == pytest.approx(0.0, abs=1e-9)


@given(seed=seeds, d=st.integers(1, 8))
@settings(max_examples=25, deadline=None)
def test_frechet_distance_matches_the_scipy_sqrtm_formula(seed, d):
    rng = np.random.default_rng(seed)
    mu_1, mu_2 = rng.normal(size=d), rng.normal(size=d)
    C_1, C_2 = random_spd(rng, d), random_spd(rng, d)
    # The usual FID code: tr(C_1 + C_2 - 2 sqrtm(C_1 C_2)), a general (non-symmetric) root.
    reference = (((mu_1 - mu_2) ** 2).sum() + np.trace(C_1 + C_2)
                 - 2 * np.trace(scipy.linalg.sqrtm(C_1 @ C_2).real))
    ours = frechet_distance(mu_1, C_1, mu_2, C_2)
    # both in float64 on matrices of size <= 8 with entries O(d): 1e-8 relative to the traces
    assert ours == pytest.approx(reference, abs=1e-8 * (np.trace(C_1) + np.trace(C_2)))
    assert ours == pytest.approx(frechet_distance(mu_2, C_2, mu_1, C_1),
                                 abs=1e-8 * (np.trace(C_1) + np.trace(C_2)))  # symmetric


def test_feature_frechet_distance_recovers_known_gaussians():
    rng = np.random.default_rng(2)
    n, shift = 20_000, np.array([1.0, 0.0])
    F_1 = rng.normal(size=(n, 2))  # N(0, I)
    F_2 = shift + 2.0 * rng.normal(size=(n, 2))  # N(shift, 4 I)
    expected = 1.0 + 2 * (1.0 - 2.0) ** 2  # ||shift||^2 + sum_i (1 - 2)^2 = 3
    # sampling error of means and covariances at n = 20,000: standard errors about
    # 2 / sqrt(n) = 0.014 per entry; 0.1 is several standard errors of the sum.
    assert feature_frechet_distance(F_1, F_2) == pytest.approx(expected, abs=0.1)
    same = feature_frechet_distance(F_1[: n // 2], F_1[n // 2:])
    assert 0 <= same < 0.01  # two halves of one sample: only the finite-n bias remains


def test_frechet_distance_rejects_bad_shapes():
    with pytest.raises(ValueError, match="covariances"):
        frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="features"):
        feature_frechet_distance(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="square"):
        psd_sqrt(np.zeros((2, 3)))


def test_class_balance_matches_scipy_chisquare_and_counts():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    balance = class_balance(labels, 4)
    np.testing.assert_array_equal(balance.counts, [50, 30, 20, 0])
    assert balance.min_share == 0.0
    # by hand: expected 25 each; (25^2 + 5^2 + 5^2 + 25^2) / 25 = 52
    assert balance.chi2 == pytest.approx(52.0, rel=1e-12)
    assert balance.p_value == pytest.approx(scipy.stats.chi2.sf(52.0, 3), rel=1e-9)
    uniform = class_balance(np.repeat(np.arange(10), 7), 10)
    assert uniform.min_share == pytest.approx(0.1) and uniform.chi2 == 0 and uniform.p_value == 1
    with pytest.raises(ValueError, match="integers"):
        class_balance(np.array([0, 1, 4]), 4)


def test_class_mean_baseline_draws_each_class_around_its_mean():
    X = torch.tensor([[0.2, 0.8]] * 50 + [[0.9, 0.1]] * 50) + 0.05 * torch.randn(
        100, 2, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0] * 50 + [1] * 50)
    out = class_mean_baseline(X.clamp(0, 1), y, 4000, generator=torch.Generator().manual_seed(1))
    assert out.shape == (4000, 2) and out.min() >= 0 and out.max() <= 1
    near_first = (out - torch.tensor([0.2, 0.8])).norm(dim=1) < 0.3
    # each of 4000 draws picks a class with probability 1/2: the share lies within 0.5 +- 0.05
    # (6 standard deviations of a binomial share at n = 4000)
    assert abs(near_first.float().mean().item() - 0.5) < 0.05
    with pytest.raises(ValueError, match="n must be"):
        class_mean_baseline(X, y, 0)
