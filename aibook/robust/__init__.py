"""Adversarial robustness: attacks, adversarial training, a broken defence and a certificate.

- `attacks`: FGSM, PGD with random start and restarts (L-inf and L2), the gradient-free SPSA,
  and `robust_accuracy`;
- `defences`: the chapter's digits MLP, (adversarial) training, and `Quantize`, a defence that
  masks gradients, with its BPDA counterpart;
- `certify`: interval bound propagation, which proves robustness where it can.

The chapter `chapters/robustness.ipynb` builds them; `tests/test_robust.py` checks the attacks
against the Adversarial Robustness Toolbox (ART).
"""

from aibook.robust.attacks import (
    fgsm,
    loss_gradient,
    margin,
    pgd,
    project,
    random_start,
    robust_accuracy,
    spsa,
    steepest,
)
from aibook.robust.certify import certified, ibp_objective, interval_bounds, worst_case_logits
from aibook.robust.defences import Quantize, TrainConfig, mlp, train

__all__ = [
    "Quantize",
    "TrainConfig",
    "certified",
    "fgsm",
    "ibp_objective",
    "interval_bounds",
    "loss_gradient",
    "margin",
    "mlp",
    "pgd",
    "project",
    "random_start",
    "robust_accuracy",
    "spsa",
    "steepest",
    "train",
    "worst_case_logits",
]
