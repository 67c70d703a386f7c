"""LoRA from scratch (Hu et al. 2021): a frozen Linear plus a trainable low-rank update.

    h = W x + b + (alpha / r) * B A x,   W: (d_out, d_in) frozen, A: (r, d_in), B: (d_out, r)

B starts at zero, so at step 0 the wrapped layer computes exactly what the base
layer did. `merge()` folds the update into W (no extra cost at inference);
`unmerge()` takes it out again. The initialisation and the scaling follow peft's
`LoraLayer`, so that for the same A and B both give the same forward pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from aibook.finetune.params import freeze


class LoRALinear(nn.Module):
    """Wrap `base` (an nn.Linear, frozen here) with a rank-r update.

    x: (..., d_in) -> (..., d_out).
    """

    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 16.0, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear: expected an nn.Linear to wrap, got {type(base).__name__}")
        if not isinstance(r, int) or r < 1:
            raise ValueError(f"LoRALinear: rank r must be a positive int, got {r!r}")
        self.base = base
        freeze(self.base)
        self.r, self.alpha = r, alpha
        self.scaling = alpha / r
        d_out, d_in = base.weight.shape
        kw = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.A = nn.Parameter(torch.empty(r, d_in, **kw))   # (r, d_in)
        self.B = nn.Parameter(torch.zeros(d_out, r, **kw))  # (d_out, r): 0 => no change at first
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # as nn.Linear (and peft) do
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False

    def delta_weight(self) -> torch.Tensor:
        """(alpha / r) * B @ A: the (d_out, d_in) update LoRA adds to W."""
        return self.scaling * (self.B @ self.A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.A.shape[1]:
            raise ValueError(f"LoRALinear: expected inputs (..., {self.A.shape[1]}), "
                             f"got {tuple(x.shape)}")
        h = self.base(x)
        if self.merged:
            return h
        return h + self.scaling * (self.dropout(x) @ self.A.T @ self.B.T)

    @torch.no_grad()
    def merge(self) -> None:
        """W <- W + (alpha/r) B A. Afterwards the forward pass is one matmul."""
        if not self.merged:
            self.base.weight += self.delta_weight()
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """W <- W - (alpha/r) B A, undoing `merge` (up to float rounding)."""
        if self.merged:
            self.base.weight -= self.delta_weight()
            self.merged = False

    def extra_repr(self) -> str:
        d_out, d_in = self.base.weight.shape
        return f"d_in={d_in}, d_out={d_out}, r={self.r}, alpha={self.alpha}, merged={self.merged}"


def add_lora(model: nn.Module, targets: Iterable[str], r: int = 8, alpha: float = 16.0,
             dropout: float = 0.0, *, freeze_rest: bool = True) -> list[str]:
    """Replace every nn.Linear whose name ends with one of `targets` by a LoRALinear, in place.

    targets: name suffixes, like peft's `target_modules`, e.g. ("query", "value").
    freeze_rest: freeze all other parameters first (a new head can be unfrozen after).
    Returns the names of the wrapped layers; raises if none matched.
    """
    targets = tuple(targets)
    if isinstance(targets, str) or not targets:
        raise ValueError(f"add_lora: targets must be a non-empty list of names, got {targets!r}")
    if freeze_rest:
        freeze(model)
    names = [name for name, m in model.named_modules()
             if isinstance(m, nn.Linear) and name.split(".")[-1] in targets]
    if not names:
        linears = sorted({n.split(".")[-1] for n, m in model.named_modules()
                          if isinstance(m, nn.Linear)})
        raise ValueError(f"add_lora: no nn.Linear is named like {targets}; "
                         f"the model's Linear layers are named {linears}")
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha, dropout))
    return names


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """Every LoRALinear in `model`, by name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}


def merge_lora(model: nn.Module) -> None:
    """Merge every LoRA update into its base weight."""
    for layer in lora_layers(model).values():
        layer.merge()


def unmerge_lora(model: nn.Module) -> None:
    """Undo `merge_lora`."""
    for layer in lora_layers(model).values():
        layer.unmerge()


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the A and B matrices: all an adapter needs to store."""
    return {f"{name}.{p}": getattr(m, p).detach().clone()
            for name, m in lora_layers(model).items() for p in ("A", "B")}


def save_adapter(model: nn.Module, path: Path | str) -> int:
    """Write the LoRA matrices to a safetensors file; return its size in bytes."""
    from safetensors.torch import save_file

    state = lora_state_dict(model)
    if not state:
        raise ValueError("save_adapter: the model has no LoRALinear layers; call add_lora first")
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return Path(path).stat().st_size


def load_adapter(model: nn.Module, path: Path | str) -> None:
    """Copy A and B from a file written by `save_adapter` into a model with the same LoRA layers."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    expected = set(lora_state_dict(model))
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise ValueError(f"load_adapter: keys differ; missing {missing[:3]}, "
                         f"unexpected {extra[:3]}")
    with torch.no_grad():
        for key, value in state.items():
            name, _, p = key.rpartition(".")
            getattr(model.get_submodule(name), p).copy_(value)


def copy_from_peft(model: nn.Module, peft_model: nn.Module, adapter: str = "default") -> int:
    """Copy peft's lora_A/lora_B weights into our LoRALinear layers of the same names.

    peft stores A as lora_A.weight (r, d_in) and B as lora_B.weight (d_out, r),
    exactly our shapes. Returns how many layers were copied.
    """
    ours = {name.split("base_model.model.")[-1]: m for name, m in lora_layers(model).items()}
    copied = 0
    for name, m in peft_model.named_modules():
        if hasattr(m, "lora_A") and adapter in getattr(m, "lora_A", {}):
            key = name.split("base_model.model.")[-1]
            if key not in ours:
                raise KeyError(f"copy_from_peft: peft has LoRA at {key!r}, ours does not")
            with torch.no_grad():
                ours[key].A.copy_(m.lora_A[adapter].weight)
                ours[key].B.copy_(m.lora_B[adapter].weight)
            if not math.isclose(ours[key].scaling, m.scaling[adapter]):
                raise ValueError(f"copy_from_peft: scaling differs at {key}: "
                                 f"ours {ours[key].scaling}, peft {m.scaling[adapter]}")
            copied += 1
    if copied != len(ours):
        raise ValueError(f"copy_from_peft: copied {copied} layers but the model has {len(ours)}")
    return copied
