"""How good are generated samples? A Fréchet distance between feature clouds, class balance.

- `frechet_distance(mu_1, C_1, mu_2, C_2)`: the 2-Wasserstein distance squared between two
  Gaussians, ||mu_1 - mu_2||^2 + tr(C_1 + C_2 - 2 (C_1^{1/2} C_2 C_1^{1/2})^{1/2}), computed
  with symmetric eigendecompositions (no complex detour through a general matrix root).
- `feature_frechet_distance(F_1, F_2)`: the same between the Gaussians fitted to two sets of
  features (N_1, d) and (N_2, d); with Inception features this is the FID of Heusel et al.
  (2017); the chapter uses its own classifier's features instead.
- `class_balance(labels, k)`: per-class counts, the smallest class share and the p-value of a
  chi-squared test against the uniform distribution over the k classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

ArrayLike = np.ndarray | torch.Tensor


def _as_float64(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def psd_sqrt(C: ArrayLike) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (d, d) -> (d, d).

    Eigenvalues that rounding made slightly negative are clipped to 0."""
    C = _as_float64(C)
    if C.ndim != 2 or C.shape[0] != C.shape[1]:
        raise ValueError(f"psd_sqrt: expected a square matrix (d, d), got shape {C.shape}")
    w, V = np.linalg.eigh((C + C.T) / 2)
    return (V * np.sqrt(np.clip(w, 0.0, None))) @ V.T


def frechet_distance(mu_1: ArrayLike, C_1: ArrayLike, mu_2: ArrayLike, C_2: ArrayLike) -> float:
    """||mu_1 - mu_2||^2 + tr(C_1) + tr(C_2) - 2 tr((C_1^{1/2} C_2 C_1^{1/2})^{1/2}).

    mu_i: means (d,); C_i: covariances (d, d), symmetric positive semi-definite. This is the
    squared 2-Wasserstein distance between N(mu_1, C_1) and N(mu_2, C_2). The cross term uses
    tr((C_1 C_2)^{1/2}) = tr((C_1^{1/2} C_2 C_1^{1/2})^{1/2}), whose inner matrix is
    symmetric, so two eigendecompositions suffice.
    """
    mu_1, mu_2, C_1, C_2 = (_as_float64(a) for a in (mu_1, mu_2, C_1, C_2))
    d = mu_1.shape[0] if mu_1.ndim == 1 else -1
    if mu_1.ndim != 1 or mu_2.shape != (d,) or C_1.shape != (d, d) or C_2.shape != (d, d):
        raise ValueError(f"frechet_distance: expected means (d,) and covariances (d, d) with "
                         f"one d, got {mu_1.shape}, {C_1.shape}, {mu_2.shape}, {C_2.shape}")
    root_1 = psd_sqrt(C_1)
    w = np.linalg.eigvalsh(root_1 @ C_2 @ root_1)
    cross = float(np.sqrt(np.clip(w, 0.0, None)).sum())
    value = float(((mu_1 - mu_2) ** 2).sum() + np.trace(C_1) + np.trace(C_2) - 2 * cross)
    return max(value, 0.0)  # rounding can leave -1e-12 for identical Gaussians


def gaussian_fit(F: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and unbiased covariance (d, d) of features F (N, d), N >= 2, in float64."""
    F = _as_float64(F)
    if F.ndim != 2 or len(F) < 2:
        raise ValueError(f"gaussian_fit: expected features (N, d) with N >= 2, got {F.shape}")
    return F.mean(axis=0), np.cov(F, rowvar=False).reshape(F.shape[1], F.shape[1])


def feature_frechet_distance(F_1: ArrayLike, F_2: ArrayLike) -> float:
    """Fréchet distance between the Gaussians fitted to features F_1 (N_1, d), F_2 (N_2, d).

    The estimate is biased upwards at finite N (two samples of one distribution score > 0),
    so compare numbers only at equal sample sizes."""
    F_1, F_2 = _as_float64(F_1), _as_float64(F_2)
    if F_1.ndim != 2 or F_2.ndim != 2 or F_1.shape[1] != F_2.shape[1]:
        raise ValueError(f"feature_frechet_distance: expected (N_1, d) and (N_2, d) features, "
                         f"got {F_1.shape} and {F_2.shape}")
    return frechet_distance(*gaussian_fit(F_1), *gaussian_fit(F_2))


@dataclass(frozen=True)
class ClassBalance:
    """counts (k,), the smallest class share min_k counts_k / N, and the chi-squared test of
    the counts against N / k each (statistic, p-value)."""

    counts: np.ndarray
    min_share: float
    chi2: float
    p_value: float


def class_balance(labels: ArrayLike, k: int) -> ClassBalance:
    """Balance of integer labels (N,) in {0, ..., k-1} across the k classes."""
    y = _as_float64(labels)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"class_balance: expected labels (N,) with N >= 1, got {y.shape}")
    if k < 2 or np.any(y != np.round(y)) or y.min() < 0 or y.max() >= k:
        raise ValueError(f"class_balance: labels must be integers in [0, {k - 1}] (k >= 2), got "
                         f"values in [{y.min():g}, {y.max():g}]")
    counts = np.bincount(y.astype(np.int64), minlength=k)
    result = stats.chisquare(counts)  # expected: len(y) / k in every class
    return ClassBalance(counts, float(counts.min() / len(y)), float(result.statistic),
                        float(result.pvalue))


def class_mean_baseline(X: torch.Tensor, y: torch.Tensor, n: int, *,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """A generator that knows nothing of strokes: n images drawn as a uniform class c, then
    the class's mean image plus independent Gaussian noise with the class's per-pixel
    standard deviation, clipped to [0, 1]. X (N, ...) in [0, 1], y (N,) -> (n, ...)."""
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"class_mean_baseline: expected X (N, ...) and y (N,) with N >= 1, "
                         f"got {tuple(X.shape)} and {tuple(y.shape)}")
    if n < 1:
        raise ValueError(f"class_mean_baseline: n must be >= 1, got {n}")
    classes = torch.unique(y)  # (k,)
    means = torch.stack([X[y == c].mean(0) for c in classes])  # (k, ...)
    stds = torch.stack([X[y == c].std(0) for c in classes])  # (k, ...)
    which = torch.randint(len(classes), (n,), generator=generator)  # (n,)
    noise = torch.randn((n, *X.shape[1:]), generator=generator)
    return (means[which] + stds[which] * noise).clamp(0, 1)
