"""Integer quantization from scratch: x ~ scale * (q - zero_point), q an integer of b bits.

Affine (asymmetric) quantization maps the observed range [x_min, x_max] (stretched to
contain 0, so that 0 is exact) onto all 2^b unsigned levels [0, 2^b - 1]:

    scale = (x_max - x_min) / (q_max - q_min)
    zero_point = q_min - round(x_min / scale)          (an integer in [q_min, q_max])
    q = clamp(round(x / scale) + zero_point, q_min, q_max)
    x_hat = scale * (q - zero_point)

Symmetric quantization fixes zero_point = 0 and uses the signed levels
[-2^(b-1), 2^(b-1) - 1] with scale = max|x| / ((q_max - q_min) / 2). It wastes levels
when x is one-sided (after a ReLU) but makes integer matmuls cheaper.
Per-channel quantization gives each slice along `axis` (e.g. each output row of a weight
matrix) its own scale and zero point. These conventions equal PyTorch's observers and
`torch.quantize_per_tensor` / `torch.quantize_per_channel` at 8 bits (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

MIN_BITS, MAX_BITS = 2, 16


def check_bits(bits: int) -> int:
    """Return `bits` if it is an int in [2, 16], else raise ValueError saying what came."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"bits must be an integer in [{MIN_BITS}, {MAX_BITS}], got {bits!r}")
    return bits


def qrange(bits: int = 8, *, signed: bool = False) -> tuple[int, int]:
    """(q_min, q_max): [0, 2^b - 1] unsigned, [-2^(b-1), 2^(b-1) - 1] signed."""
    check_bits(bits)
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)


def _reduce(x: torch.Tensor, axis: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Min and max of x: scalars (per tensor) or one per slice along `axis` (per channel)."""
    if axis is None:
        return x.min(), x.max()
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis {axis} is out of range for a tensor of shape {tuple(x.shape)}")
    rows = x.movedim(axis, 0).reshape(x.shape[axis], -1)
    return rows.min(dim=1).values, rows.max(dim=1).values


def qparams(x: torch.Tensor, bits: int = 8, *, symmetric: bool = False,
            axis: int | None = None, eps: float = torch.finfo(torch.float32).eps
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and zero point that make b-bit integers cover the range of x.

    x: float tensor (any shape). axis=None: per tensor, scale and zero_point are 0-d;
    axis=k: per channel, both have shape (x.shape[k],). scale: float32, zero_point: int64.
    symmetric=True uses signed levels and zero_point = 0; otherwise unsigned levels.
    """
    check_bits(bits)
    if not torch.is_floating_point(x) or x.numel() == 0:
        raise ValueError(f"qparams: expected a non-empty float tensor, got dtype {x.dtype} "
                         f"with {x.numel()} elements")
    x_min, x_max = _reduce(x.detach().float(), axis)
    x_min, x_max = x_min.clamp(max=0), x_max.clamp(min=0)  # the range must contain 0
    q_min, q_max = qrange(bits, signed=symmetric)
    if symmetric:
        scale = (torch.maximum(-x_min, x_max) / ((q_max - q_min) / 2)).clamp(min=eps)
        zero_point = torch.zeros_like(scale, dtype=torch.int64)
    else:
        scale = ((x_max - x_min) / (q_max - q_min)).clamp(min=eps)
        zero_point = (q_min - torch.round(x_min / scale)).clamp(q_min, q_max).to(torch.int64)
    return scale.float(), zero_point


def _broadcast(t: torch.Tensor | float | int, x: torch.Tensor, axis: int | None,
               dtype: torch.dtype) -> torch.Tensor:
    """Shape a per-channel parameter (C,) as (1, .., C, .., 1) so it broadcasts along `axis`."""
    t = torch.as_tensor(t, dtype=dtype)
    if axis is None:
        if t.numel() != 1:
            raise ValueError(f"per-tensor quantization needs one scale/zero point, got "
                             f"{t.numel()}; pass axis= for per-channel")
        return t.reshape(())
    if t.shape != (x.shape[axis],):
        raise ValueError(f"per-channel along axis {axis} needs shape ({x.shape[axis]},), "
                         f"got {tuple(t.shape)}")
    shape = [1] * x.ndim
    shape[axis] = -1
    return t.reshape(shape)


def quantize(x: torch.Tensor, scale, zero_point, bits: int = 8, *, signed: bool = False,
             axis: int | None = None) -> torch.Tensor:
    """q = clamp(round(x / scale) + zero_point, q_min, q_max) as an int64 tensor, shape of x.

    Like PyTorch, it multiplies by the float32 reciprocal 1/scale and rounds half to even,
    so the integers equal torch.quantize_per_tensor / _per_channel bit for bit.
    """
    q_min, q_max = qrange(bits, signed=signed)
    scale = _broadcast(scale, x, axis, torch.float64)
    zero_point = _broadcast(zero_point, x, axis, torch.float32)
    if (scale <= 0).any():
        raise ValueError("quantize: every scale must be > 0")
    inv_scale = (1.0 / scale).float()
    return torch.round(x.float() * inv_scale + zero_point).clamp(q_min, q_max).to(torch.int64)


def dequantize(q: torch.Tensor, scale, zero_point, *, axis: int | None = None) -> torch.Tensor:
    """x_hat = scale * (q - zero_point): float32, the shape of q."""
    scale = _broadcast(scale, q, axis, torch.float32)
    zero_point = _broadcast(zero_point, q, axis, torch.int64)
    return (q.to(torch.int64) - zero_point).float() * scale


@dataclass
class QTensor:
    """A quantized tensor: integers q (shape of x) with scale and zero_point (0-d or (C,))."""

    q: torch.Tensor
    scale: torch.Tensor
    zero_point: torch.Tensor
    bits: int
    axis: int | None = None

    def dequantize(self) -> torch.Tensor:
        return dequantize(self.q, self.scale, self.zero_point, axis=self.axis)

    def nbytes(self) -> int:
        """Storage if q is packed at `bits` per value, plus float32 scales and int32 zero points."""
        return (self.q.numel() * self.bits + 7) // 8 + 8 * self.scale.numel()


def quantize_tensor(x: torch.Tensor, bits: int = 8, *, symmetric: bool = False,
                    axis: int | None = None) -> QTensor:
    """Choose scale and zero point from x's range, then quantize: x -> QTensor."""
    scale, zero_point = qparams(x, bits, symmetric=symmetric, axis=axis)
    q = quantize(x, scale, zero_point, bits, signed=symmetric, axis=axis)
    return QTensor(q, scale, zero_point, bits, axis)
