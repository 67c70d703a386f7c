"""Adversarial training, and a defence that only looks robust.

- `mlp` builds the chapter's digits classifier, `train` trains it on clean examples or, for
  adversarial training, on the examples an attack makes of each batch (Madry et al.'s
  min-max: minimise over weights the loss maximised over the eps-ball).
- `Quantize` rounds pixels to a few grey levels before the classifier. Rounding has a zero
  derivative almost everywhere, so gradient attacks stall and the model *seems* robust: a
  masked gradient, not a defence (Athalye, Carlini & Wagner 2018). With `bpda=True` the
  backward pass treats rounding as the identity (BPDA), which is all it takes to break it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from aibook.device import seed_for

Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def mlp(d_in: int = 64, hidden: int = 128, classes: int = 10, *, seed: int = 0) -> nn.Sequential:
    """Linear(d_in, hidden) - ReLU - Linear(hidden, hidden) - ReLU - Linear(hidden, classes).

    Takes x (N, d_in) and returns logits (N, classes). Its weights are fixed by `seed`
    (a base seed: AIBOOK_SEED_OFFSET is added).
    """
    if min(d_in, hidden, classes) < 1:
        raise ValueError(f"mlp: sizes must be >= 1, got d_in={d_in}, hidden={hidden}, "
                         f"classes={classes}")
    torch.manual_seed(seed_for(seed))
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, classes))


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of `train` (Adam with a cosine schedule)."""

    epochs: int = 40
    lr: float = 3e-3
    batch_size: int = 64
    weight_decay: float = 1e-4


Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor, float], torch.Tensor]


def train(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, attack: Attack | None = None,
          objective: Objective | None = None, config: TrainConfig = TrainConfig(),
          seed: int = 0, progress: bool = True, desc: str = "train") -> nn.Module:
    """Train `model` in place on (X (N, d), y (N,)) and return it.

    attack: None for standard training; otherwise every batch is replaced by
    attack(model, x, y) before the step (adversarial training).
    objective: the loss objective(model, x, y, progress) with progress in [0, 1) the fraction
    of training done (for ramps, as in `certify.ibp_objective`); default: cross-entropy.
    seed: the batch order.
    """
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"train: need as many labels as examples (and some of each), got "
                         f"X {tuple(X.shape)} and y {tuple(y.shape)}")
    generator = torch.Generator().manual_seed(seed_for(seed))
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = -(-len(X) // config.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.epochs * steps_per_epoch)
    total, done = config.epochs * steps_per_epoch, 0
    for _ in tqdm(range(config.epochs), desc=desc, disable=not progress, leave=False):
        order = torch.randperm(len(X), generator=generator)
        for i in range(0, len(X), config.batch_size):
            xb, yb = X[order[i:i + config.batch_size]], y[order[i:i + config.batch_size]]
            if attack is not None:
                xb = attack(model, xb, yb)  # the inner maximisation, in eval mode
            model.train()
            loss = (F.cross_entropy(model(xb), yb) if objective is None
                    else objective(model, xb, yb, done / total))
            done += 1
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


class _RoundST(torch.autograd.Function):
    """Rounding whose backward pass is the identity (the straight-through estimator)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        return grad


class Quantize(nn.Module):
    """x -> model(round(x * (levels - 1)) / (levels - 1)): pixels snapped to `levels` greys.

    bpda=False: the true gradient of rounding, zero almost everywhere (what a naive attacker
    differentiates). bpda=True: the same forward pass, with rounding's backward pass replaced
    by the identity (Backward Pass Differentiable Approximation).
    """

    def __init__(self, model: nn.Module, levels: int = 2, *, bpda: bool = False) -> None:
        super().__init__()
        if levels < 2:
            raise ValueError(f"Quantize: levels must be >= 2, got {levels}")
        self.model, self.levels, self.bpda = model, levels, bpda

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.levels - 1
        q = _RoundST.apply(x * k) if self.bpda else torch.round(x * k)
        return self.model(q / k)
