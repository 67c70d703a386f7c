import json

import pytest

from aibook import results


def test_record_writes_a_stamped_entry_and_replaces_same_name(tmp_path, monkeypatch):
    monkeypatch.setenv("AIBOOK_RESULTS_DIR", str(tmp_path))
    results.record("01_x", "acc", 0.9, anchor="paper 0.8")
    results.record("01_x", "acc", 0.95)
    results.record("02_y", "time", 3, unit="s")
    entries = results.load_all()
    assert [(e["chapter"], e["name"], e["value"]) for e in entries] == [
        ("01_x", "acc", 0.95), ("02_y", "time", 3.0)]
    assert entries[0]["machine"]["cores"] >= 1 and "T" in entries[0]["measured_at"]
    assert json.loads((tmp_path / "02_y.json").read_text())[0]["unit"] == "s"


def test_record_rejects_non_numbers_and_empty_names(tmp_path, monkeypatch):
    monkeypatch.setenv("AIBOOK_RESULTS_DIR", str(tmp_path))
    with pytest.raises(TypeError, match="value must be a number, got str"):
        results.record("01_x", "acc", "high")
    with pytest.raises(ValueError, match="must be non-empty"):
        results.record("", "acc", 1.0)
