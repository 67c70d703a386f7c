"""Magnitude pruning: set the smallest weights to zero, then fine-tune the rest.

Unstructured pruning (Han et al. 2015) zeroes individual weights wherever they are small,
ranked globally across layers. `torch.nn.utils.prune` does the bookkeeping: it keeps the
trained weight as `weight_orig`, a 0/1 `weight_mask` buffer, and recomputes
`weight = weight_orig * weight_mask` before every forward pass, so fine-tuning cannot
revive a pruned weight. The matrices keep their shape, so dense kernels do the same work.

Structured pruning removes whole hidden units (rows of one weight matrix and the
matching columns of the next; Li et al. 2017 rank them by L1 norm), which gives a
genuinely smaller dense model.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune

PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d)


def check_sparsity(amount: float) -> float:
    """Return `amount` if it is a fraction in [0, 1), else raise ValueError saying what came."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0 <= amount < 1:
        raise ValueError(f"sparsity must be a fraction in [0, 1), got {amount!r}")
    return float(amount)


def prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """(module, "weight") for every Linear/Conv layer: what global pruning ranks together."""
    return [(m, "weight") for m in model.modules() if isinstance(m, PRUNABLE)]


def sparsity(model: nn.Module) -> float:
    """Fraction of exactly-zero entries among the prunable weights, as forward() sees them."""
    params = prunable(model)
    if not params:
        raise ValueError("sparsity: the model has no Linear or Conv layers")
    zeros = sum(int((getattr(m, name) == 0).sum()) for m, name in params)
    return zeros / sum(getattr(m, name).numel() for m, name in params)


def global_magnitude_prune(model: nn.Module, amount: float) -> nn.Module:
    """Prune in place until exactly round(amount * N) of the N prunable weights are masked.

    amount: the target total sparsity in [0, 1). Weights pruned before stay pruned; the
    call masks only the extra weights needed, chosen by smallest |w| across all layers
    (torch.nn.utils.prune.global_unstructured with L1Unstructured). Returns the model.
    """
    check_sparsity(amount)
    params = prunable(model)
    if not params:
        raise ValueError("global_magnitude_prune: the model has no Linear or Conv layers")
    total = sum(getattr(m, name).numel() for m, name in params)
    masked = sum(int((m.get_buffer(name + "_mask") == 0).sum())
                 for m, name in params if hasattr(m, name + "_mask"))
    extra = round(amount * total) - masked
    if extra < 0:
        raise ValueError(f"global_magnitude_prune: {masked} of {total} weights are already "
                         f"pruned, more than the requested sparsity {amount}")
    # An int amount is a count of still-unpruned weights to remove (exact, no rounding).
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=extra)
    return model


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold masks into the weights (weight = weight_orig * mask) and drop the hooks, in place."""
    for m, name in prunable(model):
        if prune.is_pruned(m) and hasattr(m, name + "_mask"):
            prune.remove(m, name)
    return model


def _unit_scores(layer: nn.Linear) -> torch.Tensor:
    """L1 norm of each output unit's incoming weights: (out_features,)."""
    return layer.weight.detach().abs().sum(dim=1)


def shrink_hidden_units(model: nn.Sequential, keep: float) -> nn.Sequential:
    """A new, smaller MLP that keeps the fraction `keep` of every hidden layer's units.

    model: nn.Sequential of Linear layers separated by element-wise modules (ReLU, ...).
    For each Linear except the last, the units with the largest L1 norm of incoming
    weights survive: their rows of W and b stay, and the next Linear keeps only the
    matching columns. Returns a dense model with fewer parameters; `model` is unchanged.
    """
    if not 0 < keep <= 1:
        raise ValueError(f"shrink_hidden_units: keep must be a fraction in (0, 1], got {keep!r}")
    layers = list(model)
    linear_ids = [i for i, m in enumerate(layers) if isinstance(m, nn.Linear)]
    others = [type(m).__name__ for m in layers
              if not isinstance(m, (nn.Linear, nn.ReLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.Identity))]
    if len(linear_ids) < 2 or others:
        raise ValueError(f"shrink_hidden_units: expected a Sequential of >= 2 Linear layers "
                         f"and element-wise activations, got Linear at {linear_ids} and {others}")
    new = [m for m in layers]
    kept_inputs: torch.Tensor | None = None  # which input columns survive the previous cut
    for j, i in enumerate(linear_ids):
        W, b = layers[i].weight.detach(), layers[i].bias
        if kept_inputs is not None:
            W = W[:, kept_inputs]
        if j < len(linear_ids) - 1:
            k = max(1, round(keep * W.shape[0]))
            kept = torch.sort(torch.topk(_unit_scores(layers[i]), k).indices).values
            W, b = W[kept], (b.detach()[kept] if b is not None else None)
            kept_inputs = kept
        elif b is not None:
            b = b.detach()
        layer = nn.Linear(W.shape[1], W.shape[0], bias=b is not None)
        with torch.no_grad():
            layer.weight.copy_(W)
            if b is not None:
                layer.bias.copy_(b)
        new[i] = layer
    return nn.Sequential(*new)
