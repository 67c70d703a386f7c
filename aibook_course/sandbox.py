"""Where a submission runs while it is graded: its own process tree and folders, a memory and
a file-size cap, and a token in the environment that finds every process it started."""

from __future__ import annotations

import json
import resource
from pathlib import Path

import psutil

from aibook_course.paths import tool_env

TOKEN_VAR = "AIBOOK_GRADE_TOKEN"  # marks every process of one run, to kill stragglers


def run_otter(autograder_dir: str, memory_mb: int, file_mb: int) -> None:
    """In the grading subprocess: cap memory and file size, run otter's autograder on the
    folder laid out as otter run lays it out, and list the notebook's cell errors (a
    MemoryError there is how the memory cap shows) in results/cell_errors.json.

    The caps are hard limits set before otter starts, so the kernel inherits them and cannot
    raise them (unless the grader runs as root)."""
    if memory_mb:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20,) * 2)
    if file_mb:
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb * 2**20,) * 2)
    from otter.run.run_autograder import main as run_autograder

    results = Path(autograder_dir) / "results"
    try:
        run_autograder(autograder_dir, logo=False, debug=False, otter_run=True)
    finally:
        errors = []
        try:
            import dill

            with open(results / "results.pkl", "rb") as f:
                notebook = dill.load(f).notebook
            errors = [f"{o.get('ename')}: {o.get('evalue')}"[:300]
                      for cell in notebook.cells for o in cell.get("outputs", [])
                      if o.get("output_type") == "error"]
        except Exception:  # no results: the log says why
            pass
        (results / "cell_errors.json").write_text(json.dumps(errors))


def grading_env(work: Path, token: str) -> dict[str, str]:
    """The grading subprocess's environment: tool_env() with HOME, temporary and jupyter
    folders inside `work` (so nothing a submission writes there outlives it, and no startup
    file in the real home runs in its kernel) and the token that marks its processes."""
    env = tool_env()
    home, tmp = work / "home", work / "tmp"
    for folder in (home, tmp, work / "runtime"):
        folder.mkdir(exist_ok=True)
    env.update({
        "HOME": str(home), "TMPDIR": str(tmp), "TEMP": str(tmp), "TMP": str(tmp),
        "IPYTHONDIR": str(home / ".ipython"), "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
        "JUPYTER_DATA_DIR": str(home / ".local" / "share" / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(work / "runtime"), "MPLCONFIGDIR": str(home / ".mpl"),
        "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache"),
        "PYTHONNOUSERSITE": "1", TOKEN_VAR: token,
    })
    return env


def kill_tree(pid: int) -> None:
    """Kill a process and all its descendants (the kernel runs in a session of its own)."""
    try:
        parent = psutil.Process(pid)
        procs = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    _kill(procs)


def kill_stragglers(token: str) -> int:
    """Kill processes that carry this run's token (a submission's daemon that left the process
    tree); return how many there were."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(TOKEN_VAR) == token:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    _kill(found)
    return len(found)


def _kill(procs: list[psutil.Process]) -> None:
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)
