"""Command line: `python -m aibook doctor | progress | exercises | grade`."""

from __future__ import annotations

import argparse
import sys

# Subcommands with their own argument parsers: everything after the name goes to them.
DELEGATED = {
    "exercises": ("aibook.exercises", "build or check the graded exercises from their masters"),
    "grade": ("aibook.grading", "grade a folder of submissions into a gradebook CSV"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in DELEGATED:
        import importlib

        return importlib.import_module(DELEGATED[argv[0]][0]).main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m aibook")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check versions, device and offline assets")
    prog = sub.add_parser("progress", help="your local pass/fail status on each exercise")
    prog.add_argument("folder", nargs="?", default=None,
                      help="folder holding your exercise notebooks (default: exercises/)")
    for name, (_, help_text) in DELEGATED.items():
        sub.add_parser(name, help=help_text, add_help=False)
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from aibook.doctor import main as doctor

        return doctor()
    from aibook.progress import main as progress

    return progress(args.folder)


if __name__ == "__main__":
    sys.exit(main())
