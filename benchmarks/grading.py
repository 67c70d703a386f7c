"""How long grading a course's batch takes: 40 submissions at --jobs 1 and at --jobs 2.

    python -m benchmarks.grading            # ~10 min on 2 cores; writes benchmarks/grading.json

The batch is half solutions and half untouched notebooks of the first chapter's exercises
(the two ends of the range of work a kernel does), built afresh from the master. The two job
counts run one after the other on the same files; the gradebooks must be equal, and the
record gives each batch's wall time, the median seconds per submission, and their ratio.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from aibook.device import machine
from aibook_course import exercises, grading

ROOT = Path(__file__).resolve().parent.parent
N_SUBMISSIONS = 40
JOBS = (1, 2)
TIMEOUT = 120  # s per submission, as tests/test_exercises.py


def main() -> dict:
    master = exercises.masters()[0]
    with tempfile.TemporaryDirectory(prefix="bench_grading_") as tmp:
        work = Path(tmp)
        built = exercises.build(master, work / "built")
        folder = work / "submissions"
        folder.mkdir()
        for i in range(N_SUBMISSIONS):
            source = built.solution if i % 2 == 0 else built.student
            shutil.copy(source, folder / f"student_{i:02d}.ipynb")
        record: dict = {"chapter": master.stem, "submissions": N_SUBMISSIONS,
                        "machine": machine(), "date": time.strftime("%Y-%m-%d")}
        books = {}
        for jobs in JOBS:
            start = time.monotonic()
            rows = grading.grade_folder(folder, built.autograder, TIMEOUT, jobs=jobs)
            wall = time.monotonic() - start
            books[jobs] = [(r.submission, r.scores, r.status) for r in rows]
            record[f"jobs_{jobs}"] = {
                "batch_s": round(wall, 1),
                "median_per_submission_s": statistics.median(r.seconds for r in rows),
                "statuses": sorted({r.status for r in rows}),
            }
        if books[1] != books[2]:
            raise RuntimeError("the gradebook changed with the number of jobs")
        record["speedup_jobs_2"] = round(record["jobs_1"]["batch_s"]
                                         / record["jobs_2"]["batch_s"], 2)
    (ROOT / "benchmarks" / "grading.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))
    return record


if __name__ == "__main__":
    main()
