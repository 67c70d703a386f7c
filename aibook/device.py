"""Where tensors live and how runs repeat: `device()` and `seed_everything()`."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def device(prefer: str | None = None) -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU.

    prefer: force "cpu", "cuda" or "mps" (an unavailable choice raises). The
    environment variable AIBOOK_DEVICE does the same without editing code.
    """
    prefer = prefer or os.environ.get("AIBOOK_DEVICE")
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": _mps_available()}
    if prefer is not None:
        if prefer not in available:
            raise ValueError(f"device: expected one of {sorted(available)}, got {prefer!r}")
        if not available[prefer]:
            raise RuntimeError(f"device: {prefer!r} was requested but is not available here")
        return torch.device(prefer)
    for name in ("cuda", "mps"):
        if available[name]:
            return torch.device(name)
    return torch.device("cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def seed_everything(seed: int = 0, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) so that two runs print the same numbers.

    deterministic: also ask cuDNN and torch for deterministic kernels (on the CPU
    the kernels already are). Returns a torch.Generator seeded with `seed`, handy
    for DataLoader shuffling.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed_everything: expected a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (legacy global RNG that old code still uses)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        # cuBLAS needs this for deterministic matmuls on CUDA >= 10.2.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return torch.Generator().manual_seed(seed)
