"""Grade a folder of submissions into a gradebook CSV with `otter run`, one at a time, safely.

    python -m aibook_course grade SUBMISSIONS --autograder backprop --out gradebook.csv \
        --timeout 120

Each submission (a notebook, or the zip `grader.export()` makes) is graded by `otter run` in
its own subprocess and temporary folder, with a wall-clock timeout. When it times out, the
whole process tree (including the notebook's kernel, which jupyter starts in a session of its
own) is killed. Whatever a submission does (syntax errors, `sys.exit()`, `os._exit()`, an
infinite loop, 100 MB of output, edited tests), it gets one row with a score and a readable
reason, and no other row changes.

This runs student code on your machine without isolation. For untrusted code use otter's
Docker mode, `otter grade` (see book/instructors.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from aibook_course.paths import AUTOGRADERS, tool_env

SUBMISSION_SUFFIXES = {".ipynb", ".zip"}
REASON_CHARS = 400  # per question, in the reason column


@dataclass
class Row:
    """One gradebook row: points per question, total, and why points were lost."""

    submission: str
    scores: dict[str, float]
    possible: float
    status: str = "graded"  # graded | rejected | error | timeout
    reason: str = ""
    seconds: float = 0.0
    max_scores: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return float(sum(self.scores.values()))


def questions_of(autograder: Path) -> dict[str, float]:
    """Question name -> points, read from the tests in otter's autograder zip."""
    points = {}
    with zipfile.ZipFile(autograder) as zf:
        for name in zf.namelist():
            match = re.fullmatch(r"tests/(\w+)\.py", name)
            if match:
                text = zf.read(name).decode()
                found = re.search(r"^points\s*=\s*([0-9.]+)", text, flags=re.M)
                points[match.group(1)] = float(found.group(1)) if found else 0.0
    if not points:
        raise ValueError(f"{autograder} holds no tests/*.py: is it an otter autograder zip?")
    return dict(sorted(points.items(), key=lambda kv: _natural(kv[0])))


def _natural(text: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _zero(submission: str, possible: dict[str, float], status: str, reason: str) -> Row:
    return Row(submission, {q: 0.0 for q in possible}, sum(possible.values()), status, reason,
               max_scores=dict(possible))


def _precheck(path: Path) -> str | None:
    """Why `path` cannot be a submission, or None when otter should grade it."""
    if not path.is_file():
        return "not a file"
    if path.suffix not in SUBMISSION_SUFFIXES:
        return f"not a notebook: expected a .ipynb or .zip file, got '{path.suffix or path.name}'"
    if path.suffix == ".ipynb":
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            return f"not a valid notebook (JSON error: {err})"
        if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
            return "not a valid notebook: no list of cells"
        if not nb["cells"]:
            return "empty notebook: it has no cells"
    elif not zipfile.is_zipfile(path):
        return "not a valid zip file"
    return None


def _kill_tree(pid: int) -> None:
    """Kill a process and all its descendants (the kernel runs in a session of its own)."""
    try:
        parent = psutil.Process(pid)
        procs = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)


def _tail(path: Path, chars: int = 4000) -> str:
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - chars))
        return f.read().decode("utf-8", errors="replace")


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


def _parse_results(results: dict, submission: str, possible: dict[str, float]) -> Row:
    scores = {q: 0.0 for q in possible}
    reasons = []
    for test in results.get("tests", []):
        name, score = test.get("name"), test.get("score")
        if name not in possible or score is None:
            continue  # e.g. otter's "Public Tests" summary entry
        scores[name] = float(score)
        if float(score) < possible[name]:
            reasons.append(f"{name} {float(score):g}/{possible[name]:g}: "
                           f"{_failure_summary(test.get('output', ''))}")
    row = Row(submission, scores, sum(possible.values()), "graded", max_scores=dict(possible))
    row.reason = " | ".join(reasons) if reasons else "all tests passed"
    return row


def grade_submission(path: Path | str, autograder: Path | str, timeout: float = 120,
                     name: str | None = None) -> Row:
    """Grade one submission with `otter run` in a subprocess; never raises for a bad submission.

    path: a student notebook (.ipynb) or an export zip; autograder: otter's autograder zip.
    """
    path, autograder = Path(path), Path(autograder)
    possible = questions_of(autograder)
    label = name or path.name
    start = time.monotonic()
    why_not = _precheck(path)
    if why_not:
        return _zero(label, possible, "rejected", why_not)
    with tempfile.TemporaryDirectory(prefix="aibook_grade_") as tmp:
        work = Path(tmp)
        safe = work / ("submission" + path.suffix)
        shutil.copy(path, safe)
        (work / "out").mkdir()
        log = work / "otter.log"
        cmd = [sys.executable, "-m", "otter", "run", "--no-logo", "-a", str(autograder.resolve()),
               "-o", str(work / "out"), str(safe)]
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, cwd=work, env=tool_env(), stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_tree(proc.pid)
                proc.wait()
                row = _zero(label, possible, "timeout",
                            f"timed out after {timeout:g} s (an infinite loop, or very slow "
                            "code?); graded 0")
                row.seconds = round(time.monotonic() - start, 1)
                return row
        results = work / "out" / "results.json"
        if results.exists():
            try:
                row = _parse_results(json.loads(results.read_text()), label, possible)
            except (json.JSONDecodeError, TypeError, ValueError) as err:
                row = _zero(label, possible, "error", f"unreadable otter results: {err}")
        else:
            tail = _tail(log)
            reason = _error_line(tail)
            if "DeadKernelError" in tail or "Kernel died" in tail:
                reason = "the notebook's kernel died (os._exit()?): " + reason
            row = _zero(label, possible, "error", f"otter could not grade it: {reason}"[:1000])
    row.seconds = round(time.monotonic() - start, 1)
    return row


def grade_folder(folder: Path | str, autograder: Path | str, timeout: float = 120,
                 jobs: int = 1) -> list[Row]:
    """Grade every file in `folder` (dotfiles skipped), `jobs` at a time; rows sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"expected a folder of submissions, got {folder}")
    paths = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        rows = list(pool.map(lambda p: grade_submission(p, autograder, timeout), paths))
    return rows


def write_gradebook(rows: list[Row], out: Path | str) -> Path:
    """Write rows as CSV: submission, one column per question, total, possible, status, reason."""
    out = Path(out)
    questions = list(rows[0].max_scores) if rows else []
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", *questions, "total", "possible", "status", "seconds",
                         "reason"])
        for r in rows:
            writer.writerow([r.submission, *(f"{r.scores.get(q, 0.0):g}" for q in questions),
                             f"{r.total:g}", f"{r.possible:g}", r.status, f"{r.seconds:g}",
                             r.reason])
    return out


def resolve_autograder(spec: str) -> Path:
    """A zip path, or a chapter name such as backprop (-> exercises/autograder/...zip)."""
    path = Path(spec)
    if path.suffix == ".zip":
        if not path.is_file():
            raise FileNotFoundError(f"no autograder zip at {path}")
        return path
    path = AUTOGRADERS / f"{spec}-autograder.zip"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run "
                                f"`python -m aibook_course exercises build {spec}`")
    return path


def main(argv: list[str] | None = None) -> int:
    """`python -m aibook_course grade SUBMISSIONS --autograder topic --out gradebook.csv`."""
    parser = argparse.ArgumentParser(prog="python -m aibook_course grade")
    parser.add_argument("submissions", help="folder of .ipynb / .zip submissions")
    parser.add_argument("--autograder", "-a", required=True,
                        help="otter autograder zip, or a chapter name such as backprop")
    parser.add_argument("--out", "-o", default="gradebook.csv")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per submission")
    parser.add_argument("--jobs", "-j", type=int, default=1, help="submissions graded at once")
    args = parser.parse_args(argv)
    rows = grade_folder(args.submissions, resolve_autograder(args.autograder), args.timeout,
                        args.jobs)
    write_gradebook(rows, args.out)
    for r in rows:
        print(f"{r.submission:40s} {r.total:6g}/{r.possible:g}  {r.status:8s} {r.reason[:80]}")
    print(f"wrote {args.out} ({len(rows)} rows)")
    return 0
