"""Normalisation layers for the `Tensor` engine: `BatchNorm1d` and `LayerNorm`, from scratch.

Both standardise, then scale and shift with learned gamma and beta:

    x_hat = (x - mu) / sqrt(sigma^2 + eps),    y = gamma * x_hat + beta,

where mu and sigma^2 = mean((x - mu)^2) (the *biased* variance) are taken over the
examples of the batch, per feature (BatchNorm), or over the features of each example
(LayerNorm). Each is written with the engine's own operations (mean, -, *, /, **), so
the backward pass comes from the chain rule the engine already knows: no hand-written
gradient here. The tests compare both, forward and backward, with torch.nn in float64.
"""

from __future__ import annotations

import numpy as np

from aibook.autograd.nn import Module
from aibook.autograd.tensor import Tensor


def _standardize(x: Tensor, axis: int, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """(x_hat, mu, sigma^2) along `axis` (kept as a dimension of size 1); sigma^2 is biased."""
    mu = x.mean(axis=axis, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=axis, keepdims=True)
    return xc / (var + eps) ** 0.5, mu, var


class BatchNorm1d(Module):
    """Batch normalisation over the batch dimension. x: (N, D) -> y: (N, D).

    Training mode (the default, `train()`): per feature d,
        mu_d = (1/N) sum_n x_nd,   sigma^2_d = (1/N) sum_n (x_nd - mu_d)^2   (biased),
        y_nd = gamma_d (x_nd - mu_d) / sqrt(sigma^2_d + eps) + beta_d,
    and the running statistics move towards the batch's, as torch.nn.BatchNorm1d does:
        running_mean <- (1 - momentum) running_mean + momentum mu,
        running_var  <- (1 - momentum) running_var  + momentum sigma^2 N / (N - 1)   (unbiased).
    momentum=None gives torch's cumulative average instead (momentum = 1 / batches seen).

    Eval mode (`eval()`): y = gamma (x - running_mean) / sqrt(running_var + eps) + beta,
    one example at a time, whatever the batch.

    Parameters gamma (D,) = 1 and beta (D,) = 0; running_mean (D,) = 0 and running_var
    (D,) = 1 are numpy arrays (state, not parameters: no gradient).
    """

    def __init__(self, D: int, eps: float = 1e-5, momentum: float | None = 0.1, *,
                 dtype=np.float64) -> None:
        if not isinstance(D, int | np.integer) or isinstance(D, bool) or D < 1:
            raise ValueError(f"BatchNorm1d: D must be a positive int, got {D!r}")
        if not eps > 0:
            raise ValueError(f"BatchNorm1d: eps must be positive, got {eps!r}")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"BatchNorm1d: momentum must be in [0, 1] or None, got {momentum!r}")
        self.D, self.eps, self.momentum = int(D), float(eps), momentum
        self.gamma = Tensor(np.ones(D, dtype=dtype), requires_grad=True)
        self.beta = Tensor(np.zeros(D, dtype=dtype), requires_grad=True)
        self.running_mean = np.zeros(D, dtype=dtype)
        self.running_var = np.ones(D, dtype=dtype)
        self.num_batches_tracked = 0
        self.training = True

    def train(self, mode: bool = True) -> BatchNorm1d:
        """Training mode (batch statistics, running statistics updated), or eval if mode=False."""
        self.training = bool(mode)
        return self

    def eval(self) -> BatchNorm1d:
        """Eval mode: normalise with the running statistics, and leave them as they are."""
        return self.train(False)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.D:
            raise ValueError(f"BatchNorm1d: expected input of shape (N, {self.D}), "
                             f"got {x.shape}")
        if not self.training:
            return self.gamma * ((x - self.running_mean)
                                 / np.sqrt(self.running_var + self.eps)) + self.beta
        N = x.shape[0]
        if N < 2:
            raise ValueError(f"BatchNorm1d: expected more than 1 example per feature in "
                             f"training mode, got input of shape {x.shape} (a batch of one has "
                             f"no variance); use a bigger batch, or eval() for one example")
        x_hat, mu, var = _standardize(x, axis=0, eps=self.eps)
        self.num_batches_tracked += 1
        m = 1.0 / self.num_batches_tracked if self.momentum is None else self.momentum
        self.running_mean *= 1 - m
        self.running_mean += m * mu.data[0]
        self.running_var *= 1 - m
        self.running_var += m * var.data[0] * (N / (N - 1))
        return self.gamma * x_hat + self.beta

    def __repr__(self) -> str:
        return (f"BatchNorm1d({self.D}, eps={self.eps}, momentum={self.momentum}, "
                f"training={self.training})")


class LayerNorm(Module):
    """Layer normalisation over the last dimension. x: (..., D) -> y: (..., D).

    For each example (each index of the leading dimensions):
        mu = (1/D) sum_d x_d,   sigma^2 = (1/D) sum_d (x_d - mu)^2   (biased),
        y_d = gamma_d (x_d - mu) / sqrt(sigma^2 + eps) + beta_d.
    The statistics come from the example itself, so training and evaluation agree and a
    batch of one is fine. Parameters gamma (D,) = 1 and beta (D,) = 0, as in
    torch.nn.LayerNorm(D).
    """

    def __init__(self, D: int, eps: float = 1e-5, *, dtype=np.float64) -> None:
        if not isinstance(D, int | np.integer) or isinstance(D, bool) or D < 1:
            raise ValueError(f"LayerNorm: D must be a positive int, got {D!r}")
        if not eps > 0:
            raise ValueError(f"LayerNorm: eps must be positive, got {eps!r}")
        self.D, self.eps = int(D), float(eps)
        self.gamma = Tensor(np.ones(D, dtype=dtype), requires_grad=True)
        self.beta = Tensor(np.zeros(D, dtype=dtype), requires_grad=True)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 1 or x.shape[-1] != self.D:
            raise ValueError(f"LayerNorm: expected input of shape (..., {self.D}), "
                             f"got {x.shape}")
        x_hat, _, _ = _standardize(x, axis=-1, eps=self.eps)
        return self.gamma * x_hat + self.beta

    def __repr__(self) -> str:
        return f"LayerNorm({self.D}, eps={self.eps})"
