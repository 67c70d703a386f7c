"""Knowledge distillation (Hinton, Vinyals and Dean 2015): a small student learns from the
soft outputs of a large teacher as well as from the labels.

With temperature T, p_T = softmax(z / T) spreads the teacher's probability over the wrong
classes ("a 7 that looks a bit like a 1"), which tells the student far more per example
than a one-hot label. The loss mixes the two targets with weight alpha on the hard labels:

    L = alpha * CE(y, softmax(z_s)) + (1 - alpha) * T^2 * KL(p_T(z_t) || p_T(z_s))

The T^2 keeps the soft term's gradients the same size as T changes (they scale as 1/T^2).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm


@dataclass
class DistillConfig:
    """Hyperparameters of `distill`; the defaults are the chapter's."""

    T: float = 8.0  # temperature of the soft targets
    alpha: float = 0.0  # weight of the hard-label cross-entropy; 1 - alpha on the soft term
    epochs: int = 40
    lr: float = 3e-3
    weight_decay: float = 0.0


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      y: torch.Tensor, *, T: float = 4.0, alpha: float = 0.1) -> torch.Tensor:
    """Scalar: alpha * CE(student, y) + (1 - alpha) * T^2 * KL(teacher_T || student_T).

    student_logits, teacher_logits: (N, K); y: (N,) int64 labels. The KL term is averaged
    over the N rows. alpha = 1 gives plain cross-entropy; alpha = 0 only the soft targets.
    """
    if student_logits.shape != teacher_logits.shape or student_logits.ndim != 2:
        raise ValueError(f"distillation_loss: expected student and teacher logits of the same "
                         f"shape (N, K), got {tuple(student_logits.shape)} and "
                         f"{tuple(teacher_logits.shape)}")
    if y.shape != student_logits.shape[:1]:
        raise ValueError(f"distillation_loss: expected labels ({student_logits.shape[0]},), "
                         f"got {tuple(y.shape)}")
    if not T > 0:
        raise ValueError(f"distillation_loss: temperature T must be > 0, got {T}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"distillation_loss: alpha must be in [0, 1], got {alpha}")
    hard = F.cross_entropy(student_logits, y)
    soft = F.kl_div(F.log_softmax(student_logits / T, dim=1),
                    F.log_softmax(teacher_logits.detach() / T, dim=1),
                    reduction="batchmean", log_target=True)
    return alpha * hard + (1 - alpha) * T**2 * soft


def distill(student: nn.Module, teacher: nn.Module, batches: Iterable[tuple[torch.Tensor, ...]],
            config: DistillConfig | None = None, *, progress: bool = True) -> list[float]:
    """Train `student` in place on `batches` of (X, y) against the frozen `teacher`.

    Uses Adam with config.lr; returns the mean loss of each epoch.
    """
    config = config or DistillConfig()
    teacher.eval()
    device = next(student.parameters()).device
    optimizer = torch.optim.Adam(student.parameters(), lr=config.lr,
                                 weight_decay=config.weight_decay)
    losses = []
    bar = tqdm(range(config.epochs), desc="distill", disable=not progress)
    for _ in bar:
        student.train()
        total, n = 0.0, 0
        for X, y in batches:
            X, y = X.to(device), y.to(device)
            with torch.no_grad():
                teacher_logits = teacher(X)
            loss = distillation_loss(student(X), teacher_logits, y, T=config.T,
                                     alpha=config.alpha)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
            n += len(y)
        losses.append(total / n)
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    return losses
