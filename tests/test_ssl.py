"""Tests for aibook.ssl: NT-Xent against its written-out definition and a logsumexp by hand,
principal angles against scipy, the linear autoencoder against PCA, the VAE's KL and ELBO
against torch.distributions, MNIST-1D and its label subsets, augmentations, masking, the
linear probe against scikit-learn, and seeded, short training runs."""

import random

import numpy as np
import pytest
import scipy.linalg
import torch
from sklearn.datasets import make_blobs
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch.distributions import Bernoulli, Normal, kl_divergence

import aibook
from aibook.ssl import (
    VAE,
    AEConfig,
    Autoencoder,
    EfficiencyConfig,
    Encoder1D,
    MaskedConfig,
    MaskedModel,
    SimCLRConfig,
    VAEConfig,
    augment,
    elbo,
    features,
    gaussian_kl,
    linear_probe,
    mask_positions,
    mnist1d,
    nt_xent,
    nt_xent_loop,
    per_class,
    principal_angles,
    projection_head,
    reparameterize,
    train_autoencoder,
    train_masked,
    train_simclr,
    train_supervised,
    train_vae,
)
from aibook.ssl import data as ssl_data
from aibook.ssl.data import fingerprint
from aibook.ssl.masked import masked_mse
from aibook.timing import torch_threads


def params(*modules: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for m in modules for p in m.parameters()]


def same_params(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


# --- MNIST-1D ---------------------------------------------------------------------------------
# The state test comes first: it regenerates the data (a few seconds) and fills the cache the
# other tests then read.

def test_loading_mnist1d_leaves_the_global_random_state_alone():
    ssl_data._generate.cache_clear()
    np_before, py_before = np.random.get_state(), random.getstate()  # noqa: NPY002
    mnist1d()
    np_after, py_after = np.random.get_state(), random.getstate()  # noqa: NPY002
    assert np_before[0] == np_after[0]
    np.testing.assert_array_equal(np_before[1], np_after[1])
    assert np_before[2:] == np_after[2:]
    assert py_before == py_after


def test_mnist1d_shapes_labels_and_dtype():
    s = mnist1d()
    assert s.X_train.shape == (3000, 40)
    assert s.X_val.shape == (1000, 40)
    assert s.X_test.shape == (1000, 40)
    assert s.X_train.dtype == torch.float32
    for y in (s.y_train, s.y_val, s.y_test):
        assert set(y.tolist()) == set(range(10))
    assert mnist1d(dtype=torch.float64).X_train.dtype == torch.float64


def test_mnist1d_validation_is_stratified():
    s = mnist1d()
    train_part = torch.cat([s.y_train, s.y_val])
    whole = torch.bincount(train_part, minlength=10) / len(train_part)
    val = torch.bincount(s.y_val, minlength=10) / len(s.y_val)
    assert (val - whole).abs().max() < 0.01


def test_mnist1d_is_the_same_on_two_calls_and_another_seed_draws_another_validation_set():
    a, b, c = mnist1d(), mnist1d(), mnist1d(seed=1)
    for ta, tb in zip(a.astuple(), b.astuple(), strict=True):
        assert torch.equal(ta, tb)
    assert not torch.equal(a.X_val, c.X_val)
    assert torch.equal(a.X_test, c.X_test)
    # the validation draw only moves signals between train and validation
    pooled_a = torch.cat([a.X_train, a.X_val]).sum(0)
    pooled_c = torch.cat([c.X_train, c.X_val]).sum(0)
    torch.testing.assert_close(pooled_a, pooled_c, rtol=0, atol=1e-3)


def test_mnist1d_rejects_a_bad_validation_size():
    with pytest.raises(ValueError, match=r"expected 0 < val < 4000, got 0"):
        mnist1d(val=0)
    with pytest.raises(ValueError, match=r"expected 0 < val < 4000, got 4000"):
        mnist1d(val=4000)


def test_fingerprint_sees_a_change_of_1e_3_and_ignores_one_of_1e_9():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 40)), rng.integers(0, 10, 20)
    x[3, 7] = 0.5  # far from a rounding boundary of the 5th decimal
    base = fingerprint(x, y)
    assert len(base) == 64
    assert fingerprint(x.copy(), y.copy()) == base
    for delta, changes in ((1e-3, True), (1e-9, False)):
        x2 = x.copy()
        x2[3, 7] += delta
        assert (fingerprint(x2, y) != base) == changes
    y2 = y.copy()
    y2[0] = (y2[0] + 1) % 10
    assert fingerprint(x, y2) != base


# --- k labels per class -----------------------------------------------------------------------

Y_SMALL = np.random.default_rng(0).permutation(np.repeat([0, 1, 2], [5, 7, 9]))


def test_per_class_draws_exactly_k_of_each_class_sorted_without_duplicates():
    for k in (1, 3, 5):
        idx = per_class(Y_SMALL, k, seed=0)
        assert len(idx) == 3 * k
        assert np.all(np.diff(idx) > 0)  # sorted, and so no duplicates
        np.testing.assert_array_equal(np.bincount(Y_SMALL[idx], minlength=3), [k, k, k])
    # a tensor of labels works too
    np.testing.assert_array_equal(per_class(torch.as_tensor(Y_SMALL), 2, 0),
                                  per_class(Y_SMALL, 2, 0))


def test_per_class_is_deterministic_per_seed_and_differs_across_seeds():
    np.testing.assert_array_equal(per_class(Y_SMALL, 3, seed=4), per_class(Y_SMALL, 3, seed=4))
    draws = {tuple(per_class(Y_SMALL, 3, seed=s)) for s in range(5)}
    assert len(draws) > 1


def test_per_class_rejects_k_zero_and_k_larger_than_a_class():
    with pytest.raises(ValueError, match=r"expected 1 <= k <= 5 \(class 0\), got 0"):
        per_class(Y_SMALL, 0, seed=0)
    with pytest.raises(ValueError, match=r"expected 1 <= k <= 5 \(class 0\), got 6"):
        per_class(Y_SMALL, 6, seed=0)


# --- NT-Xent ----------------------------------------------------------------------------------

def nt_xent_by_logsumexp(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    """For each of the 2N views: -log softmax over its similarities to the other 2N - 1 views,
    taken at its positive (the other view of the same signal)."""
    z = torch.cat([z1, z2])
    z = z / z.norm(dim=1, keepdim=True)
    n2 = len(z)
    losses = []
    for a in range(n2):
        others = [b for b in range(n2) if b != a]
        sims = z[others] @ z[a] / tau
        positive = others.index((a + n2 // 2) % n2)
        losses.append(torch.logsumexp(sims, 0) - sims[positive])
    return torch.stack(losses).mean()


@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_nt_xent_matches_the_loop_and_a_logsumexp_by_hand(tau):
    gen = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(8, 5, generator=gen), torch.randn(8, 5, generator=gen)
    torch.testing.assert_close(nt_xent(z1, z2, tau), nt_xent_loop(z1, z2, tau),
                               rtol=0, atol=1e-5)
    z1, z2 = z1.double(), z2.double()
    torch.testing.assert_close(nt_xent(z1, z2, tau), nt_xent_by_logsumexp(z1, z2, tau),
                               rtol=0, atol=1e-12)
    torch.testing.assert_close(nt_xent_loop(z1, z2, tau), nt_xent_by_logsumexp(z1, z2, tau),
                               rtol=0, atol=1e-12)


def test_nt_xent_is_lower_for_matching_views_than_for_independent_ones():
    gen = torch.Generator().manual_seed(1)
    z1 = torch.randn(16, 8, generator=gen)
    close = z1 + 0.05 * torch.randn(16, 8, generator=gen)
    noise = torch.randn(16, 8, generator=gen)
    assert nt_xent(z1, close) < nt_xent(z1, noise) - 1.0
    # and it is invariant to the scale of each row (cosine similarity)
    torch.testing.assert_close(nt_xent(3 * z1, close), nt_xent(z1, close))


def test_nt_xent_gradient_flows_and_matches_the_loop():
    gen = torch.Generator().manual_seed(2)
    z1 = torch.randn(6, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(6, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    g1, g2 = torch.autograd.grad(nt_xent(z1, z2, 0.3), [z1, z2])
    h1, h2 = torch.autograd.grad(nt_xent_loop(z1, z2, 0.3), [z1, z2])
    assert torch.isfinite(g1).all() and g1.abs().sum() > 0 and g2.abs().sum() > 0
    torch.testing.assert_close(g1, h1, rtol=0, atol=1e-12)
    torch.testing.assert_close(g2, h2, rtol=0, atol=1e-12)


def test_nt_xent_rejects_bad_inputs():
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match=r"expected two \(N, D\) batches.*\(4, 3\) and \(5, 3\)"):
        nt_xent(z, torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"N >= 2, got \(1, 3\) and \(1, 3\)"):
        nt_xent(z[:1], z[:1])
    with pytest.raises(ValueError, match=r"expected two \(N, D\) batches.*got \(4,\) and \(4,\)"):
        nt_xent(z[:, 0], z[:, 1])
    for tau in (0.0, -0.5):
        with pytest.raises(ValueError, match=rf"expected tau > 0, got {tau}"):
            nt_xent(z, z, tau)


# --- principal angles and the linear autoencoder --------------------------------------------

def test_principal_angles_match_scipy():
    rng = np.random.default_rng(0)
    for d, k, m in ((10, 3, 4), (6, 2, 2), (20, 5, 3)):
        A, B = rng.normal(size=(d, k)), rng.normal(size=(d, m))
        ours = principal_angles(A, B)
        theirs = np.sort(np.degrees(scipy.linalg.subspace_angles(A, B)))
        assert ours.shape == (min(k, m),)
        assert np.all(np.diff(ours) >= 0)  # ascending
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-8)
    # torch tensors are accepted
    A, B = rng.normal(size=(10, 3)), rng.normal(size=(10, 4))
    np.testing.assert_array_equal(principal_angles(torch.as_tensor(A), torch.as_tensor(B)),
                                  principal_angles(A, B))


def test_principal_angles_of_a_subspace_with_itself_and_a_remixed_basis_are_zero():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(12, 4))
    R = rng.normal(size=(4, 4)) + 4 * np.eye(4)  # invertible
    assert abs(np.linalg.det(R)) > 1
    assert principal_angles(A, A).max() < 1e-4
    assert principal_angles(A, A @ R).max() < 1e-4
    # while a generic other subspace is far from it
    assert principal_angles(A, rng.normal(size=(12, 4))).max() > 10


def test_principal_angles_of_orthogonal_subspaces_are_90_degrees():
    E = np.eye(6)
    np.testing.assert_allclose(principal_angles(E[:, :3], E[:, 3:5]), [90, 90], atol=1e-12)
    np.testing.assert_allclose(principal_angles(E[:, :2], E[:, 1:3]), [0, 90], atol=1e-12)


def test_principal_angles_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"expected A \(d, k\) and B \(d, m\), got \(5, 2\) "
                                         r"and \(4, 2\)"):
        principal_angles(np.ones((5, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"got \(5,\) and \(5, 2\)"):
        principal_angles(np.ones(5), np.ones((5, 2)))


def test_linear_autoencoder_spans_the_pca_subspace():
    X = aibook.digits(0).X_train
    # Full-batch Adam; at lr=1e-2 1,500 epochs leave the third direction ~3 degrees off, at
    # 3e-2 1,000 epochs reach < 0.1 degree for seeds 0-2.
    cfg = AEConfig(k=3, hidden=None, epochs=1000, batch_size=len(X), lr=3e-2)
    model, losses = train_autoencoder(X, cfg)
    pca = PCA(3).fit(X.numpy())
    # it reaches PCA's reconstruction error, the least any rank-3 map can reach
    pca_mse = np.mean((pca.inverse_transform(pca.transform(X.numpy())) - X.numpy()) ** 2)
    assert losses[-1] == pytest.approx(pca_mse, rel=1e-3)
    angles = principal_angles(model.decoder[0].weight.detach().numpy(), pca.components_.T)
    assert angles.max() < 1
    # a subspace it did not learn is far: PCA's components 4-6
    others = PCA(6).fit(X.numpy()).components_[3:].T
    assert principal_angles(model.decoder[0].weight.detach().numpy(), others).min() > 45


def test_autoencoder_shapes_and_a_bottleneck_as_wide_as_the_input_raises():
    ae = Autoencoder(10, 3, hidden=7)
    assert ae(torch.randn(5, 10)).shape == (5, 10)
    assert ae.encoder(torch.randn(5, 10)).shape == (5, 3)
    with pytest.raises(ValueError, match=r"expected a bottleneck 0 < k < d = 64, got k = 64"):
        Autoencoder(64, 64)
    with pytest.raises(ValueError, match=r"0 < k < d = 64, got k = 0"):
        Autoencoder(64, 0)


def test_train_autoencoder_is_seeded():
    X = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    cfg = AEConfig(k=2, hidden=16, epochs=2, batch_size=16, noise=0.1)
    (m1, l1), (m2, l2) = train_autoencoder(X, cfg), train_autoencoder(X, cfg)
    assert l1 == l2 and same_params(params(m1), params(m2))
    m3, _ = train_autoencoder(X, AEConfig(seed=1, k=2, hidden=16, epochs=2, batch_size=16))
    assert not same_params(params(m1), params(m3))


# --- the VAE ----------------------------------------------------------------------------------

def test_gaussian_kl_matches_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(7, 3, generator=gen, dtype=torch.float64)
    logvar = torch.randn(7, 3, generator=gen, dtype=torch.float64)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected, rtol=0, atol=1e-12)
    # zero exactly at the prior
    assert gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)).abs().max() == 0


def test_gaussian_kl_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"one shape, got \(4, 2\) and \(4, 3\)"):
        gaussian_kl(torch.zeros(4, 2), torch.zeros(4, 3))


def test_reparameterize_is_mu_plus_sigma_eps_with_gradients_to_both():
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(5, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(5, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    eps = torch.randn(5, 2, generator=gen, dtype=torch.float64)
    z = reparameterize(mu, logvar, eps)
    torch.testing.assert_close(z, mu + torch.exp(logvar / 2) * eps, rtol=0, atol=1e-15)
    gm, gl = torch.autograd.grad(z.sum(), [mu, logvar])
    torch.testing.assert_close(gm, torch.ones_like(mu))
    torch.testing.assert_close(gl, 0.5 * torch.exp(logvar.detach() / 2) * eps)
    # a leading samples dimension broadcasts
    assert reparameterize(mu, logvar, torch.zeros(3, 5, 2, dtype=torch.float64)).shape == (3, 5, 2)


def test_monte_carlo_elbo_is_the_mean_of_its_terms_and_agrees_with_the_analytic_kl():
    torch.manual_seed(0)
    model = VAE(6, 2, 8).double()
    x = torch.rand(4, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    S = 20_000
    with torch.no_grad():
        mc = elbo(model, x, samples=S, gen=torch.Generator().manual_seed(2), analytic_kl=False)
        analytic = elbo(model, x, samples=S, gen=torch.Generator().manual_seed(2))
        # the same draws, by torch.distributions
        mu, logvar = model.encode(x)
        eps = torch.randn((S, *mu.shape), generator=torch.Generator().manual_seed(2),
                          dtype=torch.float64)
        z = mu + (0.5 * logvar).exp() * eps
        q = Normal(mu, (0.5 * logvar).exp())
        kl_terms = q.log_prob(z).sum(-1) - Normal(0.0, 1.0).log_prob(z).sum(-1)  # (S, N)
        rec = Bernoulli(logits=model.decode(z), validate_args=False).log_prob(x).sum(-1)
    torch.testing.assert_close(mc, (rec - kl_terms).mean(0), rtol=0, atol=1e-10)
    torch.testing.assert_close(analytic, rec.mean(0) - gaussian_kl(mu, logvar),
                               rtol=0, atol=1e-10)
    # On the same draws the two estimates differ only through the KL: its Monte Carlo
    # estimate is unbiased, so the gap is within a few standard errors.
    se = kl_terms.std(0) / S**0.5
    assert (se > 0).all()
    assert ((mc - analytic).abs() < 4.5 * se).all(), ((mc - analytic) / se)


def test_gaussian_decoder_log_lik_matches_torch_distributions():
    model = VAE(4, 2, 8, sigma=0.7).double()
    gen = torch.Generator().manual_seed(0)
    out = torch.randn(3, 5, 4, generator=gen, dtype=torch.float64)
    x = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(model.log_lik(out, x), Normal(out, 0.7).log_prob(x).sum(-1),
                               rtol=0, atol=1e-12)
    bernoulli = VAE(4, 2, 8).double()
    u = torch.rand(5, 4, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(bernoulli.log_lik(out, u),
                               Bernoulli(logits=out, validate_args=False).log_prob(u).sum(-1),
                               rtol=0, atol=1e-12)


def test_vae_rejects_a_non_positive_sigma():
    for sigma in (0, -1.0):
        with pytest.raises(ValueError, match=rf"expected sigma > 0 or None \(Bernoulli\), "
                                             rf"got {sigma}"):
            VAE(4, 2, 8, sigma=sigma)


# --- augmentations ----------------------------------------------------------------------------

QUIET = dict(max_shift=0, scale=(1.0, 1.0), stretch=0.0, shear=0.0, noise=0.0)


def test_augment_keeps_the_shape_and_without_nuisances_is_the_identity():
    x = torch.randn(10, 40, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    assert augment(x, gen).shape == x.shape
    torch.testing.assert_close(augment(x, gen, **QUIET), x, rtol=0, atol=1e-6)
    assert not torch.allclose(augment(x, gen), x, atol=1e-2)


def test_augment_with_only_a_shift_rolls_each_row_by_an_integer():
    x = torch.randn(30, 40, generator=torch.Generator().manual_seed(0))
    out = augment(x, torch.Generator().manual_seed(1), **{**QUIET, "max_shift": 3})
    shifts = []
    for row, got in zip(x, out, strict=True):
        matches = [s for s in range(-3, 4) if torch.allclose(torch.roll(row, s), got, atol=1e-6)]
        assert len(matches) == 1
        shifts.append(matches[0])
    assert len(set(shifts)) > 1  # the shifts are drawn per row


def test_augment_is_deterministic_for_a_seeded_generator():
    x = torch.randn(10, 40, generator=torch.Generator().manual_seed(0))
    a = augment(x, torch.Generator().manual_seed(5))
    b = augment(x, torch.Generator().manual_seed(5))
    c = augment(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_augment_rejects_a_channel_dimension():
    with pytest.raises(ValueError, match=r"expected signals \(N, L\), got shape \(4, 1, 40\)"):
        augment(torch.zeros(4, 1, 40), torch.Generator().manual_seed(0))


# --- masking ----------------------------------------------------------------------------------

def test_mask_positions_hides_round_ratio_times_length_per_row():
    x = torch.zeros(7, 40)
    gen = torch.Generator().manual_seed(0)
    for ratio in (0.25, 0.1, 0.6):
        mask = mask_positions(x, ratio, gen)
        assert mask.dtype == torch.bool and mask.shape == x.shape
        assert (mask.sum(1) == round(ratio * 40)).all()
    # the hidden positions differ between rows
    assert len({tuple(r.tolist()) for r in mask_positions(x, 0.25, gen)}) > 1


def test_mask_positions_rejects_ratio_zero_and_one():
    for ratio in (0, 1):
        with pytest.raises(ValueError, match=rf"expected 0 < ratio < 1, got {ratio}"):
            mask_positions(torch.zeros(2, 40), ratio, torch.Generator())


def test_masked_mse_counts_only_the_hidden_positions():
    gen = torch.Generator().manual_seed(0)
    x, pred = torch.randn(4, 40, generator=gen), torch.randn(4, 40, generator=gen)
    mask = mask_positions(x, 0.25, gen)
    loss = masked_mse(pred, x, mask)
    torch.testing.assert_close(loss, ((pred - x) ** 2 * mask).sum() / mask.sum())
    visible, hidden = pred.clone(), pred.clone()
    visible[~mask] += 100.0
    hidden[mask] += 1.0
    assert masked_mse(visible, x, mask) == loss
    assert masked_mse(hidden, x, mask) != loss


def test_masked_model_cannot_see_the_hidden_values():
    torch.manual_seed(0)
    model = MaskedModel()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 40, generator=gen)
    mask = mask_positions(x, 0.25, gen)
    changed = x.masked_fill(mask, 50.0)
    with torch.no_grad():
        assert model(x, mask).shape == (3, 40)
        assert torch.equal(model(x, mask), model(changed, mask))
        assert not torch.equal(model(x, mask), model(x + 1.0, mask))


# --- encoder, head and probe ------------------------------------------------------------------

def test_encoder1d_has_125_features_and_accepts_both_input_shapes():
    torch.manual_seed(0)
    f = Encoder1D()
    assert f.dim == 125
    x = torch.randn(6, 40)
    h = f(x)
    assert h.shape == (6, 125)
    assert torch.equal(f(x.unsqueeze(1)), h)
    assert projection_head(f.dim)(h).shape == (6, 16)


def test_features_batches_in_eval_mode_and_restores_training_mode():
    torch.manual_seed(0)
    f = torch.nn.Sequential(torch.nn.Linear(40, 8), torch.nn.Dropout(0.5))
    x = torch.randn(25, 40)
    out = features(f, x, batch_size=7)
    assert f.training
    with torch.no_grad():
        torch.testing.assert_close(out, f.eval()(x))


def test_linear_probe_agrees_with_a_scikit_learn_pipeline():
    X, y = make_blobs(n_samples=300, centers=3, n_features=4, cluster_std=3.0, random_state=0)
    probe = linear_probe(torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y))
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=1, max_iter=1000, tol=1e-3))
    pipe.fit(X.astype(np.float32).astype(np.float64), y)
    agree = np.mean(probe.predict(X) == pipe.predict(X))
    assert agree >= 0.99
    assert abs(probe.score(X, y) - pipe.score(X, y)) <= 0.01
    assert probe.score(X, y) > 0.6  # and the problem is not trivial either way
    assert probe.score(X, y) < 1.0


def test_linear_probe_uses_the_given_scaler():
    X, y = make_blobs(n_samples=200, centers=3, n_features=4, random_state=1)
    scaler = StandardScaler().fit(3 * X + 1.0)  # fitted on "unlabelled" features elsewhere
    probe = linear_probe(X, y, scaler=scaler)
    assert probe.named_steps["standardise"] is scaler
    own = linear_probe(X, y)
    assert not np.allclose(probe.named_steps["probe"].coef_, own.named_steps["probe"].coef_)


# --- seeded training runs ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def signals() -> torch.Tensor:
    return mnist1d().X_train[:256]


def test_train_simclr_is_seeded(signals):
    cfg = SimCLRConfig(epochs=1, batch_size=64)
    f1, g1, l1 = train_simclr(signals, cfg, progress=False)
    f2, g2, l2 = train_simclr(signals, cfg, progress=False)
    assert len(l1) == 1 and l1 == l2
    assert same_params(params(f1, g1), params(f2, g2))
    f3, g3, l3 = train_simclr(signals, SimCLRConfig(seed=1, epochs=1, batch_size=64),
                               progress=False)
    assert not same_params(params(f1, g1), params(f3, g3))
    assert l3 != l1


def test_train_masked_is_seeded(signals):
    m1, l1 = train_masked(signals, MaskedConfig(epochs=1))
    m2, l2 = train_masked(signals, MaskedConfig(epochs=1))
    assert len(l1) == 1 and l1 == l2
    assert same_params(params(m1), params(m2))
    m3, _ = train_masked(signals, MaskedConfig(seed=1, epochs=1))
    assert not same_params(params(m1), params(m3))


def test_train_vae_is_seeded(signals):
    cfg = VAEConfig(epochs=1, hidden=32, sigma=0.5)
    v1, h1 = train_vae(signals, cfg)
    v2, h2 = train_vae(signals, cfg)
    assert len(h1) == 1 and h1 == h2
    assert same_params(params(v1), params(v2))
    v3, _ = train_vae(signals, VAEConfig(seed=1, epochs=1, hidden=32, sigma=0.5))
    assert not same_params(params(v1), params(v3))


def test_train_supervised_on_100_labels_beats_chance():
    s = mnist1d()
    idx = per_class(s.y_train, 10, seed=0)
    with torch_threads(1):
        model = train_supervised(s.X_train[idx], s.y_train[idx], seed=0, steps=100)
    assert not model.training
    with torch.no_grad():
        acc = (model(s.X_val).argmax(1) == s.y_val).float().mean().item()
    assert acc > 0.2


# --- the label-efficiency experiment ------------------------------------------------------------

def _tiny_config(seed: int) -> EfficiencyConfig:
    from aibook.ssl.efficiency import ALL

    return EfficiencyConfig(seed=seed, ks=(1, ALL), simclr=SimCLRConfig(epochs=1),
                            masked=MaskedConfig(epochs=1), ae=AEConfig(k=4, epochs=1),
                            vae=VAEConfig(k=4, epochs=1, sigma=0.5), supervised_epochs=1,
                            supervised_min_steps=5)


def test_an_efficiency_run_gives_the_same_accuracies_in_a_worker_as_here():
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from aibook.ssl.efficiency import ALL, run_seeds

    d = mnist1d()
    x, y, x_eval, y_eval = d.X_train[:400], d.y_train[:400], d.X_val[:200], d.y_val[:200]
    cfgs = [_tiny_config(0), _tiny_config(1)]
    here = run_seeds(cfgs, x, y, x_eval, y_eval)
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
        there = run_seeds(cfgs, x, y, x_eval, y_eval, pool)
    methods = {"raw", "autoencoder", "VAE", "masked", "contrastive",
               "contrastive, after the head", "supervised CNN"}
    for a, b in zip(here, there, strict=True):
        assert set(a.accuracy) == methods
        assert a.accuracy == b.accuracy
        assert all(set(v) == {1, ALL} and all(0 <= p <= 1 for p in v.values())
                   for v in a.accuracy.values())
    # The raw probe depends only on the labelled draw: seeds draw different labels...
    assert here[0].accuracy["raw"][1] != here[1].accuracy["raw"][1]
    # ...and with every label both seeds fit the same probe on the same signals.
    assert here[0].accuracy["raw"][ALL] == here[1].accuracy["raw"][ALL]
