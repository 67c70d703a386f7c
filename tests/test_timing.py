"""aibook.timing: alternation, medians, ratios, inference mode and the thread context."""

import time

import pytest
import torch

from aibook import timing


def test_compare_alternates_the_contenders_and_counts_each_run():
    calls = []
    times = timing.compare({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                           warmup=1, repeats=3)
    assert calls == ["a", "b"] * 4  # one warm-up round, then three timed rounds, alternating
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}


def test_a_slower_contender_has_a_larger_ratio():
    # sleep(2 ms) against sleep(20 ms): the ratio is about 10; sleeping never ends early,
    # and scheduler delays of a few ms leave it well above 2
    times = timing.compare({"fast": lambda: time.sleep(0.002), "slow": lambda: time.sleep(0.02)},
                           warmup=1, repeats=5)
    assert timing.ratio(times["slow"], times["fast"]) > 2
    assert timing.median_seconds(lambda: time.sleep(0.01), repeats=3) >= 0.01


def test_grad_switch_builds_a_graph_only_when_asked():
    x = torch.ones(3, requires_grad=True)
    seen = {}
    timing.compare({"f": lambda: seen.setdefault("grad", (x * 2).requires_grad)},
                   warmup=0, repeats=1, grad=True)
    timing.compare({"f": lambda: seen.setdefault("no_grad", (x * 2).requires_grad)},
                   warmup=0, repeats=1, grad=False)
    assert seen == {"grad": True, "no_grad": False}


def test_torch_threads_sets_and_restores_even_on_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with timing.torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(("call", "message"), [
    (lambda: timing.compare({}), "at least one callable"),
    (lambda: timing.compare({"f": int}, repeats=0), "repeats >= 1"),
    (lambda: timing.ratio([1.0], [1.0, 2.0]), "equally long"),
    (lambda: timing.torch_threads(0).__enter__(), "n >= 1"),
])
def test_bad_input_says_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call()
