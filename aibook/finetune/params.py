"""Which parameters train: freezing, the summary peft prints, and learning-rate warmup."""

from __future__ import annotations

import math

import torch
from torch import nn

from aibook.measure import count_params


def freeze(module: nn.Module) -> nn.Module:
    """Stop gradients for every parameter of `module` (requires_grad = False); returns it."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def unfreeze(module: nn.Module) -> nn.Module:
    """Let every parameter of `module` train again; returns it."""
    for p in module.parameters():
        p.requires_grad_(True)
    return module


def trainable_summary(model: nn.Module) -> str:
    """The line peft's `print_trainable_parameters` prints, e.g.
    'trainable params: 73,728 || all params: 22,787,328 || trainable%: 0.3235'."""
    trainable, total = count_params(model, trainable=True), count_params(model)
    if total == 0:
        raise ValueError("trainable_summary: the model has no parameters")
    return (f"trainable params: {trainable:,d} || all params: {total:,d} || "
            f"trainable%: {100 * trainable / total:.4f}")


def warmup_factor(step: int, warmup: int, total: int, kind: str = "linear") -> float:
    """Multiplier of the peak learning rate at `step` (0-based), as transformers' schedules.

    Rises linearly from 0 to 1 over the first `warmup` steps (step / warmup), then
    decays to 0 at `total` steps: linearly (kind="linear", like
    get_linear_schedule_with_warmup) or along a half cosine (kind="cosine", like
    get_cosine_schedule_with_warmup). Warmup keeps the first updates small while
    Adam's moment estimates are still poor and a pretrained model is easy to knock off.
    """
    if warmup < 0 or total < 1 or warmup > total:
        raise ValueError(f"warmup_factor: need 0 <= warmup <= total and total >= 1, "
                         f"got warmup={warmup}, total={total}")
    if kind not in ("linear", "cosine"):
        raise ValueError(f"warmup_factor: kind must be 'linear' or 'cosine', got {kind!r}")
    if step < warmup:
        return step / warmup
    if kind == "linear":
        return max(0.0, (total - step) / max(1, total - warmup))
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


def warmup_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int,
                    kind: str = "linear") -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR that multiplies each group's lr by `warmup_factor`; call .step() per batch."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_factor(step, warmup, total, kind))
