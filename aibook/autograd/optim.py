"""Optimizers for the `Tensor` engine: SGD (with momentum) and Adam, as torch.optim does them.

Also AdamW, Adam with decoupled weight decay. `weight_decay` of SGD and Adam is L2
regularization (wd * theta added to the gradient); AdamW's shrinks the weights apart
from the gradient step. Under plain SGD the two are the same update; under Adam they are not.

Each `step()` reads `p.grad` and updates `p.data` in place. Parameters whose grad
is None (not reached by the last backward) are skipped, as in PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from aibook.autograd.tensor import Tensor


class Optimizer:
    """Holds the parameters; `zero_grad()` forgets their gradients."""

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer: got an empty parameter list")
        bad = [type(p).__name__ for p in self.params if not isinstance(p, Tensor)]
        if bad:
            raise TypeError(f"optimizer: expected Tensors, got {bad[:3]}")
        if lr <= 0:
            raise ValueError(f"optimizer: lr must be positive, got {lr}")
        self.lr = lr

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Gradient descent with (heavy-ball) momentum mu, as in torch.optim.SGD:

        v <- mu * v + g        (v = g at the first step)
        theta <- theta - lr * v

    weight_decay wd is L2 regularization, as in torch.optim.SGD: g <- g + wd * theta before
    the momentum. Without momentum that is theta <- (1 - lr * wd) theta - lr * g, the same
    update as a decoupled decay by lr * wd (see `AdamW`); with momentum the decay term is
    accumulated in v as well.
    """

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        if not 0 <= momentum < 1:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum}")
        self.momentum, self.weight_decay = momentum, weight_decay
        self.velocity: list[np.ndarray | None] = [None] * len(self.params)

    def step(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            if self.momentum:
                v = self.velocity[i]
                v = np.array(g) if v is None else self.momentum * v + g
                self.velocity[i] = g = v
            p.data -= self.lr * g


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015), in torch.optim.Adam's arithmetic:

        m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
        theta <- theta - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    weight_decay wd is L2 regularization, as in torch.optim.Adam: g <- g + wd * theta before
    the moments, so the decay is divided by sqrt(v) like the gradient is. A weight with large
    gradients is then barely decayed, and one with no gradient at all moves by about lr per
    step whatever wd is. For decay that does not go through the moments use `AdamW`.
    """

    decoupled = False  # AdamW sets it: then wd shrinks theta directly instead

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        b1, b2 = betas
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"Adam: betas must be in [0, 1), got {betas}")
        self.betas, self.eps, self.weight_decay = (b1, b2), eps, weight_decay
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]
        self.t = 0

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        step_size = self.lr / (1 - b1**self.t)
        sqrt_bc2 = math.sqrt(1 - b2**self.t)
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            if self.decoupled:  # AdamW: a decay of its own, outside the moments
                p.data *= 1 - self.lr * self.weight_decay
                g = p.grad
            else:  # L2: wd * theta joins the gradient, and Adam rescales it with the rest
                g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p.data -= step_size * m / (np.sqrt(v) / sqrt_bc2 + self.eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019), as torch.optim.AdamW:

        theta <- theta - lr * wd * theta        (the decay, outside the moments)
        m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2        (g: the loss's gradient only)
        theta <- theta - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    `Adam(weight_decay=wd)` instead puts wd * theta into g (L2), where Adam's division by
    sqrt(v) rescales it. Here every weight shrinks by the same factor (1 - lr * wd) per step,
    whatever its gradients: a weight the loss ignores decays as theta_0 (1 - lr * wd)^t.
    The paper writes the decay as eta_t * wd * theta with eta_t the schedule's multiplier;
    torch (and this class) multiply by lr instead, so wd here is the paper's wd / lr_max.
    The default wd = 1e-2 is torch's.
    """

    decoupled = True

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2) -> None:
        if weight_decay < 0:
            raise ValueError(f"AdamW: weight_decay must be >= 0, got {weight_decay}")
        super().__init__(params, lr, betas, eps, weight_decay)
