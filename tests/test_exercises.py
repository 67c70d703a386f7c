"""The graded exercises: every master grades to full marks, every untouched student notebook
to 0, bad submissions to a sensible score with a readable reason, nothing leaks, nothing drifts.

Masters are discovered by glob, so each chapter's set is covered as soon as its master lands.
Everything expensive (building with `otter assign`, grading with `otter run`) happens once per
module in fixtures; the bad submissions are graded in one batch.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from aibook_course import exercises, grading

ROOT = Path(__file__).resolve().parent.parent
# AIBOOK_EXERCISES=cnn,rl limits the run to those masters (authors checking theirs).
ONLY = [n for n in os.environ.get("AIBOOK_EXERCISES", "").split(",") if n]
MASTERS = exercises.masters(ONLY or None)
NAMES = [m.stem for m in MASTERS]
BATCH_TIMEOUT = 120  # s per submission; a normal one takes ~10-20 s on a loaded 2-core machine
JOBS = 2

pytestmark = pytest.mark.skipif(not MASTERS, reason="no exercise masters yet")


# ---------------------------------------------------------------- building


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, exercises.Built]:
    """Every master built afresh into a temporary folder. otter assign does not grade the
    solutions itself: `batch` grades them, and full marks are asserted below."""
    from concurrent.futures import ThreadPoolExecutor

    out = tmp_path_factory.mktemp("built")
    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        done = list(pool.map(lambda m: exercises.build(m, out, run_tests=False), MASTERS))
    return {b.name: b for b in done}


def _cells(path: Path) -> list:
    return nbformat.read(path, as_version=4).cells


def _master_parts(master: Path) -> tuple[list[str], list[str]]:
    """(solution lines, hidden-test lines) of a master, each stripped, without trivial ones."""
    solution, hidden = [], []
    for cell in _cells(master):
        if cell.cell_type != "code":
            continue
        src = cell.source
        if re.search(r"hidden:\s*true", src, flags=re.I) and "BEGIN TEST CONFIG" in src:
            body = src.split("END TEST CONFIG", 1)[1]
            hidden += [ln.strip() for ln in body.splitlines()]
        inside = False
        for line in src.splitlines():
            if re.match(r"\s*# END SOLUTION", line):
                inside = False
            if inside:
                solution.append(line.strip())
            elif re.search(r"#\s*SOLUTION\s*$", line):
                solution.append(re.sub(r"#\s*SOLUTION\s*$", "", line).strip())
            if re.match(r"\s*# BEGIN SOLUTION", line):
                inside = True

    public = set()  # lines the master shows students anyway (setup, prompts, public tests)
    for cell in _cells(master):
        src = cell.source
        if re.search(r"hidden:\s*true", src, flags=re.I) or "# BEGIN SOLUTION" in src:
            continue
        public |= {ln.strip() for ln in src.splitlines()}

    def telling(lines: list[str]) -> list[str]:
        return [ln for ln in dict.fromkeys(lines)
                if len(ln) >= 12 and not ln.startswith("#") and ln not in public]

    return telling(solution), telling(hidden)


# ---------------------------------------------------------------- the bad-submission set


def _answer_index(nb, question: str) -> int:
    """Index of the answer cell of `question` (the code cell before its grader.check cell)."""
    check = next(i for i, c in enumerate(nb.cells)
                 if c.source.strip() == f'grader.check("{question}")')
    tags = {"otter_answer_cell", "otter_assign_solution_cell"}
    return max(i for i in range(check) if tags & set(nb.cells[i].metadata.get("tags", [])))


def _with_cell(nb, index: int, source: str):
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.cells.insert(index, nbformat.v4.new_code_cell(source))
    return nb


def make_bad_submissions(solution: Path, student: Path, dest: Path, other: Path | None) -> dict:
    """Write the deliberately bad submissions (and two controls) into `dest`.

    Returns {file name: (expected status, expected scores)} where expected scores is "full",
    "zero" or {question: "full" | "zero"}; solution/student are one chapter's built notebooks.
    """
    dest.mkdir(parents=True, exist_ok=True)
    sol = nbformat.read(solution, as_version=4)
    stub = nbformat.read(student, as_version=4)
    questions = list(sol.metadata["otter"]["tests"]) or ["q1"]
    name = sol.metadata["otter"]["assignment_name"]
    q_syntax, q_raise = questions[0], questions[-1]
    after_first = _answer_index(sol, questions[0]) + 1
    expect = {}

    def write(fname, nb, status, scores):
        nbformat.write(nb, dest / fname)
        expect[fname] = (status, scores)

    write("control_solutions.ipynb", sol, "graded", "full")
    write("control_untouched.ipynb", stub, "graded", "zero")

    nb = nbformat.from_dict(json.loads(json.dumps(sol)))
    nb.cells[_answer_index(nb, q_syntax)].source += "\n    return (((\n"
    write("syntax_error.ipynb", nb, "graded", {q_syntax: "zero", "others": "full"})

    nb = nbformat.from_dict(json.loads(json.dumps(sol)))
    cell = nb.cells[_answer_index(nb, q_raise)]
    tree = ast.parse(cell.source)
    funcs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    cell.source += "".join(f"\n\ndef {f}(*args, **kwargs):\n    raise RuntimeError('oops')\n"
                           for f in funcs)
    write("exception_in_answer.ipynb", nb, "graded", {q_raise: "zero", "others": "full"})

    # The library answers: the package's own object, or a wrapper that runs library code.
    nb = nbformat.from_dict(json.loads(json.dumps(sol)))
    if name.endswith("backprop"):  # chapter 1's q3 is the package's aibook.autograd unbroadcast
        q_lib = "q3"
        nb.cells[_answer_index(nb, q_lib)].source += \
            "\n\nfrom aibook.autograd.tensor import unbroadcast\n"
    else:
        q_lib = q_raise
        nb.cells[_answer_index(nb, q_lib)].source += "".join(
            f"\n\n_{f} = {f}\n\ndef {f}(*args, **kwargs):\n    from aibook.device import seed_for"
            f"\n    seed_for(0)\n    return _{f}(*args, **kwargs)\n" for f in funcs)
    write("library_answer.ipynb", nb, "graded", {q_lib: "zero", "others": "full"})

    write("infinite_loop.ipynb", _with_cell(sol, after_first, "while True:\n    pass"),
          "timeout", "zero")
    write("sys_exit.ipynb", _with_cell(sol, after_first, "import sys\nsys.exit()"),
          "graded", "full")
    write("os_exit.ipynb", _with_cell(sol, after_first, "import os\nos._exit(0)"),
          "error", "zero")
    write("print_100mb.ipynb",
          _with_cell(sol, after_first, "print(('x' * 999 + '\\n') * 100_000)"),
          "graded", "full")

    # Edited embedded tests: the public tests in the grader cell and the metadata now pass on
    # anything. Grading uses the autograder's own tests, so the untouched answers still score 0.
    nb = nbformat.from_dict(json.loads(json.dumps(stub)))
    trivial = ("from otter.test_files import test_case\nOK_FORMAT = False\nname = '{q}'\n"
               "points = 100\n@test_case(points=100, hidden=False)\ndef test_ok():\n"
               "    assert True\n")
    nb.metadata["otter"]["tests"] = {q: trivial.format(q=q) for q in questions}
    grader_cell = next(c for c in nb.cells if "PUBLIC_TESTS = {" in c.source)
    head, rest = grader_cell.source.split("PUBLIC_TESTS = {", 1)
    fake = repr({q: trivial.format(q=q) for q in questions})
    grader_cell.source = head + "PUBLIC_TESTS = " + fake + "\n" + rest.split("\n}\n", 1)[1]
    write("edited_tests.ipynb", nb, "graded", "zero")

    # Deleted embedded tests (grader cell and metadata): the answers are still graded in full.
    nb = nbformat.from_dict(json.loads(json.dumps(sol)))
    nb.cells = [c for c in nb.cells if "PUBLIC_TESTS = {" not in c.source]
    del nb.metadata["otter"]["tests"], nb.metadata["otter"]["OK_FORMAT"]
    write("deleted_tests.ipynb", nb, "graded", "full")

    write("empty.ipynb", nbformat.v4.new_notebook(), "rejected", "zero")
    if other is not None:
        shutil.copy(other, dest / "other_chapter.ipynb")
    else:  # only one chapter so far: a notebook that says it belongs to another one
        nb = nbformat.from_dict(json.loads(json.dumps(sol)))
        nb.metadata["otter"]["assignment_name"] = "99_other" if name != "99_other" else "98_other"
        nbformat.write(nb, dest / "other_chapter.ipynb")
    expect["other_chapter.ipynb"] = ("error", "zero")
    (dest / "notes.txt").write_text("I did the exercises on paper.\n")
    expect["notes.txt"] = ("rejected", "zero")
    (dest / "broken.ipynb").write_text('{"cells": [')
    expect["broken.ipynb"] = ("rejected", "zero")
    return expect


# ---------------------------------------------------------------- one grading batch


@pytest.fixture(scope="module")
def exported_zip(built, tmp_path_factory) -> Path:
    """Run the first chapter's solution notebook as a student would, top to bottom, in a folder
    with no tests/: every grader.check passes, check_all runs, and the export cell (PDF off, so
    no LaTeX) writes a submission zip."""
    from nbclient import NotebookClient

    b = built[NAMES[0]]
    work = tmp_path_factory.mktemp("student_run")
    notebook = work / f"{b.name}.ipynb"
    shutil.copy(b.solution, notebook)
    nb = nbformat.read(notebook, as_version=4)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in exercises.tool_env().items():
            mp.setenv(key, value)
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(work)}}).execute()
    outputs = {c.source.strip(): "".join(o.get("text", "") + str(o.get("data", {}))
                                         for o in c.outputs)
               for c in nb.cells if c.cell_type == "code"}
    questions = nb.metadata["otter"]["tests"]
    for q in questions:
        assert "passed" in outputs[f'grader.check("{q}")'], outputs[f'grader.check("{q}")']
    assert outputs["grader.check_all()"].count("passed") >= len(questions)
    assert not (work / "tests").exists()
    zips = sorted(work.glob(f"{b.name}_*.zip"))
    assert len(zips) == 1, f"expected one export zip, found {zips}"
    return zips[0]


@pytest.fixture(scope="module")
def batch(built, exported_zip, tmp_path_factory):
    """Grade, in one batch: each chapter's solutions and untouched student notebook, the
    exported zip, and the bad-submission set (with controls graded again at the very end)."""
    folder = tmp_path_factory.mktemp("submissions")
    expect = {}
    for name, b in built.items():
        shutil.copy(b.solution, folder / f"00_{name}_solutions.ipynb")
        shutil.copy(b.student, folder / f"00_{name}_untouched.ipynb")
    shutil.copy(exported_zip, folder / "01_exported.zip")
    expect["01_exported.zip"] = ("graded", "full")
    first = built[NAMES[0]]
    other = built[NAMES[1]].student if len(NAMES) > 1 else None
    expect.update(make_bad_submissions(first.solution, first.student, folder / "bad", other))
    for path in (folder / "bad").iterdir():
        path.rename(folder / path.name)
    (folder / "bad").rmdir()
    (folder / "control_solutions.ipynb").rename(folder / "zz_control_solutions.ipynb")
    (folder / "control_untouched.ipynb").rename(folder / "zz_control_untouched.ipynb")
    expect["zz_control_solutions.ipynb"] = expect.pop("control_solutions.ipynb")
    expect["zz_control_untouched.ipynb"] = expect.pop("control_untouched.ipynb")
    # one autograder per chapter; the bad set uses the first chapter's
    tasks = [(p, next((b.autograder for n, b in built.items() if p.name.startswith(f"00_{n}_")),
                      first.autograder)) for p in sorted(folder.iterdir())]
    rows = dict(zip([p.name for p, _ in tasks], _grade_many(tasks), strict=True))
    out = Path(os.environ.get("AIBOOK_GRADEBOOK", tmp_path_factory.mktemp("gb") / "gb.csv"))
    grading.write_gradebook([rows[k] for k in sorted(rows) if not k.startswith("00_")
                             or k.startswith(f"00_{first.name}")], out)
    return rows, expect, out


def _grade_many(tasks: list[tuple[Path, Path]]) -> list[grading.Row]:
    """Grade (submission, autograder) pairs, JOBS at a time, in order."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        return list(pool.map(lambda t: grading.grade_submission(t[0], t[1], BATCH_TIMEOUT),
                             tasks))


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_master_solutions_score_full_marks_on_public_and_hidden_tests(batch, name):
    row = batch[0][f"00_{name}_solutions.ipynb"]
    assert row.status == "graded" and row.total == row.possible > 0, row.reason
    assert len(row.scores) >= 5, f"{name}: {len(row.scores)} questions, expected at least 5"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_untouched_student_notebook_scores_zero_on_every_question(batch, name):
    row = batch[0][f"00_{name}_untouched.ipynb"]
    assert row.status == "graded", row.reason
    assert row.scores and all(v == 0 for v in row.scores.values()), row.scores


BAD = ["01_exported.zip", "syntax_error.ipynb", "exception_in_answer.ipynb",
       "infinite_loop.ipynb", "sys_exit.ipynb", "os_exit.ipynb", "print_100mb.ipynb",
       "edited_tests.ipynb", "deleted_tests.ipynb", "empty.ipynb", "other_chapter.ipynb",
       "notes.txt", "broken.ipynb", "library_answer.ipynb", "zz_control_solutions.ipynb",
       "zz_control_untouched.ipynb"]


@pytest.mark.slow
@pytest.mark.parametrize("fname", BAD)
def test_bad_submission_gets_a_sensible_score_and_a_readable_reason(batch, fname):
    rows, expect, _ = batch
    row, (status, scores) = rows[fname], expect[fname]
    assert row.status == status, f"{fname}: {row.status} ({row.reason})"
    assert row.reason and len(row.reason) < 3000 and "Traceback" not in row.reason
    assert set(row.scores) == set(row.max_scores) and row.max_scores
    for q, got in row.scores.items():
        want = scores if isinstance(scores, str) else scores.get(q, scores["others"])
        assert got == (row.max_scores[q] if want == "full" else 0.0), (fname, q, row.reason)
    assert row.seconds <= BATCH_TIMEOUT + 60


@pytest.mark.slow
def test_bad_submissions_change_no_other_row(batch):
    rows = batch[0]
    name = NAMES[0]
    for before, after in ((f"00_{name}_solutions.ipynb", "zz_control_solutions.ipynb"),
                          (f"00_{name}_untouched.ipynb", "zz_control_untouched.ipynb")):
        a, b = rows[before], rows[after]
        assert (a.scores, a.status, a.reason) == (b.scores, b.status, b.reason)


@pytest.mark.slow
def test_gradebook_csv_has_one_row_per_submission_and_one_column_per_question(batch):
    rows, expect, out = batch
    table = list(csv.DictReader(out.open()))
    questions = list(rows["zz_control_solutions.ipynb"].max_scores)
    assert list(table[0]) == ["submission", *questions, "total", "possible", "status",
                              "seconds", "reason", "instructor_reason", "flags"]
    assert {r["submission"] for r in table} >= set(expect)
    for r in table:
        assert float(r["total"]) == pytest.approx(sum(float(r[q]) for q in questions))


# ---------------------------------------------------------------- drift and leaks


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_committed_student_notebook_matches_a_fresh_build_of_its_master(built, name):
    committed = ROOT / "exercises" / f"{name}.ipynb"
    assert committed.exists(), f"run `python -m aibook_course exercises build {name}` and commit it"
    assert built[name].student.read_bytes() == committed.read_bytes(), (
        f"exercises/{name}.ipynb drifted from its master: "
        f"run `python -m aibook_course exercises build {name}`")


def _site_files(pattern: str) -> list[Path]:
    site = ROOT / "_build" / "html"
    return [p for p in site.glob(pattern) if p.is_file()] if site.is_dir() else []


def _texts(path: Path) -> str:
    """A file's text; for a notebook, its sources and metadata (not JSON-escaped)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".ipynb":
        nb = nbformat.reads(text, as_version=4)
        tests = nb.metadata.get("otter", {}).get("tests", {})
        text = "\n".join([c.source for c in nb.cells] + list(tests.values()))
    return text


@pytest.mark.parametrize("name", NAMES)
def test_no_solution_or_hidden_test_reaches_students(name):
    """Nothing written only in the master reaches a student: not in the student notebook, not
    in the book's exercise pages, not (as hidden tests or markers) anywhere on the site or in
    the pip-installed package. (The package and chapters legitimately teach the techniques;
    the master's own solution lines and hidden tests are what must not travel.)"""
    solution, hidden = _master_parts(ROOT / "exercises" / "masters" / f"{name}.ipynb")
    assert solution and hidden, "the master has no solution or no hidden test to protect"
    hidden_names = re.findall(r"def (test_\w+)",
                              "\n".join(ln for ln in hidden if ln.startswith("def ")))
    student = [ROOT / "exercises" / f"{name}.ipynb", *_site_files(f"**/exercises/{name}.ipynb")]
    elsewhere = [p for p in (ROOT / "aibook").rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts]
    elsewhere += [p for p in _site_files("**/*") if p.suffix in {".html", ".ipynb", ".txt"}]
    markers = ["# BEGIN SOLUTION", "BEGIN TEST CONFIG", "hidden=True"]
    for path in student:
        text = _texts(path)
        leaks = [ln for ln in solution + hidden + hidden_names + markers if ln in text]
        assert not leaks, f"{path.relative_to(ROOT)} holds master-only text: {leaks[:3]}"
    for path in elsewhere:
        text = path.read_text(encoding="utf-8", errors="replace")
        leaks = [n for n in hidden_names if n in text]
        assert not leaks, f"{path.relative_to(ROOT)} holds hidden tests: {leaks[:3]}"
    assert not any(p.suffix == ".zip" or "masters" in p.parts for p in elsewhere)


@pytest.mark.parametrize("name", NAMES)
def test_hidden_tests_check_more_than_the_public_ones(name):
    cells = [c.source for c in _cells(ROOT / "exercises" / "masters" / f"{name}.ipynb")]
    questions = [re.search(r"name:\s*(\S+)", s).group(1) for s in cells
                 if s.startswith("# BEGIN QUESTION")]
    assert len(questions) >= 5, f"{name}: {len(questions)} questions, expected at least 5"
    text = "\n".join(cells)
    for q in questions:
        block = text.split(f"name: {q}\n", 1)[1].split("# END QUESTION", 1)[0]
        tests = [t for t in block.split('""" # BEGIN TEST CONFIG')[1:]]
        public = [t for t in tests if not re.search(r"hidden:\s*true", t)]
        hidden = [t for t in tests if re.search(r"hidden:\s*true", t)]
        assert public and hidden, f"{name} {q}: needs a public and a hidden test"
        assert sum(t.count("assert") for t in hidden) >= 1
        assert len("".join(hidden)) > len("".join(public)) * 0.8, f"{name} {q}: hidden tests thin"


@pytest.mark.parametrize("name", NAMES)
def test_every_test_checks_that_the_answer_is_the_students_own_code(name):
    """Each function a test receives from the student's notebook is wrapped by own_work."""
    cells = _cells(ROOT / "exercises" / "masters" / f"{name}.ipynb")
    answers = set()
    for cell in cells:
        if cell.cell_type == "code" and "# BEGIN SOLUTION" in cell.source:
            tree = ast.parse(re.sub(r"^\s*# (BEGIN|END) SOLUTION.*$", "", cell.source, flags=re.M))
            answers |= {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert answers, f"{name}: no answer functions found"
    tests = [c.source for c in cells if "BEGIN TEST CONFIG" in c.source]
    for source in tests:
        head = re.search(r"^def (test_\w+)\((.*)\):", source, flags=re.M)
        assert head, source[:200]
        for arg in (a.strip() for a in head.group(2).split(",")):
            if arg in answers:
                assert re.search(rf"^    {arg} = own_work\({arg}, ", source, flags=re.M), \
                    f"{name} {head.group(1)}: wrap {arg} with own_work"


# ---------------------------------------------------------------- the student notebook


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_installs_only_what_is_missing_then_builds_its_grader(name, monkeypatch):
    cells = [c for c in _cells(ROOT / "exercises" / f"{name}.ipynb") if c.cell_type == "code"]
    install, grader_cell = cells[0].source, cells[1].source
    assert 'find_spec("otter") is None' in install and 'find_spec("aibook") is None' in install
    assert "otter-grader==7.0.0" in install
    assert "@ git+https://github.com/aibook-org/aibook" in install
    calls = []
    monkeypatch.setattr("subprocess.check_call", lambda *a, **k: calls.append(a))
    exec(compile(install, name, "exec"), {"__name__": "__main__"})
    assert calls == [], "the install cell called pip although everything is installed"
    assert "PUBLIC_TESTS = {" in grader_cell and "tests_dir=_tests_dir" in grader_cell
    sources = [c.source.strip() for c in cells]
    assert "grader.check_all()" in sources
    assert any("grader.export(pdf=False" in s for s in sources)


@pytest.mark.parametrize("name", NAMES)
def test_grader_check_works_in_simulated_colab_without_notebook_file_or_tests_folder(
        built, name, tmp_path, monkeypatch):
    """Colab's kernel can't read the notebook file and has no tests/: checks must still run."""
    monkeypatch.chdir(tmp_path)

    class ColabShell:  # otter recognises Colab by the repr of get_ipython()
        def __repr__(self) -> str:
            return "<google.colab._shell.Shell object>"

    monkeypatch.setattr("otter.check.utils.get_ipython", ColabShell)
    from otter.check.utils import IPythonInterpreter

    assert IPythonInterpreter.COLAB.value.running()
    import otter

    with pytest.raises(ValueError, match="does not exist"):
        otter.Notebook()  # otter's own init cell fails in Colab (otter issues #630, #901)
    cells = _cells(built[name].solution)
    env = {"__name__": "__main__"}
    grader_cell = next(c.source for c in cells if "PUBLIC_TESTS = {" in c.source)
    exec(compile(grader_cell, "grader", "exec"), env)
    for cell in cells:
        if "otter_assign_solution_cell" in cell.metadata.get("tags", []) or (
                cell.cell_type == "code" and cell.source.startswith("import ")):
            exec(compile(cell.source, "answer", "exec"), env)
    for q in env["PUBLIC_TESTS"]:
        result = env["grader"].check(q, global_env=env)
        assert result.passed_all, f"{q}: {result}"
    assert not (tmp_path / "tests").exists()


@pytest.mark.slow
def test_building_grades_the_solutions_unless_the_caller_grades_them_itself(tmp_path):
    """An instructor's plain build stops on a solution that fails its own hidden test; the
    suite's builds skip that grading (it grades the solutions itself) and still build."""
    master = MASTERS[0]
    nb = nbformat.read(master, as_version=4)
    hidden = next(c for c in nb.cells if c.cell_type == "code" and "hidden: true" in c.source)
    hidden.source = re.sub(r"^(def test_\w+\(.*\):\n)", r"\1    assert False, 'planted'\n",
                           hidden.source, count=1, flags=re.M)
    assert "'planted'" in hidden.source
    broken = tmp_path / "masters" / master.name
    broken.parent.mkdir()
    nbformat.write(nb, broken)
    with pytest.raises(RuntimeError, match="(?s)otter assign failed.*tests failed"):
        exercises.build(broken, tmp_path / "graded")
    built = exercises.build(broken, tmp_path / "not_graded", run_tests=False)
    assert built.solution.exists() and built.autograder.exists()


# ---------------------------------------------------------------- small pieces, no otter


def test_normalised_zip_does_not_depend_on_when_or_in_which_order_it_was_written(tmp_path):
    import zipfile

    for i, (stamp, names) in enumerate((((2020, 5, 1, 1, 2, 4), ["b", "a"]),
                                        ((2026, 1, 2, 3, 4, 6), ["a", "b"]))):
        with zipfile.ZipFile(tmp_path / f"raw{i}.zip", "w") as zf:
            for n in names:
                zf.writestr(zipfile.ZipInfo(f"tests/{n}.py", date_time=stamp), f"points = 1 # {n}")
        exercises.normalise_zip(tmp_path / f"raw{i}.zip", tmp_path / f"norm{i}.zip")
    assert (tmp_path / "raw0.zip").read_bytes() != (tmp_path / "raw1.zip").read_bytes()
    assert (tmp_path / "norm0.zip").read_bytes() == (tmp_path / "norm1.zip").read_bytes()


def test_grading_rejects_what_is_not_a_notebook_with_a_reason(tmp_path):
    (tmp_path / "a.pdf").write_bytes(b"%PDF")
    (tmp_path / "b.ipynb").write_text("[]")
    (tmp_path / "c.zip").write_text("not a zip")
    assert "expected a .ipynb or .zip" in grading._precheck(tmp_path / "a.pdf")
    assert "no list of cells" in grading._precheck(tmp_path / "b.ipynb")
    assert "not a valid zip" in grading._precheck(tmp_path / "c.zip")
    with pytest.raises(NotADirectoryError, match="expected a folder of submissions"):
        grading.grade_folder(tmp_path / "missing", tmp_path / "x.zip")
    with pytest.raises(FileNotFoundError, match="exercises build 77_nothing"):
        grading.resolve_autograder("77_nothing")


@pytest.mark.slow
def test_progress_runs_the_notebooks_and_reports_a_percentage(built, tmp_path):
    from aibook_course import progress

    name = NAMES[0]
    shutil.copy(built[name].solution, tmp_path / f"{name}.ipynb")
    (tmp_path / "notes.md").write_text("not an exercise")
    results = progress.progress(tmp_path)
    assert [r.notebook for r in results] == [f"{name}.ipynb"]
    assert results[0].passed and all(results[0].passed.values()), results[0]
    assert "(100%)" in progress.render(results)
    half = progress.ChapterProgress("x.ipynb", {"q1": True, "q2": False, "q3": False, "q4": True})
    assert "overall: 2/4 questions pass their public tests (50%)" in progress.render([half])


def test_command_line_dispatches_exercise_subcommands(capsys):
    from aibook.__main__ import main as library_main
    from aibook_course.__main__ import main

    for command in ("grade", "exercises"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
    assert "--autograder" in capsys.readouterr().out
    # the library's command line says where the course tooling went
    assert library_main(["grade", "submissions/"]) == 2
    assert "python -m aibook_course grade submissions/" in capsys.readouterr().err


@pytest.mark.slow
def test_an_answer_that_raises_shows_the_students_own_line(batch):
    row = batch[0]["exception_in_answer.ipynb"]
    assert "raise RuntimeError('oops')" in row.reason, row.reason  # not only the test's line


@pytest.mark.slow
def test_the_library_s_own_answer_is_named_in_the_reason(batch):
    row = batch[0]["library_answer.ipynb"]
    assert re.search(r"aibook.*write your own", row.reason), row.reason
