"""The cells that `exercises build` writes into every student notebook, shared by the builder
and the grader (which recognises them): the kernel spec and the grader cell."""

from __future__ import annotations

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def grader_cell_source(name: str, public_tests: dict[str, str]) -> str:
    """The code of the grader cell: `grader = otter.Notebook(...)` over embedded public tests.

    `public_tests` maps a question name to the source of its otter test file.
    """
    lines = [
        '# Instant feedback: grader.check("q1") runs the public tests embedded below.',
        "# The hidden tests run only when your work is graded. The tests live in this cell,",
        "# not in a tests/ folder, so that checking works in Colab too. Don't edit this cell.",
        "import os, tempfile",
        "import otter",
        "",
        "PUBLIC_TESTS = {",
    ]
    for question, source in public_tests.items():
        if "'''" in source or source.endswith("\\"):
            lines.append(f"    {question!r}: {source!r},")
        else:
            lines.append(f"    {question!r}: r'''{source}''',")
    lines += [
        "}",
        "_tests_dir = tempfile.mkdtemp(prefix='otter_tests_')",
        "for _question, _source in PUBLIC_TESTS.items():",
        "    with open(os.path.join(_tests_dir, _question + '.py'), 'w') as _f:",
        "        _f.write(_source)",
        f"_notebook = {name + '.ipynb'!r}  # absent in Colab: checks work there, export doesn't",
        "grader = otter.Notebook(_notebook if os.path.exists(_notebook) else None,",
        "                        tests_dir=_tests_dir)",
    ]
    return "\n".join(lines)
