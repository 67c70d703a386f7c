"""NT-Xent as one matrix product against its loop, and a SimCLR step against a supervised one.

    python -m benchmarks.ssl      # ~50 s on 2 cores; writes benchmarks/ssl.json

From the self-supervised chapter (`aibook.ssl`), ratios measured side by side in one run:

- NT-Xent: `aibook.ssl.nt_xent` (one (2N, 2N) product, the diagonal masked) against
  `aibook.ssl.nt_xent_loop` (the definition: a Python loop over the (2N)^2 pairs), forward
  and backward, on projections z1, z2 of shape (N, 16), N = 16 and 64 (the loop is O(N^2)
  Python-level operations, so N stays small). The record says whether the two losses, and
  their gradients, agree to 1e-5.
- Training throughput, in signals per second (batch / the median time of one step), at batch
  128 on the MNIST-1D training signals (`aibook.ssl.mnist1d().X_train`): one SimCLR step
  (two augmented views, `Encoder1D` + `projection_head`, `nt_xent`, backward, Adam step, as in
  `train_simclr`) against one supervised step of `aibook.ssl.efficiency.SupervisedCNN` (the
  same encoder with a linear classifier; cross-entropy, backward, Adam step).

numpy's BLAS and torch each run on one thread (`aibook.timing.single_thread`). Every number is
a median over alternating rounds after a warm-up (benchmarks/common.py).
"""

from __future__ import annotations

import gc
import json

import torch
import torch.nn.functional as F

from aibook.ssl import Encoder1D, augment, mnist1d, nt_xent, nt_xent_loop, projection_head
from aibook.ssl.efficiency import SupervisedCNN
from benchmarks.common import compare, write_record

LOSS_SIZES = (16, 64)  # N signals, 2N views: the loop makes (2N)^2 Python-level dot products
LOSS_REPEATS = {16: 7, 64: 5}  # the loop at N = 64 lasts seconds: the fewest rounds
LOSS_WARMUP = {16: 2, 64: 1}
DIM = 16  # the projection head's output size
TAU = 0.5
TOLERANCE = 1e-5
BATCH = 128  # SimCLRConfig.batch_size
LR = 3e-3
REPEATS = 21  # one training step lasts milliseconds: take many rounds


def _loss_and_grads(loss_fn, z1: torch.Tensor, z2: torch.Tensor):
    loss = loss_fn(z1, z2, TAU)
    return loss, torch.autograd.grad(loss, (z1, z2))


def nt_xent_race(n: int, repeats: int) -> dict:
    """Forward + backward of both forms of NT-Xent on (n, DIM) projections, and their agreement."""
    gen = torch.Generator().manual_seed(n)
    z1 = torch.randn(n, DIM, generator=gen).requires_grad_()
    z2 = torch.randn(n, DIM, generator=gen).requires_grad_()
    last: dict[str, tuple] = {}  # each form's last output: the agreement costs no extra run

    def timed(name, loss_fn):
        def run():
            loss, grads = _loss_and_grads(loss_fn, z1, z2)
            last[name] = (loss.detach(), grads)  # no autograd graph outlives its round
        return run

    # The loop allocates some 10^5 autograd objects per run; Python's cyclic garbage collector
    # would then run inside whichever round comes next, and charge the matrix form for it.
    gc.collect()
    gc.disable()
    try:
        race = compare({"loop": timed("loop", nt_xent_loop), "matrix": timed("matrix", nt_xent)},
                       repeats=repeats, warmup=LOSS_WARMUP[n])
    finally:
        gc.enable()
    (loss_m, grads_m), (loss_l, grads_l) = last["matrix"], last["loop"]
    loss_diff = abs(loss_m.item() - loss_l.item())
    grad_diff = max((a - b).abs().max().item() for a, b in zip(grads_m, grads_l, strict=True))
    return {"n": n, "dim": DIM, **race,
            "speedup": 1 / race["matrix"]["ratio_to_loop"],  # median of the per-round ratios
            "loss_matrix": loss_m.item(), "loss_loop": loss_l.item(),
            "loss_abs_diff": loss_diff, "grad_max_abs_diff": grad_diff,
            "losses_agree": loss_diff <= TOLERANCE, "grads_agree": grad_diff <= TOLERANCE}


def throughput_race(repeats: int) -> dict:
    """One SimCLR step against one supervised step, both at BATCH signals, Adam."""
    split = mnist1d()
    X, y = split.X_train, split.y_train
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    f = Encoder1D(length=X.shape[1])
    g = projection_head(f.dim, d_out=DIM)
    opt_ssl = torch.optim.Adam([*f.parameters(), *g.parameters()], lr=LR)
    model = SupervisedCNN(length=X.shape[1])
    opt_sup = torch.optim.Adam(model.parameters(), lr=LR)

    def simclr_step():
        xb = X[torch.randint(len(X), (BATCH,), generator=gen)]
        loss = nt_xent(g(f(augment(xb, gen))), g(f(augment(xb, gen))), TAU)
        opt_ssl.zero_grad()
        loss.backward()
        opt_ssl.step()

    def supervised_step():
        idx = torch.randint(len(X), (BATCH,), generator=gen)
        loss = F.cross_entropy(model(X[idx]), y[idx])
        opt_sup.zero_grad()
        loss.backward()
        opt_sup.step()

    race = compare({"supervised": supervised_step, "simclr": simclr_step}, repeats=repeats)
    for record in race.values():
        record["signals_per_s"] = BATCH / record["median_s"]
    return {"batch": BATCH, "train_signals": len(X), **race,
            # = SimCLR's step time / the supervised one's, median of the per-round ratios
            "supervised_over_simclr_throughput": race["simclr"]["ratio_to_supervised"]}


def measure(repeats: int = REPEATS) -> dict:
    """The NT-Xent race at every N in LOSS_SIZES and the training-step race."""
    return {"tau": TAU, "tolerance": TOLERANCE,
            "nt_xent": {str(n): nt_xent_race(n, LOSS_REPEATS[n]) for n in LOSS_SIZES},
            "training_step": throughput_race(repeats)}


def main() -> dict:
    record = write_record("ssl", lambda: measure(REPEATS), repeats=REPEATS)
    loss = {n: {"speedup": round(r["speedup"], 1), "losses_agree": r["losses_agree"],
                "grads_agree": r["grads_agree"]} for n, r in record["nt_xent"].items()}
    step = record["training_step"]
    print(json.dumps({"nt_xent": loss,
                      "signals_per_s": {name: round(step[name]["signals_per_s"])
                                        for name in ("supervised", "simclr")},
                      "supervised_over_simclr": round(step["supervised_over_simclr_throughput"],
                                                      2),
                      "seconds": record["seconds"]}, indent=1))
    return record


if __name__ == "__main__":
    main()
