"""Every notebook is stored clean, and every chapter has the shape the book promises.

(Executing the chapters is nbval's job: `pytest` collects chapters/*.ipynb itself.)
"""

import json
import re
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml

from aibook_course.paths import toc_docs

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
ALL_NOTEBOOKS = sorted(p for p in ROOT.rglob("*.ipynb")
                       if not {"_build", ".venv", ".ipynb_checkpoints"} & set(p.parts))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"]


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def test_there_are_chapters():
    assert CHAPTERS, "no chapter notebooks found under chapters/"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=_ids(ALL_NOTEBOOKS))
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs or execution counts; strip them"


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_first_code_cell_installs_aibook_only_when_missing(path):
    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert 'find_spec("aibook") is None' in first.source
    assert f"@ git+{REPO_URL}" in first.source, "install URL must equal repository.url"
    # Run it here, where aibook is installed: it must not call pip.
    calls = []
    env = {"__name__": "__main__"}
    real = subprocess.check_call
    subprocess.check_call = lambda *a, **k: calls.append(a)
    try:
        exec(compile(first.source, str(path), "exec"), env)
    finally:
        subprocess.check_call = real
    assert calls == []


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_opens_with_time_and_ends_with_summary_then_exercises(path):
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert re.search(r"2-core CPU", text), "the opening must state the CPU time to expect"
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings[-2:] == ["Summary", "Exercises"], headings[-3:]
    summary = text.split("## Summary", 1)[1].split("## Exercises", 1)[0]
    assert 3 <= len(re.findall(r"^[-*] ", summary, flags=re.M)) <= 6
    exercises = text.split("## Exercises", 1)[1]
    link = f"../exercises/{path.name}"
    assert link in exercises, f"Exercises must link to {link}"
    assert (ROOT / "exercises" / path.name).exists()


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_is_listed_in_the_table_of_contents(path):
    assert f"chapters/{path.stem}" in toc_docs()


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_seeds_and_picks_a_device(path):
    source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    assert "seed_everything(" in source and "device()" in source
