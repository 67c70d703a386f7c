"""Where tensors live and how runs repeat: `device()`, `seed_for()` and `seed_everything()`.

Seeds are a parameter of every claim, not a secret. Code passes *base* seeds (0, 1, 2, ...)
and every seeded helper adds the offset in the environment variable AIBOOK_SEED_OFFSET
(default 0): `AIBOOK_SEED_OFFSET=7 jupyter nbconvert --execute ...` reruns a chapter on
fresh seeds, and every assert in it must still hold.
"""

from __future__ import annotations

import os
import platform
import random
from pathlib import Path

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


def seed_offset() -> int:
    """The offset added to every base seed: AIBOOK_SEED_OFFSET as a non-negative int (default 0)."""
    raw = os.environ.get("AIBOOK_SEED_OFFSET", "").strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"AIBOOK_SEED_OFFSET: expected a non-negative integer, got {raw!r}")
    return value


def seed_for(base: int = 0) -> int:
    """The seed actually used for base seed `base`: base + AIBOOK_SEED_OFFSET.

    Use it wherever a chapter makes its own generator, e.g.
    `np.random.default_rng(seed_for(3))` or `torch.Generator().manual_seed(seed_for(3))`.
    """
    _check_seed("seed_for", base)
    return base + seed_offset()


def _check_seed(who: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{who}: expected a non-negative int seed, got {value!r}")


def seed_everything(base: int = 0, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) with `seed_for(base)`, so that two runs at
    the same AIBOOK_SEED_OFFSET print the same numbers.

    deterministic: also ask cuDNN and torch for deterministic kernels (on the CPU
    the kernels already are). Returns a torch.Generator seeded the same way, handy
    for DataLoader shuffling.
    """
    _check_seed("seed_everything", base)
    actual = base + seed_offset()
    random.seed(actual)
    np.random.seed(actual % 2**32)  # noqa: NPY002  (legacy global RNG that old code still uses)
    torch.manual_seed(actual)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(actual)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        # cuBLAS needs this for deterministic matmuls on CUDA >= 10.2.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return torch.Generator().manual_seed(actual)


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, str | int]:
    """Where the numbers were measured: CPU model, cores, torch threads and device."""
    return {"cpu": cpu_model(), "cores": os.cpu_count() or 0,
            "torch_threads": torch.get_num_threads(), "device": str(device()),
            "torch": torch.__version__,
            "python": platform.python_version()}
