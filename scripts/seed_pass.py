"""The second seed pass of `make test`: which offset, and which chapters.

`make test` executes every chapter at AIBOOK_SEED_OFFSET=0 (nbval and the site build), then
runs the chapters under the evidence standard once more at a second offset derived from the
commit, so each commit tries fresh seeds and a failure replays from the hash it prints:

    python scripts/seed_pass.py offset     # e.g. 731 (AIBOOK_SECOND_OFFSET overrides it)
    python scripts/seed_pass.py chapters   # the chapters to run at that offset

When more than MAX_CHAPTERS chapters are under the standard, a rotating subset of that many,
chosen from the same hash, keeps `make test` within its time budget.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_CHAPTERS = 3


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


def chapters(rev: str) -> list[Path]:
    """Every chapter under the standard, or a rotating subset of MAX_CHAPTERS of them."""
    pool = under_standard()
    if len(pool) <= MAX_CHAPTERS:
        return pool
    rank = sorted(pool, key=lambda p: hashlib.sha256(f"{rev}:{p.name}".encode()).hexdigest())
    return sorted(rank[:MAX_CHAPTERS])


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
