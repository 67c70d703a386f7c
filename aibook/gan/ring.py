"""The 2-D ring of 8 Gaussians and the mode metrics of VEEGAN and PacGAN.

The data: K = 8 Gaussians with standard deviation sigma = 0.02 whose centres sit evenly on a
circle of radius 2. The metrics, computed on generated samples (2,500 in the papers):

- high quality: the fraction of samples within 3 sigma of their nearest centre;
- modes covered: the number of centres with at least `min_count` samples within 3 sigma.
"""

from __future__ import annotations

import math

import torch


def ring_centers(k: int = 8, radius: float = 2.0) -> torch.Tensor:
    """The k centres (radius cos(2 pi i / k), radius sin(2 pi i / k)), i = 0..k-1 -> (k, 2)."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"ring_centers: k must be a positive int, got {k!r}")
    if radius <= 0:
        raise ValueError(f"ring_centers: radius must be > 0, got {radius}")
    angles = 2 * math.pi * torch.arange(k, dtype=torch.float32) / k
    return radius * torch.stack([angles.cos(), angles.sin()], dim=1)


def sample_ring(n: int, *, k: int = 8, radius: float = 2.0, std: float = 0.02,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """n points from the equal-weight mixture of k Gaussians N(center_i, std^2 I) -> (n, 2)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"sample_ring: n must be a positive int, got {n!r}")
    if std <= 0:
        raise ValueError(f"sample_ring: std must be > 0, got {std}")
    centers = ring_centers(k, radius)
    which = torch.randint(k, (n,), generator=generator)
    return centers[which] + std * torch.randn(n, 2, generator=generator)


def mode_metrics(samples: torch.Tensor, centers: torch.Tensor, std: float, *,
                 min_count: int = 20, n_sigma: float = 3.0) -> tuple[int, float]:
    """(modes covered, high-quality fraction) of samples (N, 2) against centres (K, 2).

    A sample is high quality when its nearest centre is within n_sigma * std. A mode is
    covered when at least min_count samples are high quality and nearest to it.
    """
    samples, centers = torch.as_tensor(samples), torch.as_tensor(centers)
    if samples.ndim != 2 or centers.ndim != 2 or samples.shape[1] != centers.shape[1]:
        raise ValueError(f"mode_metrics: expected samples (N, d) and centers (K, d), got "
                         f"{tuple(samples.shape)} and {tuple(centers.shape)}")
    if len(samples) == 0:
        raise ValueError("mode_metrics: got no samples")
    if std <= 0 or n_sigma <= 0 or min_count < 1:
        raise ValueError(f"mode_metrics: need std > 0, n_sigma > 0, min_count >= 1; got "
                         f"std={std}, n_sigma={n_sigma}, min_count={min_count}")
    distances = torch.cdist(samples.float(), centers.float())  # (N, K)
    nearest_distance, nearest = distances.min(dim=1)  # (N,), (N,)
    good = nearest_distance <= n_sigma * std  # (N,)
    counts = torch.bincount(nearest[good], minlength=len(centers))  # (K,)
    return int((counts >= min_count).sum()), good.float().mean().item()
