"""Data parallelism by hand: split the batch, average the gradients, step in lockstep.

With a loss that is the *mean* over a batch of ``B`` examples, the gradient on the whole batch
is the mean of the gradients on ``N`` equal parts of it:

    grad (1/B) sum_i l_i  =  (1/N) sum_r grad (1/b) sum_{i in part r} l_i,   b = B / N.

So ``N`` ranks, each on its own ``b`` examples, reach the one-process gradient by an all-reduce
(sum) followed by a division by ``N``. The identity needs equal parts and a mean-reduced loss,
and it fails for layers that mix the examples of a batch, like BatchNorm in training mode:
``sync_batch_norm`` restores it by all-reducing the statistics.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import nn

__all__ = ["all_reduce_gradients", "combine_gradients", "shard", "sync_batch_norm"]


def shard(n: int, rank: int, world_size: int) -> slice:
    """Rank ``rank``'s contiguous part of ``n`` examples; the parts differ in size by at most 1."""
    for name, value in (("n", n), ("rank", rank), ("world_size", world_size)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"shard: expected an int {name}, got {type(value).__name__}")
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"shard: expected 0 <= rank < world_size, got rank={rank}, "
                         f"world_size={world_size}")
    if n < 0:
        raise ValueError(f"shard: expected n >= 0 examples, got {n}")
    q, extra = divmod(n, world_size)
    start = rank * q + min(rank, extra)
    return slice(start, start + q + (rank < extra))


def all_reduce_gradients(model: nn.Module, *, average: bool = True,
                         all_reduce: Callable[[torch.Tensor], object] | None = None) -> None:
    """Sum every parameter's ``.grad`` over the ranks (then divide by ``N`` if ``average``).

    ``all_reduce`` is the collective to use on each gradient, in place (``dist.all_reduce`` by
    default, or ``ring_all_reduce``). Call it on every rank after ``backward()``.
    """
    reduce = all_reduce or dist.all_reduce
    n = dist.get_world_size()
    for p in model.parameters():
        if p.grad is None:
            raise ValueError("all_reduce_gradients: a parameter has no .grad; call backward() "
                             "first (every rank must reduce the same parameters)")
        reduce(p.grad)
        if average:
            p.grad /= n


def combine_gradients(grads: list[torch.Tensor], counts: list[int]) -> torch.Tensor:
    """The whole batch's mean-loss gradient from each rank's mean-loss gradient.

    ``grads[r]``: rank r's gradient (any shape, all alike) of its mean loss over ``counts[r]``
    examples. The weights are ``counts[r] / sum(counts)``: with equal parts that is the plain
    average that DDP takes; with unequal parts the plain average is wrong.
    """
    if len(grads) != len(counts) or not grads:
        raise ValueError(f"combine_gradients: expected one count per gradient, got "
                         f"{len(grads)} gradients and {len(counts)} counts")
    if any(c <= 0 for c in counts):
        raise ValueError(f"combine_gradients: expected positive example counts, got {counts}")
    total = sum(counts)
    return sum(g * (c / total) for g, c in zip(grads, counts, strict=True))


def sync_batch_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                    eps: float = 1e-5) -> torch.Tensor:
    """BatchNorm over the examples of *all* ranks, differentiably. ``x``: (b, C) on each rank.

    Every rank all-reduces its sum, sum of squares and count, so every rank normalises with the
    statistics of the whole batch, as one process would. The all-reduce from
    ``torch.distributed.nn.functional`` has a backward (an all-reduce of the gradients), so the
    gradients match too. (PyTorch's ``nn.SyncBatchNorm`` needs a GPU.)
    """
    if x.dim() != 2 or x.shape[1] != weight.numel():
        raise ValueError(f"sync_batch_norm: expected x of shape (b, {weight.numel()}), "
                         f"got {tuple(x.shape)}")
    stats = torch.cat([x.sum(0), (x * x).sum(0), x.new_tensor([x.shape[0]])])
    stats = dist_fn.all_reduce(stats)  # differentiable: its backward all-reduces the grads
    c = x.shape[1]
    count = stats[-1]
    mean = stats[:c] / count
    var = stats[c:2 * c] / count - mean * mean  # biased variance, as BatchNorm normalises with
    return (x - mean) / torch.sqrt(var + eps) * weight + bias
