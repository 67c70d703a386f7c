"""How big a model is: its parameters (all, trainable, or non-zero) and its bytes on disk.

Timing lives in `aibook.timing`; these two are the other measurements the chapters compare.
"""

from __future__ import annotations

import io

import torch
from torch import nn


def count_params(model: nn.Module, *, trainable: bool = False, nonzero: bool = False) -> int:
    """Number of parameters of `model`, as the forward pass sees them.

    trainable=True counts only those with requires_grad (as peft's
    `get_nb_trainable_parameters` does); nonzero=True counts only entries that are not
    exactly 0. Shared tensors count once. For a model pruned with `torch.nn.utils.prune` it
    counts the masked weights `weight = weight_orig * mask`, not the stored `weight_orig`.
    Quantized (packed) layers hold no nn.Parameters, so use `state_bytes` to compare them.
    """
    total, seen = 0, set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if id(p) in seen or (trainable and not p.requires_grad):
                continue
            seen.add(id(p))
            if name.endswith("_orig"):  # pruned: the effective tensor is the attribute `name`
                p = getattr(module, name[: -len("_orig")])
            total += int((p != 0).sum()) if nonzero else p.numel()
    return total


def state_bytes(model: nn.Module | dict) -> int:
    """Bytes that `torch.save(model.state_dict(), path)` writes: the model's size on disk.

    Accepts a module or a state dict. Serialising to memory includes every buffer and
    packed quantized weight, plus a little archive overhead (a few KB).
    """
    state = model.state_dict() if isinstance(model, nn.Module) else model
    if not isinstance(state, dict):
        raise TypeError(f"state_bytes: expected an nn.Module or a state dict, got "
                        f"{type(model).__name__}")
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.tell()
