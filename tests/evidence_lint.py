"""Lints of the evidence standard, run over the book by tests/test_evidence.py.

Prose: a markdown line may not state a measured-looking number (a decimal, a percentage,
a x-ratio, a duration) unless it is glued (``{glue:text}`key:.3f` ``), written as code or
math (settings such as `lr=0.05` or $\\alpha = 0.1$), or a published figure with a citation
on the same line. Code: no assert that cannot fail (inside `except`, bounded by its loop's
own cap, a timing variable against a literal, or the same computation on both sides).
Pages: no words about how the book is made.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

# --- prose ------------------------------------------------------------------------------------

# Spans that may hold numbers: replaced by blanks (newlines kept, so line numbers survive).
_HIDDEN = [
    re.compile(r"```.*?```", re.S),                 # fenced blocks (directives, code)
    re.compile(r"\$\$.*?\$\$", re.S),               # display math
    re.compile(r"\{[\w:.-]+\}`[^`]*`"),            # roles: {glue:text}`k:.3f`, {cite}`x`, {doc}
    re.compile(r"`[^`\n]*`"),                       # code spans
    re.compile(r"(?<!\\)\$[^$\n]+\$"),              # inline math
    re.compile(r"\]\([^)\n]*\)"),                   # link targets
    re.compile(r"https?://\S+"),
    re.compile(r"<[^>\n]+>"),                        # html tags and comments
]
MEASURED = {  # in this order; a number is reported once, under the first rule it meets
    "percentage": re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?%"),
    "ratio": re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?×(?!\s?\d)|(?<![\w.])\d+(?:\.\d+)?x\b"),
    "duration": re.compile(
        r"(?<![\w.])\d+(?:\.\d+)?\s?(?:ms|µs|s|sec|seconds?|min|minutes?|hours?)\b"),
    "decimal": re.compile(r"(?<![\w.\d])\d+\.\d+(?![\d.]*\.\d)(?!\w)"),
}
# Numbers that are not measurements: confidence levels, time budgets, the opening estimate.
ALLOWED = [
    re.compile(r"95\s?%\s(?:confidence|CI|interval|\()"),
    re.compile(r"(?:≤|<=|at most|under|within|than)\s*\d+\s*(?:minutes?|min)\b"),
    re.compile(r"Time on a 2-core CPU: about \d+ minutes?"),
    re.compile(r"(?:Python|torch|PyTorch|version|Jupyter Book|otter-grader)\s+\d+\.\d+"),
]
CITED = re.compile(r"\{cite(?::[pt])?\}`")
PROCESS_WORDS = re.compile(
    r"\b(?:the issue|this issue|as asked|the bar|reviewer|the review)(?:\b|'s)", re.I)


@dataclass(frozen=True)
class Finding:
    where: str  # "cell 12, line 3" or "line 40"
    rule: str
    text: str

    def __str__(self) -> str:
        return f"{self.where}: {self.rule}: {self.text.strip()[:160]}"


def _blank(match: re.Match) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


def typed_numbers(markdown: str, where: str = "") -> list[Finding]:
    """Measured-looking numbers in `markdown` that are neither glued, code, math nor cited."""
    hidden = markdown
    for pattern in _HIDDEN:
        hidden = pattern.sub(_blank, hidden)
    found = []
    for i, (line, original) in enumerate(
            zip(hidden.splitlines(), markdown.splitlines(), strict=True), 1):
        if original.lstrip().startswith("#") or CITED.search(original):
            continue
        for allowed in ALLOWED:
            line = allowed.sub(_blank, line)
        taken: list[tuple[int, int]] = []
        for rule, pattern in MEASURED.items():
            for m in pattern.finditer(line):
                if any(a < m.end() and m.start() < b for a, b in taken):
                    continue
                taken.append(m.span())
                found.append(Finding(f"{where}line {i}", f"typed {rule} {m.group(0)!r}",
                                     original))
    return found


def process_words(markdown: str, where: str = "") -> list[Finding]:
    """Words about how the book is made ("the issue", "as asked", "the bar")."""
    return [Finding(f"{where}line {i}", f"process word {m.group(0)!r}", line)
            for i, line in enumerate(markdown.splitlines(), 1)
            for m in PROCESS_WORDS.finditer(line)]


# --- code -------------------------------------------------------------------------------------

CAP_NAME = re.compile(r"(?:^|_)(?:steps|episodes|budget|max|cap|limit|total|iters?|epochs)"
                      r"(?:$|_)", re.I)
TIME_NAME = re.compile(r"(?:^|_)(?:time|times|secs?|seconds|elapsed|duration|ms|wall|runtime)"
                       r"(?:$|_)", re.I)
RATIO_NAME = re.compile(r"ratio|speed_?up|slowdown|relative|fraction", re.I)
SAME_ARGS = {"allclose", "isclose", "equal", "array_equal", "assert_close", "assert_allclose",
             "assert_array_equal", "approx"}


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _name(node.func)
    if isinstance(node, ast.Subscript):
        return _name(node.value)
    return ""


def _number(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _number(node.operand)
        return None if value is None else -value
    return None


def _loop_caps(tree: ast.AST) -> tuple[set[float], set[str]]:
    """Numbers that cap a loop (range(N), steps=N, total_steps = N) and names that hold them."""
    numbers: set[float] = set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) == "range" and node.args:
            stop = node.args[1] if len(node.args) > 1 else node.args[0]
            if _number(stop) is not None:
                numbers.add(_number(stop))  # type: ignore[arg-type]
            elif _name(stop) and not isinstance(stop, ast.Call):
                names.add(_name(stop))
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg and CAP_NAME.search(kw.arg) and _number(kw.value) is not None:
                    numbers.add(_number(kw.value))  # type: ignore[arg-type]
                    names.add(kw.arg)
        if isinstance(node, ast.Assign) and _number(node.value) is not None:
            for target in node.targets:
                if CAP_NAME.search(_name(target)):
                    numbers.add(_number(node.value))  # type: ignore[arg-type]
                    names.add(_name(target))
    return numbers, names


def _comparisons(test: ast.AST):
    """(left, op, right) for every comparison in an assert's test, chains split."""
    for node in ast.walk(test):
        if isinstance(node, ast.Compare):
            left = node.left
            for op, right in zip(node.ops, node.comparators, strict=True):
                yield left, op, right
                left = right


def weak_asserts(source: str, where: str = "", caps: tuple[set[float], set[str]] | None = None
                 ) -> list[Finding]:
    """Asserts that cannot fail, in one cell or module of Python source."""
    source = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                       for line in source.splitlines())
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        return [Finding(where, "syntax error", str(err))]
    numbers, names = caps if caps is not None else _loop_caps(tree)
    lines = source.splitlines()
    found = []

    def flag(node: ast.AST, rule: str) -> None:
        found.append(Finding(f"{where}line {node.lineno}", rule, lines[node.lineno - 1]))

    for handler in (n for n in ast.walk(tree) if isinstance(n, ast.ExceptHandler)):
        for node in ast.walk(handler):
            if isinstance(node, ast.Assert):
                flag(node, "assert inside except (use aibook.claims.raises)")
    for node in (n for n in ast.walk(tree) if isinstance(n, ast.Try)):
        # A demonstration `try: bad() except E: print(err)` checks nothing when no error comes.
        if not any(isinstance(x, (ast.Raise, ast.Assert))
                   for h in node.handlers for x in ast.walk(h)):
            flag(node, "try/except that swallows the error (use aibook.claims.raises)")
    for node in (n for n in ast.walk(tree) if isinstance(n, ast.Assert)):
        if isinstance(node.test, ast.Constant) and node.test.value:
            flag(node, "assert of a constant")
        for left, op, right in _comparisons(node.test):
            if ast.dump(left) == ast.dump(right):
                flag(node, "tautology: the same expression on both sides")
            small, big = (left, right) if isinstance(op, (ast.Lt, ast.LtE)) else \
                (right, left) if isinstance(op, (ast.Gt, ast.GtE)) else (None, None)
            if big is not None:
                # small numbers (a count of classes, a grid size) are rarely a loop's cap
                if (_number(big) is not None and _number(big) in numbers
                        and _number(big) >= 100) or \
                        (_number(big) is None and _name(big) in names and
                         not isinstance(big, ast.Call)):
                    flag(node, "bounded by its loop's own cap")
                if _number(big) is not None and TIME_NAME.search(_name(small)) \
                        and not RATIO_NAME.search(_name(small)):
                    flag(node, "timing variable against a literal (belongs in benchmarks/)")
        for call in (n for n in ast.walk(node.test) if isinstance(n, ast.Call)):
            if _name(call.func) in SAME_ARGS and len(call.args) >= 2 \
                    and ast.dump(call.args[0]) == ast.dump(call.args[1]):
                flag(node, "tautology: a value compared with itself")
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        if _name(call.func) in {"assert_close", "assert_allclose", "assert_array_equal"} \
                and len(call.args) >= 2 and ast.dump(call.args[0]) == ast.dump(call.args[1]):
            found.append(Finding(f"{where}line {call.lineno}",
                                 "tautology: a value compared with itself",
                                 lines[call.lineno - 1]))
    return found


# --- notebooks --------------------------------------------------------------------------------

def under_standard(path: Path) -> bool:
    """Whether a chapter declares itself under the evidence standard (notebook metadata)."""
    meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    return bool(meta.get("aibook", {}).get("evidence_standard"))


def lint_notebook(path: Path, *, prose: bool = True, code: bool = True) -> list[Finding]:
    """Every finding of the lints in one notebook (cells numbered from 0)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
               for c in cells]
    code_cells = [s for c, s in zip(cells, sources, strict=True) if c["cell_type"] == "code"]
    joined = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                       for s in code_cells for line in s.splitlines())
    try:
        caps = _loop_caps(ast.parse(joined))
    except SyntaxError:
        caps = (set(), set())
    found = []
    for i, (cell, source) in enumerate(zip(cells, sources, strict=True)):
        where = f"cell {i}, "
        if cell["cell_type"] == "markdown":
            found += process_words(source, where)
            if prose:
                found += typed_numbers(source, where)
        elif cell["cell_type"] == "code":
            found += process_words(source, where)  # comments and printed text speak too
            if code:
                found += weak_asserts(source, where, caps)
    return found
