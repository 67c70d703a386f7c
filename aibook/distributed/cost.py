"""The arithmetic of a cluster: the alpha-beta model of a message, and ZeRO's memory per rank.

**alpha-beta.** Sending ``m`` bytes costs ``t(m) = alpha + beta * m``: a fixed latency ``alpha``
(seconds) and an inverse bandwidth ``beta`` (seconds per byte). A ring all-reduce of ``S`` bytes
over ``N`` ranks takes ``2 (N - 1)`` steps that each move ``S / N`` bytes, so

    T_ring(S, N) = 2 (N - 1) alpha + 2 (N - 1) / N * S * beta.

The NCCL tests report *bus bandwidth*, ``S / T * 2 (N - 1) / N``, which for a ring equals the
link bandwidth ``1 / beta`` once ``S`` is large: it lets runs with different ``N`` be compared.

**ZeRO** (Rajbhandari et al. 2020). Mixed-precision Adam keeps, per parameter, 2 bytes of fp16
weights, 2 bytes of fp16 gradients and ``K = 12`` bytes of optimizer state (fp32 weights,
momentum and variance). Data parallelism replicates all of it on each of ``N_d`` ranks; ZeRO
stage 1 shards the optimizer state, stage 2 also the gradients, stage 3 also the weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["bus_bandwidth", "fit_alpha_beta", "ring_time", "scaling_efficiency", "zero_bytes"]


def fit_alpha_beta(sizes: Sequence[float], times: Sequence[float], *,
                   world_size: int | None = None) -> tuple[float, float]:
    """Least-squares ``(alpha, beta)`` of ``time = alpha + beta * size`` (seconds, bytes).

    The fit minimises *relative* error (each point weighted by ``1 / time``), since the times
    span orders of magnitude and small messages would otherwise count for nothing. Given
    ``world_size``, the times are ring all-reduces and the line's intercept and slope are
    turned into one message's ``alpha`` and ``beta`` through ``ring_time``: intercept
    ``2 (N - 1) alpha``, slope ``2 (N - 1) / N * beta``.
    """
    m = np.asarray(sizes, dtype=float)
    t = np.asarray(times, dtype=float)
    if m.ndim != 1 or m.shape != t.shape or len(m) < 2:
        raise ValueError(f"fit_alpha_beta: expected two 1-D sequences of one length >= 2, got "
                         f"shapes {m.shape} and {t.shape}")
    if np.any(t <= 0) or np.any(m < 0):
        raise ValueError("fit_alpha_beta: expected sizes >= 0 and times > 0")
    if len(np.unique(m)) < 2:
        raise ValueError("fit_alpha_beta: expected at least two different sizes")
    design = np.stack([np.ones_like(m), m], axis=1) / t[:, None]
    (alpha, beta), *_ = np.linalg.lstsq(design, np.ones_like(t), rcond=None)
    if world_size is not None:
        if world_size < 2:
            raise ValueError(f"fit_alpha_beta: a ring needs world_size >= 2, got {world_size}")
        steps = 2 * (world_size - 1)
        alpha, beta = alpha / steps, beta / (steps / world_size)
    return float(alpha), float(beta)


def ring_time(size: float, world_size: int, alpha: float, beta: float) -> float:
    """Seconds for a ring all-reduce of ``size`` bytes over ``world_size`` ranks."""
    if world_size < 1:
        raise ValueError(f"ring_time: expected world_size >= 1, got {world_size}")
    steps = 2 * (world_size - 1)
    return steps * alpha + steps / world_size * size * beta


def bus_bandwidth(size: float, seconds: float, world_size: int) -> float:
    """NCCL-tests' bus bandwidth of an all-reduce, bytes/s: ``size / seconds * 2 (N - 1) / N``."""
    if seconds <= 0:
        raise ValueError(f"bus_bandwidth: expected seconds > 0, got {seconds}")
    return size / seconds * 2 * (world_size - 1) / world_size


def scaling_efficiency(compute_seconds: float, gradient_bytes: float, world_size: int,
                       alpha: float, beta: float, overlap: float = 0.0) -> float:
    """Throughput on ``N`` ranks over ``N`` times one rank's, for one data-parallel step.

    One step computes for ``compute_seconds`` and then all-reduces ``gradient_bytes`` with a
    ring; a fraction ``overlap`` of the communication hides behind the backward pass (DDP's
    buckets), the rest adds to the step: ``efficiency = compute / (compute + exposed comm)``.
    """
    if not 0 <= overlap <= 1:
        raise ValueError(f"scaling_efficiency: expected 0 <= overlap <= 1, got {overlap}")
    if compute_seconds <= 0:
        raise ValueError(f"scaling_efficiency: expected compute_seconds > 0, got {compute_seconds}")
    exposed = (1 - overlap) * ring_time(gradient_bytes, world_size, alpha, beta)
    return compute_seconds / (compute_seconds + exposed)


def zero_bytes(params: float, world_size: int, stage: int, *, k: int = 12) -> float:
    """Bytes of model state per rank for ``params`` parameters under ZeRO ``stage`` (0 = DDP).

    Per parameter: 2 (fp16 weights) + 2 (fp16 gradients) + ``k`` (optimizer state; 12 for
    mixed-precision Adam). Stage 1 divides the optimizer state by ``world_size``, stage 2 also
    the gradients, stage 3 also the weights.
    """
    if stage not in (0, 1, 2, 3):
        raise ValueError(f"zero_bytes: expected stage 0 (DDP), 1, 2 or 3, got {stage!r}")
    if world_size < 1:
        raise ValueError(f"zero_bytes: expected world_size >= 1, got {world_size}")
    weights, grads, state = 2.0, 2.0, float(k)
    state /= world_size if stage >= 1 else 1
    grads /= world_size if stage >= 2 else 1
    weights /= world_size if stage >= 3 else 1
    return params * (weights + grads + state)
