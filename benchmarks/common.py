"""Timing rules for every benchmark: warm up, alternate the contenders, report medians.

Fresh memory is slow to touch on small VMs, so the first runs are discarded; the
contenders of a comparison run in alternation in one process, so a slow moment of
the machine hits both, and their ratio is the median of the per-round ratios.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

from aibook.device import machine  # noqa: F401  (re-exported: the machine record)


def time_once(fn: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(contenders: dict[str, Callable[[], object]], *, repeats: int = 7,
            warmup: int = 2) -> dict[str, dict[str, float]]:
    """Median seconds of each contender over `repeats` alternating rounds after `warmup` rounds.

    Returns {name: {"median_s": ..., "min_s": ..., "runs": n}} plus, for every contender
    after the first, "ratio_to_<first>": the median over rounds of its time / the first's.
    """
    if repeats < 5:
        raise ValueError(f"compare: take at least 5 runs for a median, got repeats={repeats}")
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(repeats):
        for name in names:
            times[name].append(time_once(contenders[name]))
    base = names[0]
    out: dict[str, dict[str, float]] = {}
    for name in names:
        out[name] = {"median_s": statistics.median(times[name]), "min_s": min(times[name]),
                     "runs": repeats}
        if name != base:
            out[name][f"ratio_to_{base}"] = statistics.median(
                t / b for t, b in zip(times[name], times[base], strict=True))
    return out
