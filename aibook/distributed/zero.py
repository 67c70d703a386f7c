"""ZeRO stage 1 from scratch: each rank keeps Adam's state for its own slice of the parameters.

Plain data parallelism keeps a full copy of Adam's two moment vectors on every rank. ZeRO-1
(Rajbhandari et al. 2020) flattens the parameters into one vector of ``P`` numbers and gives
rank ``r`` the slice ``shard(P, r, N)``. After the gradients are all-reduced, each rank updates
only its slice (so it stores only ``2 P / N`` moments), and the updated slices are broadcast
back, so every rank again holds the whole model. The result equals ``torch.optim.Adam`` on one
process; the memory for the optimizer state falls by a factor ``N``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist

from aibook.distributed.data_parallel import shard

__all__ = ["ShardedAdam"]


class ShardedAdam:
    """Adam whose moments are sharded over the ranks of the default process group.

    ``step()`` all-reduces (averages) the gradients, updates this rank's slice, and broadcasts
    every rank's slice to the others. The update is ``torch.optim.Adam``'s, without weight decay.
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("ShardedAdam: expected at least one parameter that requires grad")
        if not lr > 0 or not 0 <= betas[0] < 1 or not 0 <= betas[1] < 1:
            raise ValueError(f"ShardedAdam: expected lr > 0 and betas in [0, 1), got lr={lr}, "
                             f"betas={betas}")
        self.lr, self.betas, self.eps = lr, betas, eps
        self.world_size, self.rank = dist.get_world_size(), dist.get_rank()
        total = sum(p.numel() for p in self.params)
        self.slices = [shard(total, r, self.world_size) for r in range(self.world_size)]
        mine = self.slices[self.rank]
        like = self.params[0].detach()
        self.m = like.new_zeros(mine.stop - mine.start)  # this rank's slice of the moments only
        self.v = like.new_zeros(mine.stop - mine.start)
        self.t = 0

    def state_bytes(self) -> int:
        """Bytes of optimizer state held by this rank."""
        return (self.m.numel() + self.v.numel()) * self.m.element_size()

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        if any(p.grad is None for p in self.params):
            raise ValueError("ShardedAdam.step: a parameter has no .grad; call backward() first")
        grad = torch.cat([p.grad.reshape(-1) for p in self.params])
        dist.all_reduce(grad)
        grad /= self.world_size
        flat = torch.cat([p.detach().reshape(-1) for p in self.params])
        mine = self.slices[self.rank]
        g, w = grad[mine], flat[mine]
        (b1, b2), self.t = self.betas, self.t + 1
        self.m.mul_(b1).add_(g, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (self.v.sqrt() / (1 - b2 ** self.t) ** 0.5).add_(self.eps)  # as torch's Adam
        w.addcdiv_(self.m, denom, value=-self.lr / (1 - b1 ** self.t))
        for r, part in enumerate(self.slices):  # every rank's slice, from its owner
            dist.broadcast(flat[part], src=r)
        offset = 0
        for p in self.params:
            p.copy_(flat[offset:offset + p.numel()].view_as(p))
            offset += p.numel()
