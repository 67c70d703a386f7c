"""Timing, done fairly, in one place: warm up, alternate the contenders, report medians.

Fresh memory is slow to touch and a shared CPU has noisy moments, so every timing here
discards warm-up runs, runs the contenders of a comparison in alternation (A, B, A, B, ...)
so a slow moment hits all of them alike, and reports medians. Ratios are medians of the
per-round ratios. `grad=False` times under `torch.inference_mode` (forward passes that
build no graph); the default times whatever `fn` does, backward passes included.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

import torch
from threadpoolctl import threadpool_limits


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with n torch CPU threads (None: leave as is), then restore the count.

    Tiny networks run faster on one thread: each op lasts microseconds, and splitting it
    between threads only adds synchronisation.
    """
    if n is not None and n < 1:
        raise ValueError(f"torch_threads: expected n >= 1 or None, got {n}")
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def single_thread() -> Iterator[None]:
    """numpy's BLAS and torch each on one thread: a like-for-like race between them."""
    with torch_threads(1), threadpool_limits(1):
        yield


def compare(fns: dict[str, Callable[[], object]], *, warmup: int = 2, repeats: int = 7,
            grad: bool = True) -> dict[str, list[float]]:
    """Wall times in seconds of several callables, run in alternation. -> {name: [repeats]}."""
    if not fns:
        raise ValueError("compare: give at least one callable")
    if warmup < 0 or repeats < 1:
        raise ValueError(f"compare: need warmup >= 0 and repeats >= 1, got warmup={warmup}, "
                         f"repeats={repeats}")
    with nullcontext() if grad else torch.inference_mode():
        for _ in range(warmup):
            for fn in fns.values():
                fn()
        times: dict[str, list[float]] = {name: [] for name in fns}
        for _ in range(repeats):
            for name, fn in fns.items():
                gc.collect()  # a collection inside one contender's run would charge it alone
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return times


def median_seconds(fn: Callable[[], object], *, warmup: int = 2, repeats: int = 7,
                   grad: bool = True) -> float:
    """Median wall time in seconds of `fn()` over `repeats` runs after `warmup` untimed runs."""
    return statistics.median(compare({"fn": fn}, warmup=warmup, repeats=repeats,
                                     grad=grad)["fn"])


def ratio(times: list[float], base: list[float]) -> float:
    """Median over rounds of times[i] / base[i]: how many times slower than `base`."""
    if len(times) != len(base) or not times:
        raise ValueError(f"ratio: need two equally long, non-empty lists of timings, got "
                         f"{len(times)} and {len(base)}")
    return statistics.median(t / b for t, b in zip(times, base, strict=True))
