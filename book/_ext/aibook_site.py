"""Sphinx extension for the aibook website: pages generated from what the build measured.

- The landing page (`book/intro`) gets a gallery: one figure from each executed chapter and
  the time the chapter took to execute in this build.
- The Results page (`book/results`) pastes the chapters' numbers with myst-nb's glue
  (written in the page itself); this extension adds the benchmark table generated from
  `benchmarks/results.json` (committed; `make bench` writes it). Nothing on it is typed
  by hand.
- All BibTeX files (`book/references.bib`, the main one, and `book/references/*.bib`, one per
  chapter) are merged into one file with duplicate keys dropped, so a key present in two files
  does not produce a duplicate-citation warning.

Sphinx reads documents in sorted order, and notebooks execute while they are read, so the two
generated pages are moved to the end of the reading order (`env-before-read-docs`), re-read on
every build (`env-get-outdated`), and filled in by a `source-read` handler that replaces a
marker comment with generated MyST markdown.
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

INTRO, RESULTS = "book/intro", "book/results"
GALLERY_MARKER = "<!-- aibook:chapter-gallery -->"
BENCHMARKS_MARKER = "<!-- aibook:benchmarks -->"
COVER_TAG = "tag_aibook-cover"  # a chapter may tag the cell whose figure should be its cover
CHAPTER_RE = re.compile(r"^chapters/[\w-]+$")
BIB_KEY_RE = re.compile(r"@\s*(\w+)\s*\{\s*([^,\s]+)\s*,")


# --- bibliography -------------------------------------------------------------------------------

def _split_bib(text: str) -> list[tuple[str, str]]:
    """Split BibTeX text into (key, entry text) pairs; @comment/@string/@preamble are kept
    with key ''."""
    starts = [m.start() for m in re.finditer(r"(?m)^\s*@", text)]
    chunks = [text[a:b].strip() for a, b in zip(starts, starts[1:] + [len(text)], strict=True)]
    out = []
    for chunk in chunks:
        m = BIB_KEY_RE.match(chunk)
        kind = m.group(1).lower() if m else ""
        key = m.group(2) if m and kind not in {"comment", "string", "preamble"} else ""
        out.append((key, chunk))
    return out


def merge_bib(files: list[Path]) -> tuple[str, set[str]]:
    """The entries of `files` in order, each key kept once (the first file wins), and the keys
    (lower-cased: BibTeX keys are case-insensitive)."""
    seen: dict[str, Path] = {}
    entries: list[str] = []
    for path in files:
        for key, chunk in _split_bib(path.read_text(encoding="utf-8")):
            if key and key.lower() in seen:
                logger.info(f"aibook: bib key {key!r} in {path.name} already comes from "
                            f"{seen[key.lower()].name}; keeping the first")
                continue
            if key:
                seen[key.lower()] = path
            entries.append(chunk)
    return "\n\n".join(entries) + "\n", set(seen)


def merge_bibfiles(app: Sphinx, config) -> None:
    """config-inited: merge the main and per-chapter .bib files into _build/bib/references.bib."""
    src = Path(app.srcdir)
    main = [src / f for f in config.bibtex_bibfiles]
    extra = sorted((src / "book" / "references").glob("*.bib"))
    files = [p for p in main + [p for p in extra if p not in main] if p.exists()]
    text, keys = merge_bib(files)
    merged = Path(app.outdir).parent / "bib" / "references.bib"
    merged.parent.mkdir(parents=True, exist_ok=True)
    if not merged.exists() or merged.read_text(encoding="utf-8") != text:
        merged.write_text(text, encoding="utf-8")
    config.bibtex_bibfiles = [os.path.relpath(merged, src).replace(os.sep, "/")]
    app.env_bib_keys = keys  # type: ignore[attr-defined]


# --- execution: a cache for authors, everything for CI --------------------------------------

def choose_execution(app: Sphinx, config) -> None:
    """config-inited: authors rebuild from jupyter-cache (only an edited chapter re-executes);
    CI (CI=true) and AIBOOK_EXECUTE=force execute every chapter. The seed offset is part of
    the cache's path, so a build at another AIBOOK_SEED_OFFSET never reuses outputs of this one."""
    app.aibook_started = time.time()  # type: ignore[attr-defined]
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"} \
            or os.environ.get("AIBOOK_EXECUTE") == "force":
        config.nb_execution_mode = "force"
    offset = os.environ.get("AIBOOK_SEED_OFFSET", "").strip() or "0"
    cache = Path(app.outdir).parent / f".jupyter_cache-offset-{offset}"
    config.nb_execution_cache_path = str(cache)


# --- reading order -------------------------------------------------------------------------------

def read_generated_pages_last(app: Sphinx, env, docnames: list[str]) -> None:
    for name in (INTRO, RESULTS):
        if name in docnames:
            docnames.remove(name)
            docnames.append(name)


def always_reread(app: Sphinx, env, added, changed, removed) -> list[str]:
    return [d for d in (INTRO, RESULTS) if d in env.found_docs and d not in added | changed]


def _png_aspect(path: Path) -> float | None:
    """Width / height of a PNG, read from its header; None when it is not a readable PNG."""
    try:
        with path.open("rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return width / height if height else None


def remember_cover(app: Sphinx, doctree: nodes.document) -> None:
    """doctree-read: choose each chapter's cover figure for the landing page: the figure of a
    cell tagged `aibook-cover` if there is one, else the first figure whose shape suits a card
    (width/height between 0.6 and 2.2), else the first figure."""
    docname = app.env.docname
    if not CHAPTER_RE.match(docname):
        return
    tagged = [n for n in doctree.findall(nodes.container) if COVER_TAG in n.get("classes", [])]
    uris = []
    for scope in [*tagged, doctree]:
        for image in scope.findall(nodes.image):
            uri = image.get("candidates", {}).get("*") or image.get("uri", "")
            if uri.endswith((".png", ".svg", ".jpg", ".jpeg")) and "://" not in uri:
                uris.append(uri)
        if tagged and uris:
            _covers(app.env)[docname] = uris[0]
            return
    fits = [u for u in uris if 0.6 <= (_png_aspect(Path(app.srcdir) / u) or 1.0) <= 2.2]
    if uris:
        _covers(app.env)[docname] = (fits or uris)[0]


def _covers(env) -> dict[str, str]:
    if not hasattr(env, "aibook_covers"):
        env.aibook_covers = {}
    return env.aibook_covers


def purge_cover(app: Sphinx, env, docname: str) -> None:
    _covers(env).pop(docname, None)


def merge_covers(app: Sphinx, env, docnames, other) -> None:
    _covers(env).update({d: u for d, u in _covers(other).items() if d in docnames})


def machine_summary(m: dict | None = None) -> str:
    """'Intel Xeon … (2 cores), cpu, torch 2.13.0' from a record's machine dict or this host."""
    if m is None:
        from aibook.device import cpu_model  # the build puts the checkout on PYTHONPATH

        m = {"cpu": cpu_model(), "cores": os.cpu_count() or 0}
    parts = [f"{m.get('cpu', '?')} ({m.get('cores', '?')} cores)"]
    parts += [str(m[k]) if k == "device" else f"{k} {m[k]}" for k in ("device", "torch")
              if m.get(k)]
    return ", ".join(parts)


# --- generated markdown ------------------------------------------------------------------------

def _chapters(env) -> list[str]:
    return sorted(d for d in env.found_docs if CHAPTER_RE.match(d))


def _runtime(env, docname: str) -> dict | None:
    try:
        from myst_nb.sphinx_ import NbMetadataCollector
        return NbMetadataCollector.get_exec_data(env, docname)
    except (ImportError, KeyError, AttributeError):
        return None


def gallery_markdown(app: Sphinx) -> str:
    env = app.env
    cards = []
    for doc in _chapters(env):
        cover = _covers(env).get(doc)
        data = _runtime(env, doc)
        if data and data.get("succeeded"):
            fresh = data.get("mtime", 0) >= getattr(app, "aibook_started", 0)
            timing = f"executed in {data['runtime']:.0f} s " + (
                "during this build" if fresh else "in an earlier build (from the cache)")
        elif data:
            timing = "failed to execute in this build"
        else:
            timing = "not executed in this build"
        img = f":img-top: /{cover}\n:img-alt: a figure from {doc}\n" if cover else ""
        cards.append(f"::::{{grid-item-card}}\n:link: /{doc}\n:link-type: doc\n{img}"
                     f":footer: {timing}\n\n{{doc}}`/{doc}`\n::::\n")
    if not cards:
        return "*(no chapters in this build)*\n"
    where = machine_summary()
    return ("::::::{grid} 1 2 2 3\n:gutter: 3\n:class-container: aibook-gallery\n\n"
            + "\n".join(cards) + "::::::\n\n"
            f"Times measured while this site was built, on {where}; a chapter aims at "
            "three minutes at most on two CPU cores.\n")


def _fmt(value: float) -> str:
    if value != value:  # NaN
        return "nan"
    if abs(value) >= 1000 or value == int(value):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.0f}"
    return f"{value:.4g}"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _anchor(record: dict, bib_keys: set[str]) -> str:
    anchor, cite = _cell(record.get("anchor", "") or "—"), record.get("cite", "")
    if cite:
        if cite.lower() in bib_keys:
            anchor += f" {{cite:p}}`{cite}`"
        else:
            logger.warning(f"aibook: result {record.get('name')!r} cites unknown bib key {cite!r}")
    return anchor


def benchmark_markdown(path: Path, bib_keys: set[str]) -> list[str]:
    """benchmarks/results.json (`make bench` writes it): a list of records (name, value, unit,
    anchor, cite, measured_at, machine), or
    {"results": [...], "machine": {...}, "measured_at": ...}. Absent: say how to produce it."""
    if not path.exists():
        return ["No benchmark results in this build (`benchmarks/results.json` is absent; "
                "`make bench` writes it).", ""]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        logger.warning(f"aibook: cannot read {path}: {err}")
        return ["The benchmark results file could not be read.", ""]
    common: dict = {}
    if isinstance(data, dict):
        common = {k: v for k, v in data.items() if k != "results"}
        data = data.get("results", [])
    rows = [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []
    if not rows:
        return ["The benchmark results file holds no results.", ""]
    table = []
    for r in rows:
        r = {**common, **r}
        name = " · ".join(str(r[k]) for k in ("chapter", "name") if r.get(k)) or "?"
        try:
            value = _fmt(float(r.get("value")))
        except (TypeError, ValueError):
            value = str(r.get("value", "?"))
        value += f" {r['unit']}" if r.get("unit") else ""
        when = str(r.get("measured_at", "?")).replace("T", " ").replace("+00:00", "")
        machine = r.get("machine")
        machine = machine_summary(machine) if isinstance(machine, dict) else (machine or "?")
        table.append((name, value, _anchor(r, bib_keys), when, machine))
    if len({(w, m) for *_, w, m in table}) == 1:  # one run: say when and where once
        _, _, _, when, machine = table[0]
        out = [f"Measured at (UTC) {when}, on {_cell(machine)}.", "",
               "| Benchmark | Value | Goal or published anchor |", "| --- | --- | --- |"]
        out += [f"| {_cell(n)} | **{_cell(v)}** | {a} |" for n, v, a, _, _ in table]
    else:
        out = ["| Benchmark | Value | Goal or published anchor | Measured at (UTC) | Machine |",
               "| --- | --- | --- | --- | --- |"]
        out += [f"| {_cell(n)} | **{_cell(v)}** | {a} | {w} | {_cell(m)} |"
                for n, v, a, w, m in table]
    return out + [""]


def inject(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname == INTRO and GALLERY_MARKER in source[0]:
        source[0] = source[0].replace(GALLERY_MARKER, gallery_markdown(app))
    elif docname == RESULTS and BENCHMARKS_MARKER in source[0]:
        bib_keys = getattr(app, "env_bib_keys", set())
        rows = benchmark_markdown(Path(app.srcdir) / "benchmarks" / "results.json", bib_keys)
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        body = "\n".join(rows) + f"\n\n*This page was built on {stamp}, on {machine_summary()}.*\n"
        source[0] = source[0].replace(BENCHMARKS_MARKER, body)


def dedupe_scripts(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """html-page-context: drop repeated <script> entries. sphinx-thebe registers its inline
    config (`const THEBE_JS_URL = ...`) during env-before-read-docs, and Sphinx 7.4 then lists
    it twice, so the second copy throws "Identifier has already been declared"."""
    seen, unique = set(), []
    for js in context.get("script_files", []):
        attributes = getattr(js, "attributes", {}) or {}
        key = (getattr(js, "filename", js) or "", repr(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    if "script_files" in context:
        context["script_files"][:] = unique


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", choose_execution)
    app.connect("config-inited", merge_bibfiles)
    app.connect("env-before-read-docs", read_generated_pages_last)
    app.connect("env-get-outdated", always_reread)
    app.connect("env-purge-doc", purge_cover)
    app.connect("env-merge-info", merge_covers)
    app.connect("doctree-read", remember_cover, priority=900)
    app.connect("source-read", inject)
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
