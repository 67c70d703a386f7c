"""The second seed pass of `make test`: which offset, and which chapters.

`make test` executes every chapter at AIBOOK_SEED_OFFSET=0 (nbval and the site build), then
runs the chapters under the evidence standard once more at a second offset derived from the
commit, so each commit tries fresh seeds and a failure replays from the hash it prints:

    python scripts/seed_pass.py offset     # e.g. 731 (AIBOOK_SECOND_OFFSET overrides it)
    python scripts/seed_pass.py chapters   # the chapters to run at that offset

When more than MAX_CHAPTERS chapters are under the standard, a rotating subset, chosen from
the same hash, keeps `make test` within its time budget: chapters are taken in the hash's
order, at most MAX_CHAPTERS of them, skipping any that would take the pass past
BUDGET_SECONDS. The seconds are those the site build of the same `make test` spent executing
each chapter (`_build/site-build.log`); the first chapter in the order always runs, and a
chapter whose time is unknown counts as 0, so without a build log the pass takes
MAX_CHAPTERS chapters as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_CHAPTERS = 3
# With 11 chapters and a budget of 300 s, `make test` took 64 minutes on CI (this pass: 8.3
# of them, for chapters of about 300 build-seconds). The twelfth chapter adds about 4 minutes
# elsewhere; 150 s here brings the pass to about 4 minutes.
BUDGET_SECONDS = 150.0
LOG = ROOT / "_build" / "site-build.log"
EXECUTED = re.compile(r"chapters/([\w-]+\.ipynb): Executed notebook in ([\d.]+) seconds")


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "no-git"


def offset(rev: str) -> int:
    """A non-zero offset in [1, 9999] from the commit hash, or AIBOOK_SECOND_OFFSET."""
    given = os.environ.get("AIBOOK_SECOND_OFFSET", "").strip()
    if given:
        return int(given)
    return int(hashlib.sha256(rev.encode()).hexdigest(), 16) % 9999 + 1


def under_standard() -> list[Path]:
    return [p for p in sorted((ROOT / "chapters").glob("*.ipynb"))
            if json.loads(p.read_text(encoding="utf-8")).get("metadata", {})
            .get("aibook", {}).get("evidence_standard")]


def build_seconds(log: Path = LOG) -> dict[str, float]:
    """{notebook name: seconds the site build spent executing it}, from the build's log."""
    if not log.exists():
        return {}
    return {m[1]: float(m[2]) for m in EXECUTED.finditer(log.read_text(errors="replace"))}


def chapters(rev: str, seconds: dict[str, float] | None = None) -> list[Path]:
    """A rotating subset of the chapters under the standard: in the order of the hash, at most
    MAX_CHAPTERS, within BUDGET_SECONDS of build time (the first one always)."""
    seconds = build_seconds() if seconds is None else seconds
    rank = sorted(under_standard(),
                  key=lambda p: hashlib.sha256(f"{rev}:{p.name}".encode()).hexdigest())
    chosen: list[Path] = []
    total = 0.0
    for p in rank:
        t = seconds.get(p.name, 0.0)
        if len(chosen) == MAX_CHAPTERS:
            break
        if chosen and total + t > BUDGET_SECONDS:
            continue
        chosen.append(p)
        total += t
    return sorted(chosen)


def main(argv: list[str]) -> int:
    rev = commit()
    if argv == ["offset"]:
        print(offset(rev))
    elif argv == ["chapters"]:
        print(" ".join(str(p.relative_to(ROOT)) for p in chapters(rev)))
    else:
        print("usage: python scripts/seed_pass.py offset|chapters", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
