"""Regenerate the graded exercises from their masters, reproducibly.

`python -m aibook_course exercises build [topic ...]` runs `otter assign` on every master
`exercises/masters/topic.ipynb` (or the named ones) and writes

- `exercises/topic.ipynb`: the student notebook (committed), and
- `exercises/autograder/topic-autograder.zip`: otter's grading zip with the hidden tests,
  plus `topic-solution.ipynb` (the student notebook with the solutions), both git-ignored.

Two things make the output byte-for-byte reproducible: the tests are exception-based (their
source is copied from the master, not expected outputs recorded by executing it), and this
module normalises what otter writes (fixed zip name, sorted zip entries with a fixed date,
cell ids numbered in order, no outputs).

It also inserts the *grader cell* right after the master's first code cell: the public tests
embedded in the cell itself, written to a temporary folder when the cell runs, so that
`grader.check("q1")` works in Colab, where the kernel cannot read the notebook file and there
is no `tests/` folder (otter issues #630 and #901).

`--masters DIR` builds from a private folder of masters instead (a course's own solutions and
hidden tests): the student notebooks go to DIR/.. and the autograder zips to DIR/../autograder,
the same layout as here, so that `grade --masters DIR` finds them.

`python -m aibook_course exercises check [topic ...]` builds into a temporary folder and
grades the solution notebook (must score full marks) and the untouched student notebook (must
score 0).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from aibook_course.cells import KERNELSPEC, grader_cell_source
from aibook_course.grading import grade_submission
from aibook_course.paths import EXERCISES, MASTERS, exercises_of, tool_env

ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold: no build timestamp
EXECUTABLE_IN_ZIP = {"run_autograder", "setup.sh"}


@dataclass(frozen=True)
class Built:
    """What `build` wrote for one master."""

    name: str
    student: Path  # topic.ipynb: no solutions, public tests only
    solution: Path  # topic-solution.ipynb: the student notebook with the solutions filled in
    autograder: Path  # topic-autograder.zip: all tests, for `otter run` / `aibook grade`


def masters(names: list[str] | None = None, folder: Path | None = None) -> list[Path]:
    """The master notebooks in `folder` (default: exercises/masters), sorted: all of them, or
    those whose stem is in `names`."""
    folder = MASTERS if folder is None else Path(folder)
    if not folder.is_dir():
        raise SystemExit(f"expected a folder of master notebooks, got {folder}")
    found = sorted(folder.glob("*.ipynb"))
    if not names:
        return found
    by_name = {p.stem: p for p in found}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise SystemExit(f"no master named {missing}; expected one of {sorted(by_name)}")
    return [by_name[n] for n in names]


COLAB_EXPORT_NOTE = (
    "# In Colab, export does not work: use File > Download > Download .ipynb and submit that.\n"
)


def finish_notebook(path: Path, name: str, dest: Path, otter_meta: dict) -> None:
    """Insert the grader cell, label the export cell, normalise, and write to `dest`.

    otter_meta: the student notebook's `otter` metadata (public tests only); the solution
    notebook gets the same, so that it differs from the student's only in the answers.
    """
    nb = nbformat.read(path, as_version=4)
    nb.metadata["otter"] = otter_meta
    tests = otter_meta.get("tests", {})
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    grader = nbformat.v4.new_code_cell(grader_cell_source(name, tests))
    # hide-input: on the website this long cell folds away; in Jupyter it stays visible.
    grader.metadata = {"deletable": False, "editable": False, "tags": ["hide-input"]}
    nb.cells.insert(first_code + 1, grader)
    for cell in nb.cells:
        if cell.cell_type == "code" and "grader.export(" in cell.source:
            cell.source = COLAB_EXPORT_NOTE + cell.source
    if nb.cells and nb.cells[-1].cell_type == "markdown" and not nb.cells[-1].source.strip():
        nb.cells.pop()  # otter leaves an empty markdown cell at the end
    normalise(nb)
    nbformat.write(nb, dest)


def normalise(nb: nbformat.NotebookNode) -> None:
    """No outputs or counts, cell ids numbered in order, the book's kernelspec."""
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.pop("language_info", None)
    nb.nbformat, nb.nbformat_minor = 4, 5


def normalise_zip(src: Path, dest: Path) -> None:
    """Copy a zip with sorted entries, a fixed date and fixed permissions."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in sorted(zin.namelist()):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            mode = 0o755 if Path(name).name in EXECUTABLE_IN_ZIP else 0o644
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(info, zin.read(name))


def with_grading_requirements(master: Path, dest: Path) -> None:
    """Copy the master, adding to its assignment config the packages that Docker grading
    (`otter grade`) must install: the `aibook ... @ git+...` spec of its install cell, which
    brings numpy and torch. (`otter run` and `aibook grade` use the current environment.)"""
    nb = nbformat.read(master, as_version=4)
    config = nb.cells[0]
    if config.cell_type != "raw" or not config.source.startswith("# ASSIGNMENT CONFIG"):
        raise ValueError(f"{master}: the first cell must be the raw '# ASSIGNMENT CONFIG' cell")
    install = next((c.source for c in nb.cells if c.cell_type == "code"), "")
    spec = re.search(r"[\"'](aibook[^\"']*@ *git\+[^\"']+)[\"']", install)
    if spec is None:
        raise ValueError(f"{master}: the first code cell must pip-install 'aibook @ git+...'")
    if not re.search(r"^requirements:", config.source, flags=re.M):
        config.source = config.source.rstrip() + f"\nrequirements:\n  - {spec.group(1)}\n"
    nbformat.write(nb, dest)


def build(master: Path, out_dir: Path = EXERCISES, timeout: float = 900,
          run_tests: bool = True) -> Built:
    """Run `otter assign` on one master and write its outputs under `out_dir`.

    With `run_tests`, otter grades the solutions once more before it writes anything. Callers
    that grade the built solutions themselves right afterwards (`check`, the test suite) pass
    False, so a master is not executed twice for the same check.

    Raises RuntimeError with otter's output when otter fails (e.g. a test fails on the
    solutions), and TimeoutError when it runs longer than `timeout` seconds.
    """
    name = master.stem
    out_dir = Path(out_dir)
    (out_dir / "autograder").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"assign_{name}_") as tmp:
        work = Path(tmp)
        with_grading_requirements(master, work / master.name)
        cmd = [sys.executable, "-m", "otter", "assign", "--no-pdfs",
               *([] if run_tests else ["--no-run-tests"]), master.name, "dist"]
        try:
            proc = subprocess.run(cmd, cwd=work, env=tool_env(), capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise TimeoutError(f"otter assign {name} took more than {timeout} s") from err
        zips = sorted((work / "dist" / "autograder").glob(f"{name}-autograder_*.zip"))
        if proc.returncode != 0 or len(zips) != 1:
            raise RuntimeError(f"otter assign failed for {master}:\n{proc.stdout}\n{proc.stderr}")
        built = Built(name, out_dir / f"{name}.ipynb",
                      out_dir / "autograder" / f"{name}-solution.ipynb",
                      out_dir / "autograder" / f"{name}-autograder.zip")
        student = work / "dist" / "student" / master.name
        otter_meta = dict(nbformat.read(student, as_version=4).metadata.get("otter", {}))
        finish_notebook(student, name, built.student, otter_meta)
        finish_notebook(work / "dist" / "autograder" / master.name, name, built.solution,
                        otter_meta)
        normalise_zip(zips[0], built.autograder)
    return built


def build_all(names: list[str] | None = None, out_dir: Path = EXERCISES,
              masters_dir: Path | None = None, run_tests: bool = True) -> list[Built]:
    """Build every master (or the named ones) of `masters_dir` (default: exercises/masters)
    into `out_dir`, printing one line each."""
    done = []
    for master in masters(names, masters_dir):
        built = build(master, out_dir, run_tests=run_tests)
        print(f"built {built.student}  (+ {built.autograder})")
        done.append(built)
    return done


def check(names: list[str] | None = None, timeout: float = 300,
          masters_dir: Path | None = None) -> int:
    """Build into a temporary folder; the solutions must score full marks, the stubs 0."""
    problems = 0
    with tempfile.TemporaryDirectory(prefix="exercises_check_") as tmp:
        # the solutions are graded just below, so otter need not grade them while building
        for built in build_all(names, Path(tmp), masters_dir, run_tests=False):
            for label, notebook, want_full in (("solutions", built.solution, True),
                                               ("student stub", built.student, False)):
                row = grade_submission(notebook, built.autograder, timeout=timeout)
                ok = (row.total == row.possible > 0) if want_full else (
                    row.scores and all(v == 0 for v in row.scores.values()))
                problems += not ok
                mark = "ok " if ok else "BAD"
                print(f"{mark} {built.name} {label}: {row.total:g}/{row.possible:g} "
                      f"{row.scores}" + ("" if ok else f"\n    {row.reason}"))
    print("all good" if not problems else f"{problems} problem(s)")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    """`python -m aibook_course exercises {build,check} [topic ...]`."""
    parser = argparse.ArgumentParser(prog="python -m aibook_course exercises")
    parser.add_argument("action", choices=["build", "check"])
    parser.add_argument("names", nargs="*", help="master stems such as backprop (default: all)")
    parser.add_argument("--masters", type=Path, default=None,
                        help="a private folder of masters (default: exercises/masters); the "
                             "student notebooks go to its parent folder and the autograder "
                             "zips to ../autograder, as in this repository")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write (default: exercises/, or the --masters folder's "
                             "parent)")
    args = parser.parse_args(argv)
    out = args.out or (exercises_of(args.masters) if args.masters else EXERCISES)
    try:
        if args.action == "build":
            build_all(args.names, out, args.masters)
            return 0
        return check(args.names, masters_dir=args.masters)
    except (RuntimeError, TimeoutError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
