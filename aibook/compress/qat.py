"""Quantization-aware training (QAT): train with the rounding in the forward pass.

Post-training quantization rounds the weights of a finished network; at 8 bits that costs
nothing measurable, at 3 or 2 bits it can cost a lot. QAT lets the network adapt: every
Linear weight W is used as its b-bit value W_hat = dequantize(quantize(W)) (symmetric, one
scale per output row), while the float W underneath keeps learning. Rounding has zero
gradient almost everywhere, so the backward pass treats it as the identity wherever W lies
inside the grid's range and as 0 where it was clamped: the straight-through estimator
(Bengio et al. 2013), as torch.fake_quantize_per_channel_affine computes it (tested).

    quantization_aware(model, bits=3)   # W -> W_hat in every forward, gradients reach W
    ...train as usual...
    freeze_quantized(model)             # keep only the rounded weights
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from aibook.compress.quantize import dequantize, qparams, qrange, quantize


def fake_quantize(w: torch.Tensor, bits: int, *, axis: int | None = 0) -> torch.Tensor:
    """w rounded to its b-bit symmetric grid (one scale per slice along `axis`, or one for all
    with axis=None); the gradient is 1 where w lies inside the grid's range, 0 where clamped.
    Shape of w."""
    scale, zero = qparams(w.detach(), bits, symmetric=True, axis=axis)
    q = quantize(w.detach(), scale, zero, bits, signed=True, axis=axis)
    w_hat = dequantize(q, scale, zero, axis=axis)
    q_min, q_max = qrange(bits, signed=True)
    shape = [1] * w.ndim
    if axis is not None:
        shape[axis] = -1
    unclamped = torch.round(w.detach() * (1.0 / scale.double()).float().reshape(shape))
    inside = (unclamped >= q_min) & (unclamped <= q_max)
    return w_hat + (w - w.detach()) * inside       # value w_hat, gradient 1 inside, 0 outside


class FakeQuantWeight(nn.Module):
    """A parametrization: the weight a layer sees is `fake_quantize(W, bits)`."""

    def __init__(self, bits: int, axis: int | None = 0):
        super().__init__()
        self.bits, self.axis = bits, axis

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return fake_quantize(w, self.bits, axis=self.axis)


def quantization_aware(model: nn.Module, bits: int, *, axis: int | None = 0) -> nn.Module:
    """Make every nn.Linear of `model` use b-bit fake-quantized weights (in place; returned)."""
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not layers:
        raise ValueError(f"quantization_aware: {type(model).__name__} has no nn.Linear")
    for layer in layers:
        if not parametrize.is_parametrized(layer, "weight"):
            parametrize.register_parametrization(layer, "weight", FakeQuantWeight(bits, axis))
    return model


def freeze_quantized(model: nn.Module) -> nn.Module:
    """Replace each fake-quantized weight by its rounded value and drop the float copy."""
    for layer in model.modules():
        if parametrize.is_parametrized(layer, "weight"):
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
    return model
