"""Measure a model: how many parameters, how many bytes on disk, how long a forward pass takes.

Latency on a shared CPU is noisy, so every timing here warms up first (caches, lazy
allocations, kernel selection) and then reports the median of several runs, which
ignores the occasional run that another process interrupted. When two models are
compared, their runs alternate, so both see the same background load.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn


def count_params(model: nn.Module, *, nonzero: bool = False) -> int:
    """Number of parameters of `model` (as the forward pass sees them).

    nonzero=True counts only entries that are not exactly 0. For a model pruned with
    `torch.nn.utils.prune` it counts the masked weights `weight = weight_orig * mask`,
    not the stored `weight_orig`. Quantized (packed) layers hold no nn.Parameters,
    so use `state_bytes` to compare them.
    """
    total = 0
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if name.endswith("_orig"):  # pruned: the effective tensor is the attribute `name`
                p = getattr(module, name[: -len("_orig")])
            total += int((p != 0).sum()) if nonzero else p.numel()
    return total


def state_bytes(model: nn.Module | dict) -> int:
    """Bytes that `torch.save(model.state_dict(), path)` writes: the model's size on disk.

    Accepts a module or a state dict. Serialising to memory includes every buffer and
    packed quantized weight, plus a little archive overhead (a few KB).
    """
    state = model.state_dict() if isinstance(model, nn.Module) else model
    if not isinstance(state, dict):
        raise TypeError(f"state_bytes: expected an nn.Module or a state dict, got "
                        f"{type(model).__name__}")
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.tell()


def latency(fn: Callable[[], object], *, warmup: int = 3, repeats: int = 15) -> float:
    """Median wall time in seconds of `fn()` over `repeats` runs after `warmup` untimed runs."""
    return statistics.median(compare_latency({"fn": fn}, warmup=warmup, repeats=repeats)["fn"])


def compare_latency(fns: dict[str, Callable[[], object]], *, warmup: int = 3,
                    repeats: int = 15) -> dict[str, list[float]]:
    """Wall times (seconds) of several callables, run in alternation: A, B, A, B, ...

    Returns {name: [repeats timings]}. Alternating makes a burst of background load hit
    every candidate alike, so ratios of medians are fairer than timing one after another.
    """
    if not fns:
        raise ValueError("compare_latency: give at least one callable")
    if warmup < 0 or repeats < 1:
        raise ValueError(f"compare_latency: need warmup >= 0 and repeats >= 1, got "
                         f"warmup={warmup}, repeats={repeats}")
    with torch.inference_mode():
        for _ in range(warmup):
            for fn in fns.values():
                fn()
        times: dict[str, list[float]] = {name: [] for name in fns}
        for _ in range(repeats):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return times
