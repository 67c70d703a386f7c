"""The website in a real browser, offline: Debian's Chromium driven by Playwright.

The module builds the site once with `scripts/build_book.sh` (every chapter executed,
`-W -n --keep-going`) and checks that the build printed no warning. Set
AIBOOK_SITE_REUSE=1 to test an existing `_build/html` built by that script (its log,
`_build/site-build.log`, is checked instead). Then it serves `_build/html` on 127.0.0.1,
blocks every other address (so a CDN load fails loudly, as it would offline), and opens
the index and every chapter and exercise page, checking on each:
- no failed resource load, HTTP error, console error or page error;
- every math element rendered by MathJax (`mjx-container` inside it);
- chapters: at least one figure that loaded; static widgets rendered with their figure;
- notebook pages: Binder and Colab buttons point at `repository.url` with the page's notebook;
and it saves light and dark screenshots under `_build/screenshots/`.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from aibook_course.paths import toc_docs

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"
HTML = BUILD / "html"
LOG = BUILD / "site-build.log"
SHOTS = BUILD / "screenshots"
VISIBLE_WIDGET = (".jupyter-widgets .widget-slider:visible, "
                  ".jupyter-widgets .widget-dropdown:visible")
CHROMIUM = os.environ.get("AIBOOK_CHROMIUM", "/usr/bin/chromium")
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
REPO = CONFIG["repository"]
BRANCH = REPO.get("branch", "main")
ORG_REPO = urlparse(REPO["url"]).path.strip("/")
BUILD_TIMEOUT_S = 60 * 60

pytestmark = [pytest.mark.site, pytest.mark.slow]


DOCS = toc_docs()
CHAPTERS = [d for d in DOCS if d.startswith("chapters/")]
EXERCISES = [d for d in DOCS if re.fullmatch(r"exercises/[\w-]+", d)]
PAGES = ["index", *CHAPTERS, *EXERCISES]


def _require_browser():
    """Skip without Chromium or Playwright, except under CI (CI=true), where it must run."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser test needs {', '.join(missing)}")
        pytest.skip(f"browser test needs {', '.join(missing)}")


# --- the build ----------------------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Sphinx/docutils messages ("path:line: WARNING: ...", "ERROR: ..."), myst-nb execution
# failures and the final summary. Kernel chatter such as "[IPKernelApp] WARNING | ..." on a
# kernel's stderr is not a build warning.
PROBLEM = re.compile(r"(WARNING|ERROR|CRITICAL|SEVERE):|Executing notebook failed"
                     r"|build finished with problems|Traceback \(most recent call last\)")


def build_problems(log: str) -> list[str]:
    """The lines of a build log that are warnings or errors."""
    lines = ANSI.sub("", log).splitlines()
    return [line for line in lines if PROBLEM.search(line) and "[IPKernelApp]" not in line]


def test_build_problems_detector_flags_sphinx_warnings_only():
    log = ("\x1b[91m/x/book/intro.md:3: WARNING: undefined label\x1b[39;49;00m\n"
           "[IPKernelApp] WARNING | Kernel is running over TCP without encryption.\n"
           "reading sources... [100%] book/results\nbuild succeeded.\n")
    assert build_problems(log) == ["/x/book/intro.md:3: WARNING: undefined label"]
    assert build_problems("build succeeded.\n") == []


def _site_ext():
    """book/_ext/aibook_site.py, the Sphinx extension that generates the site's pages."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("aibook_site", ROOT / "book/_ext/aibook_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bib_merge_keeps_the_first_entry_of_a_duplicated_key(tmp_path):
    main, chapter = tmp_path / "references.bib", tmp_path / "cnn.bib"
    main.write_text("@article{LeCun1998, title={Main}, year={1998}}\n"
                    "@misc{hinton2015, title={D}, year={2015}}\n")
    chapter.write_text("% chapter file\n@book{lecun1998,\n  title={Dup}, year={1998}\n}\n\n"
                       "@misc{new2020, title={N}, year={2020}}\n")
    text, keys = _site_ext().merge_bib([main, chapter])
    assert keys == {"lecun1998", "hinton2015", "new2020"}
    assert "Main" in text and "Dup" not in text and text.count("@") == 3


def test_execution_is_cached_for_authors_forced_for_ci_and_kept_apart_per_offset(
        tmp_path, monkeypatch):
    import types

    ext = _site_ext()
    app = types.SimpleNamespace(outdir=str(tmp_path / "_build" / "html"))

    def chosen() -> types.SimpleNamespace:
        config = types.SimpleNamespace(nb_execution_mode="cache", nb_execution_cache_path="")
        ext.choose_execution(app, config)
        return config

    for name in ("CI", "AIBOOK_EXECUTE", "AIBOOK_SEED_OFFSET"):
        monkeypatch.delenv(name, raising=False)
    config = chosen()
    assert config.nb_execution_mode == "cache"
    assert config.nb_execution_cache_path == str(tmp_path / "_build" / ".jupyter_cache-offset-0")
    monkeypatch.setenv("AIBOOK_SEED_OFFSET", "7")
    assert chosen().nb_execution_cache_path.endswith(".jupyter_cache-offset-7")
    monkeypatch.setenv("CI", "true")
    assert chosen().nb_execution_mode == "force"
    monkeypatch.delenv("CI")
    monkeypatch.setenv("AIBOOK_EXECUTE", "force")
    assert chosen().nb_execution_mode == "force"


def test_benchmark_table_tolerates_absence_and_both_formats(tmp_path):
    ext = _site_ext()
    absent = ext.benchmark_markdown(tmp_path / "results.json", set())
    assert "absent" in absent[0]
    path = tmp_path / "results.json"
    path.write_text(json.dumps([{"name": "conv2d forward", "value": 12.3456, "unit": "ms",
                                 "anchor": "torch 10 ms", "measured_at": "2026-01-01T00:00:00"}]))
    rows = ext.benchmark_markdown(path, set())
    # one run: when and where in a line above a three-column table
    assert rows[0].startswith("Measured at (UTC) 2026-01-01 00:00:00, on ?")
    assert rows[2].startswith("| Benchmark |") and "**12.35 ms**" in rows[4]
    assert "torch 10 ms" in rows[4]
    path.write_text(json.dumps({"machine": {"cpu": "Xeon", "cores": 2},
                                "results": [{"name": "int8 matmul", "value": 2}]}))
    rows = ext.benchmark_markdown(path, set())
    assert "Xeon (2 cores)" in rows[0] and "int8 matmul" in rows[4]
    path.write_text(json.dumps([{"name": "a", "value": 1, "measured_at": "2026-01-01T00:00:00"},
                                {"name": "b", "value": 2, "measured_at": "2026-02-01T00:00:00"}]))
    rows = ext.benchmark_markdown(path, set())  # two runs: a column each for when and where
    assert rows[0].endswith("| Machine |") and "2026-02-01 00:00:00" in rows[3]
    path.write_text("{not json")
    assert "could not be read" in ext.benchmark_markdown(path, set())[0]


@pytest.fixture(scope="module")
def build_log() -> str:
    """Build the site once (or reuse a fresh build when AIBOOK_SITE_REUSE=1); the log text."""
    if os.environ.get("AIBOOK_SITE_REUSE") == "1":
        if not (HTML / "index.html").exists() or not LOG.exists():
            pytest.fail("AIBOOK_SITE_REUSE=1 but _build/html or _build/site-build.log is "
                        "missing: run `bash scripts/build_book.sh` first")
        return LOG.read_text(errors="replace")
    # The build is the suite's run of every chapter at this seed offset: execute them all,
    # never reuse the authors' jupyter-cache (it does not see edits to the aibook package).
    env = {**os.environ, "PYTHON": sys.executable, "AIBOOK_EXECUTE": "force"}
    # --all: read every page again, so a warning from a page left unchanged since the last
    # build is printed again (an incremental build would stay silent about it).
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "build_book.sh"), "--all"], cwd=ROOT,
                          env=env,
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"site build failed:\n{log[-6000:]}"
    return log


def test_site_build_prints_no_warning(build_log):
    problems = build_problems(build_log)
    assert not problems, "the site build printed:\n" + "\n".join(problems[:40])
    assert "build succeeded" in ANSI.sub("", build_log)


def test_every_toc_page_was_built(build_log):
    missing = [d for d in DOCS if not (HTML / f"{d}.html").exists()]
    assert not missing, f"in _toc.yml but not built: {missing}"
    assert (HTML / "index.html").exists()


def test_vendored_assets_are_served_from_the_site(build_log):
    """MathJax and the widget scripts come from _static, never from a CDN."""
    assert (HTML / "_static" / CONFIG["sphinx"]["config"]["mathjax_path"]).exists()
    for path in CONFIG["sphinx"]["config"]["nb_ipywidgets_js"]:
        assert "://" not in path, f"nb_ipywidgets_js must be local, got {path}"
        assert (HTML / "_static" / path).exists()
    for page in (HTML / "chapters").glob("*.html"):
        text = page.read_text()
        cdn = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', text)
        assert not cdn, f"{page.name} loads {cdn}"


# --- the browser --------------------------------------------------------------------------------

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(build_log):
    handler = functools.partial(_Quiet, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory, build_log):
    _require_browser()
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")  # an empty --user-data-dir
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
            viewport={"width": 1280, "height": 900})
        # Offline: anything not served by our local server is refused (and reported).
        context.route(re.compile(r"^(?!http://127\.0\.0\.1[:/]).*"),
                      lambda route: route.abort("internetdisconnected"))
        yield context
        context.close()


class PageProbe:
    """A page plus everything that went wrong while it loaded."""

    def __init__(self, context, url: str, color_scheme: str = "light"):
        self.problems: list[str] = []
        self.page = context.new_page()
        self.page.emulate_media(color_scheme=color_scheme)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda err: self.problems.append(f"page error: {err}"))
        self.page.on("requestfailed", lambda req: self.problems.append(
            f"failed load: {req.url} ({req.failure})"))
        self.page.on("response", lambda resp: resp.status >= 400 and self.problems.append(
            f"HTTP {resp.status}: {resp.url}"))
        self.page.goto(url, wait_until="load")
        self.page.wait_for_load_state("networkidle")

    def _console(self, msg):
        if msg.type == "error":
            self.problems.append(f"console error: {msg.text}")

    def close(self):
        self.page.close()


@contextmanager
def probed(context, url: str, color_scheme: str = "light") -> Iterator[PageProbe]:
    """Open `url` in a PageProbe; after the block, nothing may have gone wrong while the page
    loaded and ran (failed loads, console and page errors); the page is closed either way."""
    probe = PageProbe(context, url, color_scheme)
    try:
        yield probe
        assert not probe.problems, "\n".join(probe.problems)
    finally:
        probe.close()


def _wait_for_mathjax(page) -> None:
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                           timeout=30_000)
    page.evaluate("() => MathJax.startup.promise")


def _screenshot(page, doc: str, mode: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{doc.replace('/', '__')}-{mode}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _launch_links(page) -> dict[str, str]:
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    return {"binder": next((h for h in hrefs if "mybinder.org" in h), ""),
            "colab": next((h for h in hrefs if "colab.research.google.com" in h), ""),
            "repo": next((h for h in hrefs if h.rstrip("/") == REPO["url"].rstrip("/")), "")}


@pytest.mark.parametrize("doc", PAGES)
def test_page_renders_offline(browser, server, doc):
    with probed(browser, f"{server}/{doc}.html") as probe:
        page = probe.page
        n_math = page.locator("span.math, div.math").count()
        if n_math:
            _wait_for_mathjax(page)
            unrendered = page.locator("span.math:not(:has(mjx-container)), "
                                      "div.math:not(:has(mjx-container))").count()
            assert unrendered == 0, f"{unrendered} of {n_math} math elements not typeset"
            assert page.locator("mjx-merror").count() == 0, "MathJax reported a TeX error"
        broken = page.eval_on_selector_all(
            "img", "els => els.filter(e => !(e.complete && e.naturalWidth > 0)).map(e => e.src)")
        assert not broken, f"images that did not load: {broken}"

        if doc in CHAPTERS:
            figures = page.locator(".cell_output img").count()
            assert figures >= 1, "a chapter shows at least one figure"
            if page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count():
                assert page.locator('script[type="application/vnd.jupyter.widget-state+json"]'
                                    ).count(), ("widgets without saved state: the notebook did "
                                                "not finish executing (see the build log)")
                # :visible, because finished tqdm bars (also widgets) may be hidden and come first
                page.wait_for_selector(VISIBLE_WIDGET, timeout=30_000)
                widget_imgs = page.eval_on_selector_all(
                    ".jupyter-widgets img", "els => els.filter(e => e.naturalWidth > 0).length")
                assert widget_imgs >= 1, "the static widget shows the figure from its state"
                assert page.locator(".jupyter-widgets .widget-slider, "
                                    ".jupyter-widgets .widget-dropdown").count() >= 1

        if doc in CHAPTERS or doc in EXERCISES:
            links = _launch_links(page)
            nb = f"{doc}.ipynb"
            assert links["binder"] == (f"https://mybinder.org/v2/gh/{ORG_REPO}/{BRANCH}"
                                       f"?urlpath=lab/tree/{nb}"), links["binder"]
            assert links["colab"] == (f"https://colab.research.google.com/github/{ORG_REPO}"
                                      f"/blob/{BRANCH}/{nb}"), links["colab"]
            assert links["repo"], "repository button links to repository.url"
            downloads = page.eval_on_selector_all(
                "a[href$='.ipynb']", "els => els.map(e => e.getAttribute('href'))")
            assert any(h.endswith(f"_sources/{nb}") for h in downloads), downloads

        _screenshot(page, doc, "light")


@pytest.mark.parametrize("doc", PAGES)
def test_page_dark_mode(browser, server, doc):
    with probed(browser, f"{server}/{doc}.html", color_scheme="dark") as probe:
        page = probe.page
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        # Dark background, light text: the theme's colours took effect.
        lum = page.evaluate("""() => {
            const rgb = s => s.match(/\\d+/g).slice(0, 3).map(Number);
            const L = c => (0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]) / 255;
            const body = getComputedStyle(document.body);
            const main = document.querySelector('article') || document.body;
            return [L(rgb(body.backgroundColor)), L(rgb(getComputedStyle(main).color))];
        }""")
        assert lum[0] < 0.25 < lum[1], f"background/text luminance {lum}"
        if page.locator("span.math, div.math").count():
            _wait_for_mathjax(page)
        if page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count():
            page.wait_for_selector(VISIBLE_WIDGET, timeout=30_000)
        _screenshot(page, doc, "dark")


def test_landing_page_shows_a_figure_and_a_time_for_each_chapter(browser, server):
    with probed(browser, f"{server}/{TOC['root']}.html") as probe:
        cards = probe.page.locator(".aibook-gallery .sd-card")
        assert cards.count() == len(CHAPTERS)
        for i in range(cards.count()):
            card = cards.nth(i)
            assert card.locator("img.sd-card-img-top").count() == 1, card.inner_text()
            assert re.search(r"executed in \d+ s", card.inner_text()), card.inner_text()


def test_results_page_pastes_every_glued_number(browser, server):
    source = (ROOT / "book" / "results.md").read_text(encoding="utf-8")
    roles = re.findall(r"\{glue:text\}`([^`\s]+::[^`]+)`", source)  # pasted from a chapter
    assert len(roles) >= 20, "the Results page pastes each chapter's headline numbers"
    with probed(browser, f"{server}/book/results.html") as probe:
        pasted = probe.page.locator("article span.pasted-text").all_inner_texts()
        # A glue key that a chapter no longer makes is a build warning (the build uses -W);
        # here every role must have become a number on the page.
        assert len(pasted) == len(roles), (len(pasted), len(roles))
        assert all(re.search(r"\d", t) for t in pasted), pasted
        text = probe.page.locator("article").inner_text()
        assert "Published anchor" in text and "Benchmark" in text
        _screenshot(probe.page, "book/results", "light")


def test_search_works_offline(browser, server):
    with probed(browser, f"{server}/search.html?q=gradient") as probe:
        probe.page.wait_for_selector("#search-results ul.search li", timeout=30_000)
        assert probe.page.locator("#search-results ul.search li").count() >= 1


def test_screenshots_were_saved():
    if not SHOTS.exists():
        pytest.skip("no screenshots (the browser tests did not run)")
    names = {p.name for p in SHOTS.glob("*.png")}
    assert {"index-light.png", "index-dark.png"} <= names, sorted(names)


if __name__ == "__main__":  # quick manual run: python tests/test_site.py [pytest args]
    sys.exit(pytest.main([__file__, "-p", "no:cacheprovider", *sys.argv[1:]]))
