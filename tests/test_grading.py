"""Grading that a course can trust (issue 16): one submission cannot change another's row,
results are validated, cheats are flagged, correct work is not scored 0 for its metadata,
memory and file size are capped, hidden tests stay out of the student's reason.

The planted submissions are built here from the first master's solution and student
notebooks. Each batch is graded once per module; a grading run takes ~10 s.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import nbformat
import psutil
import pytest

from aibook_course import exercises, grading, progress
from aibook_course.paths import EXERCISES

MASTERS = exercises.masters()
pytestmark = [pytest.mark.skipif(not MASTERS, reason="no exercise masters yet"),
              pytest.mark.slow]
TIMEOUT = 120


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> exercises.Built:
    # otter need not grade the solutions while building: the controls below are graded anyway
    return exercises.build(MASTERS[0], tmp_path_factory.mktemp("built"), run_tests=False)


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _copy(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return nbformat.from_dict(json.loads(json.dumps(nb)))


def _after_imports(nb: nbformat.NotebookNode) -> int:
    """Index just after the first cell that imports numpy (the student's setup cell)."""
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                and c.source.startswith("import numpy")) + 1


def _plant(nb: nbformat.NotebookNode, source: str, index: int | None = None
           ) -> nbformat.NotebookNode:
    nb = _copy(nb)
    nb.cells.insert(_after_imports(nb) if index is None else index,
                    nbformat.v4.new_code_cell(source))
    return nb


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hidden_messages(autograder: Path) -> list[str]:
    """The assertion messages of the hidden test cases (string parts longer than 10 chars)."""
    messages = []
    for data in grading.Autograder.load(autograder).tests.values():
        for node in ast.parse(data.decode()).body:
            if isinstance(node, ast.FunctionDef) and any(
                    isinstance(d, ast.Call) and any(k.arg == "hidden" and getattr(
                        k.value, "value", False) for k in d.keywords)
                    for d in node.decorator_list):
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Assert) and sub.msg is not None:
                        parts = [sub.msg] if isinstance(sub.msg, ast.Constant) else list(
                            getattr(sub.msg, "values", []))
                        messages += [p.value for p in parts if isinstance(p, ast.Constant)
                                     and isinstance(p.value, str) and len(p.value) > 10]
    return messages


# ---------------------------------------------------------------- 1. cross-submission tampering

TAMPER = r'''
import glob, json, os, re, shutil, subprocess, sys, zipfile
import psutil
ROOT, SUBMISSIONS, PYTEST = {root!r}, {submissions!r}, {pytest_pid!r}
EVIL = ("from otter.test_files import test_case\nOK_FORMAT = False\nname = '{{q}}'\n"
        "points = {{p}}\n@test_case(points={{p}}, hidden=False)\ndef test_ok():\n    assert True\n")

def evil_test(text, q):
    return EVIL.format(q=q, p=re.search(r"^points\s*=\s*([0-9.]+)", text, re.M).group(1))

# what this process and its parents (up to the test runner) show of the master zip
seen = []
for proc in [psutil.Process()] + psutil.Process().parents():
    if proc.pid == PYTEST:
        break
    seen.append({{"cmdline": proc.cmdline(), "cwd": proc.cwd(), "env": proc.environ()}})
json.dump(seen, open(os.path.join(ROOT, "seen.json"), "w"))

# every autograder zip it can find: all tests pass
for path in glob.glob(ROOT + "/**/*.zip", recursive=True):
    try:
        with zipfile.ZipFile(path) as zf:
            files = {{n: zf.read(n) for n in zf.namelist()}}
    except Exception:
        continue
    for n in [n for n in files if n.startswith("tests/")]:
        files[n] = evil_test(files[n].decode(), n[6:-3]).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, d in files.items():
            zf.writestr(n, d)
# its own tests folder, the other submissions, and a new submission
for path in glob.glob("tests/*.py"):
    text = open(path).read()
    open(path, "w").write(evil_test(text, os.path.basename(path)[:-3]))
for path in glob.glob(SUBMISSIONS + "/*.ipynb"):
    shutil.copy("submission.ipynb", path)
shutil.copy("submission.ipynb", SUBMISSIONS + "/zz_planted.ipynb")
# a daemon that keeps rewriting the tests of whatever is graded next
DAEMON = """
import glob, os, re, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
for _ in range(2000):
    for path in glob.glob(sys.argv[2] + "/**/tests/*.py", recursive=True):
        try:
            text = open(path).read()
            p = re.search(r"^points\\s*=\\s*([0-9.]+)", text, re.M).group(1)
            q = os.path.basename(path)[:-3]
            if "assert True" not in text:
                open(path, "w").write(sys.argv[3].format(q=q, p=p))
        except Exception:
            pass
    time.sleep(0.05)
"""
subprocess.Popen([sys.executable, "-c", DAEMON, os.path.join(ROOT, "daemon.pid"), ROOT, EVIL],
                 start_new_session=True, stdin=subprocess.DEVNULL,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
import time; time.sleep(1)
'''


@pytest.fixture(scope="module")
def tamper_batch(built, tmp_path_factory):
    """control solutions, tamperer, control untouched, control solutions, graded in turn,
    with every temporary folder under one root the tamperer searches."""
    root = tmp_path_factory.getbasetemp()
    folder = tmp_path_factory.mktemp("tamper_submissions")
    sol, stub = _read(built.solution), _read(built.student)
    nbformat.write(sol, folder / "a_control_solutions.ipynb")
    nbformat.write(_plant(stub, TAMPER.format(root=str(root), submissions=str(folder),
                                              pytest_pid=os.getpid())),
                   folder / "b_tamperer.ipynb")
    nbformat.write(stub, folder / "c_control_untouched.ipynb")
    nbformat.write(sol, folder / "d_control_solutions.ipynb")
    master_sha = _sha(built.autograder)
    work = tmp_path_factory.mktemp("grading_tmp")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tempfile, "tempdir", str(work))
        rows = grading.grade_folder(folder, built.autograder, TIMEOUT, jobs=1)
    return {r.submission: r for r in rows}, root, master_sha


def test_a_submission_that_rewrites_autograders_and_tests_changes_no_other_row(built,
                                                                              tamper_batch):
    rows, root, master_sha = tamper_batch
    assert set(rows) == {"a_control_solutions.ipynb", "b_tamperer.ipynb",
                         "c_control_untouched.ipynb", "d_control_solutions.ipynb"}
    full, zero = rows["a_control_solutions.ipynb"], rows["c_control_untouched.ipynb"]
    assert full.status == "graded" and full.total == full.possible > 0, full.instructor_reason
    assert zero.status == "graded" and zero.total == 0, zero.instructor_reason
    again = rows["d_control_solutions.ipynb"]
    assert (again.scores, again.status, again.reason) == (full.scores, full.status, full.reason)
    assert not full.flags and not zero.flags
    bad = rows["b_tamperer.ipynb"]
    assert bad.status == "tampered", bad.instructor_reason
    assert "master autograder" in bad.instructor_reason and "restored" in bad.instructor_reason
    assert "submission/tests/q1.py changed" in bad.instructor_reason
    assert "killed" in bad.instructor_reason  # the daemon
    assert "marked for review" in bad.reason and "q1.py" not in bad.reason
    assert _sha(built.autograder) == master_sha  # restored from the grader's memory
    pid = int((root / "daemon.pid").read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_the_master_zip_path_is_invisible_to_the_student_process(built, tamper_batch):
    _, root, _ = tamper_batch
    seen = json.loads((root / "seen.json").read_text())
    assert len(seen) >= 2, "expected the kernel and the grading process"
    master = str(built.autograder.resolve())
    for proc in seen:
        texts = [*proc["cmdline"], proc["cwd"], *proc["env"].values()]
        assert not [t for t in texts if master in t or str(Path(master).parent) in t], proc


def test_student_reason_names_no_hidden_test_and_instructor_reason_does(built, tamper_batch):
    row = tamper_batch[0]["c_control_untouched.ipynb"]
    hidden = _hidden_messages(built.autograder)
    assert hidden
    assert not [m for m in hidden if m in row.reason], row.reason
    assert [m for m in hidden if m in row.instructor_reason], row.instructor_reason
    assert "q1 0/" in row.reason and "public test" in row.reason


# ---------------------------------------------------------------- 2-5. cheats, validation, limits

PATCH_RESULTS = """\
import otter.test_files as _tf
_init = _tf.GradingResults.__init__
def _patched(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    for result in self.results.values():
        result._score = 1000
_tf.GradingResults.__init__ = _patched
"""

BREAK_OTTER = """\
import otter.test_files.exception_test as _et
_et.ExceptionTestFile._generate_error_message = lambda self, excp, context=0: ""
"""

CHEATS = """\
import inspect, sys
np.allclose = lambda *args, **kwargs: True
def peek():
    return sys._getframe(1).f_locals
"""

REWRITE_TESTS = """\
import glob, re
for path in glob.glob("tests/*.py"):
    text = open(path).read()
    points = re.search(r"^points\\s*=\\s*([0-9.]+)", text, re.M).group(1)
    name = path.split("/")[-1][:-3]
    open(path, "w").write("from otter.test_files import test_case\\nOK_FORMAT = False\\n"
                          f"name = '{name}'\\npoints = {points}\\n"
                          f"@test_case(points={points}, hidden=False)\\n"
                          "def test_ok():\\n    assert True\\n")
"""

MEMORY = "big = np.zeros(8 * 2**30, dtype=np.uint8)  # calloc: no page touched without a cap"
BIG_FILE = """\
with open("sparse.bin", "wb") as f:  # a 2 GiB sparse file: no disk used without a cap
    f.seek(2**31)
    f.write(b"x")
"""


@pytest.fixture(scope="module")
def cheat_batch(built, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cheats")
    sol, stub = _read(built.solution), _read(built.student)
    nbformat.write(_plant(stub, PATCH_RESULTS), folder / "patch_results.ipynb")
    nbformat.write(_plant(stub, CHEATS), folder / "cheats.ipynb")
    nbformat.write(_plant(stub, BREAK_OTTER), folder / "break_otter.ipynb")
    nbformat.write(_plant(stub, REWRITE_TESTS), folder / "rewrite_tests.ipynb")
    nb = _copy(sol)
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    nbformat.write(nb, folder / "ir_kernel.ipynb")
    nb = _copy(sol)
    del nb.metadata["otter"]
    nbformat.write(nb, folder / "no_metadata.ipynb")
    nbformat.write(_plant(_plant(sol, MEMORY), BIG_FILE), folder / "limits.ipynb")
    rows = grading.grade_folder(folder, built.autograder, TIMEOUT, jobs=2)
    out = grading.write_gradebook(rows, folder.parent / "cheats.csv")
    return {r.submission: r for r in rows}, out


def test_patched_otter_results_are_clamped_and_marked_tampered(cheat_batch):
    row = cheat_batch[0]["patch_results.ipynb"]
    assert row.status == "tampered", row.instructor_reason
    assert all(0 <= row.scores[q] <= row.max_scores[q] for q in row.scores)
    assert row.total <= row.possible
    assert "score 1000 outside 0.." in row.instructor_reason
    assert any("otter" in f for f in row.flags), row.flags


def test_rewriting_the_tests_folder_is_marked_tampered_and_flagged(cheat_batch):
    row = cheat_batch[0]["rewrite_tests.ipynb"]
    assert row.status == "tampered", row.instructor_reason
    assert "submission/tests/q1.py changed" in row.instructor_reason
    assert any("tests folder" in f for f in row.flags), row.flags


def test_a_failure_caused_by_patching_otter_names_the_cause(cheat_batch):
    row = cheat_batch[0]["break_otter.ipynb"]
    assert row.total == 0, row.scores
    assert "changes otter itself (imports otter.test_files.exception_test)" in row.reason, \
        row.reason


def test_in_kernel_cheats_are_flagged(cheat_batch):
    row = cheat_batch[0]["cheats.ipynb"]
    flags = "; ".join(row.flags)
    assert "reassigns np.allclose" in flags
    assert "inspects frames (sys._getframe)" in flags and "f_locals" in flags
    assert "imports inspect" in flags


def test_other_kernel_or_missing_metadata_still_gets_full_marks_and_says_why(cheat_batch):
    rows = cheat_batch[0]
    ir, bare = rows["ir_kernel.ipynb"], rows["no_metadata.ipynb"]
    assert ir.status == "graded" and ir.total == ir.possible > 0, ir.instructor_reason
    assert "kernel 'ir' replaced by python3" in ir.reason
    assert bare.status == "graded" and bare.total == bare.possible, bare.instructor_reason
    assert "missing notebook metadata restored" in bare.reason


def test_memory_and_file_size_are_capped_with_a_clear_reason(cheat_batch):
    row = cheat_batch[0]["limits.ipynb"]
    assert row.status == "graded", row.instructor_reason
    assert row.total == row.possible  # the planted cell failed alone; the answers still count
    assert "MemoryError: the cap is" in row.reason
    assert "larger than the cap" in row.reason
    assert row.seconds < 60


def test_gradebook_has_both_reasons_and_flags(cheat_batch):
    rows, out = cheat_batch
    table = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(table[0])[-4:] == ["seconds", "reason", "instructor_reason", "flags"]
    cheats = next(r for r in table if r["submission"] == "cheats.ipynb")
    assert "reassigns np.allclose" in cheats["flags"]


def test_validation_rejects_impossible_results_without_running_otter():
    possible = {"q1": 3.0, "q2": 4.0}
    ok = {"tests": [{"name": "q1", "score": 3, "max_score": 3, "output": ""},
                    {"name": "q2", "score": 1, "max_score": 4, "output": "AssertionError: x"}]}
    row = grading._parse_results(ok, "s", possible)
    assert row.status == "graded" and row.total == 4
    for tests, why in (
            ([{"name": "q1", "score": 3, "max_score": 3}], "q2 missing"),
            ([{"name": "q1", "score": -1, "max_score": 3},
              {"name": "q2", "score": 4, "max_score": 4}], "outside 0..3"),
            ([{"name": "q1", "score": 3, "max_score": 3}, {"name": "q2", "score": 4,
              "max_score": 4}, {"name": "q9", "score": 5, "max_score": 5}], "extra question"),
            ([{"name": "q1", "score": 3, "max_score": 30},
              {"name": "q2", "score": 4, "max_score": 4}], "worth 30 in the results")):
        row = grading._parse_results({"tests": tests}, "s", possible)
        assert row.status == "tampered" and why in row.instructor_reason, (why, row)
        assert all(0 <= row.scores[q] <= possible[q] for q in possible)


# ---------------------------------------------------------------- 8. jobs, timeouts, progress


def test_the_gradebook_does_not_depend_on_the_number_of_jobs(built, tmp_path):
    sol, stub = _read(built.solution), _read(built.student)
    nbformat.write(sol, tmp_path / "a.ipynb")
    nbformat.write(stub, tmp_path / "b.ipynb")
    nb = _copy(sol)
    cell = next(c for c in nb.cells if "otter_answer_cell" in c.metadata.get("tags", [])
                or "otter_assign_solution_cell" in c.metadata.get("tags", []))
    cell.source += "\n    return (((\n"
    nbformat.write(nb, tmp_path / "c.ipynb")
    one, two = (grading.grade_folder(tmp_path, built.autograder, TIMEOUT, jobs=n)
                for n in (1, 2))

    def table(rows):
        return [(r.submission, r.scores, r.status, r.reason, r.instructor_reason, r.flags)
                for r in rows]

    assert table(one) == table(two)
    assert [r.total for r in one][:2] == [one[0].possible, 0]


def test_a_timed_out_run_leaves_no_temporary_folder(built, tmp_path, monkeypatch):
    work = tmp_path / "tmp"
    work.mkdir()
    monkeypatch.setenv("TMPDIR", str(work))
    monkeypatch.setattr(tempfile, "tempdir", str(work))
    nbformat.write(_plant(_read(built.solution), "while True:\n    pass"),
                   tmp_path / "loop.ipynb")
    row = grading.grade_submission(tmp_path / "loop.ipynb", built.autograder, timeout=20)
    assert row.status == "timeout"
    assert list(work.iterdir()) == [], "otter's folders (with the hidden tests) were left"


def test_progress_without_a_folder_looks_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.setattr("aibook_course.paths.EXERCISES", tmp_path / "site-packages" / "exercises")
    (tmp_path / "exercises").mkdir()
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "exercises" / "notes.ipynb")
    monkeypatch.chdir(tmp_path)
    assert progress.progress() == []  # found ./exercises; the notebook is not an exercise
    monkeypatch.chdir(tmp_path / "exercises")
    with pytest.raises(FileNotFoundError, match="progress path/to/folder"):
        progress.progress()
    assert progress.main() == 2


# ---------------------------------------------------------------- 7. private masters


def test_build_and_grade_from_a_private_masters_folder(tmp_path):
    private = tmp_path / "course" / "exercises" / "masters"
    private.mkdir(parents=True)
    shutil.copy(MASTERS[0], private / MASTERS[0].name)
    before = {p: p.stat().st_mtime for p in EXERCISES.glob("*.ipynb")}
    assert exercises.main(["build", "--masters", str(private)]) == 0
    name = MASTERS[0].stem
    assert (tmp_path / "course" / "exercises" / f"{name}.ipynb").is_file()
    zip_path = grading.resolve_autograder(name, masters=private)
    assert zip_path == tmp_path / "course" / "exercises" / "autograder" / f"{name}-autograder.zip"
    assert zip_path.is_file()
    assert before == {p: p.stat().st_mtime for p in EXERCISES.glob("*.ipynb")}
    with pytest.raises(FileNotFoundError, match="--masters"):
        grading.resolve_autograder("nothing", masters=private)
    with pytest.raises(SystemExit, match="expected a folder of master notebooks"):
        exercises.masters(folder=tmp_path / "missing")


def test_only_a_kernel_that_never_answered_is_graded_again(tmp_path):
    """A kernel that died before kernel_info ran no student code, so grading runs again; one
    that died later (os._exit in a cell) is the submission's doing and is not retried."""
    log = tmp_path / "otter.log"
    log.write_text("Traceback (most recent call last):\n"
                   "RuntimeError: Kernel died before replying to kernel_info\n")
    assert grading._kernel_never_started(log)
    log.write_text("nbclient.exceptions.DeadKernelError: Kernel died\n")
    assert not grading._kernel_never_started(log)
    assert not grading._kernel_never_started(tmp_path / "missing.log")
