"""The chapter contract (tests/contract.py): every chapter in the table of contents has all
its parts, and the requirement lists agree; both checks fail on planted violations."""

import json
import shutil
from pathlib import Path

import contract
import pytest

from aibook_course.paths import ROOT, toc_docs

SLUGS = contract.chapter_slugs(ROOT, toc_docs())


def test_the_book_has_chapters_named_by_topic():
    assert SLUGS and all(not any(ch.isdigit() for ch in s) for s in SLUGS), SLUGS


@pytest.mark.parametrize("slug", SLUGS)
def test_chapter_keeps_its_contract(slug):
    assert contract.problems(ROOT, slug) == []


def test_requirement_lists_agree_on_every_shared_pin():
    assert contract.pin_problems(ROOT) == []


@pytest.fixture
def copy_of_repo(tmp_path) -> Path:
    """The files the contract reads, copied, so a test can break them."""
    for rel in ["README.md", "requirements.txt", "binder/requirements.txt", "pyproject.toml",
                "book/glossary.md", "chapters", "exercises/masters", "book/references",
                "aibook", "tests"]:
        src, dest = ROOT / rel, tmp_path / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dest)
    for slug in SLUGS:
        shutil.copy(ROOT / "exercises" / f"{slug}.ipynb", tmp_path / "exercises")
    return tmp_path


def test_planted_violations_are_each_caught(copy_of_repo):
    root, slug = copy_of_repo, SLUGS[0]
    assert contract.problems(root, slug) == []
    (root / "book" / "references" / f"{slug}.bib").unlink()
    (root / "exercises" / "masters" / f"{slug}.ipynb").unlink()
    nb = json.loads((root / "chapters" / f"{slug}.ipynb").read_text())
    module = nb["metadata"]["aibook"]["module"]
    nb["metadata"]["aibook"]["glossary"].append("Not a term")
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": ["## 2.1 Numbered"]})
    (root / "chapters" / f"{slug}.ipynb").write_text(json.dumps(nb))
    readme = root / "README.md"
    readme.write_text(readme.read_text().replace(f"`{module}`", "`elsewhere`"))
    found = "\n".join(contract.problems(root, slug))
    for expected in (f"book/references/{slug}.bib is missing",
                     f"exercises/masters/{slug}.ipynb is missing",
                     "glossary term 'Not a term' is missing",
                     f"README.md has no table row naming `{module}`",
                     "heading '## 2.1 Numbered' types a number"):
        assert expected in found, found


def test_planted_pin_disagreements_are_caught(copy_of_repo):
    root = copy_of_repo
    binder = root / "binder" / "requirements.txt"
    binder.write_text(binder.read_text().replace("numpy==2.4.6", "numpy==2.4.5"))
    (root / "pyproject.toml").write_text(
        (root / "pyproject.toml").read_text().replace('"torch>=2.2"', '"torch>=3"'))
    found = contract.pin_problems(root)
    assert "numpy: requirements.txt pins 2.4.6, binder/requirements.txt 2.4.5" in found
    assert any(p.startswith("torch: requirements.txt pins 2.13.0, outside") for p in found)
