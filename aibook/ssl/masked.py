"""Masked signal modelling: BERT's idea (Devlin et al. 2019) in miniature.

Hide a random fraction of each signal's positions, feed the rest (with a channel that says
which positions are hidden) to an encoder, and train it to fill in the hidden values. The
loss counts the hidden positions only: copying the visible ones teaches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from aibook.device import seed_for
from aibook.ssl.contrastive import Encoder1D
from aibook.timing import torch_threads


def mask_positions(x: torch.Tensor, ratio: float, gen: torch.Generator) -> torch.Tensor:
    """A boolean mask (N, L), True where a value is hidden: max(1, round(ratio * L))
    positions of each row, drawn without replacement."""
    if not 0 < ratio < 1:
        raise ValueError(f"mask_positions: expected 0 < ratio < 1, got {ratio}")
    if x.ndim != 2:
        raise ValueError(f"mask_positions: expected signals (N, L), got shape {tuple(x.shape)}")
    n, length = x.shape
    hidden = max(1, round(ratio * length))
    ranks = torch.rand(n, length, generator=gen).argsort(dim=1).argsort(dim=1)
    return ranks < hidden


class MaskedModel(nn.Module):
    """Signals with hidden values (N, L) and their mask (N, L) -> predicted signals (N, L).
    The encoder sees two channels, the visible values (0 where hidden) and the mask."""

    def __init__(self, channels: int = 25, length: int = 40):
        super().__init__()
        self.encoder = Encoder1D(channels, length, in_channels=2)
        self.decoder = nn.Linear(self.encoder.dim, length)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(masked_input(x, mask)))


def masked_input(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N, L), (N, L) -> (N, 2, L): the visible values and the mask as two channels."""
    return torch.stack([x.masked_fill(mask, 0.0), mask.to(x.dtype)], dim=1)


def masked_mse(pred: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the hidden positions only."""
    return (pred - x).pow(2)[mask].mean()


@dataclass
class MaskedConfig:
    seed: int = 0          # base seed; AIBOOK_SEED_OFFSET is added
    ratio: float = 0.25    # fraction of positions hidden
    epochs: int = 20
    batch_size: int = 128
    lr: float = 3e-3       # Adam
    channels: int = 25
    threads: int | None = 1


def train_masked(x: torch.Tensor, cfg: MaskedConfig | None = None, progress: bool = False
                 ) -> tuple[MaskedModel, list[float]]:
    """Train a MaskedModel on signals x (N, L). Returns (model, masked MSE of each epoch)."""
    cfg = cfg or MaskedConfig()
    if len(x) < cfg.batch_size:
        raise ValueError(f"train_masked: expected at least batch_size = {cfg.batch_size} "
                         f"signals, got {len(x)}")
    with torch_threads(cfg.threads):
        torch.manual_seed(seed_for(cfg.seed))
        gen = torch.Generator().manual_seed(seed_for(cfg.seed) + 1)
        model = MaskedModel(cfg.channels, x.shape[1])
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        history = []
        for _ in tqdm(range(cfg.epochs), desc="masked", disable=not progress, mininterval=1.0):
            order = torch.randperm(len(x), generator=gen)
            total, steps = 0.0, 0
            for i in range(0, len(x) - cfg.batch_size + 1, cfg.batch_size):
                xb = x[order[i:i + cfg.batch_size]]
                mask = mask_positions(xb, cfg.ratio, gen)
                loss = masked_mse(model(xb, mask), xb, mask)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total, steps = total + loss.item(), steps + 1
            history.append(total / steps)
    return model, history
