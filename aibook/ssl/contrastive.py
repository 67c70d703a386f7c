"""Contrastive self-supervised learning in the style of SimCLR (Chen et al. 2020), on
1-D signals.

Two random views of each signal go through an encoder f (a small CNN, as in the MNIST-1D
authors' notebook) and a projection head g; the NT-Xent loss pulls the two views of a
signal together and pushes the other 2N - 2 views of the batch away. The representation
kept for downstream tasks is h = f(x), taken before the head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from aibook.device import seed_for
from aibook.timing import torch_threads

# --- augmentations -----------------------------------------------------------------------------

def augment(x: torch.Tensor, gen: torch.Generator, *, max_shift: int = 10,
            scale: tuple[float, float] = (0.8, 1.2), stretch: float = 0.2,
            shear: float = 1.0, noise: float = 0.1) -> torch.Tensor:
    """One random view of each signal. x: (N, L) -> (N, L).

    The nuisances MNIST-1D's generator adds, drawn afresh: a circular shift by up to
    max_shift positions, a stretch in time by a factor in [1 - stretch, 1 + stretch] (read by
    linear interpolation), an amplitude scale drawn from `scale`, a shear (a linear trend
    c (t - 1/2), c uniform in [-shear/2, shear/2]) and Gaussian noise of std `noise`.
    """
    if x.ndim != 2:
        raise ValueError(f"augment: expected signals (N, L), got shape {tuple(x.shape)}")
    n, length = x.shape
    # Random numbers come from the (CPU) generator, then move to x's device and dtype.
    like = {"dtype": x.dtype, "device": x.device}
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 1), generator=gen).to(x.device)
    factor = (1 + stretch * (2 * torch.rand(n, 1, generator=gen) - 1)).to(**like)
    t = torch.arange(length, **like)
    # Read the signal at positions (t - centre) / factor + centre - shift, wrapping around,
    # with linear interpolation between the two nearest samples.
    pos = (t - length / 2) / factor + length / 2 - shifts
    lo = pos.floor()
    w = pos - lo
    lo = lo.long() % length
    out = (1 - w) * x.gather(1, lo) + w * x.gather(1, (lo + 1) % length)
    a = torch.empty(n, 1).uniform_(*scale, generator=gen).to(**like)
    c = (shear * (torch.rand(n, 1, generator=gen) - 0.5)).to(**like)
    trend = torch.linspace(-0.5, 0.5, length, **like)
    return a * out - c * trend + noise * torch.randn(out.shape, generator=gen).to(**like)


# --- the loss ------------------------------------------------------------------------------------

def nt_xent(z1: torch.Tensor, z2: torch.Tensor, tau: float = 0.5) -> torch.Tensor:
    """SimCLR's normalised-temperature cross-entropy, averaged over all 2N views.

    z1, z2: (N, D) projections of the two views (row i of each comes from signal i).
    For view a with positive p(a): -log exp(s(a, p)/tau) / sum_{b != a} exp(s(a, b)/tau),
    s the cosine similarity. The matrix form: one (2N, 2N) product, the diagonal masked.
    """
    if z1.shape != z2.shape or z1.ndim != 2 or len(z1) < 2:
        raise ValueError(f"nt_xent: expected two (N, D) batches with N >= 2, got "
                         f"{tuple(z1.shape)} and {tuple(z2.shape)}")
    if tau <= 0:
        raise ValueError(f"nt_xent: expected tau > 0, got {tau}")
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / tau
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device),
                                float("-inf"))
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, positive)


def nt_xent_loop(z1: torch.Tensor, z2: torch.Tensor, tau: float = 0.5) -> torch.Tensor:
    """The same loss, one view and one pair at a time: the definition, written out (slow)."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n2 = len(z)
    total = z.new_zeros(())
    for a in range(n2):
        p = (a + n2 // 2) % n2
        denominator = z.new_zeros(())
        for b in range(n2):
            if b != a:
                denominator = denominator + torch.exp(torch.dot(z[a], z[b]) / tau)
        total = total - torch.log(torch.exp(torch.dot(z[a], z[p]) / tau) / denominator)
    return total / n2


# --- encoder and projection head ---------------------------------------------------------------

class Encoder1D(nn.Module):
    """f: signals (N, L=40) -> features h (N, channels * 5), three stride-2 convolutions with
    ReLU (the MNIST-1D authors' SimCLR encoder: 40 -> 19 -> 10 -> 5 positions)."""

    def __init__(self, channels: int = 25, length: int = 40, in_channels: int = 1):
        super().__init__()
        self.in_channels = in_channels
        self.net = nn.Sequential(
            nn.Conv1d(in_channels, channels, 5, stride=2, padding=1), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten())
        with torch.no_grad():
            self.dim = int(self.net(torch.zeros(1, in_channels, length)).shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, L) signals, or (N, in_channels, L) -> (N, dim)."""
        return self.net(x.unsqueeze(1) if x.ndim == 2 else x)


def projection_head(d_in: int, hidden: int = 125, d_out: int = 16) -> nn.Sequential:
    """g: h (N, d_in) -> z (N, d_out), one hidden ReLU layer (SimCLR's MLP head)."""
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))


# --- training -----------------------------------------------------------------------------------

@dataclass
class SimCLRConfig:
    seed: int = 0               # base seed; AIBOOK_SEED_OFFSET is added
    epochs: int = 40            # passes over the unlabelled signals
    batch_size: int = 128       # N signals, 2N views per step
    lr: float = 3e-3            # Adam
    tau: float = 0.5            # NT-Xent temperature (the MNIST-1D authors' value)
    channels: int = 25
    max_shift: int = 10
    stretch: float = 0.2
    shear: float = 1.0
    noise: float = 0.1
    threads: int | None = 1     # tiny convolutions: one thread is as fast as two


@torch.no_grad()
def features(encoder: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """encoder(x) in eval mode, by batches: (N, ...) -> (N, D)."""
    was = encoder.training
    encoder.eval()
    out = torch.cat([encoder(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    encoder.train(was)
    return out


def train_simclr(x: torch.Tensor, cfg: SimCLRConfig | None = None, progress: bool = True
                 ) -> tuple[Encoder1D, nn.Sequential, list[float]]:
    """Train f and g on unlabelled signals x (N, L) with NT-Xent. Returns (f, g, the loss of
    each epoch). Seeded from cfg.seed alone, so a run gives the same result in any process."""
    cfg = cfg or SimCLRConfig()
    if len(x) < cfg.batch_size:
        raise ValueError(f"train_simclr: expected at least batch_size = {cfg.batch_size} "
                         f"signals, got {len(x)}")
    views = dict(max_shift=cfg.max_shift, stretch=cfg.stretch, shear=cfg.shear, noise=cfg.noise)
    with torch_threads(cfg.threads):
        torch.manual_seed(seed_for(cfg.seed))
        gen = torch.Generator().manual_seed(seed_for(cfg.seed) + 1)
        f = Encoder1D(cfg.channels, x.shape[1])
        g = projection_head(f.dim)
        opt = torch.optim.Adam([*f.parameters(), *g.parameters()], lr=cfg.lr)
        losses = []
        steps = len(x) // cfg.batch_size
        for _ in tqdm(range(cfg.epochs), desc="SimCLR", disable=not progress, mininterval=1.0):
            order = torch.randperm(len(x), generator=gen)
            total = 0.0
            for s in range(steps):
                xb = x[order[s * cfg.batch_size:(s + 1) * cfg.batch_size]]
                v1 = augment(xb, gen, **views)
                v2 = augment(xb, gen, **views)
                loss = nt_xent(g(f(v1)), g(f(v2)), cfg.tau)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item()
            losses.append(total / steps)
    return f, g, losses
