"""Autoencoders: a bottleneck x -> z -> x_hat trained to reconstruct its input.

A linear autoencoder trained on squared error spans the same subspace as PCA's top k
components (Baldi and Hornik 1989); `principal_angles` measures how close two subspaces are.
A denoising autoencoder (Vincent et al. 2008) reconstructs x from a corrupted copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aibook.device import seed_for
from aibook.timing import torch_threads


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """x (N, d) -> z (N, k) -> x_hat (N, d). hidden=None: linear encoder and decoder;
    otherwise one hidden ReLU layer of that width on each side."""

    def __init__(self, d: int, k: int, hidden: int | None = None):
        super().__init__()
        if not 0 < k < d:
            raise ValueError(f"Autoencoder: expected a bottleneck 0 < k < d = {d}, got k = {k}")
        self.encoder = mlp([d, k] if hidden is None else [d, hidden, k])
        self.decoder = mlp([k, d] if hidden is None else [k, hidden, d])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def principal_angles(A: torch.Tensor | np.ndarray, B: torch.Tensor | np.ndarray) -> np.ndarray:
    """Principal angles in degrees, ascending, between the column spaces of A (d, k) and
    B (d, m): the arccos of the singular values of Q_A^T Q_B, Q orthonormal bases."""
    A, B = np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64)
    if A.ndim != 2 or B.ndim != 2 or len(A) != len(B):
        raise ValueError(f"principal_angles: expected A (d, k) and B (d, m), got {A.shape} "
                         f"and {B.shape}")
    qa, qb = np.linalg.qr(A)[0], np.linalg.qr(B)[0]
    s = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return np.degrees(np.arccos(np.clip(s, -1.0, 1.0)))


@dataclass
class AEConfig:
    seed: int = 0          # base seed; AIBOOK_SEED_OFFSET is added
    k: int = 8             # bottleneck width
    hidden: int | None = 128
    noise: float = 0.0     # std of the Gaussian corruption (denoising when > 0)
    epochs: int = 60
    batch_size: int = 64
    lr: float = 3e-3       # Adam
    threads: int | None = 1


def train_autoencoder(X: torch.Tensor, cfg: AEConfig | None = None
                      ) -> tuple[Autoencoder, list[float]]:
    """Fit an Autoencoder to X (N, d) by mean squared error, reconstructing the clean x from
    x + noise * eps. Returns (model, clean reconstruction error of each epoch)."""
    cfg = cfg or AEConfig()
    with torch_threads(cfg.threads):
        torch.manual_seed(seed_for(cfg.seed))
        gen = torch.Generator().manual_seed(seed_for(cfg.seed) + 1)
        model = Autoencoder(X.shape[1], cfg.k, cfg.hidden)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        losses = []
        for _ in range(cfg.epochs):
            order = torch.randperm(len(X), generator=gen)
            for i in range(0, len(X), cfg.batch_size):
                x = X[order[i:i + cfg.batch_size]]
                noisy = x + cfg.noise * torch.randn(x.shape, generator=gen) if cfg.noise else x
                loss = F.mse_loss(model(noisy), x)
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                losses.append(F.mse_loss(model(X), X).item())
    return model, losses
