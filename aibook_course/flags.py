"""Flags for a gradebook row: a static scan of a submission's code cells for the cheats that
code running in the grading kernel could use (patching otter, reading the tests' frames,
writing under tests/, reassigning library functions the tests call). A flag is a signal
for the instructor, not a verdict: see book/instructors.md for what it cannot see."""

from __future__ import annotations

import ast
import re

from aibook_course.cells import grader_cell_source

FRAME_NAMES = {"_getframe", "f_back", "f_locals", "f_globals", "tb_frame", "currentframe",
               "get_referrers", "get_objects", "settrace", "setprofile"}
GRADER_METHODS = {"check", "check_all", "export"}
TESTS_PATH = re.compile(r"(^|[\\/])tests([\\/]|$)")


def _grader_cell_ast(source: str) -> str | None:
    """The grader cell's AST without its PUBLIC_TESTS and _notebook values, or None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id in {"PUBLIC_TESTS", "_notebook"}):
            node.value = ast.Constant(None)
    return ast.dump(tree)


def _is_grader_cell(source: str) -> bool:
    """True when `source` is exactly the grader cell that `exercises build` writes."""
    return "PUBLIC_TESTS = {" in source and (
        _grader_cell_ast(source) == _grader_cell_ast(grader_cell_source("x", {})))


def _cell_python(source: str) -> str:
    """A cell's source as Python (IPython's `!cmd` and `%magic` become calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # IPython missing or confused: scan the raw text
        return source


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:
        return "?"


def _scan_cell(tree: ast.AST, modules: set[str]) -> list[str]:
    """Suspicious uses in one parsed cell; `modules` holds the names bound by imports."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                node.module or ""]
            for name in names:
                top = name.split(".")[0]
                if top == "otter":
                    found.append(f"imports {name}")
                if top in {"inspect", "ctypes"}:
                    found.append(f"imports {top}")
        elif isinstance(node, ast.Attribute):
            if node.attr in FRAME_NAMES:
                found.append(f"inspects frames ({_dotted(node)})")
            if (isinstance(node.value, ast.Name) and node.value.id == "grader"
                    and node.attr not in GRADER_METHODS):
                found.append(f"uses grader.{node.attr}")
        elif isinstance(node, ast.Call):
            func = _dotted(node.func)
            if func in {"exec", "eval", "compile", "__import__", "importlib.import_module"}:
                found.append(f"runs dynamic code ({func})")
            if func in {"setattr", "delattr"} and node.args and \
                    _root_name(node.args[0]) in modules:
                found.append(f"reassigns a library attribute ({func}({_dotted(node.args[0])}, "
                             "...))")
            if func.endswith("get_ipython().system") or func.endswith("get_ipython().getoutput"):
                found.append("runs shell commands (!cmd)")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if text == "otter" or text.startswith("otter."):
                found.append(f"names the otter module ('{text}')")
            if TESTS_PATH.search(text) and len(text) < 200:
                found.append(f"names the tests folder ('{text}')")
        targets = []
        if isinstance(node, (ast.Assign, ast.Delete)):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for t in (target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]):
                if isinstance(t, (ast.Attribute, ast.Subscript)) and (
                        _root_name(t) in modules or _root_name(t) in {"grader", "__builtins__"}):
                    found.append(f"reassigns {_dotted(t)}")
    return found


def scan_flags(nb: dict) -> list[str]:
    """Suspicious code in a notebook's code cells (the book's own grader cell excepted).

    A flag is a reason to read the code, not a verdict: `exec` or `inspect` can be innocent.
    Cells otter's find_spec check uses ('otter' as a string in the install cell) are fine."""
    flags: list[str] = []
    modules: set[str] = {"builtins", "sys"}
    cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    sources = ["".join(c.get("source", "")) if isinstance(c.get("source"), list)
               else str(c.get("source", "")) for c in cells]
    parsed = []
    for source in sources:
        if _is_grader_cell(source):
            continue
        try:
            tree = ast.parse(_cell_python(source))
        except SyntaxError:
            tree = None
        parsed.append((source, tree))
        for node in ast.walk(tree) if tree else []:
            if isinstance(node, ast.Import):
                modules |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                modules |= {a.asname or a.name for a in node.names}
    for source, tree in parsed:
        if tree is None:  # a syntax error: look for the telling words in the text
            flags += [f"mentions {w} (in a cell that does not parse)"
                      for w in ("otter", "_getframe", "inspect", "f_back")
                      if re.search(rf"\b{w}\b", source)]
            continue
        # the install cell asks find_spec("otter"): that string is not a use of otter
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _dotted(node.func).endswith("find_spec"):
                node.args = []
        flags += _scan_cell(tree, modules)
    return list(dict.fromkeys(flags))
