"""A minimal PyTorch training loop with a tqdm progress bar, returning a per-epoch history."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class History:
    """Per-epoch records: train loss and metric, and the same on validation data when given."""

    loss: list[float] = field(default_factory=list)
    metric: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_metric: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.loss)


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows whose argmax matches the label. logits: (N, K), y: (N,)."""
    if logits.ndim != 2 or y.ndim != 1 or len(logits) != len(y):
        raise ValueError(
            f"accuracy: expected logits (N, K) and labels (N,), got {tuple(logits.shape)} "
            f"and {tuple(y.shape)}"
        )
    return (logits.argmax(dim=1) == y).float().mean().item()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[Batch],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
    metric: Callable[[torch.Tensor, torch.Tensor], float] = accuracy,
    device: torch.device | str | None = None,
) -> tuple[float, float]:
    """Mean loss and metric of `model` over all batches, weighted by batch size."""
    was_training = model.training
    model.eval()
    device = device or model_device(model)
    total_loss = total_metric = 0.0
    n = 0
    for X, y in batches:
        X, y = X.to(device), y.to(device)
        out = model(X)
        total_loss += loss_fn(out, y).item() * len(y)
        total_metric += metric(out, y) * len(y)
        n += len(y)
    model.train(was_training)
    if n == 0:
        raise ValueError("evaluate: got no batches")
    return total_loss / n, total_metric / n


def fit(
    model: nn.Module,
    train_batches: Iterable[Batch],
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
    metric: Callable[[torch.Tensor, torch.Tensor], float] = accuracy,
    val_batches: Iterable[Batch] | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    desc: str = "train",
) -> History:
    """Train `model` for `epochs` passes over `train_batches` (e.g. a DataLoader).

    Returns a History with one entry per epoch. The tqdm bar shows the latest
    train loss and, when `val_batches` is given, the validation metric.
    """
    if epochs < 1:
        raise ValueError(f"fit: epochs must be >= 1, got {epochs}")
    device = device or model_device(model)
    history = History()
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=True)
    for _ in bar:
        model.train()
        total_loss = total_metric = 0.0
        n = 0
        for X, y in train_batches:
            X, y = X.to(device), y.to(device)
            out = model(X)
            loss = loss_fn(out, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(y)
            total_metric += metric(out.detach(), y) * len(y)
            n += len(y)
        if n == 0:
            raise ValueError("fit: got no training batches (an empty loader?)")
        if scheduler is not None:
            scheduler.step()
        history.loss.append(total_loss / n)
        history.metric.append(total_metric / n)
        shown = {"loss": f"{history.loss[-1]:.4f}"}
        if val_batches is not None:
            val_loss, val_metric = evaluate(model, val_batches, loss_fn, metric, device)
            history.val_loss.append(val_loss)
            history.val_metric.append(val_metric)
            shown["val"] = f"{val_metric:.4f}"
        bar.set_postfix(shown)
    return history


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (the CPU for a model without parameters)."""
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")
