import ipywidgets as widgets
import matplotlib.pyplot as plt
import pytest

from aibook.widgets import explorer


def test_explorer_builds_controls_and_redraws_on_change():
    calls = []

    def draw(lr, kind):
        calls.append((lr, kind))
        fig, ax = plt.subplots()
        ax.set_title(f"{kind} {lr}")
        return fig

    ui = explorer(draw, show=False, lr=(0.1, 1.0, 0.1), kind=["edge", "blur"])
    sliders = [c for c in ui.children if isinstance(c, widgets.FloatSlider)]
    dropdowns = [c for c in ui.children if isinstance(c, widgets.Dropdown)]
    assert len(sliders) == 1 and len(dropdowns) == 1
    assert calls[-1][1] == "edge"
    dropdowns[0].value = "blur"
    assert calls[-1][1] == "blur"
    assert ui.result.axes[0].get_title().startswith("blur")


def test_explorer_rejects_missing_controls_and_non_callables():
    with pytest.raises(ValueError, match="give at least one control"):
        explorer(lambda: None, show=False)
    with pytest.raises(TypeError, match="draw must be callable, got int"):
        explorer(3, show=False, lr=(0, 1))


def test_explorer_starts_each_control_at_draw_defaults():
    # The website shows the figure of the first draw, so it must be the text's default case.
    def draw(lr=0.1, k=10, kind="blur"):
        fig, ax = plt.subplots()
        ax.set_title(f"{lr} {k} {kind}")
        return fig

    ui = explorer(draw, show=False, lr=(0.01, 1.0, 0.01), k=[1, 5, 10], kind=["edge", "blur"])
    values = {c.description: c.value for c in ui.children if hasattr(c, "description")
              and c.description}
    assert values == {"lr": 0.1, "k": 10, "kind": "blur"}
    assert ui.result.axes[0].get_title() == "0.1 10 blur"
