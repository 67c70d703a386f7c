"""Layers, an MLP and losses for the `Tensor` engine, written from scratch.

Notation follows the chapter: a layer computes y = x W + b with x (N, d_in),
W (d_in, d_out), b (d_out,). Note that torch.nn.Linear stores W transposed,
as `weight` of shape (d_out, d_in).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from aibook.autograd.tensor import Tensor
from aibook.device import seed_for

# ---- modules -----------------------------------------------------------------------------


class Module:
    """Anything with parameters: `parameters()` finds every Tensor attribute that needs a grad."""

    def parameters(self) -> list[Tensor]:
        return list(_walk(self))

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError


def _walk(obj) -> Iterator[Tensor]:
    for value in vars(obj).values():
        if isinstance(value, Tensor) and value.requires_grad:
            yield value
        elif isinstance(value, Module):
            yield from _walk(value)
        elif isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, Module):
                    yield from _walk(item)
                elif isinstance(item, Tensor) and item.requires_grad:
                    yield item


class Linear(Module):
    """y = x W + b. x: (N, d_in) -> y: (N, d_out).

    W and b start uniform in +-1/sqrt(d_in), the default of torch.nn.Linear.
    """

    def __init__(self, d_in: int, d_out: int, bias: bool = True, *,
                 rng: np.random.Generator | None = None, seed: int = 0,
                 dtype=np.float64) -> None:
        if d_in < 1 or d_out < 1:
            raise ValueError(f"Linear: sizes must be positive, got d_in={d_in}, d_out={d_out}")
        rng = rng if rng is not None else np.random.default_rng(seed_for(seed))
        bound = 1.0 / np.sqrt(d_in)
        self.W = Tensor(rng.uniform(-bound, bound, (d_in, d_out)).astype(dtype),
                        requires_grad=True)
        self.b = (Tensor(rng.uniform(-bound, bound, d_out).astype(dtype), requires_grad=True)
                  if bias else None)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.W.shape[0]:
            raise ValueError(f"Linear: expected inputs with {self.W.shape[0]} features "
                             f"(last dim), got shape {x.shape}")
        y = x @ self.W
        return y + self.b if self.b is not None else y

    def __repr__(self) -> str:
        return f"Linear({self.W.shape[0]}, {self.W.shape[1]}, bias={self.b is not None})"


class MLP(Module):
    """A multilayer perceptron. sizes: [d_in, hidden..., d_out], e.g. [64, 128, 10].

    Hidden layers are followed by `activation` ("relu" or "tanh"); the last layer
    is linear (it outputs logits, or a regression value).
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu", *, seed: int = 0,
                 dtype=np.float64) -> None:
        if len(sizes) < 2:
            raise ValueError(f"MLP: expected at least [d_in, d_out], got sizes={list(sizes)}")
        if activation not in ("relu", "tanh"):
            raise ValueError(f"MLP: activation must be 'relu' or 'tanh', got {activation!r}")
        rng = np.random.default_rng(seed_for(seed))
        self.activation = activation
        self.layers = [Linear(a, b, rng=rng, dtype=dtype)
                       for a, b in zip(sizes[:-1], sizes[1:], strict=True)]

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = x.relu() if self.activation == "relu" else x.tanh()
        return x

    def __repr__(self) -> str:
        return f"MLP({', '.join(map(repr, self.layers))}, activation={self.activation!r})"


# ---- losses (each one fused: one node, one short backward) -------------------------------


def mse(y_hat: Tensor, y) -> Tensor:
    """Mean squared error, mean((y_hat - y)^2). y_hat and y must have the same shape."""
    y = y if isinstance(y, Tensor) else Tensor(np.asarray(y, dtype=y_hat.dtype))
    if y_hat.shape != y.shape:
        raise ValueError(f"mse: y_hat has shape {y_hat.shape} but y has shape {y.shape}; "
                         "reshape one of them (broadcasting here is usually a bug)")
    diff = y_hat.data - y.data
    n = max(diff.size, 1)

    def backward(g):
        d = diff * (2 * g / n)
        return (d if y_hat.requires_grad else None, -d if y.requires_grad else None)

    loss = np.asarray(np.mean(diff * diff), dtype=y_hat.dtype)
    return Tensor.from_op(loss, (y_hat, y), backward, "mse")


def cross_entropy(logits: Tensor, y) -> Tensor:
    """Softmax cross-entropy, -mean_i log softmax(logits_i)[y_i]. logits: (N, K), y: (N,) ints.

    Stable by log-sum-exp: log sum_k exp(z_k) = m + log sum_k exp(z_k - m), m = max_k z_k.
    The gradient is (softmax(logits) - onehot(y)) / N.
    """
    y = np.asarray(y.data if isinstance(y, Tensor) else y)
    if logits.ndim != 2 or y.shape != (logits.shape[0],):
        raise ValueError(f"cross_entropy: expected logits (N, K) and labels (N,), got "
                         f"{logits.shape} and {y.shape}")
    if y.dtype.kind not in "iu":
        if not np.all(y == np.round(y)):
            raise ValueError("cross_entropy: labels must be integers")
        y = y.astype(np.intp)
    N, K = logits.shape
    if N and (y.min() < 0 or y.max() >= K):
        raise ValueError(f"cross_entropy: labels must be in [0, {K}), got [{y.min()}, {y.max()}]")
    rows = np.arange(N)
    z = logits.data - logits.data.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    loss = np.asarray(np.mean(np.log(s[:, 0]) - z[rows, y]), dtype=logits.dtype)

    def backward(g):
        p = e / s  # softmax
        p[rows, y] -= 1
        p *= g / N
        return (p,)

    return Tensor.from_op(loss, (logits,), backward, "cross_entropy")


# ---- training helpers --------------------------------------------------------------------


def accuracy(logits: Tensor | np.ndarray, y) -> float:
    """Fraction of rows whose argmax equals the label. logits: (N, K), y: (N,)."""
    logits = logits.data if isinstance(logits, Tensor) else np.asarray(logits)
    return float(np.mean(logits.argmax(axis=1) == np.asarray(y)))


def train_step(model: Module, opt, X, y,
               loss_fn: Callable[[Tensor, object], Tensor] = cross_entropy) -> float:
    """One step of gradient descent on a batch: zero grads, forward, loss, backward, update.

    X: (N, d_in) array or Tensor, y: (N,) labels. Returns the loss before the update.
    """
    X = X if isinstance(X, Tensor) else Tensor(X)
    opt.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    opt.step()
    return loss.item()
