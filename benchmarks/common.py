"""Timing rules for every benchmark: warm up, alternate the contenders, report medians.

Fresh memory is slow to touch on small VMs, so the first runs are discarded; the
contenders of a comparison run in alternation in one process, so a slow moment of
the machine hits both, and their ratio is the median of the per-round ratios.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

from aibook.device import machine  # noqa: F401  (re-exported: the machine record)
from aibook.timing import compare as alternate
from aibook.timing import ratio


def compare(contenders: dict[str, Callable[[], object]], *, repeats: int = 7,
            warmup: int = 2) -> dict[str, dict[str, float]]:
    """Median seconds of each contender over `repeats` alternating rounds after `warmup` rounds
    (`aibook.timing.compare` times them).

    Returns {name: {"median_s": ..., "min_s": ..., "runs": n}} plus, for every contender
    after the first, "ratio_to_<first>": the median over rounds of its time / the first's.
    """
    if repeats < 5:
        raise ValueError(f"compare: take at least 5 runs for a median, got repeats={repeats}")
    times = alternate(contenders, warmup=warmup, repeats=repeats)
    base = next(iter(times))
    out: dict[str, dict[str, float]] = {}
    for name, t in times.items():
        out[name] = {"median_s": statistics.median(t), "min_s": min(t), "runs": repeats}
        if name != base:
            out[name][f"ratio_to_{base}"] = ratio(t, times[base])
    return out
