"""Command line: `python -m aibook doctor` and `python -m aibook progress`."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aibook")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check versions, device and offline assets")
    prog = sub.add_parser("progress", help="your local pass/fail status on each exercise")
    prog.add_argument("folder", nargs="?", default=None,
                      help="folder holding your exercise notebooks (default: exercises/)")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from aibook.doctor import main as doctor

        return doctor()
    from aibook.progress import main as progress

    return progress(args.folder)


if __name__ == "__main__":
    sys.exit(main())
