"""Knowledge distillation (Hinton, Vinyals and Dean 2015): a small student learns from the
soft outputs of a large teacher as well as from the labels.

With temperature T, p_T = softmax(z / T) spreads the teacher's probability over the wrong
classes ("a 7 that looks a bit like a 1"), which tells the student far more per example
than a one-hot label. The loss mixes the two targets with weight alpha on the hard labels:

    L = alpha * CE(y, softmax(z_s)) + (1 - alpha) * T^2 * KL(p_T(z_t) || p_T(z_s))

The T^2 keeps the soft term's gradients the same size as T changes (they scale as 1/T^2).

When the transfer set is fixed, the teacher is needed only once: `with_teacher_logits` makes a
loader of (X, y, z_t) batches, and `distill` then trains without calling the teacher again.
`gap_closed` is the chapter's score: the fraction of the student-teacher gap distillation closes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from aibook.device import seed_for
from aibook.train import model_device


@dataclass
class DistillConfig:
    """Hyperparameters of `distill`; the defaults are the chapter's."""

    T: float = 3.0  # temperature of the soft targets (2.5 to 4 suits small students)
    alpha: float = 0.0  # weight of the hard-label cross-entropy; 1 - alpha on the soft term
    epochs: int = 120
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


@torch.no_grad()
def with_teacher_logits(teacher: nn.Module, X: torch.Tensor, y: torch.Tensor,
                        batch_size: int = 64, *, seed: int = 0) -> DataLoader:
    """A loader of (X, y, z_t) batches, z_t (B, K) the frozen teacher's logits for X (B, ...).

    The teacher runs once, in eval mode, on all of X (N, ...); y is (N,). The batches come in
    the same shuffled order as `aibook.loader(X, y, batch_size, seed=seed)` (at any
    AIBOOK_SEED_OFFSET: `seed` is a base seed), so a student trained on the labels alone can
    see exactly the same batches.
    """
    if len(X) != len(y):
        raise ValueError(f"with_teacher_logits: X has {len(X)} rows but y has {len(y)}")
    teacher.eval()
    device = model_device(teacher)
    z_t = torch.cat([teacher(X[i:i + 1024].to(device)).cpu() for i in range(0, len(X), 1024)])
    generator = torch.Generator().manual_seed(seed_for(seed))  # as aibook.loader seeds it
    return DataLoader(TensorDataset(X, y, z_t), batch_size=batch_size, shuffle=True,
                      generator=generator)


def distill(student: nn.Module, teacher: nn.Module | None,
            batches: Iterable[tuple[torch.Tensor, ...]], config: DistillConfig | None = None, *,
            progress: bool = True) -> list[float]:
    """Train `student` in place on `batches` against the frozen `teacher`.

    batches yield (X, y), and the teacher is run on each X; or (X, y, z_t) with the teacher's
    logits z_t (N, K) computed beforehand (see `with_teacher_logits`), and then `teacher` may
    be None. Uses Adam with config.lr; returns the mean loss of each epoch.
    """
    config = config or DistillConfig()
    if teacher is not None:
        teacher.eval()
    device = model_device(student)
    optimizer = torch.optim.Adam(student.parameters(), lr=config.lr,
                                 weight_decay=config.weight_decay)
    losses = []
    bar = tqdm(range(config.epochs), desc="distill", disable=not progress)
    for _ in bar:
        student.train()
        total, n = 0.0, 0
        for batch in batches:
            if len(batch) == 3:
                X, y, teacher_logits = (t.to(device) for t in batch)
            elif len(batch) == 2 and teacher is not None:
                X, y = batch[0].to(device), batch[1].to(device)
                with torch.no_grad():
                    teacher_logits = teacher(X)
            else:
                raise ValueError(f"distill: expected batches (X, y) with a teacher, or "
                                 f"(X, y, teacher_logits); got {len(batch)} tensors and "
                                 f"teacher={type(teacher).__name__}")
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


def gap_closed(errors_alone: float, errors_distilled: float, errors_teacher: float) -> float:
    """(errors_alone - errors_distilled) / (errors_alone - errors_teacher): 1 when the distilled
    student matches the teacher, 0 when it is no better than the student trained alone.

    Hinton et al. (2015) on MNIST: (146 - 74) / (146 - 67) = 0.91. Error counts or rates.
    """
    if not errors_alone > errors_teacher:
        raise ValueError(f"gap_closed: the student alone must make more errors than the teacher, "
                         f"got {errors_alone} and {errors_teacher}")
    return (errors_alone - errors_distilled) / (errors_alone - errors_teacher)
