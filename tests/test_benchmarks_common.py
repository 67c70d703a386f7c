"""benchmarks.common.write_record: the one place that stamps and writes a benchmark's record."""

from __future__ import annotations

import json

import pytest
import torch
from threadpoolctl import threadpool_info

from aibook.device import machine
from benchmarks.common import write_record


@pytest.fixture
def two_torch_threads():
    """Two torch threads outside the record, so 'one thread inside' is a real change."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_the_record_is_stamped_written_and_returned(tmp_path):
    record = write_record("demo", lambda: {"ratio": 1.5}, folder=tmp_path, repeats=7)
    assert list(record) == ["machine", "date", "repeats", "ratio", "seconds"]
    assert record["machine"]["cpu"] == machine()["cpu"]
    assert record["repeats"] == 7 and record["ratio"] == 1.5
    assert isinstance(record["seconds"], int) and record["seconds"] >= 0
    assert json.loads((tmp_path / "demo.json").read_text()) == record


def test_measure_runs_on_one_thread_unless_told_otherwise(tmp_path, two_torch_threads):
    def threads() -> dict:
        blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        return {"torch": torch.get_num_threads(), "blas": blas}

    inside = write_record("one", threads, folder=tmp_path)
    assert inside["torch"] == 1 and all(n == 1 for n in inside["blas"])
    assert torch.get_num_threads() == 2  # put back afterwards
    assert write_record("own", threads, folder=tmp_path, one_thread=False)["torch"] == 2


def test_bad_input_gets_a_clear_error_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="plain file stem.*'../up'"):
        write_record("../up", dict, folder=tmp_path)
    with pytest.raises(TypeError, match="must return a dict, got list"):
        write_record("listy", lambda: [1, 2], folder=tmp_path)
    assert list(tmp_path.iterdir()) == []
