"""Command line of the library: `python -m aibook doctor` checks this machine for the book.

The course tooling (exercises, grading, progress) lives apart: `python -m aibook_course`.
"""

from __future__ import annotations

import argparse
import sys

from aibook.doctor import main as doctor

MOVED = {"exercises", "grade", "progress"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in MOVED:
        print(f"`{argv[0]}` is course tooling: run `python -m aibook_course {' '.join(argv)}`",
              file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="python -m aibook")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check versions, device and offline assets")
    parser.parse_args(argv)
    return doctor()


if __name__ == "__main__":
    sys.exit(main())
