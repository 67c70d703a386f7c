"""Grade a folder of submissions into a gradebook CSV with otter, one isolated run each.

    python -m aibook_course grade SUBMISSIONS --autograder backprop --out gradebook.csv \
        --timeout 120 --jobs 2

Each submission (a notebook, or the zip `grader.export()` makes) is graded by otter's
autograder in a subprocess of its own, in a temporary folder of its own, with a wall-clock
timeout, a memory cap and a file-size cap. What one submission does must not change another
row, so:

- the submissions and the autograder zip are read into memory once, before any student code
  runs; each submission is graded from those bytes, against a *private copy* of the zip
  written into its own folder (sha256 checked before and after the run);
- the master zip's path appears nowhere in the student's process (command line, environment,
  working directory); if a submission rewrites the master anyway, it is restored and the row
  is marked `tampered`;
- HOME, TMPDIR and jupyter's folders point into the submission's folder, which is deleted
  afterwards with everything otter left there; processes the run leaves behind are killed;
- the results are validated: a question scored above its points or below 0, a missing or
  extra question, a changed test file, all mark the row `tampered` (scores clamped);
- a static scan of the code cells fills a `flags` column (otter used in the answers, frame
  inspection, the tests folder named, library functions reassigned).

The gradebook has two reasons: `reason`, which a student may see (the question, its points
and the public tests' messages), and `instructor_reason`, with the hidden tests' messages too.

Code in the notebook's kernel runs in the same process as the tests, so no local grader can
stop every cheat: see "Threat model" in book/instructors.md, and otter's Docker mode
(`otter grade`) for untrusted code.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from aibook_course.cells import KERNELSPEC
from aibook_course.flags import scan_flags
from aibook_course.paths import AUTOGRADERS, autograders_of
from aibook_course.sandbox import grading_env, kill_stragglers, kill_tree

SUBMISSION_SUFFIXES = {".ipynb", ".zip"}
REASON_CHARS = 400  # per question, in the reason column
MAX_SUBMISSION_MB = 50  # a bigger file is rejected unread (a notebook is ~50 kB)
MAX_UNZIPPED_MB = 200  # an export zip that unpacks to more is rejected (a zip bomb)
DEFAULT_MEMORY_MB = 4096  # address space of otter's process and of the kernel (torch: ~0.7 GB)
DEFAULT_FILE_MB = 1024  # largest file either may write (a 100 MB print must still fit)
STATUSES = ("graded", "tampered", "rejected", "error", "timeout")


@dataclass
class Row:
    """One gradebook row: points per question, total, and why points were lost.

    reason is for the student (no hidden-test text); instructor_reason is the full story;
    flags lists suspicious code found in the submission (empty: nothing found)."""

    submission: str
    scores: dict[str, float]
    possible: float
    status: str = "graded"  # one of STATUSES
    reason: str = ""
    seconds: float = 0.0
    max_scores: dict[str, float] = field(default_factory=dict)
    instructor_reason: str = ""
    flags: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return float(sum(self.scores.values()))


# ---------------------------------------------------------------- the autograder, in memory


@dataclass(frozen=True)
class Autograder:
    """An otter autograder zip read once: its bytes, sha256, questions and test files.

    Grading uses these bytes, never the file again, so a submission that rewrites the file
    on disk cannot change how later submissions are graded."""

    path: Path
    data: bytes
    sha256: str
    assignment: str | None  # otter_config.json's assignment_name
    points: dict[str, float]  # question -> points, in natural order
    tests: dict[str, bytes]  # "tests/q1.py" -> its bytes

    @classmethod
    def load(cls, path: Path | str) -> Autograder:
        path = Path(path)
        data = path.read_bytes()
        points: dict[str, float] = {}
        tests: dict[str, bytes] = {}
        assignment = None
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for name in zf.namelist():
                match = re.fullmatch(r"tests/(\w+)\.py", name)
                if match:
                    tests[name] = zf.read(name)
                    found = re.search(r"^points\s*=\s*([0-9.]+)", tests[name].decode(),
                                      flags=re.M)
                    points[match.group(1)] = float(found.group(1)) if found else 0.0
            if "otter_config.json" in zf.namelist():
                assignment = json.loads(zf.read("otter_config.json")).get("assignment_name")
        if not points:
            raise ValueError(f"{path} holds no tests/*.py: expected an otter autograder zip")
        return cls(path, data, hashlib.sha256(data).hexdigest(), assignment,
                   dict(sorted(points.items(), key=lambda kv: _natural(kv[0]))), tests)


def questions_of(autograder: Path | str) -> dict[str, float]:
    """Question name -> points, read from the tests in otter's autograder zip."""
    return Autograder.load(autograder).points


def _natural(text: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _zero(submission: str, possible: dict[str, float], status: str, reason: str,
          instructor_reason: str = "") -> Row:
    return Row(submission, {q: 0.0 for q in possible}, sum(possible.values()), status, reason,
               max_scores=dict(possible), instructor_reason=instructor_reason or reason)


# ---------------------------------------------------------------- checks before running


def _precheck(path: Path, data: bytes | None = None) -> str | None:
    """Why `path` (whose bytes are `data`, when already read) cannot be a submission, or
    None when otter should grade it."""
    if data is None:
        if not path.is_file():
            return "not a file"
        if path.stat().st_size > MAX_SUBMISSION_MB * 2**20:
            return f"too large: expected at most {MAX_SUBMISSION_MB} MB"
        data = path.read_bytes()
    if path.suffix not in SUBMISSION_SUFFIXES:
        return f"not a notebook: expected a .ipynb or .zip file, got '{path.suffix or path.name}'"
    if path.suffix == ".ipynb":
        try:
            nb = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            return f"not a valid notebook (JSON error: {err})"
        if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
            return "not a valid notebook: no list of cells"
        if not nb["cells"]:
            return "empty notebook: it has no cells"
    else:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                size = sum(i.file_size for i in zf.infolist())
                notebooks = [n for n in zf.namelist() if n.endswith(".ipynb")]
        except zipfile.BadZipFile:
            return "not a valid zip file"
        if size > MAX_UNZIPPED_MB * 2**20:
            return f"zip unpacks to {size / 2**20:.0f} MB: expected at most {MAX_UNZIPPED_MB} MB"
        if len(notebooks) != 1:
            return f"expected one notebook in the zip, found {len(notebooks)}"
    return None


def _prepare_notebook(nb: dict, assignment: str | None) -> list[str]:
    """Normalise, in the grader's copy, what makes otter score correct work 0; say what.

    otter run keeps the notebook's kernel (only its Docker mode forces python3), and refuses a
    notebook without `metadata.otter.assignment_name`; the grader knows both answers."""
    notes = []
    meta = nb.setdefault("metadata", {})
    kernel = (meta.get("kernelspec") or {}).get("name")
    if kernel != "python3":
        meta["kernelspec"] = dict(KERNELSPEC)
        notes.append(f"kernel '{kernel}' replaced by python3")
    otter_meta = meta.get("otter")
    if assignment and (not isinstance(otter_meta, dict) or not otter_meta.get("assignment_name")):
        meta["otter"] = dict(otter_meta or {}, assignment_name=assignment)
        notes.append(f"missing notebook metadata restored (assignment '{assignment}')")
    return notes


def _write_submission(data: bytes, suffix: str, dest: Path, assignment: str | None
                      ) -> tuple[dict | None, list[str]]:
    """Write the submission into otter's submission folder `dest`, the notebook normalised.

    Returns (the notebook as JSON, the normalisation notes)."""
    if suffix == ".zip":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            zf.extractall(dest)  # zipfile drops '..' and absolute parts of member names
        notebook = next(dest.rglob("*.ipynb"))
    else:
        notebook = dest / "submission.ipynb"
        notebook.write_bytes(data)
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, []  # otter says why
    notes = _prepare_notebook(nb, assignment)
    if notes:
        notebook.write_text(json.dumps(nb), encoding="utf-8")
    return nb, notes


def _tail(path: Path, chars: int = 4000) -> str:
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - chars))
        return f.read().decode("utf-8", errors="replace")


def _kernel_never_started(log: Path) -> bool:
    """Whether otter's log says the kernel died before it answered kernel_info, that is
    before the first cell of the submission could run."""
    return log.exists() and "before replying to kernel_info" in _tail(log)


def _error_line(text: str) -> str:
    """The most telling line of otter's or a traceback's output."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if re.match(r"^[\w.]*(Error|Exception|Exit|Interrupt)\b", ln) or "Error:" in ln:
            return ln
    return lines[-1] if lines else "no output"


def _failure_summary(output: str) -> str:
    """'AssertionError: message' lines of the failed test cases in otter's output."""
    found = re.findall(r"^\s*(\w*(?:Error|Exception|Exit)\b.*)$", output, flags=re.M)
    found = [f.strip() for f in found if not f.lstrip().startswith("Error at line")]
    found = list(dict.fromkeys(found))  # unique, in order
    text = "; ".join(found) if found else "test failed"
    if re.search(r"NoneType' object is not callable|NameError", text):
        text += " (a name the tests need is undefined: did its cell fail, e.g. a syntax error?)"
    return text[:REASON_CHARS]


def _public_blocks(output: str) -> dict[str, str]:
    """otter's 'Public Tests' summary split per question: {q: its part of the text}."""
    parts = re.split(r"^(\w+) results:", output, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _parse_results(results: dict, submission: str, possible: dict[str, float]) -> Row:
    """A row from otter's results.json, validated: scores clamped to [0, points]; a missing,
    extra or repeated question, or an impossible score, makes the row `tampered`."""
    scores = {q: 0.0 for q in possible}
    problems, student, instructor = [], [], []
    tests = results.get("tests")
    if not isinstance(tests, list):
        raise ValueError(f"expected a list of tests in otter's results, got {type(tests).__name__}")
    failed = [t for t in tests if isinstance(t, dict)
              and t.get("name") in ("Autograder Failed", "Autograder Error")]
    if failed:  # otter refused the notebook (another assignment) or could not read its results
        exception = next((t for t in tests if isinstance(t, dict)
                          and t.get("name") == "Autograder Exception"), failed[0])
        return _zero(submission, possible, "error", "otter could not grade it: "
                     + _error_line(str(exception.get("output", "")))[:REASON_CHARS])
    public = next((t.get("output", "") for t in tests if isinstance(t, dict)
                   and t.get("name") == "Public Tests"), None)
    blocks = _public_blocks(public or "")
    seen = set()
    for test in tests:
        if not isinstance(test, dict) or test.get("name") == "Public Tests":
            continue
        name = test.get("name")
        if "score" not in test and "max_score" not in test:
            continue  # e.g. otter's "PDF Generation Failed" note
        if name not in possible:
            problems.append(f"extra question {name!r} in the results (expected "
                            f"{', '.join(possible)})")
            continue
        if name in seen:
            problems.append(f"question {name} reported twice")
            continue
        seen.add(name)
        try:
            score, most = float(test.get("score")), float(test.get("max_score"))
        except (TypeError, ValueError):
            problems.append(f"{name}: score {test.get('score')!r} is not a number")
            continue
        if not math.isfinite(score) or score > possible[name] or score < 0:
            problems.append(f"{name}: score {score:g} outside 0..{possible[name]:g}")
        if most != possible[name]:
            problems.append(f"{name}: worth {most:g} in the results, {possible[name]:g} in the "
                            "autograder")
        score = min(max(score, 0.0), possible[name]) if math.isfinite(score) else 0.0
        scores[name] = score
        if score < possible[name]:
            head = f"{name} {score:g}/{possible[name]:g}"
            instructor.append(f"{head}: {_failure_summary(test.get('output', ''))}")
            block = blocks.get(name)
            if block is None:
                student.append(f"{head}: tests failed")
            elif "All test cases passed" in block:
                student.append(f"{head}: the public tests pass, hidden tests fail")
            else:
                student.append(f"{head}: public test: {_failure_summary(block)}")
    missing = [q for q in possible if q not in seen]
    if missing:
        problems.append(f"question(s) {', '.join(missing)} missing from the results")
    row = Row(submission, scores, sum(possible.values()), "graded", max_scores=dict(possible))
    row.reason = " | ".join(student) if student else "all tests passed"
    row.instructor_reason = " | ".join(instructor) if instructor else "all tests passed"
    if problems:
        row.status = "tampered"
        row.instructor_reason = ("results not trustworthy: " + "; ".join(problems) + " || "
                                 + row.instructor_reason)
        row.reason = "the grading results were tampered with; marked for review"
    return row


def _changed_tests(agdir: Path, autograder: Autograder) -> list[str]:
    """Test files that differ from the autograder's, where otter keeps them."""
    changed = []
    for folder in (agdir / "source", agdir / "submission"):
        found = {p.relative_to(folder).as_posix(): p for p in (folder / "tests").glob("*.py")
                 if p.is_file()} if (folder / "tests").is_dir() else {}
        if folder.name == "submission" and not found:
            continue  # otter never got as far as copying them
        for name, data in autograder.tests.items():
            if name not in found:
                changed.append(f"{folder.name}/{name} deleted")
            elif found[name].read_bytes() != data:
                changed.append(f"{folder.name}/{name} changed")
        changed += [f"{folder.name}/{n} added" for n in found if n not in autograder.tests]
    return changed


def grade_submission(path: Path | str, autograder: Path | str | Autograder,
                     timeout: float = 120, name: str | None = None, *,
                     data: bytes | None = None, memory_mb: int = DEFAULT_MEMORY_MB,
                     file_mb: int = DEFAULT_FILE_MB) -> Row:
    """Grade one submission with otter in a subprocess; never raises for a bad submission.

    path: a student notebook (.ipynb) or an export zip (data: its bytes, when already read);
    autograder: otter's autograder zip (or an Autograder already loaded);
    memory_mb / file_mb: caps on the grading process and its kernel (0: no cap).
    """
    path = Path(path)
    ag = autograder if isinstance(autograder, Autograder) else Autograder.load(autograder)
    possible = ag.points
    label = name or path.name
    start = time.monotonic()
    why_not = _precheck(path, data)
    if why_not:
        return _zero(label, possible, "rejected", why_not)
    if data is None:
        data = path.read_bytes()
    for attempt in range(2):
        with tempfile.TemporaryDirectory(prefix="aibook_grade_") as tmp:
            work = Path(tmp)
            os.chmod(work, 0o700)
            row = _grade_in(work, data, path.suffix, ag, label, timeout, memory_mb, file_mb)
            # A kernel that dies before its first reply ran none of the student's code (a
            # port taken by another kernel between choosing and binding it, on a busy
            # machine): grade once more in a fresh folder rather than give an error row.
            if attempt or not _kernel_never_started(work / "otter.log"):
                break
    row.seconds = round(time.monotonic() - start, 1)
    return row


def _grade_in(work: Path, data: bytes, suffix: str, ag: Autograder, label: str,
              timeout: float, memory_mb: int, file_mb: int) -> Row:
    """grade_submission's work, inside the submission's own folder `work`."""
    possible = ag.points
    private = work / "autograder.zip"
    private.write_bytes(ag.data)
    if _sha256(private) != ag.sha256:
        return _zero(label, possible, "error", "could not write the autograder's private copy")
    agdir = work / "ag"  # the layout otter run makes in /tmp: source, submission, results
    for sub in ("source", "submission", "results"):
        (agdir / sub).mkdir(parents=True)
    (agdir / "submission_metadata.json").write_text("{}")
    with zipfile.ZipFile(private) as zf:
        zf.extractall(agdir / "source")
    nb, notes = _write_submission(data, suffix, agdir / "submission", ag.assignment)
    flags = scan_flags(nb) if nb else []
    token = uuid.uuid4().hex
    log = work / "otter.log"
    cmd = [sys.executable, "-c",
           "import sys; from aibook_course.sandbox import run_otter; "
           "run_otter(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))",
           str(agdir), str(memory_mb), str(file_mb)]
    timed_out = False
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=agdir, env=grading_env(work, token), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_tree(proc.pid)
            proc.wait()
    stragglers = kill_stragglers(token)

    # What the run did to the files it could reach.
    tampering = []
    if _sha256(private) != ag.sha256:
        tampering.append("its private copy of the autograder zip was rewritten")
    if ag.path.exists() and _sha256(ag.path) != ag.sha256:
        ag.path.write_bytes(ag.data)
        tampering.append(f"the master autograder {ag.path.name} was rewritten (restored)")
    tampering += _changed_tests(agdir, ag)
    if stragglers:
        tampering.append(f"{stragglers} process(es) left running were killed")

    results = agdir / "results" / "results.json"
    if timed_out:
        row = _zero(label, possible, "timeout",
                    f"timed out after {timeout:g} s (an infinite loop, or very slow code?); "
                    "graded 0")
    elif results.exists():
        try:
            row = _parse_results(json.loads(results.read_text()), label, possible)
        except (json.JSONDecodeError, TypeError, ValueError, AttributeError) as err:
            row = _zero(label, possible, "tampered", "the grading results could not be read; "
                        "marked for review", f"unreadable otter results: {err}")
    else:
        tail = _tail(log)
        reason = _error_line(tail)
        if "DeadKernelError" in tail or "Kernel died" in tail:
            reason = ("the notebook's kernel died (os._exit(), or over the memory cap of "
                      f"{memory_mb} MB?): " + reason)
        row = _zero(label, possible, "error", f"otter could not grade it: {reason}"[:1000])
    row.flags = flags
    changes_otter = [f for f in flags if "otter" in f]
    if changes_otter:  # a failure with no error text: say what most likely broke the tests
        cause = f"the notebook changes otter itself ({changes_otter[0]}), which breaks its tests"
        row.reason, row.instructor_reason = (
            re.sub(r"\btests? failed\b(?=$| \|)", lambda m: f"{m.group(0)}: {cause}", text)
            for text in (row.reason, row.instructor_reason))
    errors_file = agdir / "results" / "cell_errors.json"
    errors = json.loads(errors_file.read_text()) if errors_file.exists() else []
    limits = []
    if any(e.startswith("MemoryError") for e in errors):
        limits.append(f"a cell ran out of memory (MemoryError: the cap is {memory_mb} MB); "
                      "the questions that needed it scored 0")
    if any("File too large" in e for e in errors):
        limits.append(f"a cell wrote a file larger than the cap of {file_mb} MB")
    notes = notes + limits
    if tampering and row.status in ("graded", "tampered"):
        row.status = "tampered"
        row.reason = "the grading files were changed during grading; marked for review"
        row.instructor_reason = ("tampering: " + "; ".join(tampering) + " || "
                                 + row.instructor_reason)
    elif tampering:
        row.instructor_reason = "tampering: " + "; ".join(tampering) + " || " + \
            row.instructor_reason
    if notes:
        row.reason = "; ".join(notes) + " | " + row.reason
        row.instructor_reason = "; ".join(notes) + " | " + row.instructor_reason
    return row


def grade_folder(folder: Path | str, autograder: Path | str | Autograder, timeout: float = 120,
                 jobs: int = 1, memory_mb: int = DEFAULT_MEMORY_MB,
                 file_mb: int = DEFAULT_FILE_MB) -> list[Row]:
    """Grade every file in `folder` (dotfiles skipped), `jobs` at a time; rows sorted by name.

    Every submission is read before the first one runs, so none can change another's file
    (or add a file) before it is graded; the gradebook is the same whatever `jobs` is."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"expected a folder of submissions, got {folder}")
    ag = autograder if isinstance(autograder, Autograder) else Autograder.load(autograder)
    paths = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    snapshot = {p: (p.read_bytes() if _precheck(p) is None else None) for p in paths}

    def one(p: Path) -> Row:
        return grade_submission(p, ag, timeout, data=snapshot[p], memory_mb=memory_mb,
                                file_mb=file_mb)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, paths))


COLUMNS_AFTER = ["total", "possible", "status", "seconds", "reason", "instructor_reason", "flags"]


def write_gradebook(rows: list[Row], out: Path | str) -> Path:
    """Write rows as CSV: submission, one column per question, total, possible, status,
    seconds, reason (for the student), instructor_reason (full) and flags ('; '-separated)."""
    out = Path(out)
    questions = list(rows[0].max_scores) if rows else []
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", *questions, *COLUMNS_AFTER])
        for r in rows:
            writer.writerow([r.submission, *(f"{r.scores.get(q, 0.0):g}" for q in questions),
                             f"{r.total:g}", f"{r.possible:g}", r.status, f"{r.seconds:g}",
                             r.reason, r.instructor_reason, "; ".join(r.flags)])
    return out


def resolve_autograder(spec: str, masters: Path | str | None = None) -> Path:
    """A zip path, or a chapter name such as backprop (-> exercises/autograder/...zip, or,
    with `masters`, the autograder folder built next to that private masters folder)."""
    path = Path(spec)
    if path.suffix == ".zip":
        if not path.is_file():
            raise FileNotFoundError(f"expected an autograder zip at {path}, found nothing")
        return path
    folder = autograders_of(Path(masters)) if masters else AUTOGRADERS
    path = folder / f"{spec}-autograder.zip"
    if not path.is_file():
        build = "python -m aibook_course exercises build" + (f" --masters {masters}"
                                                              if masters else "")
        raise FileNotFoundError(f"expected {path}, found nothing: run `{build} {spec}`")
    return path


def main(argv: list[str] | None = None) -> int:
    """`python -m aibook_course grade SUBMISSIONS --autograder topic --out gradebook.csv`."""
    parser = argparse.ArgumentParser(prog="python -m aibook_course grade")
    parser.add_argument("submissions", help="folder of .ipynb / .zip submissions")
    parser.add_argument("--autograder", "-a", required=True,
                        help="otter autograder zip, or a chapter name such as backprop")
    parser.add_argument("--masters", default=None,
                        help="private masters folder: chapter names resolve to the autograder "
                             "zips that `exercises build --masters` wrote next to it")
    parser.add_argument("--out", "-o", default="gradebook.csv")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per submission")
    parser.add_argument("--jobs", "-j", type=int, default=1, help="submissions graded at once")
    parser.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB,
                        help="memory cap of each grading process and its kernel (0: none)")
    parser.add_argument("--file-mb", type=int, default=DEFAULT_FILE_MB,
                        help="largest file a submission may write (0: no cap)")
    args = parser.parse_args(argv)
    rows = grade_folder(args.submissions, resolve_autograder(args.autograder, args.masters),
                        args.timeout, args.jobs, args.memory_mb, args.file_mb)
    write_gradebook(rows, args.out)
    for r in rows:
        flag = " [flags]" if r.flags else ""
        print(f"{r.submission:40s} {r.total:6g}/{r.possible:g}  {r.status:8s}{flag} "
              f"{r.reason[:80]}")
    print(f"wrote {args.out} ({len(rows)} rows)")
    return 0
