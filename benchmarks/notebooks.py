"""Wall time and peak memory of each chapter notebook, the whole book, and the site build.

Each notebook runs in a fresh process (as nbval and the book build run it), so its
peak memory is that of its own kernel.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_RUNNER = """
import resource, sys, time, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
start = time.perf_counter()
NotebookClient(nb, timeout=900, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[2]}}).execute()
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def run_notebook(path: Path) -> tuple[float, float]:
    """(seconds, peak kernel memory in MiB) of one execution of `path`."""
    proc = subprocess.run([sys.executable, "-c", _RUNNER, str(path), str(path.parent)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{path.name} failed:\n{proc.stderr[-2000:]}")
    seconds, maxrss_kib = proc.stdout.split()[-2:]
    return float(seconds), float(maxrss_kib) / 1024


def measure(repeats: int = 5, build_site: bool = False) -> dict:
    chapters = sorted((ROOT / "chapters").glob("*.ipynb"))
    rows = {}
    for path in chapters:
        runs = [run_notebook(path) for _ in range(repeats)]
        rows[path.stem] = {"median_s": statistics.median(r[0] for r in runs),
                           "max_s": max(r[0] for r in runs),
                           "peak_mib": max(r[1] for r in runs), "runs": repeats}
        print(f"{path.stem}: {rows[path.stem]}", flush=True)
    out = {"chapters": rows, "book_total_s": sum(r["median_s"] for r in rows.values())}
    if build_site:
        start = time.perf_counter()
        subprocess.run(["jupyter-book", "build", str(ROOT), "--all", "-W", "-n", "--keep-going"],
                       check=True, capture_output=True)
        out["site_build_s"] = time.perf_counter() - start
    out["self_peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 5), indent=1))
