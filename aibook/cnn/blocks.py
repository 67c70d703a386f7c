"""The blocks of a modern CNN: receptive fields, BatchNorm2d, global average pooling, residuals.

`receptive_field` computes, layer by layer, how many input pixels one unit sees;
`empirical_receptive_field` measures the same thing with an input gradient. `DeepCNN`
builds a plain or a residual net of the same depth and exactly the same parameter count,
so the two differ only in the skip connections; `stem_grad_norm` measures the gradient
that reaches the first layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Field:
    """After a layer: a unit sees `size` input pixels per side, neighbouring units are `jump`
    pixels apart, and unit 0's window starts at input pixel `start` (negative: in the padding)."""

    size: int
    jump: int
    start: int


def receptive_field(layers: Sequence[tuple[int, int, int]]) -> list[Field]:
    """The receptive field after each of `layers`, given as (kernel, stride, padding).

    r_l = r_{l-1} + (k_l - 1) j_{l-1},  j_l = j_{l-1} s_l,  start_l = start_{l-1} - p_l j_{l-1}.

    Unit u's window is input pixels start + u·jump to start + u·jump + size - 1. When a kernel
    is smaller than its stride the window has holes, and the formula gives its bounding box.
    """
    size, jump, start, out = 1, 1, 0, []
    for i, layer in enumerate(layers):
        if len(layer) != 3 or any(not isinstance(v, int) for v in layer):
            raise ValueError(f"receptive_field: layer {i} must be (kernel, stride, padding) "
                             f"integers, got {layer!r}")
        k, s, p = layer
        if k < 1 or s < 1 or p < 0:
            raise ValueError(f"receptive_field: layer {i} needs kernel >= 1, stride >= 1, "
                             f"padding >= 0, got {layer!r}")
        size, start, jump = size + (k - 1) * jump, start - p * jump, jump * s
        out.append(Field(size, jump, start))
    return out


def _pair(v: int | tuple[int, ...]) -> int:
    if isinstance(v, tuple):
        if len(set(v)) != 1:
            raise ValueError(f"receptive_field: only square kernels, strides and paddings, got {v}")
        return v[0]
    return v


def layers_of(model: nn.Module) -> list[tuple[int, int, int]]:
    """(kernel, stride, padding) of every Conv2d, MaxPool2d and AvgPool2d in `model`, in order.

    Other modules (activations, BatchNorm) do not change the receptive field. Dilation is not
    covered; a dilated convolution raises.
    """
    out = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
            if _pair(getattr(m, "dilation", 1)) != 1:
                raise ValueError(f"layers_of: dilated layers are not covered, got {m}")
            out.append((_pair(m.kernel_size), _pair(m.stride or m.kernel_size),
                        _pair(m.padding)))
    return out


def empirical_receptive_field(model: nn.Module, shape: tuple[int, int, int, int],
                              unit: tuple[int, int] = (0, 0), draws: int = 4,
                              seed: int = 0) -> tuple[slice, slice]:
    """The input pixels that move the output units at position `unit` (row, column): the rows
    and columns where the gradient of out[0, :, row, col].sum() with respect to the input is
    non-zero for some of `draws` random inputs of `shape` (1, C, H, W). Every channel at that
    position shares one window; summing them and taking several draws keeps a ReLU or a
    max-pool that blocks some paths from hiding part of it.

    The model runs in eval mode (and is put back as it was): in train mode BatchNorm's batch
    statistics would let every pixel move every unit."""
    if len(shape) != 4 or shape[0] != 1:
        raise ValueError(f"empirical_receptive_field: expected shape (1, C, H, W), got {shape}")
    dtype = next(model.parameters(), torch.empty(0)).dtype
    g = torch.Generator().manual_seed(seed)
    seen = torch.zeros(shape[2:], dtype=torch.bool)
    was_training = model.training
    model.eval()
    try:
        for _ in range(draws):
            x = torch.randn(shape, generator=g, dtype=dtype).requires_grad_()
            out = model(x)
            if out.dim() != 4:
                raise ValueError(f"empirical_receptive_field: the model must return "
                                 f"(N, C, H, W), got {tuple(out.shape)}")
            out[0, :, unit[0], unit[1]].sum().backward()
            seen |= x.grad[0].abs().sum(0) > 0
    finally:
        model.train(was_training)
    if not seen.any():
        raise ValueError(f"empirical_receptive_field: unit {unit} sees only padding (or every "
                         f"path to it was zero in {draws} draws)")
    rows, cols = seen.any(1).nonzero().flatten(), seen.any(0).nonzero().flatten()
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


class Block(nn.Module):
    """conv-BN-ReLU-conv-BN, then ReLU; with `residual`, the input is added before the last ReLU
    (He et al. 2016's basic block). x (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, channels: int, residual: bool) -> None:
        super().__init__()
        self.residual = residual
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(h + x if self.residual else h)


class DeepCNN(nn.Module):
    """stem conv (1 -> C) + BN + ReLU, `depth` blocks, global average pooling, Linear(C, classes).

    Plain and residual nets of equal `depth` and `channels` have exactly the same parameters:
    the identity skip adds none. Global average pooling makes the head independent of the
    image size. x (N, 1, H, W) -> logits (N, classes).
    """

    def __init__(self, depth: int, channels: int = 16, residual: bool = True,
                 classes: int = 10) -> None:
        super().__init__()
        if depth < 1 or channels < 1 or classes < 2:
            raise ValueError(f"DeepCNN: needs depth >= 1, channels >= 1, classes >= 2, got "
                             f"depth={depth}, channels={channels}, classes={classes}")
        self.stem = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU())
        self.blocks = nn.Sequential(*(Block(channels, residual) for _ in range(depth)))
        self.head = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"DeepCNN: expected images (N, 1, H, W), got {tuple(x.shape)}")
        h = self.blocks(self.stem(x))  # (N, C, H, W)
        return self.head(h.mean(dim=(2, 3)))  # global average pooling: (N, C)


def stem_grad_norm(model: DeepCNN, X: torch.Tensor, y: torch.Tensor) -> float:
    """‖∂L/∂W_stem‖ for the mean cross-entropy L on (X (N, 1, H, W), y (N,)), in train mode."""
    model.train()
    model.zero_grad()
    F.cross_entropy(model(X), y).backward()
    return float(model.stem[0].weight.grad.norm())
