"""Interval bound propagation (IBP): a proof, not an attack (Gowal et al. 2018).

Push the box [x - eps, x + eps] (clipped to the valid range) through the network, one layer
at a time, keeping for every unit an interval that surely contains its value:

- Linear z = W h + b: with centre m = (u + l) / 2 and radius r = (u - l) / 2,
  z lies in [W m + b - |W| r, W m + b + |W| r];
- ReLU (and any monotone map): [relu(l), relu(u)].

If the lower bound of the true logit beats the upper bound of every other logit, no
perturbation in the ball can change the prediction: the example is *certified*. The bounds
are loose, so "not certified" does not mean "broken": certified accuracy <= true robust
accuracy <= accuracy under any attack.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def interval_bounds(model: nn.Sequential, x: torch.Tensor, eps: float, *,
                    clip: tuple[float, float] = (0.0, 1.0)) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower and upper bounds (N, K) on the logits over ||delta||_inf <= eps.

    model: an nn.Sequential of Linear, ReLU and Flatten layers; x: (N, d).
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"interval_bounds: expected an nn.Sequential, got {type(model).__name__}")
    if eps < 0:
        raise ValueError(f"interval_bounds: eps must be >= 0, got {eps}")
    lo, hi = (x - eps).clamp(*clip), (x + eps).clamp(*clip)
    for layer in model:
        if isinstance(layer, nn.Linear):
            m, r = (hi + lo) / 2, (hi - lo) / 2
            centre, radius = layer(m), r @ layer.weight.abs().T
            lo, hi = centre - radius, centre + radius
        elif isinstance(layer, (nn.ReLU, nn.Flatten)):
            lo, hi = layer(lo), layer(hi)
        else:
            raise TypeError(f"interval_bounds: layers must be Linear, ReLU or Flatten, got "
                            f"{type(layer).__name__}")
    return lo, hi


@torch.no_grad()
def certified(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor, eps: float, *,
              clip: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """(N,) bool: True where IBP proves that no eps-perturbation changes the prediction
    from the correct label y."""
    lo, hi = interval_bounds(model, x, eps, clip=clip)
    true_lo = lo.gather(1, y[:, None]).squeeze(1)
    others_hi = hi.scatter(1, y[:, None], -torch.inf).amax(dim=1)
    return true_lo > others_hi


def worst_case_logits(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor,
                      eps: float) -> torch.Tensor:
    """(N, K): the lower bound for the true class, the upper bound for every other class."""
    lo, hi = interval_bounds(model, x, eps)
    return torch.where(F.one_hot(y, lo.shape[1]).bool(), lo, hi)


def ibp_objective(eps: float, *, kappa: float = 0.5, ramp: float = 0.5,
                  ) -> Callable[[nn.Module, torch.Tensor, torch.Tensor, float], torch.Tensor]:
    """The IBP training loss of Gowal et al. 2018, for `defences.train(objective=...)`:

    kappa_t * CE(z(x), y) + (1 - kappa_t) * CE(worst_case_logits(x, eps_t), y),

    where eps_t grows linearly from 0 to eps and kappa_t falls from 1 to kappa over the
    first `ramp` fraction of training (bounds of an untrained net are too loose to learn from).
    """
    if eps < 0 or not 0 <= kappa <= 1 or not 0 < ramp <= 1:
        raise ValueError(f"ibp_objective: need eps >= 0, 0 <= kappa <= 1 and 0 < ramp <= 1, "
                         f"got eps={eps}, kappa={kappa}, ramp={ramp}")

    def objective(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                  progress: float) -> torch.Tensor:
        t = min(1.0, progress / ramp)
        k = 1 - (1 - kappa) * t
        worst = worst_case_logits(model, x, y, eps * t)  # type: ignore[arg-type]
        return k * F.cross_entropy(model(x), y) + (1 - k) * F.cross_entropy(worst, y)

    return objective
