"""Generators and discriminators: MLPs for 2-D points, a small DCGAN for 8x8 digits.

PacGAN's packing (Lin et al., 2018) lives in `MLPDiscriminator(pack=m)`: the discriminator
judges m samples at once, all real or all generated, concatenated into one input of m * d
numbers. A generator that collapses onto few modes makes packs that look alike, which a
single-sample discriminator cannot see and a packed one can. The minibatch standard deviation
(Karras et al., 2018), `MLPDiscriminator(minibatch_std=True)`, gives it the same view cheaper.
"""

from __future__ import annotations

import torch
from torch import nn


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """Group consecutive rows into packs of m: (N, d) -> (N / m, m * d)."""
    if not isinstance(m, int) or m < 1:
        raise ValueError(f"pack: m must be a positive int, got {m!r}")
    if x.ndim != 2:
        raise ValueError(f"pack: expected x of shape (N, d), got {tuple(x.shape)}")
    if x.shape[0] % m:
        raise ValueError(f"pack: N = {x.shape[0]} rows cannot be split into packs of {m}")
    return x.reshape(x.shape[0] // m, m * x.shape[1])


def _mlp(d_in: int, hidden: int, depth: int, d_out: int, act: type[nn.Module]) -> nn.Sequential:
    if depth < 1 or hidden < 1:
        raise ValueError(f"mlp: need depth >= 1 and hidden >= 1, got depth={depth}, "
                         f"hidden={hidden}")
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(d_in if i == 0 else hidden, hidden), act()]
    layers.append(nn.Linear(hidden, d_out))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """G: z (N, z_dim) -> x (N, x_dim), `depth` hidden ReLU layers of width `hidden`."""

    def __init__(self, z_dim: int = 2, x_dim: int = 2, hidden: int = 128, depth: int = 3):
        super().__init__()
        self.z_dim = z_dim
        self.net = _mlp(z_dim, hidden, depth, x_dim, nn.ReLU)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"MLPGenerator: expected z of shape (N, {self.z_dim}), "
                             f"got {tuple(z.shape)}")
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """D: x (N, x_dim) -> logits (N / pack,), LeakyReLU hidden layers.

    pack = 1 is the ordinary discriminator; pack = m judges packs of m consecutive rows.
    minibatch_std=True appends, before the last layer, the features' standard deviation
    across the minibatch averaged to one number (Karras et al., 2018): a collapsed batch
    has a small one, which the discriminator can learn to reject.
    """

    def __init__(self, x_dim: int = 2, hidden: int = 128, depth: int = 3, pack: int = 1,
                 minibatch_std: bool = False):
        super().__init__()
        if not isinstance(pack, int) or pack < 1:
            raise ValueError(f"MLPDiscriminator: pack must be a positive int, got {pack!r}")
        self.x_dim, self.pack, self.minibatch_std = x_dim, pack, minibatch_std
        net = _mlp(x_dim * pack, hidden, depth, 1, lambda: nn.LeakyReLU(0.2))
        self.body = net[:-1]
        self.head = nn.Linear(hidden + 1, 1) if minibatch_std else net[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.x_dim:
            raise ValueError(f"MLPDiscriminator: expected x of shape (N, {self.x_dim}), "
                             f"got {tuple(x.shape)}")
        h = self.body(pack(x, self.pack))  # (N / pack, hidden)
        if self.minibatch_std:
            if len(h) < 2:
                raise ValueError("MLPDiscriminator: minibatch_std needs at least 2 inputs")
            s = h.std(dim=0).mean()  # one number for the whole minibatch
            h = torch.cat([h, s.expand(len(h), 1)], dim=1)  # (N / pack, hidden + 1)
        return self.head(h).squeeze(1)


class DigitsGenerator(nn.Module):
    """DCGAN-style G: z (N, z_dim) -> images (N, 1, 8, 8) in [0, 1].

    Linear to (2w, 2, 2), then two stride-2 transposed convolutions (2x2 -> 4x4 -> 8x8) with
    batch norm and ReLU between, and a sigmoid at the end (the digits are scaled to [0, 1]).
    """

    def __init__(self, z_dim: int = 32, width: int = 32):
        super().__init__()
        self.z_dim, self.width = z_dim, width
        self.project = nn.Sequential(nn.Linear(z_dim, 2 * width * 4),
                                     nn.BatchNorm1d(2 * width * 4), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),  # (N, w, 4, 4)
            nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),  # (N, 1, 8, 8)
            nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"DigitsGenerator: expected z of shape (N, {self.z_dim}), "
                             f"got {tuple(z.shape)}")
        h = self.project(z).view(-1, 2 * self.width, 2, 2)  # (N, 2w, 2, 2)
        return self.up(h)


class DigitsDiscriminator(nn.Module):
    """DCGAN-style D: images (N, 1, 8, 8) -> logits (N,).

    Two stride-2 convolutions (8x8 -> 4x4 -> 2x2) with LeakyReLU(0.2), then a linear layer.
    """

    def __init__(self, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # (N, w, 4, 4)
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),  # (N, 2w, 2, 2)
            nn.LeakyReLU(0.2), nn.Flatten(),
            nn.Linear(2 * width * 4, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 8, 8):
            raise ValueError(f"DigitsDiscriminator: expected images (N, 1, 8, 8), "
                             f"got {tuple(x.shape)}")
        return self.net(x).squeeze(1)
