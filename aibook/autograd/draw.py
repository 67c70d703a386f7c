"""Draw the computational graph of a small expression with matplotlib (no graphviz needed).

Works for any node with `data`, `grad`, `_prev`, `_op` (and optionally `label`):
`Value`s, or the notebook's own engine. Inputs are on the left, the output on
the right; each value is a box "label | data | grad", each operation a circle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aibook.autograd.scalar import topological_order

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _fmt(x) -> str:
    try:
        return f"{float(x):.4g}"
    except (TypeError, ValueError):
        return "-" if x is None else f"shape {getattr(x, 'shape', '?')}"


def draw_graph(root, *, show_grad: bool = True, ax=None, max_nodes: int = 60) -> Figure:
    """Draw the graph that ends at `root`. Returns the Figure."""
    import matplotlib.pyplot as plt  # imported here so that `import aibook.autograd` stays light

    order = topological_order(root)
    if len(order) > max_nodes:
        raise ValueError(f"draw_graph: the graph has {len(order)} nodes; it is meant for "
                         f"small expressions (at most {max_nodes})")
    # column = length of the longest path from an input; op circles sit half a column left
    col: dict[int, int] = {}
    for node in order:
        col[id(node)] = 1 + max((col[id(p)] for p in node._prev), default=-1)
    for node in reversed(order):  # move each input just left of its first consumer
        if not node._prev and node is not root:
            col[id(node)] = min(col[id(c)] for c in order if any(p is node for p in c._prev)) - 1
    columns: dict[int, list] = {}
    for node in order:
        columns.setdefault(col[id(node)], []).append(node)
    # rows: spread each column, ordered by the mean row of the node's inputs
    row: dict[int, float] = {}
    for c in sorted(columns):
        nodes = columns[c]
        key = {id(n): (sum(row[id(p)] for p in n._prev) / len(n._prev) if n._prev else i)
               for i, n in enumerate(nodes)}
        nodes.sort(key=lambda n: key[id(n)])
        for i, n in enumerate(nodes):
            row[id(n)] = i - (len(nodes) - 1) / 2
    shift = min(columns)
    col = {k: c - shift for k, c in col.items()}
    n_cols = max(columns) - shift + 1
    n_rows = max(len(v) for v in columns.values())
    if ax is None:
        fig, ax = plt.subplots(figsize=(min(1.9 * n_cols + 0.5, 12), 0.75 * n_rows + 0.8))
    else:
        fig = ax.figure
    dx = 2.0  # data units between columns; an op circle sits between its inputs and its box
    box = dict(boxstyle="round,pad=0.3", fc="#eef3fb", ec="#4a6fa5")
    circle = dict(boxstyle="circle,pad=0.2", fc="#fde9d9", ec="#c0504d")
    arrow = dict(arrowstyle="->", color="#555", shrinkA=2, shrinkB=2)
    artists = {}
    for n in order:
        lines = [getattr(n, "label", "") or "", f"data {_fmt(n.data)}"]
        if show_grad:
            lines.append(f"grad {_fmt(n.grad)}")
        artists[id(n)] = ax.text(col[id(n)] * dx, -row[id(n)], "\n".join(l for l in lines if l),
                                 ha="center", va="center", fontsize=8, bbox=box, zorder=3)
    for n in order:
        if not n._prev:
            continue
        x, y = col[id(n)] * dx, -row[id(n)]
        op = ax.text(x - 0.42 * dx, y, n._op or "?", ha="center", va="center", fontsize=8,
                     bbox=circle, zorder=3)
        ax.annotate("", xy=(0, 0.5), xycoords=artists[id(n)], xytext=(1, 0.5), textcoords=op,
                    arrowprops=arrow)
        for p in n._prev:
            ax.annotate("", xy=(0, 0.5), xycoords=op, xytext=(1, 0.5),
                        textcoords=artists[id(p)], arrowprops=arrow)
    ax.set_xlim(-0.6 * dx, (n_cols - 1) * dx + 0.6 * dx)
    ax.set_ylim(-(n_rows / 2) - 0.1, n_rows / 2 + 0.1)
    ax.axis("off")
    fig.tight_layout()
    return fig
