"""Checks the hidden tests run on a student's answer: that the answer is the student's own code.

An exercise asks the student to build something the package already has (`unbroadcast` in
`aibook.autograd.tensor`, the LoRA forward pass in `aibook.finetune`, ...). Importing it, or
wrapping it in a function of the same name, must not earn the question's points. Comparing
objects by identity catches the import but not the wrapper, so `own_work` watches what runs:
while the answer executes, a profile hook sees every Python frame and every C function called,
and any that belongs to a forbidden module fails the test with a message that names it.

Like everything that runs in the student's kernel, this is a check, not a wall: code that sets
out to defeat it can (the grader's flags column looks for such code). It does stop the honest
mistake and the easy shortcut.
"""

from __future__ import annotations

import functools
import linecache
import sys
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any


def _forbidden(module: str | None, prefixes: tuple[str, ...]) -> bool:
    return bool(module) and any(module == p or module.startswith(p + ".") for p in prefixes)


def own_work(fn: Callable[..., Any], forbid: Iterable[str] = ("aibook",),
             question: str = "") -> Callable[..., Any]:
    """Wrap the student's `fn` so that each call fails if code from a `forbid` module runs.

    forbid: module prefixes ("aibook" also covers "aibook.autograd.tensor"); question: named
    in the failure message. Returns a function with fn's signature and results."""
    prefixes = tuple(forbid)
    if not callable(fn):
        raise AssertionError(f"{question or 'the answer'}: expected a function, got "
                             f"{type(fn).__name__}")
    name = getattr(fn, "__name__", repr(fn))
    where = getattr(fn, "__module__", None)
    if _forbidden(where, prefixes):
        raise AssertionError(f"{question or name}: `{name}` is {where}.{name} from the library; "
                             "write your own (the library's version does not count)")

    @functools.wraps(fn)
    def watched(*args: Any, **kwargs: Any) -> Any:
        seen: list[str] = []

        def hook(frame: FrameType, event: str, arg: Any) -> None:
            if seen:
                return
            if event == "call":
                module = frame.f_globals.get("__name__")
                if _forbidden(module, prefixes):
                    what = frame.f_code.co_name
                    seen.append(f"the import of {module}" if what == "<module>"
                                else f"{module}.{what}")
            elif event == "c_call":
                module = getattr(arg, "__module__", None)
                if _forbidden(module, prefixes):
                    seen.append(f"{module}.{getattr(arg, '__name__', '?')}")

        previous = sys.getprofile()
        sys.setprofile(hook)
        try:
            result = fn(*args, **kwargs)
        except Exception as err:
            _point_at_your_line(err, fn, name)
            raise
        finally:
            still_ours = sys.getprofile() is hook
            sys.setprofile(previous)
        if not still_ours:
            raise AssertionError(f"{question or name}: the answer changed the profiler that "
                                 "checks it is your own work")
        if seen:
            banned = ", ".join(f"`{p}`" for p in prefixes)
            raise AssertionError(f"{question or name}: your `{name}` runs library code "
                                 f"({seen[0]}); write your own, without {banned}")
        return result

    return watched


def _point_at_your_line(err: Exception, fn: Callable[..., Any], name: str) -> None:
    """Add the student's own line to the message of an error their answer raised.

    Otter's feedback shows only the test's line; the line that matters is the deepest one in
    the student's code. The type is kept (a test may expect a ValueError), and the text goes
    into the message itself, since otter prints str(err) and not the traceback's notes."""
    home = getattr(fn, "__globals__", None)
    found = None
    tb = err.__traceback__
    while tb is not None:
        if home is not None and tb.tb_frame.f_globals is home:
            found = tb
        tb = tb.tb_next
    if found is None:
        return
    code = found.tb_frame.f_code
    line = linecache.getline(code.co_filename, found.tb_lineno).strip()
    where = "" if code.co_name == getattr(fn, "__name__", "") else f" (in {code.co_name})"
    note = f"[raised in your `{name}`{where} at: {line or f'line {found.tb_lineno}'}]"
    if err.args and isinstance(err.args[0], str):
        err.args = (f"{err.args[0]} {note}", *err.args[1:])
    elif not err.args:
        err.args = (note,)
    else:
        err.add_note(note)
