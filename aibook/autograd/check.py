"""Check backpropagation against finite differences: `gradcheck(f, inputs)`.

For each input entry x_i the central difference

    (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)

approximates df/dx_i with an error of order eps^2, which we compare with the
gradient that `backward()` computed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from aibook.autograd.scalar import Value
from aibook.autograd.tensor import Tensor


@dataclass
class GradcheckResult:
    """max_abs_error = max |analytic - numeric|; max_rel_error divides by max(|a|, |n|, 1e-8)."""

    max_abs_error: float
    max_rel_error: float
    passed: bool

    def __bool__(self) -> bool:
        return self.passed


def gradcheck(f: Callable[..., Value | Tensor], inputs: Sequence[Value | Tensor],
              eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              seed: int = 0) -> GradcheckResult:
    """Compare the gradients of f(*inputs) from backward() with central differences.

    inputs: all Values, or all Tensors (use float64: float32 rounding swamps the
    differences). f returns a scalar; a non-scalar Tensor output is reduced to
    sum(r * out) with fixed random weights r. Passes when every entry has an
    absolute error <= atol or a relative error <= rtol.
    """
    inputs = list(inputs)
    if not inputs:
        raise ValueError("gradcheck: give at least one input")
    if all(isinstance(x, Value) for x in inputs):
        analytic, numeric = _scalar_grads(f, inputs, eps)
    elif all(isinstance(x, Tensor) for x in inputs):
        analytic, numeric = _tensor_grads(f, inputs, eps, seed)
    else:
        kinds = sorted({type(x).__name__ for x in inputs})
        raise TypeError(f"gradcheck: inputs must be all Values or all Tensors, got {kinds}")
    abs_err = np.abs(analytic - numeric)
    rel_err = abs_err / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), 1e-8)
    passed = bool(np.all((abs_err <= atol) | (rel_err <= rtol)))
    return GradcheckResult(float(abs_err.max(initial=0.0)), float(rel_err.max(initial=0.0)),
                           passed)


def _scalar_grads(f, inputs: list[Value], eps: float) -> tuple[np.ndarray, np.ndarray]:
    for x in inputs:
        x.grad = 0.0
    f(*inputs).backward()
    analytic = np.array([x.grad for x in inputs])
    numeric = np.empty(len(inputs))
    for i, x in enumerate(inputs):
        x0 = x.data
        x.data = x0 + eps
        up = f(*inputs).data
        x.data = x0 - eps
        down = f(*inputs).data
        x.data = x0
        numeric[i] = (up - down) / (2 * eps)
    return analytic, numeric


def _tensor_grads(f, inputs: list[Tensor], eps: float, seed: int):
    for x in inputs:
        if not x.requires_grad:
            raise ValueError("gradcheck: every input Tensor needs requires_grad=True")
        x.grad = None
    out = f(*inputs)
    r = None if out.size == 1 else np.random.default_rng(seed).standard_normal(out.shape)

    def scalar(t: Tensor) -> float:
        return float(t.data.sum() if r is None else (r * t.data).sum())

    out.backward(None if r is None else r)
    analytic = np.concatenate([(x.grad if x.grad is not None else np.zeros_like(x.data)).ravel()
                               for x in inputs])
    numeric = []
    for x in inputs:
        flat = x.data.reshape(-1)  # a view: writing to it perturbs x.data
        for i in range(flat.size):
            x0 = flat[i]
            flat[i] = x0 + eps
            up = scalar(f(*inputs))
            flat[i] = x0 - eps
            down = scalar(f(*inputs))
            flat[i] = x0
            numeric.append((up - down) / (2 * eps))
    return analytic, np.array(numeric)
