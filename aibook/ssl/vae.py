"""The variational autoencoder (Kingma and Welling 2014).

An encoder q(z|x) = N(mu(x), diag sigma^2(x)), a prior p(z) = N(0, I) and a decoder
p(x|z). Training maximises the evidence lower bound

    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) <= log p(x),

with the expectation estimated through z = mu + sigma * eps, eps ~ N(0, I) (the
reparameterisation trick), and the KL in closed form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aibook.device import seed_for
from aibook.ssl.autoencoder import mlp
from aibook.timing import torch_threads


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per row: (N, k), (N, k) -> (N,).

    = 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)."""
    if mu.shape != logvar.shape:
        raise ValueError(f"gaussian_kl: mu and logvar must have one shape, got "
                         f"{tuple(mu.shape)} and {tuple(logvar.shape)}")
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps: a sample of q(z|x) through which gradients reach mu and sigma."""
    return mu + (0.5 * logvar).exp() * eps


class VAE(nn.Module):
    """x (N, d) -> q(z|x) with k latent dimensions -> the decoder's output (N, d): Bernoulli
    logits when sigma is None (x in [0, 1]), else the mean of N(mean, sigma^2 I)."""

    def __init__(self, d: int, k: int = 2, hidden: int = 256, sigma: float | None = None):
        super().__init__()
        if sigma is not None and sigma <= 0:
            raise ValueError(f"VAE: expected sigma > 0 or None (Bernoulli), got {sigma}")
        self.k, self.sigma = k, sigma
        self.encoder = mlp([d, hidden, 2 * k])
        self.decoder = mlp([k, hidden, d])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar), each (N, k)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits (or the Gaussian mean) of p(x|z): (..., k) -> (..., d)."""
        return self.decoder(z)

    def log_lik(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) summed over the d coordinates: (..., d) -> (...)."""
        if self.sigma is None:
            return reconstruction_log_lik(out, x)
        return (-0.5 * ((x - out) / self.sigma).pow(2)
                - math.log(self.sigma * math.sqrt(2 * math.pi))).sum(-1)


def reconstruction_log_lik(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) summed over the d pixels: -BCE(logits, x). (..., d) -> (...)."""
    x = x.expand_as(logits)
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def elbo(model: VAE, x: torch.Tensor, *, samples: int = 1, gen: torch.Generator | None = None,
         analytic_kl: bool = True) -> torch.Tensor:
    """ELBO per row in nats, (N, d) -> (N,), with `samples` draws of z for the expectation.

    analytic_kl=False estimates the KL by Monte Carlo too: log q(z|x) - log p(z) at the
    same draws, so the whole bound is one average over samples."""
    mu, logvar = model.encode(x)
    eps = torch.randn((samples, *mu.shape), generator=gen, dtype=mu.dtype)
    z = reparameterize(mu, logvar, eps)                      # (S, N, k)
    rec = model.log_lik(model.decode(z), x)                  # (S, N)
    if analytic_kl:
        return rec.mean(0) - gaussian_kl(mu, logvar)
    log_q = (-0.5 * (eps.pow(2) + logvar + math.log(2 * math.pi))).sum(-1)
    log_p = (-0.5 * (z.pow(2) + math.log(2 * math.pi))).sum(-1)
    return (rec - log_q + log_p).mean(0)


@dataclass
class VAEConfig:
    seed: int = 0          # base seed; AIBOOK_SEED_OFFSET is added
    k: int = 2             # latent dimensions
    hidden: int = 256
    sigma: float | None = None  # None: Bernoulli pixels; else a Gaussian of this std
    epochs: int = 60
    batch_size: int = 64
    lr: float = 2e-3       # Adam
    threads: int | None = 1


def train_vae(X: torch.Tensor, cfg: VAEConfig | None = None) -> tuple[VAE, list[float]]:
    """Maximise the one-sample ELBO of X (N, d). Returns (model, the mean training ELBO of
    each epoch, nats per example)."""
    cfg = cfg or VAEConfig()
    with torch_threads(cfg.threads):
        torch.manual_seed(seed_for(cfg.seed))
        gen = torch.Generator().manual_seed(seed_for(cfg.seed) + 1)
        model = VAE(X.shape[1], cfg.k, cfg.hidden, cfg.sigma)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        history = []
        for _ in range(cfg.epochs):
            order = torch.randperm(len(X), generator=gen)
            total = 0.0
            for i in range(0, len(X), cfg.batch_size):
                x = X[order[i:i + cfg.batch_size]]
                bound = elbo(model, x, gen=gen)
                loss = -bound.mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += bound.sum().item()
            history.append(total / len(X))
    return model, history
