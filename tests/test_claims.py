"""aibook.claims: glue stores what the site pastes; raises fails when nothing is raised."""

import numpy as np
import pytest
import torch
from IPython.core.interactiveshell import InteractiveShell

from aibook import claims, stats


@pytest.fixture
def shown(monkeypatch):
    """What myst-nb's glue displays: (mimebundle, metadata) pairs."""
    out = []
    monkeypatch.setattr("IPython.core.display_functions.publish_display_data",
                        lambda data, metadata=None, **k: out.append((data, metadata)))
    InteractiveShell.instance()  # glue formats through the running shell's formatters
    return out


def _glued(shown) -> dict[str, str]:
    found = {}
    for data, meta in shown:
        name = meta["scrapbook"]["name"]
        found[name] = data["application/papermill.record/text/plain"]
    return found


def test_glue_numbers_strings_and_intervals(shown):
    assert claims.glue("acc", np.float32(0.5)) == np.float32(0.5)
    claims.glue("steps", 1200)
    claims.glue("scalar", torch.tensor(0.25))
    claims.glue("label", "hello")
    ci = stats.mean_ci([1.0, 2.0, 3.0])
    claims.glue("ci", ci)
    g = _glued(shown)
    assert g["acc"] == "0.5" and g["steps"] == "1200" and g["scalar"] == "0.25"
    assert g["label"] == "'hello'"
    assert g["ci"] == repr(ci.format()) and float(g["ci_lo"]) == pytest.approx(ci.lo)
    assert float(g["ci_mean"]) == 2.0 and float(g["ci_hi"]) == pytest.approx(ci.hi)


@pytest.mark.parametrize(("name", "value", "kind", "message"), [
    ("bad name", 1.0, ValueError, "letters, digits and _"),
    ("x", float("nan"), ValueError, "not finite"),
    ("x", [1, 2], TypeError, "must be a number, a string or an Interval, got list"),
])
def test_glue_rejects_bad_input(name, value, kind, message):
    with pytest.raises(kind, match=message):
        claims.glue(name, value)


def test_raises_passes_on_the_expected_error_and_prints_it(capsys):
    with claims.raises(ValueError, match="do not align"):
        raise ValueError("matmul: shapes do not align")
    assert "ValueError: matmul: shapes do not align" in capsys.readouterr().out


def test_raises_fails_when_nothing_or_something_else_is_raised():
    with pytest.raises(AssertionError, match="nothing was raised"):
        with claims.raises(ValueError):
            pass
    with pytest.raises(AssertionError, match="does not match"):
        with claims.raises(ValueError, match="align"):
            raise ValueError("other text")
    with pytest.raises(KeyError):
        with claims.raises(ValueError):
            raise KeyError("k")
