"""The repository's paths, resolved in one place, and the environment the tools run in."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
EXERCISES = ROOT / "exercises"
MASTERS = EXERCISES / "masters"
AUTOGRADERS = EXERCISES / "autograder"
BOOK = ROOT / "book"
TOC = ROOT / "_toc.yml"


def tool_env() -> dict[str, str]:
    """Environment for otter and its kernels: this interpreter first, and `aibook` importable."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env["PYTHONHASHSEED"] = "0"
    return env


def toc_docs(toc: Path = TOC) -> list[str]:
    """Every document of the table of contents, in the book's order (root first)."""
    import yaml  # jupyter-book's dependency: the tooling has it, the library does not need it

    def walk(node) -> list[str]:
        if isinstance(node, dict):
            return [d for key, value in node.items()
                    for d in ([str(value)] if key in ("file", "root") else walk(value))]
        if isinstance(node, list):
            return [d for item in node for d in walk(item)]
        return []

    return walk(yaml.safe_load(toc.read_text(encoding="utf-8")))


def autograders_of(masters: Path) -> Path:
    """Where `exercises build --masters DIR` writes autograder zips: DIR/../autograder, the
    same layout as this repository's exercises/masters and exercises/autograder."""
    return Path(masters).resolve().parent / "autograder"


def exercises_of(masters: Path) -> Path:
    """Where `exercises build --masters DIR` writes student notebooks: DIR/.. (as here)."""
    return Path(masters).resolve().parent


def find_exercises(cwd: Path | None = None) -> Path | None:
    """The folder of exercise notebooks to use when none is named: ./exercises, else this
    checkout's exercises/ (absent in a non-editable install), else None."""
    cwd = Path.cwd() if cwd is None else Path(cwd)
    for folder in (cwd / "exercises", EXERCISES):
        if folder.is_dir():
            return folder
    return None
