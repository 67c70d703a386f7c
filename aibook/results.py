"""Headline numbers, recorded by the notebooks that measure them, for the book's Results page.

A chapter calls `record("02_cnn", "test accuracy (digits)", acc, anchor="SVC 0.97")`
right after asserting the number. Records go to one JSON file per chapter under
`results_dir()` (the environment variable AIBOOK_RESULTS_DIR, or `_build/results`
at the repository root), stamped with the time and the machine, so the Results
page is generated from measurements and never typed by hand.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import torch


def results_dir() -> Path:
    env = os.environ.get("AIBOOK_RESULTS_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "_build" / "results"


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, str | int]:
    """Where the numbers were measured: CPU model, cores, torch threads and device."""
    from aibook.device import device

    return {"cpu": cpu_model(), "cores": os.cpu_count() or 0,
            "torch_threads": torch.get_num_threads(), "device": str(device()),
            "torch": torch.__version__,
            "python": platform.python_version()}


class Record(dict):
    """One stored result. A plain dict that a notebook shows as one line, not a dict dump."""

    def __repr__(self) -> str:
        unit = f" {self['unit']}" if self.get("unit") else ""
        anchor = f" (anchor: {self['anchor']})" if self.get("anchor") else ""
        return f"recorded {self['chapter']}: {self['name']} = {self['value']:.6g}{unit}{anchor}"

    def _repr_pretty_(self, p, cycle) -> None:  # IPython's display
        p.text(repr(self))


def record(chapter: str, name: str, value: float, *, unit: str = "", anchor: str = "",
           cite: str = "") -> Record:
    """Store one measured number. chapter: e.g. "01_backprop"; anchor: the published number
    it is compared with, in words; cite: a bibtex key for the anchor (it must be in the book's
    bibliography: the Results page links it). Returns the record, a dict."""
    if not chapter or not name:
        raise ValueError(f"record: chapter and name must be non-empty, got {chapter!r}, {name!r}")
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"record: value must be a number, got {type(value).__name__}") from err
    entry = {"chapter": chapter, "name": name, "value": value, "unit": unit, "anchor": anchor,
             "cite": cite, "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "machine": machine()}
    folder = results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{chapter}.json"
    entries = json.loads(path.read_text()) if path.exists() else []
    entries = [e for e in entries if e["name"] != name] + [entry]
    path.write_text(json.dumps(entries, indent=1))
    return Record(entry)


def load_all(folder: Path | None = None) -> list[dict]:
    """Every record under `folder` (default `results_dir()`), sorted by chapter."""
    folder = folder or results_dir()
    out: list[dict] = []
    for path in sorted(folder.glob("*.json")):
        out.extend(json.loads(path.read_text()))
    return out
