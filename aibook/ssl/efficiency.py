"""The label-efficiency experiment: what features learnt without labels buy a learner who
has only k labels per class.

One run (one seed) learns every representation from the unlabelled training signals, then,
for each k, draws k labelled signals per class and fits a linear probe (logistic regression
on standardised features) on each representation, beside a CNN trained from scratch on the
same k labels. All of it uses the training part only; the caller scores on a held-out set.
"""

from __future__ import annotations

import functools
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from aibook.device import seed_for
from aibook.parallel import run_all
from aibook.ssl.autoencoder import AEConfig, train_autoencoder
from aibook.ssl.contrastive import Encoder1D, SimCLRConfig, features, train_simclr
from aibook.ssl.data import per_class
from aibook.ssl.masked import MaskedConfig, train_masked
from aibook.ssl.vae import VAEConfig, train_vae
from aibook.timing import torch_threads
from aibook.train import accuracy

ALL = 0  # k = ALL: every training label
SUPERVISED_BATCH = 100


def linear_probe(F_train: np.ndarray | torch.Tensor, y_train: np.ndarray | torch.Tensor, *,
                 scaler: StandardScaler | None = None, C: float = 1.0) -> Pipeline:
    """A linear probe: logistic regression on frozen features F_train (N, D), labels (N,).

    Returns a fitted scikit-learn Pipeline (standardise, then classify) with .predict(F) and
    .score(F, y) (accuracy). `scaler`, already fitted (say on every unlabelled feature),
    standardises the features; when None, one is fitted on F_train."""
    F_train = np.asarray(F_train, dtype=np.float64)
    scaler = scaler or StandardScaler().fit(F_train)
    clf = LogisticRegression(C=C, max_iter=1000, tol=1e-3).fit(scaler.transform(F_train),
                                                                np.asarray(y_train))
    # Both steps are fitted already: the pipeline only chains them for predict and score.
    return Pipeline([("standardise", scaler), ("probe", clf)])


class SupervisedCNN(nn.Module):
    """The same encoder as SimCLR's with a linear classifier: signals (N, L) -> logits (N, 10)."""

    def __init__(self, channels: int = 25, length: int = 40, classes: int = 10):
        super().__init__()
        self.encoder = Encoder1D(channels, length)
        self.head = nn.Linear(self.encoder.dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


def train_supervised(x: torch.Tensor, y: torch.Tensor, *, seed: int, steps: int = 500,
                     batch_size: int = SUPERVISED_BATCH, lr: float = 3e-3, threads: int | None = 1
                     ) -> SupervisedCNN:
    """A SupervisedCNN trained from scratch by cross-entropy on (x (n, L), y (n,)) for a fixed
    number of Adam steps (no labels are left over for early stopping when n is tiny)."""
    with torch_threads(threads):
        torch.manual_seed(seed_for(seed))
        gen = torch.Generator().manual_seed(seed_for(seed) + 1)
        model = SupervisedCNN(length=x.shape[1])
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        for _ in range(steps):
            idx = torch.randint(len(x), (min(batch_size, len(x)),), generator=gen)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@dataclass
class EfficiencyConfig:
    seed: int = 0                                   # base seed; AIBOOK_SEED_OFFSET is added
    ks: tuple[int, ...] = (1, 5, 10, 50, ALL)       # labels per class (ALL: every label)
    simclr: SimCLRConfig = field(default_factory=lambda: SimCLRConfig(epochs=20))
    masked: MaskedConfig = field(default_factory=lambda: MaskedConfig(epochs=15))
    ae: AEConfig = field(default_factory=lambda: AEConfig(k=16, epochs=20))
    vae: VAEConfig = field(default_factory=lambda: VAEConfig(k=16, epochs=20, sigma=0.5))
    supervised_epochs: int = 20                     # over the k * 10 labelled signals...
    supervised_min_steps: int = 150                 # ...and never fewer Adam steps than this
    threads: int | None = 1


def representations(x: torch.Tensor, cfg: EfficiencyConfig) -> dict[str, torch.nn.Module | None]:
    """Every representation learnt from the unlabelled signals x (N, L), as feature maps
    (N, L) -> (N, D); "raw" is None (the signals themselves)."""
    s = cfg.seed
    f, g, _ = train_simclr(x, replace(cfg.simclr, seed=s), progress=False)
    masked, _ = train_masked(x, replace(cfg.masked, seed=s))
    ae, _ = train_autoencoder(x, replace(cfg.ae, seed=s))
    vae, _ = train_vae(x, replace(cfg.vae, seed=s))
    return {"raw": None, "autoencoder": ae.encoder, "VAE": _VAEMean(vae),
            "masked": _MaskedFeatures(masked), "contrastive": f,
            "contrastive, after the head": nn.Sequential(f, g)}


class _VAEMean(nn.Module):
    """The VAE's code for a signal: the mean of q(z|x), (N, L) -> (N, k)."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, x):
        return self.vae.encode(x)[0]


class _MaskedFeatures(nn.Module):
    """The masked model's encoder on unmasked signals (mask channel all zero); `.model` is
    the whole MaskedModel."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.encoder(torch.stack([x, torch.zeros_like(x)], dim=1))


@dataclass
class RunResult:
    """One seed: accuracy[method][k] on the evaluation set, and the learnt feature maps."""

    accuracy: dict[str, dict[int, float]]
    representations: dict[str, nn.Module | None]


def run(cfg: EfficiencyConfig, x: torch.Tensor, y: torch.Tensor, x_eval: torch.Tensor,
        y_eval: torch.Tensor) -> RunResult:
    """One seed of the experiment: accuracy[method][k] on (x_eval, y_eval), methods the
    representations' probes and "supervised CNN". x (N, L), y (N,) is the training part: its
    signals are all used unlabelled, and k labels per class are drawn from it."""
    with torch_threads(cfg.threads):
        reps = representations(x, cfg)
        out: dict[str, dict[int, float]] = {name: {} for name in [*reps, "supervised CNN"]}
        for name, rep in reps.items():
            F_all = x if rep is None else features(rep, x)
            F_eval = x_eval if rep is None else features(rep, x_eval)
            scaler = StandardScaler().fit(F_all.numpy())
            for k in cfg.ks:
                idx = np.arange(len(y)) if k == ALL else per_class(y, k, seed=1000 * cfg.seed + k)
                probe = linear_probe(F_all[idx], y[idx], scaler=scaler)
                out[name][k] = float(probe.score(np.asarray(F_eval, dtype=np.float64), y_eval))
        for k in cfg.ks:
            idx = np.arange(len(y)) if k == ALL else per_class(y, k, seed=1000 * cfg.seed + k)
            steps = max(cfg.supervised_min_steps,
                        cfg.supervised_epochs * len(idx) // SUPERVISED_BATCH)
            model = train_supervised(x[idx], y[idx], seed=1000 * cfg.seed + k, steps=steps)
            with torch.no_grad():
                out["supervised CNN"][k] = accuracy(model(x_eval), y_eval)
    return RunResult(out, reps)


def run_seeds(cfgs: list[EfficiencyConfig], x: torch.Tensor, y: torch.Tensor,
              x_eval: torch.Tensor, y_eval: torch.Tensor, pool: Executor | None = None
              ) -> list[RunResult]:
    """[run(cfg, ...) for cfg in cfgs] in order, with a progress bar; with a pool (a
    ProcessPoolExecutor with the "spawn" context) the seeds run side by side. Each run seeds
    itself from its config and uses one thread, so it gives the same result in a worker."""
    return run_all(functools.partial(_run, x=x, y=y, x_eval=x_eval, y_eval=y_eval), cfgs, pool,
                   "seeds")


def _run(cfg: EfficiencyConfig, *, x, y, x_eval, y_eval) -> RunResult:
    return run(cfg, x, y, x_eval, y_eval)
