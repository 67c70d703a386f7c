"""Timing rules for every benchmark: warm up, alternate the contenders, report medians.

Fresh memory is slow to touch on small VMs, so the first runs are discarded; the
contenders of a comparison run in alternation in one process, so a slow moment of
the machine hits both, and their ratio is the median of the per-round ratios.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from aibook.device import machine
from aibook.timing import compare as alternate
from aibook.timing import ratio, single_thread

HERE = Path(__file__).resolve().parent


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


def write_record(name: str, measure: Callable[[], dict], *, one_thread: bool = True,
                 folder: Path = HERE, **settings: object) -> dict:
    """Run `measure`, stamp its result and write it to `folder/<name>.json`; return the record.

    The record starts with the machine, the date and `settings` (e.g. repeats=21), then holds
    `measure()`'s keys, then "seconds": the wall time of the whole measurement. With
    `one_thread`, numpy's BLAS and torch each run on one thread (like for like); benchmarks
    that time threads or processes themselves pass `one_thread=False`.
    """
    if not name or Path(name).name != name:
        raise ValueError(f"write_record: expected a plain file stem such as 'ssl', got {name!r}")
    start = time.monotonic()
    with single_thread() if one_thread else nullcontext():
        out = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), **settings}
        result = measure()
        if not isinstance(result, dict):
            raise TypeError("write_record: measure() must return a dict, got "
                            f"{type(result).__name__}")
        out.update(result)
    out["seconds"] = round(time.monotonic() - start)
    (Path(folder) / f"{name}.json").write_text(json.dumps(out, indent=1) + "\n")
    return out
