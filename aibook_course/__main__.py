"""Command line of the course tooling: `python -m aibook_course exercises | grade | progress`."""

from __future__ import annotations

import argparse
import sys

from aibook_course import exercises, grading, progress


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # exercises and grade have their own parsers: everything after the name goes to them.
    if argv and argv[0] == "exercises":
        return exercises.main(argv[1:])
    if argv and argv[0] == "grade":
        return grading.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m aibook_course")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("exercises", help="build or check the graded exercises from their masters",
                   add_help=False)
    sub.add_parser("grade", help="grade a folder of submissions into a gradebook CSV",
                   add_help=False)
    prog = sub.add_parser("progress", help="your local pass/fail status on each exercise")
    prog.add_argument("folder", nargs="?", default=None,
                      help="folder holding your exercise notebooks (default: exercises/)")
    args = parser.parse_args(argv)
    return progress.main(args.folder)


if __name__ == "__main__":
    sys.exit(main())
