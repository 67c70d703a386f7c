"""Our all-reduce against torch.distributed's, and a DDP step against one process, in one run.

    python -m benchmarks.distributed     # ~25 s on 2 cores; writes benchmarks/distributed.json

Everything distributed runs in ONE `aibook.distributed.launch` of 2 gloo ranks on 127.0.0.1,
one torch thread each:

- all-reduce: float32 messages of 8 bytes to 8 MB (4x apart); `ring_all_reduce` and
  `naive_all_reduce` against `dist.all_reduce`, alternating round by round
  (`aibook.distributed.lockstep_times`: a barrier before each run, the garbage collector off,
  and a run's time is the slower rank's). Per size: the medians, the median
  per-round ratio ours / torch, and the bus bandwidth (NCCL-tests: S / T * 2 (N - 1) / N).
  `aibook.distributed.fit_alpha_beta` fits time = a + b S to each contender's medians, and
  with `world_size=2` turns them into one message's alpha and beta (a ring makes 2 (N - 1)
  steps of S / N bytes: a = 2 (N - 1) alpha, b = 2 (N - 1) / N beta).
- a training step (zero_grad, forward, backward, SGD step) of a 64 -> 256 -> 256 -> 10 MLP on
  256 digits in all (`aibook.digits(0)`, 128 per rank): `DistributedDataParallel`, the same
  step under `no_sync()` (its compute alone), and a `dist.all_reduce` of the gradient's bytes
  (its communication alone), alternating. One process on the whole 256, with 1 and with 2
  threads, is timed in the parent (`benchmarks.common.compare`), outside the launch.

Every number is a median over alternating rounds after a warm-up (benchmarks/common.py). On
one machine the "network" is the loopback interface, and the ranks share its 2 cores: the
bandwidths here are those of memory copies through the kernel, not of a real network. The
ring's small-message times are bimodal on 2 busy cores: its sends are asynchronous
(`dist.isend`), handed to another thread, and that hand-off sometimes waits for a scheduler
slice (3-4 ms), so a median can land in either mode; `min_s` shows the fast one.
"""

from __future__ import annotations

import json
import statistics

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from aibook import digits
from aibook.distributed import (
    bus_bandwidth,
    fit_alpha_beta,
    launch,
    lockstep_times,
    naive_all_reduce,
    ring_all_reduce,
    shard,
)
from aibook.timing import ratio
from benchmarks.common import compare, write_record

WORLD_SIZE = 2
SIZES = [8 * 4**k for k in range(11)]  # bytes: 8 B, 32 B, ..., 8 MB (float32)
REPEATS = 41  # rounds per size after WARMUP: a busy 2-core machine disturbs many of them
WARMUP = 3
MLP_SIZES = [64, 256, 256, 10]
BATCH = 256  # in all: 128 per rank under DDP, all of it in the single process
STEP_REPEATS = 21
LR = 0.05
TIMEOUT = 300.0


def _mlp() -> nn.Sequential:
    """The MLP, drawn from its own generator: the same weights on every rank and the parent."""
    g = torch.Generator().manual_seed(0)
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(MLP_SIZES[:-1], MLP_SIZES[1:], strict=True):
        lin = nn.utils.skip_init(nn.Linear, fan_in, fan_out)
        with torch.no_grad():
            bound = 1 / fan_in**0.5
            lin.weight.copy_((torch.rand(lin.weight.shape, generator=g) * 2 - 1) * bound)
            lin.bias.copy_((torch.rand(lin.bias.shape, generator=g) * 2 - 1) * bound)
        layers += [lin, nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def _summary(times: dict[str, list[float]], base: str) -> dict:
    out = {}
    for name, t in times.items():
        out[name] = {"median_s": statistics.median(t), "min_s": min(t), "runs": len(t)}
        if name != base:
            out[name][f"ratio_to_{base}"] = ratio(t, times[base])
    return out


def _on_ranks(sizes: list[int], X: torch.Tensor, y: torch.Tensor) -> dict:
    """Runs on each rank: the all-reduce sweep, then the DDP step and its parts."""
    rank, n = dist.get_rank(), dist.get_world_size()
    sweep = {}
    for size in sizes:
        # zeros: the sums stay 0 however often they run (and adding 0 costs what adding x does)
        bufs = {name: torch.zeros(size // 4) for name in ("torch", "ring", "naive")}
        times = lockstep_times({"torch": lambda b=bufs: dist.all_reduce(b["torch"]),
                            "ring": lambda b=bufs: ring_all_reduce(b["ring"]),
                            "naive": lambda b=bufs: naive_all_reduce(b["naive"])},
                           warmup=WARMUP, repeats=REPEATS)
        sweep[size] = _summary(times, "torch")
    part = shard(len(X), rank, n)
    Xr, yr = X[part], y[part]
    ddp = DistributedDataParallel(_mlp())
    opt = torch.optim.SGD(ddp.parameters(), lr=LR)

    def step() -> None:
        opt.zero_grad()
        F.cross_entropy(ddp(Xr), yr).backward()
        opt.step()

    def compute_only() -> None:
        with ddp.no_sync():
            step()

    flat = torch.zeros(sum(p.numel() for p in ddp.parameters()))
    times = lockstep_times({"ddp_step": step, "no_sync_step": compute_only,
                        "all_reduce_gradient": lambda: dist.all_reduce(flat)},
                       warmup=WARMUP, repeats=STEP_REPEATS)
    return {"sweep": sweep, "ddp": _summary(times, "ddp_step"),
            "gradient_bytes": flat.numel() * flat.element_size(), "per_rank": len(Xr)}


def _single_process(X: torch.Tensor, y: torch.Tensor) -> dict:
    """One process, the whole batch, 1 thread against 2 threads (alternating)."""
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=LR)

    def step(threads: int) -> None:
        torch.set_num_threads(threads)
        opt.zero_grad()
        F.cross_entropy(model(X), y).backward()
        opt.step()

    before = torch.get_num_threads()
    try:
        return compare({"1_thread": lambda: step(1), "2_threads": lambda: step(2)},
                       repeats=STEP_REPEATS, warmup=WARMUP)
    finally:
        torch.set_num_threads(before)


def _fit(sweep: dict, name: str) -> dict:
    sizes = sorted(sweep)
    times = [sweep[s][name]["median_s"] for s in sizes]
    a, b = fit_alpha_beta(sizes, times)  # the line through the all-reduce times
    alpha, beta = fit_alpha_beta(sizes, times, world_size=WORLD_SIZE)  # per message (ring model)
    return {"intercept_s": a, "slope_s_per_byte": b, "alpha_s": alpha, "beta_s_per_byte": beta,
            "link_GB_per_s": 1 / beta / 1e9 if beta > 0 else None}


def measure() -> dict:
    split = digits(0)
    X, y = split.X_train[:BATCH].contiguous(), split.y_train[:BATCH].contiguous()
    ranks = launch(_on_ranks, WORLD_SIZE, SIZES, X, y, timeout=TIMEOUT, threads=1)[0]
    single = _single_process(X, y)
    sweep = ranks["sweep"]
    all_reduce = {}
    for size in SIZES:
        record = dict(sweep[size])
        record["bus_GB_per_s"] = {name: bus_bandwidth(size, r["median_s"], WORLD_SIZE) / 1e9
                                  for name, r in sweep[size].items()}
        all_reduce[str(size)] = record
    ddp = ranks["ddp"]
    step = ddp["ddp_step"]["median_s"]
    compute = ddp["no_sync_step"]["median_s"]
    return {
        "world_size": WORLD_SIZE, "threads_per_rank": 1, "message_bytes": SIZES,
        "all_reduce": all_reduce,
        "fit": {name: _fit(sweep, name) for name in ("torch", "ring", "naive")},
        "training_step": {
            "mlp": MLP_SIZES, "batch": BATCH, "per_rank": ranks["per_rank"],
            "gradient_bytes": ranks["gradient_bytes"], "ddp_2_ranks": ddp,
            "single_process": single,
            "split_s": {"step": step, "compute_no_sync": compute,
                        "exposed_communication": step - compute,
                        "all_reduce_gradient_alone": ddp["all_reduce_gradient"]["median_s"]},
            "speedup_over_1_thread": single["1_thread"]["median_s"] / step,
            "speedup_over_2_threads": single["2_threads"]["median_s"] / step,
        },
    }


def main() -> dict:
    # the ranks are processes with their own threads: this benchmark sets them itself
    record = write_record("distributed", measure, one_thread=False, repeats=REPEATS,
                          warmup=WARMUP)
    ratios = {size: {name: round(r[name]["ratio_to_torch"], 2) for name in ("ring", "naive")}
              for size, r in record["all_reduce"].items()}
    fit = record["fit"]["torch"]
    step = record["training_step"]
    print(json.dumps({
        "ours_over_torch": ratios,
        "torch_alpha_us": round(fit["alpha_s"] * 1e6, 1),
        "torch_beta_ns_per_byte": round(fit["beta_s_per_byte"] * 1e9, 4),
        "step_ms": {"ddp_2_ranks": round(step["split_s"]["step"] * 1e3, 2),
                    "ddp_compute_no_sync": round(step["split_s"]["compute_no_sync"] * 1e3, 2),
                    "all_reduce_gradient": round(step["split_s"]["all_reduce_gradient_alone"]
                                                 * 1e3, 2),
                    **{f"single_{k}": round(v["median_s"] * 1e3, 2)
                       for k, v in step["single_process"].items()}},
        "seconds": record["seconds"]}, indent=1))
    return record


if __name__ == "__main__":
    main()
