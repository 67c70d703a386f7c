"""Independent runs side by side: one helper for every chapter that trains several seeds.

`run_all(fn, items, pool)` is [fn(item) for item in items], in order, with a progress bar.
With a pool (a `concurrent.futures.ProcessPoolExecutor` with the "spawn" context, say) the
runs go one per worker: on two cores, two at a time. `fn` and the items must pickle: a library
function does, a function defined in a notebook cell does not. Each run should seed itself
from its item and use one thread, so that it gives the same result in a worker as here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, as_completed
from typing import TypeVar

from tqdm.auto import tqdm

Item = TypeVar("Item")
Result = TypeVar("Result")


def run_all(fn: Callable[[Item], Result], items: Sequence[Item], pool: Executor | None = None,
            desc: str | None = None) -> list[Result]:
    """[fn(item) for item in items], in the items' order, in `pool` when given."""
    items = list(items)
    if pool is None:
        return [fn(item) for item in tqdm(items, desc=desc, mininterval=1.0)]
    futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
    results: list = [None] * len(items)
    for future in tqdm(as_completed(futures), total=len(futures), desc=desc, mininterval=1.0):
        results[futures[future]] = future.result()
    return results
