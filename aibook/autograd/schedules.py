"""Learning-rate schedules for the optimizers of `aibook.autograd.optim`.

- `warmup_cosine(step, ...)`: linear warm-up, then a half cosine down to lr_min;
- `Scheduler`: sets an optimizer's `lr` before every update from any such function;
- `lr_range_test` and `suggest_lr`: Smith's learning-rate range test (Smith, 2017).

Steps count updates from 1: `step = k` is the learning rate of the k-th call of
`optimizer.step()`. That is the lr torch's schedulers give the k-th update in the usual loop
`opt.step(); sched.step()`, so `warmup_cosine` equals torch's
`SequentialLR([LinearLR, CosineAnnealingLR])` update by update (see `warmup_cosine`).
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from aibook.autograd.nn import Module, cross_entropy, train_step
from aibook.autograd.tensor import Tensor

# ---- a schedule --------------------------------------------------------------------------


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, lr_max: float,
                  lr_min: float = 0.0) -> float:
    """The learning rate of update number `step` (1, 2, ..., total_steps):

        lr(s) = lr_max * s / W                                          for 0 <= s <= W
        lr(s) = lr_min + (lr_max - lr_min) * (1 + cos(pi (s - W) / (T - W))) / 2
                                                                        for W <= s <= T

    with T = total_steps and W = warmup_steps. The line rises from lr(0) = 0 to the peak
    lr(W) = lr_max, and the half cosine falls from there to lr(T) = lr_min. Update 1 takes
    lr_max / W, update W takes lr_max, update T takes lr_min; no update takes the 0 at
    s = 0 (transformers' get_cosine_schedule_with_warmup uses the same curve but counts
    updates from 0, so its first update has lr 0). W = 1 is no warm-up at all (update 1 is
    already at the peak); with W = 0 the peak sits at s = 0, before the first update.
    After T the lr stays at lr_min (torch's cosine would climb back up).

    In torch this is, for W >= 2 and W < T, with the optimizer's lr set to lr_max:

        SequentialLR(opt, [LinearLR(opt, start_factor=1 / W, total_iters=W - 1),
                           CosineAnnealingLR(opt, T_max=T - W, eta_min=lr_min)],
                     milestones=[W - 1])

    torch counts its scheduler steps from 0 (the k-th update sees epoch k - 1): LinearLR
    gives (1 / W) + (1 - 1 / W)(k - 1) / (W - 1) = k / W, and the cosine takes over at
    epoch W - 1, update W, the peak. LinearLR cannot start from 0 (start_factor > 0), which
    is why the line's 0 belongs to s = 0 and update 1 takes the first step up it.
    """
    step, total_steps, warmup_steps = (_as_int("warmup_cosine", name, value) for name, value in
                                       (("step", step), ("total_steps", total_steps),
                                        ("warmup_steps", warmup_steps)))
    if total_steps < 1 or not 0 <= warmup_steps <= total_steps:
        raise ValueError(f"warmup_cosine: need total_steps >= 1 and 0 <= warmup_steps <= "
                         f"total_steps, got total_steps={total_steps}, "
                         f"warmup_steps={warmup_steps}")
    if not (math.isfinite(lr_max) and math.isfinite(lr_min) and 0 <= lr_min <= lr_max
            and lr_max > 0):
        raise ValueError(f"warmup_cosine: need 0 <= lr_min <= lr_max and lr_max > 0, "
                         f"got lr_min={lr_min}, lr_max={lr_max}")
    if step < 0:
        raise ValueError(f"warmup_cosine: step must be >= 0, got {step}")
    if step > total_steps:
        return float(lr_min)
    if step <= warmup_steps:
        return lr_max * step / warmup_steps if warmup_steps else float(lr_max)
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return lr_min + (lr_max - lr_min) * (1 + math.cos(math.pi * progress)) / 2


def _as_int(who: str, name: str, value) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{who}: {name} must be an int, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{who}: {name} must be an int, got {value!r}") from None


class Scheduler:
    """Sets `optimizer.lr = lr_at(k)` before the k-th update, k = 1, 2, ...

    Works with any optimizer that reads `self.lr` in `step()`, as ours do. Call `step()`
    after each `optimizer.step()`, as with torch's schedulers:

        sched = Scheduler(opt, lambda k: warmup_cosine(k, T, W, lr_max=0.1))
        for _ in range(T):
            train_step(model, opt, X, y)   # uses opt.lr = lr_at(k)
            sched.step()                   # k += 1, opt.lr = lr_at(k)

    `k` is the number of the next update and `lrs` the lr of every update so far set
    (lrs[k - 1] = lr_at(k)).
    """

    def __init__(self, optimizer, lr_at: Callable[[int], float]) -> None:
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"Scheduler: {type(optimizer).__name__} has no attribute `lr`; it "
                            "drives the optimizers of aibook.autograd.optim (for a torch "
                            "optimizer use torch.optim.lr_scheduler.LambdaLR)")
        self.optimizer, self.lr_at = optimizer, lr_at
        self.k = 1
        self.lrs: list[float] = []
        self._apply()

    def step(self) -> float:
        """Move on to the next update and set its lr; returns that lr."""
        self.k += 1
        return self._apply()

    def _apply(self) -> float:
        lr = float(self.lr_at(self.k))
        if not (math.isfinite(lr) and lr >= 0):
            raise ValueError(f"Scheduler: lr_at({self.k}) = {lr}; a learning rate must be a "
                             "finite number >= 0")
        self.optimizer.lr = lr
        self.lrs.append(lr)
        return lr


# ---- the learning-rate range test --------------------------------------------------------


def lr_range_test(make_model_and_opt: Callable[[], tuple[Module, object]],
                  batches: Sequence[tuple[np.ndarray | Tensor, np.ndarray | Tensor]],
                  lr_min: float, lr_max: float, steps: int, *,
                  loss_fn: Callable[[Tensor, object], Tensor] = cross_entropy,
                  beta: float = 0.98, diverge_factor: float = 4.0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Smith's (2017) learning-rate range test: train while the lr grows exponentially.

    make_model_and_opt() -> (model, optimizer): a fresh model (the test wrecks its weights
    at the end) and one of our optimizers. batches: (X, y) pairs, taken in turn and again
    from the start when they run out (one pair: full-batch gradient descent). Update k
    (k = 0, ..., steps - 1) uses

        lr_k = lr_min * (lr_max / lr_min) ** (k / (steps - 1))

    and records its batch's loss (before the update, as `train_step` returns it) smoothed
    by an exponential moving average with bias correction, as fastai does:

        avg_k = beta * avg_{k-1} + (1 - beta) * loss_k,   smoothed_k = avg_k / (1 - beta^(k+1))

    The test stops once smoothed_k > diverge_factor * (the best smoothed loss so far), the
    loss has diverged (fastai's rule, with factor 4), or when a loss is not finite (that
    step is not recorded). Returns (lrs, smoothed losses), numpy arrays of equal length.
    beta = 0 records the raw losses. The average lags: with beta = 0.98 it remembers about
    1 / (1 - beta) = 50 updates, so use a few hundred steps over the range.
    """
    lr_min, lr_max = float(lr_min), float(lr_max)
    steps = _as_int("lr_range_test", "steps", steps)
    if not (0 < lr_min < lr_max and math.isfinite(lr_max)):
        raise ValueError(f"lr_range_test: need 0 < lr_min < lr_max, got lr_min={lr_min}, "
                         f"lr_max={lr_max}")
    if steps < 2:
        raise ValueError(f"lr_range_test: steps must be >= 2, got {steps}")
    if not 0 <= beta < 1:
        raise ValueError(f"lr_range_test: beta must be in [0, 1), got {beta}")
    if not diverge_factor > 1:
        raise ValueError(f"lr_range_test: diverge_factor must be > 1, got {diverge_factor}")
    batches = list(batches)
    if not batches:
        raise ValueError("lr_range_test: got no batches")
    model, opt = make_model_and_opt()
    if not hasattr(opt, "lr"):
        raise TypeError(f"lr_range_test: make_model_and_opt must return (model, optimizer) "
                        f"with an optimizer of aibook.autograd.optim, got "
                        f"{type(opt).__name__}")
    ratio = lr_max / lr_min
    lrs: list[float] = []
    losses: list[float] = []
    avg, best = 0.0, math.inf
    for k in range(steps):
        lr = lr_min * ratio ** (k / (steps - 1))
        opt.lr = lr
        X, y = batches[k % len(batches)]
        loss = train_step(model, opt, X, y, loss_fn)
        if not math.isfinite(loss):
            break
        avg = beta * avg + (1 - beta) * loss
        smoothed = avg / (1 - beta ** (k + 1))
        lrs.append(lr)
        losses.append(smoothed)
        if smoothed > diverge_factor * best:
            break
        best = min(best, smoothed)
    return np.array(lrs), np.array(losses)


def suggest_lr(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """One tenth of the lr at which the smoothed loss of `lr_range_test` is lowest.

    Why this rule: the minimum sits past the edge of stability, where larger steps stop
    paying. For least squares and gradient descent the edge is lr = 2 / lambda_max
    (lambda_max: the Hessian's largest eigenvalue). The loss climbs only once the direction
    that became unstable has grown back from the small value training had brought it to, and
    the smoothed loss lags behind that: on the least-squares problem of the tests (400 steps
    over five decades, 200 seeds) the minimum fell at 2.9 to 3.4 times the edge. A tenth of it
    backs off by a decade, below the edge yet within a decade of it. The other common rule,
    the lr of steepest descent of the smoothed loss, differentiates a noisy curve: on the same
    runs it fell anywhere from 1.8 to 77 times below the edge. (fastai offers both, as
    `minimum` / 10 and `steep`.)

    Warns when the minimum is the last point: the loss was still falling, the test never
    reached the edge, and lr_max should be raised.
    """
    lrs, losses = np.asarray(lrs, dtype=float), np.asarray(losses, dtype=float)
    if lrs.ndim != 1 or lrs.shape != losses.shape or lrs.size < 2:
        raise ValueError(f"suggest_lr: expected lrs and losses of the same length >= 2, got "
                         f"shapes {lrs.shape} and {losses.shape}")
    if not (np.all(np.isfinite(lrs)) and np.all(np.isfinite(losses))):
        raise ValueError("suggest_lr: lrs and losses must be finite")
    if np.any(lrs <= 0) or np.any(np.diff(lrs) <= 0):
        raise ValueError("suggest_lr: lrs must be positive and increasing, as lr_range_test "
                         "returns them")
    i = int(np.argmin(losses))
    if i == lrs.size - 1:
        warnings.warn("suggest_lr: the loss was lowest at the largest lr tried; the range test "
                      "did not reach divergence, so raise lr_max", stacklevel=2)
    return float(lrs[i] / 10)
