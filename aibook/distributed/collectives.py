"""All-reduce from scratch: the naive scheme and the ring, on ``dist.send``/``dist.recv``.

After an all-reduce of a tensor ``x`` (shape anything, ``S`` bytes) every one of the ``N`` ranks
holds the elementwise sum over ranks. Two ways to get there:

- **naive**: every rank sends its ``x`` to rank 0, which adds them and sends the sum back. Rank 0
  sends ``(N - 1) S`` bytes and receives as many: its link is the bottleneck, and the time grows
  with ``N``.
- **ring** (Sergeev and Del Balso 2018, Horovod): cut ``x`` into ``N`` chunks. In ``N - 1`` steps of
  *reduce-scatter* each rank sends one chunk to its right neighbour and adds the chunk that
  arrives from its left one; afterwards rank ``r`` holds the full sum of chunk ``(r + 1) % N``.
  In ``N - 1`` steps of *all-gather* the finished chunks travel once around the ring. Every rank
  sends ``2 (N - 1) / N * S`` bytes, almost independent of ``N``.

The index arithmetic (which chunk goes where at which step) is in plain functions, used both by
the real ring and by ``simulate_ring`` (one process, a list of buffers), which the tests and the
exercises use.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import torch
import torch.distributed as dist

__all__ = ["lockstep_times", "naive_all_reduce", "naive_bytes", "recv_chunk", "ring_all_reduce",
           "ring_bytes", "send_chunk", "simulate_ring"]


def send_chunk(rank: int, step: int, world_size: int, phase: str) -> int:
    """The chunk that ``rank`` sends to its right neighbour at ``step`` of a ring phase.

    ``phase`` is ``"reduce-scatter"`` (steps 0..N-2: send chunk ``(rank - step) % N``) or
    ``"all-gather"`` (steps 0..N-2: send the finished chunk ``(rank + 1 - step) % N``).
    """
    _check_phase(phase)
    shift = 0 if phase == "reduce-scatter" else 1
    return (rank + shift - step) % world_size


def recv_chunk(rank: int, step: int, world_size: int, phase: str) -> int:
    """The chunk that ``rank`` receives from its left neighbour: the one its neighbour sends."""
    return send_chunk((rank - 1) % world_size, step, world_size, phase)


def _check_phase(phase: str) -> None:
    if phase not in ("reduce-scatter", "all-gather"):
        raise ValueError(f"expected phase 'reduce-scatter' or 'all-gather', got {phase!r}")


def _flat(x: torch.Tensor, who: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who}: expected a torch.Tensor, got {type(x).__name__}")
    if not x.is_contiguous():
        raise ValueError(f"{who}: expected a contiguous tensor (it is reduced in place), "
                         f"got one with strides {x.stride()}")
    return x.view(-1)


def simulate_ring(buffers: list[torch.Tensor]) -> list[torch.Tensor]:
    """The ring all-reduce in one process: ``buffers[r]`` is rank ``r``'s tensor (all one shape).

    Returns new tensors, each the elementwise sum; the messages of one step are all read before
    any is applied, as they are in flight at the same time on a real ring.
    """
    if not buffers:
        raise ValueError("simulate_ring: expected one tensor per rank, got an empty list")
    shapes = {tuple(b.shape) for b in buffers}
    if len(shapes) != 1:
        raise ValueError(f"simulate_ring: expected every rank's tensor to have one shape, "
                         f"got {sorted(shapes)}")
    n = len(buffers)
    chunks = [list(torch.tensor_split(b.clone().reshape(-1), n)) for b in buffers]
    for phase in ("reduce-scatter", "all-gather"):
        for step in range(n - 1):
            sent = [chunks[r][send_chunk(r, step, n, phase)].clone() for r in range(n)]
            for r in range(n):
                c, incoming = recv_chunk(r, step, n, phase), sent[(r - 1) % n]
                if phase == "reduce-scatter":
                    chunks[r][c] += incoming
                else:
                    chunks[r][c].copy_(incoming)
    return [torch.cat(c).reshape(buffers[0].shape) for c in chunks]


def ring_all_reduce(x: torch.Tensor) -> int:
    """Sum ``x`` over all ranks, in place, with a ring; return the bytes this rank sent.

    ``x``: any shape, contiguous, the same shape and dtype on every rank. Call it on every rank.
    """
    flat = _flat(x, "ring_all_reduce")
    n, rank = dist.get_world_size(), dist.get_rank()
    right, left = (rank + 1) % n, (rank - 1) % n
    chunks = list(torch.tensor_split(flat, n))  # views into x: the result lands in place
    sent = 0
    for phase in ("reduce-scatter", "all-gather"):
        for step in range(n - 1):
            out, into = chunks[send_chunk(rank, step, n, phase)], recv_chunk(rank, step, n, phase)
            incoming = torch.empty_like(chunks[into])
            if out.numel():  # chunk sizes are known to both ends, so both skip empty chunks
                request = dist.isend(out.clone(), right)  # a copy: `out` may change under it
                sent += out.numel() * out.element_size()
            if incoming.numel():
                dist.recv(incoming, left)
                if phase == "reduce-scatter":
                    chunks[into] += incoming
                else:
                    chunks[into].copy_(incoming)
            if out.numel():
                request.wait()
    return sent


def naive_all_reduce(x: torch.Tensor) -> int:
    """Sum ``x`` over all ranks, in place, through rank 0; return the bytes this rank sent."""
    flat = _flat(x, "naive_all_reduce")
    n, rank = dist.get_world_size(), dist.get_rank()
    size = flat.numel() * flat.element_size()
    if rank == 0:
        incoming = torch.empty_like(flat)
        for source in range(1, n):
            dist.recv(incoming, source)
            flat += incoming
        for target in range(1, n):
            dist.send(flat, target)
        return (n - 1) * size
    dist.send(flat, 0)
    dist.recv(flat, 0)
    return size


def ring_bytes(size: int, world_size: int) -> float:
    """Bytes each rank sends in a ring all-reduce of ``size`` bytes: ``2 (N - 1) / N * size``."""
    return 2 * (world_size - 1) / world_size * size


def naive_bytes(size: int, world_size: int) -> int:
    """Bytes the busiest rank (rank 0) sends in the naive all-reduce: ``(N - 1) * size``."""
    return (world_size - 1) * size


def lockstep_times(fns: dict[str, Callable[[], object]], *, repeats: int = 5,
                   warmup: int = 2) -> dict[str, list[float]]:
    """Wall times in seconds of collective contenders, run on every rank at once, alternating.

    Call it on every rank with the same ``fns``. A barrier before each run starts the ranks
    together, so no rank's time includes waiting for a peer that was busy with something else;
    a run's time is the slowest rank's (every rank gets the same lists). The garbage collector
    is off while they run: a collection inside one contender's run would charge it alone.
    """
    if not fns:
        raise ValueError("lockstep_times: give at least one callable, e.g. {'torch': fn}")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"lockstep_times: expected repeats >= 1 and warmup >= 0, got "
                         f"repeats={repeats}, warmup={warmup}")
    times: dict[str, list[float]] = {name: [] for name in fns}
    gc.collect()
    gc.disable()
    try:
        for i in range(warmup + repeats):
            for name, fn in fns.items():
                dist.barrier()
                start = time.perf_counter()
                fn()
                if i >= warmup:
                    times[name].append(time.perf_counter() - start)
    finally:
        gc.enable()
    for name, t in times.items():
        slowest = torch.tensor(t, dtype=torch.float64)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        times[name] = slowest.tolist()
    return times
