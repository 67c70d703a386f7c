"""Import rules of the repository, checked with `ast` by tests/test_layout.py.

- The teaching library (`aibook`) imports nothing from the course tooling (`aibook_course`).
- No package imports in a cycle, counting imports placed inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> set[str]:
    """Every module that `path` imports, anywhere in the file (absolute names)."""
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..y import z
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return found


def graph(root: Path, packages: list[str]) -> dict[str, set[str]]:
    """module -> the modules of `packages` it imports (only modules that exist as files)."""
    files = {module_name(p, root): p for pkg in packages
             for p in sorted((root / pkg).rglob("*.py"))}
    return {name: {m for m in imports_of(path, root) if m in files and m != name}
            for name, path in files.items()}


def forbidden(root: Path, library: str, tooling: str) -> list[str]:
    """'library.module imports tooling.x' for every import across the boundary."""
    return sorted(f"{name} imports {m}" for name, path in
                  ((module_name(p, root), p) for p in (root / library).rglob("*.py"))
                  for m in imports_of(path, root)
                  if m == tooling or m.startswith(tooling + "."))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each import cycle once, as the list of modules around it (Tarjan's strongly connected
    components with more than one module, or a module that imports itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found
