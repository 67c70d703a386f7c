"""aibook.parallel.run_all: the same results, in the same order, with and without workers."""

from __future__ import annotations

import math
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor

import pytest

from aibook.parallel import run_all


def test_run_all_keeps_the_order_of_the_items_in_process_and_in_workers():
    items = [9.0, 1.0, 16.0, 4.0, 25.0]
    want = [3.0, 1.0, 4.0, 2.0, 5.0]
    assert run_all(math.sqrt, items) == want
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
        assert run_all(math.sqrt, items, pool, desc="sqrt") == want
        # ...and the pool's work happens in other processes
        assert pool.submit(os.getpid).result() != os.getpid()


def test_run_all_passes_a_worker_error_on():
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        with pytest.raises(ValueError, match="math domain error"):
            run_all(math.sqrt, [4.0, -1.0], pool)
