"""How a chapter states what it measured: `glue` numbers into the text, `raises` for errors.

- `glue(name, value)` stores a measured number under `name` so that the chapter's prose,
  the landing page and the Results page paste it with ``{glue:text}`name:.3f` `` (myst-nb's
  glue, the documented Jupyter Book 1 way). Prose never types a measured number in.
- `raises(ValueError, match="...")` checks that code fails as documented. Unlike an assert
  inside `except`, it fails when no error comes at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from aibook.stats import Interval

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def glue(name: str, value: object, *, display: bool = False) -> object:
    """Store `value` under `name` for ``{glue:text}`` roles; returns `value`.

    value: a number (int, float, numpy or 0-d torch scalar), a string, or a
    `stats.Interval`; an Interval also stores name_mean, name_lo and name_hi as numbers.
    Outside a Jupyter Book build (Colab, plain Jupyter) the value is stored in the cell's
    output all the same; without myst-nb installed, glue does nothing.
    """
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(f"glue: expected a name of letters, digits and _, got {name!r}")
    if isinstance(value, Interval):
        for part in ("mean", "lo", "hi"):
            glue(f"{name}_{part}", getattr(value, part))
        _glue(name, value.format(), display)
        return value
    if isinstance(value, str):
        _glue(name, value, display)
        return value
    try:
        number = float(value.item() if hasattr(value, "item") else value)  # type: ignore[union-attr]
    except (TypeError, ValueError) as err:
        raise TypeError(f"glue: {name!r} must be a number, a string or an Interval, got "
                        f"{type(value).__name__}") from err
    if not np.isfinite(number):
        raise ValueError(f"glue: {name!r} is not finite ({number}); a claim needs a number")
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    _glue(name, int(number) if is_int else number, display)
    return value


def _glue(name: str, value: object, display: bool) -> None:
    try:
        from myst_nb import glue as myst_glue  # the site's tooling; absent in Colab
    except ImportError:
        return
    myst_glue(name, value, display=display)


@contextmanager
def raises(kind: type[BaseException], match: str | None = None) -> Iterator[None]:
    """Fail unless the block raises `kind` whose message matches the regex `match`.

    >>> with raises(ValueError, match="do not align"):
    ...     A @ B
    """
    try:
        yield
    except kind as err:
        if match is not None and not re.search(match, str(err)):
            raise AssertionError(f"raised {type(err).__name__}({str(err)!r}), whose message "
                                 f"does not match {match!r}") from err
        print(f"{type(err).__name__}: {err}")  # the reader sees the message the code gives
        return
    raise AssertionError(f"expected {kind.__name__} to be raised, but nothing was raised")
