"""An int8 matrix product from scratch: integer inputs, int32 accumulation, requantization.

A quantized Linear layer y = x W^T + b works on integers only:

    x ~ s_x (q_x - z_x)     activations: unsigned 8-bit levels, affine (scale s_x, zero z_x)
    W ~ s_w q_w             weights: signed 8-bit levels, symmetric (zero point 0)
    b ~ s_x s_w q_b         bias: int32 at the product scale s_x s_w

so that y ~ s_x s_w * acc with acc = (q_x - z_x) q_w^T + q_b, summed in int32. The int32
result is then either

- dequantized to float, y = s_x s_w acc (dynamic quantization: the next layer gets floats), or
- requantized to the output's 8-bit levels, q_y = clamp(round(acc * s_x s_w / s_y) + z_y,
  0, 255) (static quantization: the next layer gets integers).

`dynamic_int8_linear` also chooses s_x and z_x from the batch, as PyTorch's x86 (fbgemm)
kernels do: affine over [min(x, 0), max(x, 0)] with `reduce_range`, i.e. 128 levels [0, 127]
instead of 256, which keeps the kernel's 16-bit intermediate sums from overflowing. The
tests check every function against `torch.ao.nn.quantized.Linear` (static) and
`torch.ao.nn.quantized.dynamic.Linear` (dynamic).
"""

from __future__ import annotations

import torch
from torch import nn

from aibook.compress.quantize import QTensor, qparams, quantize, quantize_tensor

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def int8_weight(W: torch.Tensor, *, per_channel: bool = False) -> QTensor:
    """Signed symmetric 8-bit weights, as `quantize_dynamic` stores them.

    W: float (out, in) -> QTensor with q (out, in) in [-128, 127], zero_point 0, and one
    scale (per tensor) or one per output row (per_channel=True, shape (out,)).
    """
    if W.ndim != 2:
        raise ValueError(f"int8_weight: expected a weight matrix (out, in), got shape "
                         f"{tuple(W.shape)}")
    return quantize_tensor(W, 8, symmetric=True, axis=0 if per_channel else None)


def int32_accumulate(q_x: torch.Tensor, z_x: int, q_w: torch.Tensor,
                     q_b: torch.Tensor | None = None) -> torch.Tensor:
    """acc = (q_x - z_x) @ q_w^T + q_b, computed in int32.

    q_x: (N, K) integer levels of the input; z_x: its zero point; q_w: (M, K) int8 levels;
    q_b: (M,) int32 bias or None. -> (N, M) int32. Raises if a sum could leave int32.
    """
    if q_x.ndim != 2 or q_w.ndim != 2 or q_x.shape[1] != q_w.shape[1]:
        raise ValueError(f"int32_accumulate: shapes {tuple(q_x.shape)} and {tuple(q_w.shape)} "
                         f"do not align (expected (N, K) and (M, K))")
    if torch.is_floating_point(q_x) or torch.is_floating_point(q_w):
        raise ValueError(f"int32_accumulate: expected integer levels, got {q_x.dtype} and "
                         f"{q_w.dtype}")
    x = q_x.to(torch.int32) - z_x
    w = q_w.to(torch.int32)
    # Worst case |sum| <= K * max|x| * max|w|: check it fits before trusting int32 arithmetic.
    bound = q_x.shape[1] * int(x.abs().max()) * int(w.abs().max())
    if q_b is not None:
        bound += int(q_b.abs().max())
    if bound > INT32_MAX:
        raise ValueError(f"int32_accumulate: sums up to {bound} would overflow int32")
    acc = x @ w.T  # (N, M), int32 throughout
    return acc if q_b is None else acc + q_b.to(torch.int32)


def quantize_bias(b: torch.Tensor, s_x: float, s_w: torch.Tensor) -> torch.Tensor:
    """q_b = round(b / (s_x s_w)) as int32: the bias at the accumulator's scale. b: (M,)."""
    return torch.round(b.double() / (s_x * s_w.double())).to(torch.int32)


def requantize(acc: torch.Tensor, s_x: float, s_w: torch.Tensor, s_y: float, z_y: int
               ) -> torch.Tensor:
    """q_y = clamp(round(acc * s_x s_w / s_y) + z_y, 0, 255). acc: (N, M) int32 -> int64.

    s_w: 0-d (per tensor) or (M,) (per output channel).
    """
    if s_y <= 0:
        raise ValueError(f"requantize: the output scale must be > 0, got {s_y}")
    multiplier = s_x * s_w.double() / s_y  # one float per output channel (or one in all)
    return (torch.round(acc.double() * multiplier) + z_y).clamp(0, 255).to(torch.int64)


def int8_linear(q_x: torch.Tensor, s_x: float, z_x: int, W: QTensor,
                b: torch.Tensor | None = None, *, s_y: float | None = None, z_y: int = 0
                ) -> torch.Tensor:
    """The quantized Linear layer on integer input levels q_x (N, K) with scale s_x, zero z_x.

    W: symmetric 8-bit weights (M, K) from `int8_weight`; b: float bias (M,) or None.
    s_y None: the dequantized float output (N, M); otherwise the output's uint8 levels (N, M)
    at scale s_y and zero point z_y (int64 values in [0, 255]).
    """
    if W.bits != 8 or bool((W.zero_point != 0).any()):
        raise ValueError("int8_linear: expected symmetric 8-bit weights (int8_weight)")
    if W.axis not in (None, 0):
        raise ValueError(f"int8_linear: weights must be per tensor or per output row, got "
                         f"axis={W.axis}")
    q_b = None if b is None else quantize_bias(b, s_x, W.scale)
    acc = int32_accumulate(q_x, z_x, W.q, q_b)
    if s_y is None:
        return (acc.double() * (s_x * W.scale.double())).float()
    return requantize(acc, s_x, W.scale, s_y, z_y)


def dynamic_int8_linear(x: torch.Tensor, W: QTensor, b: torch.Tensor | None = None,
                        *, reduce_range: bool = True) -> torch.Tensor:
    """Dynamic int8 Linear: x float (N, K) -> float (N, M).

    The input's scale and zero point come from this batch's range: affine uint8 over
    [min(x, 0), max(x, 0)], with 128 levels when reduce_range (PyTorch's x86 default), else
    256. The bias is added in float, after the integer product, as PyTorch does.
    """
    if x.ndim != 2:
        raise ValueError(f"dynamic_int8_linear: expected a batch (N, K), got shape "
                         f"{tuple(x.shape)}")
    bits = 7 if reduce_range else 8
    s_x, z_x = qparams(x, bits)
    q_x = quantize(x, s_x, z_x, bits)
    y = int8_linear(q_x, s_x.item(), int(z_x), W)
    return y if b is None else y + b


@torch.no_grad()
def dynamic_int8_forward(model: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Run a Sequential of Linear layers and elementwise activations with every Linear
    replaced by `dynamic_int8_linear` (per-tensor weights). x: (N, K) -> (N, classes)."""
    for layer in model:
        if isinstance(layer, nn.Linear):
            b = None if layer.bias is None else layer.bias.detach()
            x = dynamic_int8_linear(x, int8_weight(layer.weight.detach()), b)
        else:
            x = layer(x)
    return x
