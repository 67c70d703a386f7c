"""Evasion attacks from scratch: FGSM, PGD with random start (L-inf and L2), and SPSA.

An attack looks for a perturbation delta with ||delta||_p <= eps that raises the classifier's
loss L(f(x + delta), y), while x + delta stays a valid input (pixels in [0, 1]).

- FGSM (Goodfellow et al. 2015): one step along the direction that maximises the linearised
  loss inside the ball, eps * sign(g) for L-inf and eps * g / ||g||_2 for L2.
- PGD (Madry et al. 2018): from a random point of the ball, `steps` steps of size alpha in
  that direction, each followed by clipping to the valid range and projection onto the ball.
  Restarts keep, per example, the run with the lowest margin z_y - max_{j != y} z_j.
- SPSA (Uesato et al. 2018): the same ascent, with the gradient *estimated* from loss values
  at random +-c perturbations. It never calls backward, so it sees through a model whose
  gradient is useless (zero, noisy or missing).

Shapes: x (N, ...) float in [lo, hi], y (N,) int64 class labels; every attack returns x_adv
with x's shape and dtype. The model is put in eval mode while it is attacked.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

Norm = str  # "inf" or "2"
NORMS = ("inf", "2")


def _check(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: Norm,
           who: str) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{who}: model must be a torch.nn.Module, got {type(model).__name__}")
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError(f"{who}: x must be a float tensor (N, ...), got "
                        f"{type(x).__name__ if not torch.is_tensor(x) else x.dtype}")
    if not torch.is_tensor(y) or y.ndim != 1 or len(y) != len(x) or y.dtype != torch.int64:
        got = f"{tuple(y.shape)} {y.dtype}" if torch.is_tensor(y) else type(y).__name__
        raise ValueError(f"{who}: y must be int64 labels of shape ({len(x)},), got {got}")
    if norm not in NORMS:
        raise ValueError(f"{who}: norm must be one of {NORMS}, got {norm!r}")
    if not (isinstance(eps, (int, float)) and eps >= 0 and math.isfinite(eps)):
        raise ValueError(f"{who}: eps must be a finite number >= 0, got {eps!r}")


def loss_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """g = d L / d x for the summed cross-entropy, shape of x (one row per example).
    Works inside torch.no_grad() too (an attack inside an evaluation loop)."""
    with torch.enable_grad():
        x = x.detach().clone().requires_grad_(True)
        loss = F.cross_entropy(model(x), y, reduction="sum")  # sum: row i's gradient is its own
        (g,) = torch.autograd.grad(loss, x)
    return g


def _rows(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(len(t), -1)


def steepest(g: torch.Tensor, norm: Norm) -> torch.Tensor:
    """The unit-norm direction that maximises <g, d>: sign(g) for L-inf, g / ||g||_2 for L2."""
    if norm == "inf":
        return g.sign()
    length = _rows(g).norm(dim=1).reshape(-1, *[1] * (g.ndim - 1))
    return torch.where(length > 0, g / length.clamp_min(torch.finfo(g.dtype).tiny),
                       torch.zeros_like(g))


def project(delta: torch.Tensor, eps: float, norm: Norm) -> torch.Tensor:
    """The nearest point of the ball ||delta_i|| <= eps, row by row (L-inf: clip each pixel;
    L2: shrink rows that are too long)."""
    if norm == "inf":
        return delta.clamp(-eps, eps)
    length = _rows(delta).norm(dim=1).reshape(-1, *[1] * (delta.ndim - 1))
    scale = torch.where(length > 0, torch.minimum(torch.ones_like(length),
                                                  eps / length.clamp_min(1e-30)),
                        torch.ones_like(length))
    return delta * scale


def random_start(x: torch.Tensor, eps: float, norm: Norm,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """A point drawn uniformly from the ball around 0, shape of x (L2: uniform in volume)."""
    if norm == "inf":
        return (torch.rand(x.shape, generator=generator, dtype=x.dtype) * 2 - 1) * eps
    d = _rows(x).shape[1]
    u = torch.randn(_rows(x).shape, generator=generator, dtype=x.dtype)
    u = u / u.norm(dim=1, keepdim=True)
    r = torch.rand(len(x), 1, generator=generator, dtype=x.dtype) ** (1.0 / d)
    return (u * r * eps).reshape(x.shape)


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, norm: Norm = "inf",
         clip: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """Fast gradient (sign) method: x_adv = clip(x + eps * steepest(grad_x L, norm))."""
    _check(model, x, y, eps, norm, "fgsm")
    with _eval(model):
        g = loss_gradient(model, x, y)
    return (x + eps * steepest(g, norm)).clamp(*clip).detach()


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *,
        alpha: float | None = None, steps: int = 10, norm: Norm = "inf",
        restarts: int = 1, random_init: bool = True, start: torch.Tensor | None = None,
        seed: int = 0, clip: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """Projected gradient descent on the loss (ascent), Madry et al.'s attack.

    alpha: step size (default 2.5 * eps / steps, so the walk can cross the ball);
    restarts: independent random starts, keeping per example the one with the lowest margin
    (so a misclassified result always wins, and a restart never lowers the attack's success);
    start: a given first perturbation (N, ...) instead of a random one (used to compare
    with another implementation); seed: the generator of the random starts.
    """
    _check(model, x, y, eps, norm, "pgd")
    if steps < 1 or restarts < 1:
        raise ValueError(f"pgd: steps and restarts must be >= 1, got {steps} and {restarts}")
    if start is not None and start.shape != x.shape:
        raise ValueError(f"pgd: start must have x's shape {tuple(x.shape)}, got "
                         f"{tuple(start.shape)}")
    alpha = 2.5 * eps / steps if alpha is None else alpha
    generator = torch.Generator().manual_seed(seed)
    best, best_margin = x.detach().clone(), torch.full((len(x),), math.inf, dtype=x.dtype)
    with _eval(model):
        for _ in range(restarts):
            if start is not None:
                delta = start.to(x.dtype)
            elif random_init:
                delta = random_start(x, eps, norm, generator)
            else:
                delta = torch.zeros_like(x)
            x_adv = (x + delta).clamp(*clip)
            for _ in range(steps):
                x_adv = (x_adv + alpha * steepest(loss_gradient(model, x_adv, y), norm))
                x_adv = x + project(x_adv.clamp(*clip) - x, eps, norm)
            with torch.no_grad():
                m = margin(model, x_adv, y)
            better = m < best_margin  # misclassified beats correct, then by how much
            best[better], best_margin[better] = x_adv[better].detach(), m[better]
    return best


def spsa(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, steps: int = 20,
         samples: int = 64, c: float = 0.01, lr: float = 0.01, seed: int = 0,
         clip: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """A gradient-free L-inf attack (SPSA, Uesato et al. 2018): no backward pass at all.

    Each step estimates the gradient from `samples` pairs of loss values at x +- c * v, with
    v of random signs: g ~ mean_k v_k (L(x + c v_k) - L(x - c v_k)) / (2c), then takes an
    Adam step of size lr on the margin loss and projects onto the eps-ball.
    """
    _check(model, x, y, eps, "inf", "spsa")
    generator = torch.Generator().manual_seed(seed)
    delta = torch.zeros_like(x, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=lr)
    best, best_margin = x.detach().clone(), torch.full((len(x),), math.inf, dtype=x.dtype)
    with _eval(model), torch.no_grad():
        for _ in range(steps):
            v = torch.randint(0, 2, (samples, *x.shape), generator=generator).to(x.dtype) * 2 - 1
            x_adv = (x + delta).clamp(*clip)
            up = margin(model, (x_adv + c * v).reshape(-1, *x.shape[1:]), y.repeat(samples))
            down = margin(model, (x_adv - c * v).reshape(-1, *x.shape[1:]), y.repeat(samples))
            diff = (up - down).reshape(samples, len(x), *[1] * (x.ndim - 1))
            delta.grad = (diff * v).mean(dim=0) / (2 * c)  # descend the margin
            opt.step()
            delta.copy_(project((x + delta).clamp(*clip) - x, eps, "inf"))
            m = margin(model, x + delta, y)
            better = m < best_margin
            best[better], best_margin[better] = (x + delta)[better], m[better]
    return best.detach()


def margin(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """z_y - max_{j != y} z_j per row (N,): negative exactly when the prediction is wrong."""
    z = model(x)
    true = z.gather(1, y[:, None]).squeeze(1)
    others = z.masked_fill(F.one_hot(y, z.shape[1]).bool(), -math.inf)
    return true - others.amax(dim=1)


Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()
def robust_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                    attack: Attack | None = None) -> float:
    """Accuracy on attack(model, x, y) (on x itself when attack is None)."""
    with torch.enable_grad():
        x_adv = x if attack is None else attack(model, x, y)
    with _eval(model):
        return (model(x_adv).argmax(dim=1) == y).double().mean().item()


class _eval:
    """Context manager: model.eval() inside, the previous mode restored after."""

    def __init__(self, model: nn.Module) -> None:
        self.model, self.was = model, model.training

    def __enter__(self) -> nn.Module:
        self.model.eval()
        return self.model

    def __exit__(self, *exc: object) -> None:
        self.model.train(self.was)
