"""Interactive explorers: live sliders in Jupyter and Colab, a still figure on the website.

`explorer(draw, lr=(0.01, 1.0, 0.01), ...)` wraps ipywidgets.interactive: every
keyword becomes a control and `draw(**values)` returns a matplotlib Figure.
The executed notebook stores the widget's state together with the figure drawn
for the default values, so the static website shows that figure.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display
from matplotlib.figure import Figure


def explorer(draw: Callable[..., Figure | None], *, show: bool = True, **controls):
    """Build (and by default display) a widget that redraws `draw(**values)` on every change.

    controls: ipywidgets abbreviations, e.g. `lr=(0.01, 1.0, 0.01)` for a float
    slider, `kind=["edge", "blur"]` for a dropdown, or a ready-made widget.
    Returns the ipywidgets.interactive object (its `.result` is the last figure).
    """
    if not callable(draw):
        raise TypeError(f"explorer: draw must be callable, got {type(draw).__name__}")
    if not controls:
        raise ValueError("explorer: give at least one control, e.g. lr=(0.01, 1.0, 0.01)")

    # wraps() keeps draw's signature, so ipywidgets starts each control at draw's default
    # (and the still image on the website shows the case the text describes).
    @functools.wraps(draw)
    def _draw(**values):
        fig = draw(**values)
        if isinstance(fig, Figure):
            plt.show()  # renders into the widget's output area and releases the figure
        return fig

    ui = widgets.interactive(_draw, {"manual": False}, **controls)
    ui.layout = widgets.Layout(border="1px solid #ddd", padding="6px")
    if show:
        display(ui)
    return ui
