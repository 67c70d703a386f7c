"""Run every benchmark and write benchmarks/results.json and benchmarks/results.md.

    python -m benchmarks.run                 # engines, convolution, MiniLM int8 (~3 min)
    python -m benchmarks.run --notebooks 5   # also every chapter, 5 times each (~1 h on 2 cores)

Every timing is a median of >= 5 runs after a warm-up; each comparison alternates its
contenders in one process (benchmarks/common.py). The book's Results page shows
results.json, so the numbers it quotes are the ones measured here.

Library comparisons run on their own and keep their own records: `python -m
benchmarks.transformer` (benchmarks/transformer.json), `python -m benchmarks.robust`
(our attacks against ART's, in images per second; benchmarks/robust.json), `python -m
benchmarks.distributed` (our all-reduce against `dist.all_reduce`, a DDP step against one
process; benchmarks/distributed.json) and `python -m benchmarks.ssl` (NT-Xent as one matrix
product against its loop, a SimCLR step against a supervised one, in signals per second;
benchmarks/ssl.json).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from aibook import autograd as ag
from aibook import data
from aibook.timing import single_thread
from benchmarks import im2col, minilm_int8, notebooks
from benchmarks.common import compare, machine

ROOT = Path(__file__).resolve().parent.parent

# ---- settings (as in the chapters) --------------------------------------------------------
MLP_SIZES = [64, 128, 10]  # the backpropagation chapter's digits MLP
BATCH = 128  # rows of digits per training step
SCALAR_SIZES = [2, 16, 16, 1]  # backprop chapter's moons MLP, small enough for Values
SCALAR_BATCH = 32
REPEATS = 7


def ch1_tensor_vs_torch(repeats: int) -> dict:
    """One SGD step (forward, cross-entropy, backward, update) of the same float32 MLP."""
    split = data.digits(seed=0)
    X = split.X_train[:BATCH].numpy().astype(np.float32)
    y = split.y_train[:BATCH].numpy()
    ours = ag.MLP(MLP_SIZES, seed=0, dtype=np.float32)
    opt = ag.SGD(ours.parameters(), lr=0.1)
    theirs = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                 torch.nn.Linear(128, 10))
    topt = torch.optim.SGD(theirs.parameters(), lr=0.1)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y).long()

    def torch_step():
        topt.zero_grad()
        F.cross_entropy(theirs(Xt), yt).backward()
        topt.step()

    return compare({"torch": torch_step, "tensor": lambda: ag.train_step(ours, opt, X, y)},
                   repeats=repeats)


def ch1_value_vs_tensor(repeats: int) -> dict:
    """Forward and backward of a squared-error loss over one batch of moons, both engines."""
    split = data.moons(seed=0)
    X = split.X_train[:SCALAR_BATCH].numpy().astype(np.float64)
    y = split.y_train[:SCALAR_BATCH].numpy().astype(np.float64)
    scalar = ag.ScalarMLP(SCALAR_SIZES, seed=0)
    tensor = ag.MLP(SCALAR_SIZES, seed=0)
    rows = [list(map(float, r)) for r in X]

    def value_step():
        scalar.zero_grad()
        loss = sum((scalar(r)[0] - t) ** 2 for r, t in zip(rows, y, strict=True))
        loss.backward()

    def tensor_step():
        tensor.zero_grad()
        ag.mse(tensor(ag.Tensor(X)), y.reshape(-1, 1)).backward()

    return compare({"tensor": tensor_step, "value": value_step}, repeats=repeats)


def records(args: argparse.Namespace) -> list[dict]:
    rows: list[dict] = []

    def add(chapter, name, value, unit="", goal=""):
        rows.append({"chapter": chapter, "name": name, "value": float(value), "unit": unit,
                     "anchor": goal})
        print(f"{chapter} · {name}: {value:.4g} {unit}  {goal}", flush=True)

    with single_thread():  # numpy's BLAS and torch each on one thread: like for like
        t = ch1_tensor_vs_torch(args.repeats)
    add("backprop", f"Tensor engine / PyTorch, one training step of MLP {MLP_SIZES} "
        f"on {BATCH} digits, one thread each", t["tensor"]["ratio_to_torch"], "×", "goal ≤ 2×")
    add("backprop", "PyTorch training step", t["torch"]["median_s"] * 1e3, "ms")
    t = ch1_value_vs_tensor(args.repeats)
    add("backprop", f"Value engine / Tensor engine, forward+backward of MLP {SCALAR_SIZES} "
        f"on {SCALAR_BATCH} points", t["value"]["ratio_to_tensor"], "×")
    c = im2col.measure(args.repeats)  # one thread each; benchmarks/im2col.py checks the claims
    add("cnn", f"im2col / F.conv2d, forward+backward, x {im2col.X_SHAPE}, W {im2col.W_SHAPE}, "
        "one thread each", c["ratio"], "×", f"goal ≤ {im2col.MAX_RATIO:g}×")
    add("cnn", "F.conv2d forward+backward", c["conv2d_s"] * 1e3, "ms")
    add("cnn", "im2col + col2im copies / the three matrix products, same layer",
        c["copies_over_gemms"], "×", "the chapter: between ½× and 2×")
    m = minilm_int8.measure(args.repeats)
    recipes = (("plain", "every Linear int8"), ("careful", "the chapter's careful int8"))
    for recipe, label in recipes:
        add("compression", f"MiniLM fp32 / int8 state size, {label}", m[f"{recipe}_size_ratio"],
            "×", "goal ≥ 1.5×")
        for batch in (1, 32):
            add("compression", f"MiniLM int8 speed-up over fp32, batch {batch}, {label}",
                m[f"{recipe}_batch{batch}_speedup"], "×", "goal ≥ 1.5×" if batch == 32 else "")
        add("compression", f"MiniLM int8 vs fp32 embeddings of 200 tweets, mean cosine, {label}",
            m[f"{recipe}_mean_cosine"], "", "goal ≥ 0.97")
        add("compression", f"same, lowest cosine, {label}", m[f"{recipe}_min_cosine"])
    if args.notebooks:
        nb = notebooks.measure(args.notebooks, build_site=args.site)
        for name, row in nb["chapters"].items():
            add(name, f"notebook time (median of {row['runs']})", row["median_s"], "s",
                "goal ≤ 180 s")
            add(name, "notebook kernel peak memory", row["peak_mib"], "MiB")
        add("book", "all chapters, total time", nb["book_total_s"], "s", "goal ≤ 900 s")
        if "site_build_s" in nb:
            add("book", "site build (jupyter-book, all notebooks executed)", nb["site_build_s"],
                "s")
    return rows


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [f"Measured {result['measured_at']} on {m['cpu']} ({m['cores']} cores, torch "
             f"{m['torch']} with {m['torch_threads']} threads, device {m['device']}).", "",
             "| chapter | benchmark | value | goal |", "| --- | --- | --- | --- |"]
    for r in result["results"]:
        lines.append(f"| {r['chapter']} | {r['name']} | {r['value']:.3g} {r['unit']} | "
                     f"{r['anchor']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=REPEATS, help="timed runs per median")
    parser.add_argument("--notebooks", type=int, default=0, metavar="N",
                        help="also run each chapter notebook N times (N >= 5 for a median)")
    parser.add_argument("--site", action="store_true", help="with --notebooks: time the build")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    result = {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(), "results": records(args)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "results.md").write_text(markdown(result))
    print(f"wrote {args.out / 'results.json'} and results.md")


if __name__ == "__main__":
    main()
