"""The evidence standard, enforced: the lints of tests/evidence_lint.py catch planted bad
cells, and pass on the book."""

from pathlib import Path

import evidence_lint as lint
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
MASTERS = sorted((ROOT / "exercises" / "masters").glob("*.ipynb"))
PAGES = sorted((ROOT / "book").glob("*.md")) + [ROOT / "README.md"]
# Chapters written before the standard; each leaves this list when its numbers are glued and
# its claims hold at any seed offset. A new chapter is born under the standard.
NOT_YET: set[str] = set()


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def _notebook(tmp_path: Path, *cells: tuple[str, str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md" else
                nbformat.v4.new_code_cell(src) for kind, src in cells]
    path = tmp_path / "planted.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize(("markdown", "rule"), [
    ("The CNN reaches 0.981 on test.", "typed decimal '0.981'"),
    ("It wins 97 % of the games.", "typed percentage '97 %'"),
    ("Training took 3.2 s here.", "typed duration '3.2 s'"),
    ("Our engine is 30× slower.", "typed ratio '30×'"),
    ("and 2.5x faster", "typed ratio '2.5x'"),
    ("Compiled, as the issue asks.", "process word 'the issue'"),
])
def test_prose_lint_catches_a_planted_typed_number(tmp_path, markdown, rule):
    path = _notebook(tmp_path, ("md", "Intro.\n\n" + markdown))
    found = lint.lint_notebook(path)
    assert [f.rule for f in found] == [rule] and found[0].where == "cell 0, line 3"


@pytest.mark.parametrize("markdown", [
    "The CNN reaches {glue:text}`cnn_acc:.3f` on test ({glue:text}`cnn_ci:s`).",
    "LeNet-5 reached 0.95 % test error on MNIST {cite:p}`lecun1998gradient`.",
    "We set `lr=0.05` and $\\alpha = 0.1$, with $$\\gamma = 0.99$$ in math.",
    "A 95 % confidence interval; each chapter runs in at most 3 minutes.",
    "Time on a 2-core CPU: about 2 minutes.",
    "## 1.5 Layers, losses and optimizers",
    "Built with Python 3.11 on a 3×3 kernel, 1,000 points and 5 seeds.",
])
def test_prose_lint_accepts_glue_code_math_citations_and_budgets(tmp_path, markdown):
    assert lint.lint_notebook(_notebook(tmp_path, ("md", markdown))) == []


PLANTED_CODE = {
    "assert inside except": "try:\n    f()\nexcept ValueError as err:\n"
                            "    assert 'x' in str(err)\n",
    "swallows the error": "try:\n    read_idx(path)\nexcept IDXError as err:\n    print(err)\n",
    "loop's own cap": "for steps in range(100_000):\n    if done():\n        break\n"
                      "assert steps <= 100_000 and ret >= 475\n",
    "loop's own cap (config)": "cfg = Config(total_steps=50_000)\nassert used < 50_000\n",
    "timing variable": "moons_time = run()\nassert moons_acc >= 0.97 and moons_time < 161\n",
    "tautology": "assert model(x).sum() == model(x).sum()\n",
    "compared with itself": "assert np.allclose(acc_a, acc_a)\n",
    "process word": "assert gap >= 0.5  # the issue's bar\n",
}


@pytest.mark.parametrize("name", PLANTED_CODE)
def test_code_lint_catches_a_planted_assert_that_cannot_fail(tmp_path, name):
    found = lint.lint_notebook(_notebook(tmp_path, ("code", PLANTED_CODE[name])))
    assert len(found) == 1, [str(f) for f in found]
    assert name.split(" (")[0] in found[0].rule


def test_code_lint_accepts_asserts_that_can_fail(tmp_path):
    good = ("from aibook.claims import raises\n"
            "with raises(ValueError, match='align'):\n    A @ B\n"
            "for epoch in range(30):\n    step()\n"
            "assert acc >= 0.9 and epoch == 29\n"
            "speedup = t_ref / t_ours\nassert speedup > 0.2  # a ratio, wide margin\n"
            "assert torch.allclose(ours, theirs, atol=1e-6)\n"
            "try:\n    import gymnasium\nexcept ImportError:\n    raise SystemExit('x')\n")
    assert lint.lint_notebook(_notebook(tmp_path, ("code", good))) == []


@pytest.mark.parametrize("path", CHAPTERS + MASTERS, ids=_ids(CHAPTERS + MASTERS))
def test_no_assert_that_cannot_fail_and_no_process_words(path):
    found = lint.lint_notebook(path, prose=False)
    assert not found, "\n".join(map(str, found))


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_prose_states_no_typed_measurement(path):
    if not lint.under_standard(path):
        assert path.stem in NOT_YET, f"{path.name}: set metadata aibook.evidence_standard: true"
        pytest.skip(f"{path.stem} is not yet under the evidence standard")
    assert path.stem not in NOT_YET, f"{path.stem} is under the standard: remove it from NOT_YET"
    found = lint.lint_notebook(path, code=False)
    assert not found, "\n".join(map(str, found))


@pytest.mark.parametrize("path", PAGES, ids=_ids(PAGES))
def test_pages_state_no_typed_measurement(path):
    text = path.read_text(encoding="utf-8")
    found = lint.typed_numbers(text) + lint.process_words(text)
    assert not found, "\n".join(map(str, found))


def test_second_seed_pass_offset_is_fixed_by_the_commit_and_can_be_replayed(monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("seed_pass", ROOT / "scripts" / "seed_pass.py")
    seed_pass = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seed_pass)
    monkeypatch.delenv("AIBOOK_SECOND_OFFSET", raising=False)
    offsets = {seed_pass.offset(f"{i:040x}") for i in range(50)}
    assert all(1 <= o <= 9999 for o in offsets) and len(offsets) > 40  # varies with the commit
    assert seed_pass.offset("abc") == seed_pass.offset("abc")
    monkeypatch.setenv("AIBOOK_SECOND_OFFSET", "42")
    assert seed_pass.offset("abc") == 42
    pool = seed_pass.under_standard()
    chosen = seed_pass.chapters("abc", seconds={})  # times unknown: MAX_CHAPTERS of them
    assert set(chosen) <= set(pool) and len(chosen) == min(len(pool), seed_pass.MAX_CHAPTERS)
    assert seed_pass.MAX_CHAPTERS >= 3
    assert chosen == seed_pass.chapters("abc", seconds={})  # replayable
    assert {seed_pass.chapters(f"{i:040x}", seconds={})[0] for i in range(50)} != {chosen[0]}
    # with the build's times: within the budget, except that the first chapter always runs
    slow = {p.name: 0.6 * seed_pass.BUDGET_SECONDS for p in pool}
    assert len(seed_pass.chapters("abc", seconds=slow)) == 1
    over = {p.name: 2.0 * seed_pass.BUDGET_SECONDS for p in pool}
    assert len(seed_pass.chapters("abc", seconds=over)) == 1
    mixed = {p.name: (0.6 if i % 2 else 0.1) * seed_pass.BUDGET_SECONDS
             for i, p in enumerate(pool)}
    picked = seed_pass.chapters("abc", seconds=mixed)
    assert 1 <= len(picked) <= seed_pass.MAX_CHAPTERS
    assert len(picked) == 1 or sum(mixed[p.name] for p in picked) <= seed_pass.BUDGET_SECONDS


def test_seed_pass_reads_each_chapter_s_build_time_from_the_build_log(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("seed_pass", ROOT / "scripts" / "seed_pass.py")
    seed_pass = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seed_pass)
    log = tmp_path / "site-build.log"
    log.write_text("reading sources... chapters/rl\n"
                   "/tmp/x/chapters/rl.ipynb: Executed notebook in 131.20 seconds [mystnb]\n"
                   "/tmp/x/chapters/policy_gradients.ipynb: Executed notebook in 182.26 "
                   "seconds [mystnb]\n")
    assert seed_pass.build_seconds(log) == {"rl.ipynb": 131.2, "policy_gradients.ipynb": 182.26}
    assert seed_pass.build_seconds(tmp_path / "missing.log") == {}
