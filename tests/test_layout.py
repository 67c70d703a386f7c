"""The repository's shape: the import rules hold, and fail on planted violations."""

from pathlib import Path

import import_rules as rules

ROOT = Path(__file__).resolve().parent.parent


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_library_imports_nothing_from_the_course_tooling():
    assert rules.forbidden(ROOT, "aibook", "aibook_course") == []


def test_nothing_imports_in_a_cycle():
    assert rules.cycles(rules.graph(ROOT, ["aibook", "aibook_course"])) == []


def test_a_planted_tooling_import_is_caught_even_inside_a_function(tmp_path):
    root = _package(tmp_path, {
        "lib/__init__.py": "",
        "lib/cnn.py": "def f():\n    from tools.grading import grade\n    return grade\n",
        "lib/rl.py": "import numpy\n",
        "tools/__init__.py": "",
        "tools/grading.py": "from lib import cnn\n",
    })
    assert rules.forbidden(root, "lib", "tools") == ["lib.cnn imports tools.grading",
                                                    "lib.cnn imports tools.grading.grade"]


def test_a_planted_cycle_through_function_level_and_relative_imports_is_caught(tmp_path):
    root = _package(tmp_path, {
        "tools/__init__.py": "",
        "tools/exercises.py": "def check():\n    from tools.grading import grade\n",
        "tools/grading.py": "from . import exercises\n",
        "tools/paths.py": "",
    })
    edges = rules.graph(root, ["tools"])
    assert edges["tools.grading"] == {"tools", "tools.exercises"}
    assert rules.cycles(edges) == [["tools.exercises", "tools.grading"]]
