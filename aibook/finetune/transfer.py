"""Transfer on digits: pretrain a small CNN on 0-4, adapt it to 5-9 from k labels per class.

The source task is not "which of 0-4" (five classes: the last layer keeps little else)
but "which of 0-4, in which of 8 orientations" (40 classes, `orientations`), learned with
random shifts and rotations and label smoothing. Its features describe strokes and their
layout, and transfer to digits the network never saw.

Five ways to adapt, from the fewest trained parameters to the most:
  probe   freeze the pretrained features, train a new head;
  lora    freeze them too, but add a rank-r update to the dense layer (aibook.finetune.lora);
  lpft    probe first, then fine-tune everything from there (Kumar et al. 2022);
  full    train everything, starting from the pretrained weights and a new head;
  scratch train everything from a random start (no transfer).

Every method gets the same budget, `steps` full-batch Adam steps (LP-FT spends
the share `lpft_probe_share` of them on the probe). Each method's learning rate is chosen on the
target's validation split by `choose_lrs`, with k-shot draws of their own.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass, replace
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from aibook.cnn import Augmented
from aibook.data import Split, digits, loader
from aibook.device import seed_for
from aibook.finetune.lora import add_lora
from aibook.finetune.params import freeze
from aibook.train import accuracy, fit

METHODS = ("scratch", "probe", "lora", "full", "lpft")
LR_FIELD = {"scratch": "lr_scratch", "probe": "lr_head", "lora": "lr_lora", "full": "lr_full",
            "lpft": "lr_lpft"}
LR_GRID = (3e-4, 1e-3, 3e-3, 1e-2)
N_ORIENTATIONS = 8  # 4 rotations by 90 degrees, of the image and of its mirror image


@dataclass
class TransferConfig:
    """Hyperparameters of the digits experiment (the chapter's defaults)."""

    width: int = 16           # channels of the first conv layer
    dim: int = 128            # features: the output of the dense layer fc
    orient: bool = True       # source task: 0-4 x 8 orientations (40 classes), else 0-4
    pretrain_epochs: int = 8  # passes over the 8 orientations of the source images
    pretrain_lr: float = 3e-3
    label_smoothing: float = 0.1
    max_shift: float = 1.0    # augmentation while pretraining (aibook.cnn.augment)
    max_degrees: float = 10.0
    p_augment: float = 0.8
    steps: int = 100          # full-batch Adam steps on the k-shot set, for every method
    lpft_probe_share: float = 0.5  # LP-FT: this share of the steps probes, the rest fine-tunes
    lr_head: float = 1e-2     # probe and the probe stage of LP-FT
    lr_full: float = 1e-3     # full fine-tune
    lr_lora: float = 3e-3
    lr_lpft: float = 1e-3     # the fine-tuning stage of LP-FT
    lr_scratch: float = 1e-3
    r: int = 4                # LoRA rank on the dense layer
    alpha: float = 8.0


class SmallCNN(nn.Module):
    """(N, 1, 8, 8) -> (N, n_classes): `features` (N, dim), then a linear `head`.

    The features end with the dense layer `fc` and no ReLU: a ReLU there would zero
    every unit that the source classes never needed, for the new classes too.
    """

    def __init__(self, n_classes: int = 5, width: int = 16, dim: int = 128):
        super().__init__()
        self.features = nn.Sequential(OrderedDict(
            conv1=nn.Conv2d(1, width, 3, padding=1), relu1=nn.ReLU(),         # (N, w, 8, 8)
            conv2=nn.Conv2d(width, 2 * width, 3, padding=1), relu2=nn.ReLU(),
            pool=nn.MaxPool2d(2), flatten=nn.Flatten(),                      # (N, 2w*4*4)
            fc=nn.Linear(2 * width * 16, dim),                               # (N, dim)
        ))
        self.head = nn.Linear(dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1:] != (1, 8, 8):
            raise ValueError(f"SmallCNN: expected images (N, 1, 8, 8), got {tuple(x.shape)}")
        return self.head(self.features(x))


def orientations(X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image in 8 orientations, each its own class.

    X (N, 1, H, W), y (N,) in 0..C-1 -> (X8 (8N, 1, H, W), y8 (8N,) in 0..8C-1) with
    y8 = 8 y + o: o = 0..3 rotates by o * 90 degrees, o = 4..7 mirrors first.
    """
    if X.ndim != 4 or len(X) != len(y):
        raise ValueError(f"orientations: expected X (N, C, H, W) and y (N,), got "
                         f"{tuple(X.shape)} and {tuple(y.shape)}")
    Xs, ys = [], []
    for o in range(N_ORIENTATIONS):
        Xo = X.flip(-1) if o >= 4 else X
        Xs.append(torch.rot90(Xo, o % 4, dims=(-2, -1)))
        ys.append(N_ORIENTATIONS * y + o)
    return torch.cat(Xs), torch.cat(ys)


def digit_tasks(seed: int = 0) -> tuple[Split, Split]:
    """(source, target): the digits split restricted to 0-4, and to 5-9 relabelled 0-4."""
    data = digits(seed, flat=False)

    def part(keep, shift: int) -> Split:
        out = []
        for X, y in zip(data.astuple()[::2], data.astuple()[1::2], strict=True):
            m = keep(y)
            out += [X[m], y[m] - shift]
        return Split(*out)

    return part(lambda y: y < 5, 0), part(lambda y: y >= 5, 5)


def k_shot(X: torch.Tensor, y: torch.Tensor, k: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """k examples of every class, drawn without replacement by `seed`. -> (X_k, y_k), len C*k."""
    classes = torch.unique(y)
    g = torch.Generator().manual_seed(seed_for(seed))
    idx = []
    for c in classes:
        rows = torch.nonzero(y == c).flatten()
        if len(rows) < k:
            raise ValueError(f"k_shot: class {int(c)} has {len(rows)} examples, asked for k={k}")
        idx.append(rows[torch.randperm(len(rows), generator=g)[:k]])
    idx = torch.cat(idx)
    return X[idx], y[idx]


def train_steps(model: nn.Module, X: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> None:
    """Full-batch Adam on the parameters that require grad."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("train_steps: no parameter requires grad")
    opt = torch.optim.Adam(params, lr=lr)
    model.train()
    for _ in range(steps):
        loss = F.cross_entropy(model(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def pretrain(source: Split, cfg: TransferConfig | None = None, seed: int = 0) -> SmallCNN:
    """Train a SmallCNN on the source task with aibook.fit, with shifts and rotations.

    cfg.orient: 40 classes (digit x orientation, see `orientations`), else the 5 digits.
    Only source.X_train and source.y_train are used.
    """
    cfg = cfg or TransferConfig()
    X, y = source.X_train, source.y_train
    if cfg.orient:
        X, y = orientations(X, y)
    torch.manual_seed(seed_for(seed))
    model = SmallCNN(int(y.max()) + 1, cfg.width, cfg.dim)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.pretrain_lr)
    batches = Augmented(loader(X, y, 64, seed=seed), seed=seed, max_shift=cfg.max_shift,
                        max_degrees=cfg.max_degrees, p=cfg.p_augment)
    fit(model, batches, epochs=cfg.pretrain_epochs, optimizer=opt,
        loss_fn=partial(F.cross_entropy, label_smoothing=cfg.label_smoothing),
        desc=f"pretrain on 0-4 ({int(y.max()) + 1} classes)")
    return model.eval()


def adapt(pretrained: SmallCNN, method: str, X: torch.Tensor, y: torch.Tensor,
          cfg: TransferConfig | None = None, seed: int = 0) -> SmallCNN:
    """A new model for the target task, trained on (X, y) by `method` (one of METHODS)."""
    cfg = cfg or TransferConfig()
    if method not in METHODS:
        raise ValueError(f"adapt: method must be one of {METHODS}, got {method!r}")
    torch.manual_seed(seed_for(seed))
    n_classes = int(y.max()) + 1
    if method == "scratch":
        model = SmallCNN(n_classes, cfg.width, pretrained.head.in_features)
        train_steps(model, X, y, cfg.steps, cfg.lr_scratch)
        return model
    probe_steps = cfg.steps if method == "probe" else round(cfg.lpft_probe_share * cfg.steps)
    if method == "lpft" and not 0 < probe_steps < cfg.steps:
        raise ValueError(f"adapt: LP-FT needs probe and fine-tuning steps; lpft_probe_share="
                         f"{cfg.lpft_probe_share} of steps={cfg.steps} gives {probe_steps} "
                         "probe steps")
    model = copy.deepcopy(pretrained)
    model.head = nn.Linear(model.head.in_features, n_classes)  # a fresh head for new classes
    if method in ("probe", "lpft"):
        freeze(model.features)
        with torch.no_grad():
            phi = model.features(X)                     # (N, dim): frozen, so compute once
        train_steps(model.head, phi, y, probe_steps, cfg.lr_head)
        if method == "lpft":  # the same budget as the others: the rest of the steps
            for p in model.parameters():
                p.requires_grad_(True)
            train_steps(model, X, y, cfg.steps - probe_steps, cfg.lr_lpft)
    elif method == "full":
        train_steps(model, X, y, cfg.steps, cfg.lr_full)
    else:  # lora: frozen features with a low-rank update on fc, plus the new head
        add_lora(model.features, ["fc"], r=cfg.r, alpha=cfg.alpha)
        train_steps(model, X, y, cfg.steps, cfg.lr_lora)
    return model


@torch.no_grad()
def accuracy_on(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of (X, y) that `model` classifies right."""
    model.eval()
    return accuracy(model(X), y)


def run_grid(pretrained: SmallCNN, target: Split, ks=(1, 5, 10, 50), seeds=(0, 1, 2),
             methods=METHODS, cfg: TransferConfig | None = None, *, on: str = "test",
             source: Split | None = None, progress: bool = True):
    """Accuracy on the target's `on` split ("val" or "test") for every method, k and seed.

    Returns acc[method][k] = [accuracy for each seed]; seed s draws the k-shot set
    and initialises the new weights, the same draw for every method. With `source`, returns
    (acc, source_acc): source_acc[method][k] = [source_digit_accuracy after adapting, per
    seed], which measures forgetting.
    """
    cfg = cfg or TransferConfig()
    if on not in ("val", "test"):
        raise ValueError(f"run_grid: on must be 'val' or 'test', got {on!r}")
    X_eval, y_eval = (target.X_val, target.y_val) if on == "val" else (target.X_test,
                                                                      target.y_test)
    acc = {m: {k: [] for k in ks} for m in methods}
    source_acc = {m: {k: [] for k in ks} for m in methods}
    bar = tqdm(total=len(ks) * len(seeds) * len(methods), desc=f"adapt to 5-9 ({on})",
               disable=not progress)
    for k in ks:
        for s in seeds:
            Xk, yk = k_shot(target.X_train, target.y_train, k, seed=s)
            for m in methods:
                model = adapt(pretrained, m, Xk, yk, cfg, seed=s)
                acc[m][k].append(accuracy_on(model, X_eval, y_eval))
                if source is not None:
                    source_acc[m][k].append(source_digit_accuracy(model, pretrained, source))
                bar.update()
    bar.close()
    return (acc, source_acc) if source is not None else acc


@torch.no_grad()
def source_digit_accuracy(adapted: SmallCNN, pretrained: SmallCNN, source: Split) -> float:
    """Catastrophic forgetting: accuracy on the source test digits (upright) of the adapted
    model's features under the pretrained head. The digit counts, not its orientation
    (argmax // 8 for the 40-class head). Meaningless for scratch, whose features never
    knew that head.
    """
    adapted.eval()
    logits = pretrained.head(adapted.features(source.X_test))       # (N, source classes)
    per_digit = N_ORIENTATIONS if pretrained.head.out_features == 5 * N_ORIENTATIONS else 1
    return (logits.argmax(1) // per_digit == source.y_test).float().mean().item()


def choose_lrs(pretrained: SmallCNN, target: Split, cfg: TransferConfig | None = None, *,
               ks=(1, 10), seeds=(100, 101), grid=LR_GRID, methods=METHODS,
               progress: bool = True) -> tuple[TransferConfig, dict]:
    """Each method's learning rate, chosen on the target's validation split.

    Mean validation accuracy over `ks` x `seeds` (k-shot draws that the reported runs never
    use); ties go to the smaller rate. LP-FT's probe stage keeps the probe's chosen rate,
    so the probe is chosen first. Returns (cfg with the chosen rates, table[method][lr]).
    """
    cfg = cfg or TransferConfig()
    order = sorted(methods, key=lambda m: m != "probe")          # the probe first
    table: dict[str, dict[float, float]] = {}
    bar = tqdm(total=len(order) * len(grid) * len(ks) * len(seeds),
               desc="learning rates on validation", disable=not progress)
    for m in order:
        table[m] = {}
        for lr in grid:
            trial = replace(cfg, **{LR_FIELD[m]: lr})
            scores = []
            for k in ks:
                for s in seeds:
                    Xk, yk = k_shot(target.X_train, target.y_train, k, seed=s)
                    model = adapt(pretrained, m, Xk, yk, trial, seed=s)
                    scores.append(accuracy_on(model, target.X_val, target.y_val))
                    bar.update()
            table[m][lr] = sum(scores) / len(scores)
        best = max(grid, key=lambda lr: (table[m][lr], -lr))
        cfg = replace(cfg, **{LR_FIELD[m]: best})
    bar.close()
    return cfg, table
