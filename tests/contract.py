"""The chapter contract, checked by tests/test_contract.py for every chapter in `_toc.yml`.

A chapter `chapters/<slug>.ipynb` declares, in its notebook metadata under "aibook":
`module` (the package it builds, e.g. "aibook.autograd"), `tests` (its test files) and
`glossary` (the glossary terms it introduces). The contract is that each of these exists,
with the master, the student notebook and the autograder name of its exercises, its bib file
and its README row; and that the requirement lists agree on every shared pin.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;#]+)", re.M)


def chapter_slugs(root: Path, docs: list[str]) -> list[str]:
    return [d.split("/", 1)[1] for d in docs if d.startswith("chapters/")]


def _meta(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")).get("metadata", {})


def problems(root: Path, slug: str) -> list[str]:
    """Everything missing from chapter `slug`'s contract (empty when it holds)."""
    out: list[str] = []
    notebook = root / "chapters" / f"{slug}.ipynb"
    if not notebook.exists():
        return [f"{slug}: chapters/{slug}.ipynb is missing"]
    if re.search(r"\d", slug):
        out.append(f"{slug}: a chapter is named by its topic, not a number")
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    numbered = [line for c in cells if c["cell_type"] == "markdown"
                for line in "".join(c["source"]).splitlines() if re.match(r"#+ \d", line)]
    out += [f"{slug}: heading {h!r} types a number; _toc.yml numbers the chapters"
            for h in numbered]
    meta = _meta(notebook).get("aibook", {})
    module = meta.get("module", "")
    if not module:
        out.append(f"{slug}: notebook metadata aibook.module is missing")
    else:
        rel = Path(*module.split("."))
        if not ((root / rel).with_suffix(".py").exists() or (root / rel / "__init__.py").exists()):
            out.append(f"{slug}: module {module} has no file {rel}.py or {rel}/__init__.py")
    tests = meta.get("tests", [])
    if not tests:
        out.append(f"{slug}: notebook metadata aibook.tests is missing")
    out += [f"{slug}: test file {t} is missing" for t in tests if not (root / t).exists()]
    master = root / "exercises" / "masters" / f"{slug}.ipynb"
    student = root / "exercises" / f"{slug}.ipynb"
    for path in (master, student):
        if not path.exists():
            out.append(f"{slug}: {path.relative_to(root)} is missing")
    if student.exists():
        name = _meta(student).get("otter", {}).get("assignment_name")
        if name != slug:
            out.append(f"{slug}: the student notebook's autograder is named {name!r}, not "
                       f"{slug!r} (rebuild: python -m aibook_course exercises build {slug})")
    if not (root / "book" / "references" / f"{slug}.bib").exists():
        out.append(f"{slug}: book/references/{slug}.bib is missing")
    readme = (root / "README.md").read_text(encoding="utf-8")
    if module and not re.search(rf"^\|.*`{re.escape(module)}`.*\|$", readme, re.M):
        out.append(f"{slug}: README.md has no table row naming `{module}`")
    glossary = (root / "book" / "glossary.md").read_text(encoding="utf-8")
    terms = meta.get("glossary", [])
    if not terms:
        out.append(f"{slug}: notebook metadata aibook.glossary lists no term")
    out += [f"{slug}: glossary term {t!r} is missing from book/glossary.md" for t in terms
            if not re.search(rf"^{re.escape(t)}$", glossary, re.M)]
    return out


def pins(path: Path) -> dict[str, str]:
    """name -> version for every `name==version` line (names lower-cased, extras dropped)."""
    return {re.sub(r"\[.*\]", "", m.group(1)).lower().replace("_", "-"): m.group(2)
            for m in PIN.finditer(path.read_text(encoding="utf-8"))}


def pin_problems(root: Path) -> list[str]:
    """requirements.txt and binder/requirements.txt agree on every shared pin, and every pin
    satisfies pyproject.toml's range for the same package."""
    from packaging.requirements import Requirement

    main, binder = pins(root / "requirements.txt"), pins(root / "binder" / "requirements.txt")
    out = [f"{name}: requirements.txt pins {main[name]}, binder/requirements.txt {binder[name]}"
           for name in sorted(main.keys() & binder.keys()) if main[name] != binder[name]]
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    for spec in re.findall(r'^\s*"([^"]+)",?\s*$', text, re.M):
        try:
            req = Requirement(spec)
        except ValueError:
            continue
        name = req.name.lower().replace("_", "-")
        for where, found in (("requirements.txt", main), ("binder/requirements.txt", binder)):
            if name in found and req.specifier and found[name] not in req.specifier:
                out.append(f"{name}: {where} pins {found[name]}, outside pyproject's "
                           f"{req.specifier}")
    return out
