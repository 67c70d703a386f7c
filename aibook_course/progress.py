"""`python -m aibook_course progress [folder]`: your exercises, question by question, pass or fail.

It runs each exercise notebook in `folder` (default: `./exercises`, else the checkout's
`exercises/`) from top to bottom in a fresh kernel, exactly as you saved it, then runs every
question's *public* tests (the ones `grader.check` uses) and prints a table and an overall
percentage. Hidden tests run only when an instructor grades your work, so a pass here is
necessary, not sufficient.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from aibook_course.paths import find_exercises, tool_env

MARKER = "AIBOOK_PROGRESS="
# The cell appended to the student's notebook: it calls `report` below in the student's kernel,
# which imports this package through tool_env()'s PYTHONPATH.
REPORT_CELL = "from aibook_course.progress import report\nreport(grader, PUBLIC_TESTS, globals())"


def report(grader, public_tests: dict, answers: dict) -> None:
    """In the student's kernel: print MARKER and {question: passes its public tests}.

    answers: the notebook's globals(), where the tests look for the student's functions
    (otter would otherwise look in this module's globals, the caller of `check`)."""
    def natural(s: str) -> list:
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]

    passed = {}
    for q in sorted(public_tests, key=natural):
        try:
            passed[q] = bool(grader.check(q, global_env=answers).passed_all)
        except Exception:  # a student's broken answer is a fail, not a crash of the report
            passed[q] = False
    print(MARKER + json.dumps(passed))


@dataclass
class ChapterProgress:
    """Pass/fail per question of one exercise notebook (`error` says why it could not run)."""

    notebook: str
    passed: dict[str, bool]
    error: str = ""

    @property
    def done(self) -> int:
        return sum(self.passed.values())


def _public_questions(nb: nbformat.NotebookNode) -> list[str]:
    return list(nb.metadata.get("otter", {}).get("tests", {}))


def check_notebook(path: Path, timeout: float = 600) -> ChapterProgress:
    """Run one exercise notebook in a temporary copy of its folder and its public tests."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    questions = _public_questions(nb)
    result = ChapterProgress(path.name, {q: False for q in questions})
    if not any("PUBLIC_TESTS = {" in c.source for c in nb.cells if c.cell_type == "code"):
        result.error = "the grader cell is missing: get a fresh copy of the notebook"
        return result
    # Don't run the export cell: progress must not write submission zips.
    nb.cells = [c for c in nb.cells if "grader.export(" not in c.source]
    nb.cells.append(nbformat.v4.new_code_cell(REPORT_CELL))
    with tempfile.TemporaryDirectory(prefix="aibook_progress_") as tmp:
        shutil.copy(path, Path(tmp) / path.name)
        env = tool_env()
        client = NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                                resources={"metadata": {"path": tmp}})
        try:
            from unittest import mock

            with mock.patch.dict("os.environ", env):
                client.execute()
        except Exception as err:  # a kernel that dies or a timeout: report, don't crash
            result.error = f"{type(err).__name__}: {err}".splitlines()[0][:200]
            return result
    text = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []))
    found = re.search(re.escape(MARKER) + r"(\{.*\})", text)
    if found:
        result.passed.update(json.loads(found.group(1)))
    else:
        result.error = "the notebook stopped before its checks could run"
    return result


def progress(folder: Path | str | None = None) -> list[ChapterProgress]:
    """Check every exercise notebook (one that otter built: it names its assignment) in
    `folder`; other notebooks there are left alone.

    With no folder: ./exercises, else the checkout's exercises/ (a pip-installed package has
    none, so then say how to name the folder)."""
    if not folder:
        found = find_exercises()
        if found is None:
            raise FileNotFoundError(
                f"expected an exercises/ folder in {Path.cwd()}, found none: run this from the "
                "folder that holds it, or name the folder of your exercise notebooks: "
                "python -m aibook_course progress path/to/folder")
        folder = found
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"expected a folder of exercise notebooks, got {folder}")
    notebooks = [p for p in sorted(folder.glob("*.ipynb"))
                 if nbformat.read(p, as_version=4).metadata.get("otter", {}).get("assignment_name")]
    return [check_notebook(p) for p in notebooks]


def render(results: list[ChapterProgress]) -> str:
    """A plain-text table: one line per chapter, then the overall percentage."""
    lines = []
    for r in results:
        marks = " ".join(f"{q} {'✓' if ok else '✗'}" for q, ok in r.passed.items())
        lines.append(f"{r.notebook:28s} {r.done:2d}/{len(r.passed):<2d} {marks}"
                     + (f"   ({r.error})" if r.error else ""))
    total = sum(len(r.passed) for r in results)
    done = sum(r.done for r in results)
    percent = 100.0 * done / total if total else 0.0
    lines.append(f"overall: {done}/{total} questions pass their public tests ({percent:.0f}%)")
    lines.append("(hidden tests run only when your work is graded)")
    return "\n".join(lines)


def main(folder: str | None = None) -> int:
    """Print the progress table; exit code 0 (it is a report, not a check), 2 when there is
    no folder to report on."""
    try:
        results = progress(folder)
    except (FileNotFoundError, NotADirectoryError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not results:
        print(f"no exercise notebooks in {folder or 'exercises/'}")
        return 0
    print(render(results))
    return 0
