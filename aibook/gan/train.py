"""Training loops for the ring GAN and the digits DCGAN, hyperparameters in dataclasses on top.

Both loops alternate one discriminator step and one generator step on fresh noise, with Adam
(beta1 = 0.5, as DCGAN recommends). Seeds fix the weights, the noise and the data order, so a
run repeats exactly on the CPU.

The ring trainer can also keep an exponential moving average of the generator's weights
(`RingGANConfig.ema`, `ema_update`): it is never trained on, only sampled from, a standard way
to evaluate a GAN whose weights keep circling (Karras et al., 2018; Yazici et al., 2019).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch.func import functional_call, stack_module_state
from tqdm.auto import tqdm

from aibook.device import seed_for
from aibook.gan.losses import discriminator_loss, generator_loss
from aibook.gan.models import (
    DigitsDiscriminator,
    DigitsGenerator,
    MLPDiscriminator,
    MLPGenerator,
)
from aibook.gan.ring import sample_ring
from aibook.train import model_device


@dataclass
class RingGANConfig:
    """Ring GAN. pack = 1 is the vanilla GAN; pack = m > 1 is PacGAN_m."""

    steps: int = 3000
    batch_size: int = 256  # samples per step (pack * packs), real and generated each
    lr: float = 2e-3  # for both players; tuned: 1e-4 collapses far more often in this budget
    cosine: bool = False  # optionally anneal both learning rates to lr / 100
    betas: tuple[float, float] = (0.5, 0.999)
    z_dim: int = 2
    hidden: int = 64
    depth: int = 3
    pack: int = 1
    minibatch_std: bool = False
    loss: str = "non_saturating"
    ema: float = 0.99  # decay of a moving average of G's weights (GANRun.G_ema); 0: none
    snapshot_every: int = 500  # keep generated samples every this many steps (for figures)
    n_snapshot: int = 1000


@dataclass
class DigitsGANConfig:
    """DCGAN on the 8x8 digits."""

    steps: int = 2000
    batch_size: int = 64  # the chapter's choice, to fit its time budget (tried on seeds 0-2)
    lr: float = 3e-4
    betas: tuple[float, float] = (0.5, 0.999)
    z_dim: int = 32
    width: int = 32
    loss: str = "non_saturating"


@dataclass
class GANRun:
    """What a training run leaves: the two players, their per-step losses, snapshots.

    G_ema, when the run kept one, is a copy of G whose weights are the exponential moving
    average of G's weights over the steps (`RingGANConfig.ema`).
    """

    G: torch.nn.Module
    D: torch.nn.Module
    d_losses: list[float] = field(default_factory=list)
    g_losses: list[float] = field(default_factory=list)
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)  # step -> (n, 2)
    G_ema: torch.nn.Module | None = None

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, *, ema: bool = False) -> torch.Tensor:
        """n generated samples from fixed noise N(0, I) seeded by `seed`, in eval mode.

        ema=True samples from G_ema, the moving average of G's weights, instead of G."""
        if ema and self.G_ema is None:
            raise ValueError("GANRun.sample: ema=True but this run kept no EMA generator "
                             "(train with RingGANConfig(ema=...) > 0)")
        G = self.G_ema if ema else self.G
        G.eval()
        z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed_for(seed)))
        return G(z.to(model_device(G))).cpu()


def ema_update(average: Sequence[torch.Tensor], current: Sequence[torch.Tensor],
               decay: float) -> None:
    """In place, for each pair of same-shaped tensors: average <- decay * average
    + (1 - decay) * current. Over steps this is an exponential moving average of `current`
    with weight (1 - decay) decay^k on the value k steps back, about 1 / (1 - decay) steps."""
    if not 0 <= decay < 1:
        raise ValueError(f"ema_update: decay must lie in [0, 1), got {decay}")
    if len(average) != len(current):
        raise ValueError(f"ema_update: {len(average)} averages but {len(current)} tensors")
    with torch.no_grad():
        for a, c in zip(average, current, strict=True):
            if a.shape != c.shape:
                raise ValueError(f"ema_update: shapes {tuple(a.shape)} and {tuple(c.shape)} "
                                 "differ")
            a.lerp_(c, 1 - decay)


def _check_config(cfg, name: str) -> None:
    if cfg.steps < 1 or cfg.batch_size < 2 or cfg.lr <= 0:
        raise ValueError(f"{name}: need steps >= 1, batch_size >= 2, lr > 0; got "
                         f"steps={cfg.steps}, batch_size={cfg.batch_size}, lr={cfg.lr}")
    if cfg.loss not in ("non_saturating", "saturating"):
        raise ValueError(f"{name}: loss must be 'non_saturating' or 'saturating', "
                         f"got {cfg.loss!r}")


def _gan_step(G, D, opt_G, opt_D, real: torch.Tensor, z: torch.Tensor,
              loss: str) -> tuple[float, float]:
    """One discriminator step, then one generator step on the same noise z."""
    fake = G(z)
    d_loss = discriminator_loss(D(real), D(fake.detach()))
    opt_D.zero_grad()
    d_loss.backward()
    opt_D.step()
    g_loss = generator_loss(D(fake), loss)
    opt_G.zero_grad()
    g_loss.backward()
    opt_G.step()
    return d_loss.item(), g_loss.item()


def train_ring_gan(cfg: RingGANConfig | None = None, seed: int = 0, *,
                   device: torch.device | str = "cpu", progress: bool = True) -> GANRun:
    """Train one MLP GAN on fresh samples of the 8-Gaussian ring; see `train_ring_gans`."""
    return train_ring_gans(cfg, [seed], device=device, progress=progress)[0]


def train_ring_gans(cfg: RingGANConfig | None = None, seeds: Sequence[int] = (0, 1, 2), *,
                    device: torch.device | str = "cpu", progress: bool = True) -> list[GANRun]:
    """Train one GAN per seed on the 8-Gaussian ring, all at once, for cfg.steps steps.

    The runs are independent (own weights, noise, data, Adam state; Adam is elementwise),
    but their parameters are stacked and evaluated with torch.func.vmap, so E seeds cost
    about one run's Python overhead. Each step: the discriminator sees cfg.batch_size real
    and as many generated inputs (each a pack of cfg.pack samples), then the generator steps.
    """
    cfg = cfg or RingGANConfig()
    _check_config(cfg, "train_ring_gans")
    if len(seeds) < 1 or len(set(seeds)) != len(seeds):
        raise ValueError(f"train_ring_gans: need distinct seeds, got {list(seeds)}")
    if not 0 <= cfg.ema < 1:
        raise ValueError(f"train_ring_gans: ema must lie in [0, 1), got {cfg.ema}")
    Gs, Ds = [], []
    for seed in seeds:
        torch.manual_seed(seed_for(seed))
        Gs.append(MLPGenerator(cfg.z_dim, 2, cfg.hidden, cfg.depth).to(device))
        Ds.append(MLPDiscriminator(2, cfg.hidden, cfg.depth, pack=cfg.pack,
                                   minibatch_std=cfg.minibatch_std).to(device))
    G_params, G_all = _stack(Gs)
    D_params, D_all = _stack(Ds)
    ema = {k: v.detach().clone() for k, v in G_params.items()} if cfg.ema else None
    opt_G = torch.optim.Adam(G_params.values(), lr=cfg.lr, betas=cfg.betas)
    opt_D = torch.optim.Adam(D_params.values(), lr=cfg.lr, betas=cfg.betas)
    schedulers = [torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps, cfg.lr / 100)
                  for opt in (opt_G, opt_D) if cfg.cosine]
    data_rngs = [torch.Generator().manual_seed(seed_for(10_000 + s)) for s in seeds]
    noise_rngs = [torch.Generator().manual_seed(seed_for(20_000 + s)) for s in seeds]
    n = cfg.batch_size * cfg.pack  # samples per step and per run
    z_show = torch.stack([torch.randn(cfg.n_snapshot, cfg.z_dim, generator=r)
                          for r in noise_rngs]).to(device)  # (E, n_snapshot, z_dim)
    d_loss_all = torch.vmap(discriminator_loss)
    g_loss_all = torch.vmap(lambda a: generator_loss(a, cfg.loss))
    runs = [GANRun(G, D) for G, D in zip(Gs, Ds, strict=True)]
    # mininterval: at most one update a second, so a long run floods no notebook front end
    bar = tqdm(range(1, cfg.steps + 1), desc=f"ring GAN, pack={cfg.pack}, {len(seeds)} seeds",
               disable=not progress, mininterval=1.0)
    for step in bar:
        real = torch.stack([sample_ring(n, generator=r) for r in data_rngs]).to(device)  # (E,n,2)
        z = torch.stack([torch.randn(n, cfg.z_dim, generator=r) for r in noise_rngs]).to(device)
        fake = G_all(z)  # (E, n, 2)
        d_losses = d_loss_all(D_all(real), D_all(fake.detach()))  # (E,)
        opt_D.zero_grad()
        d_losses.sum().backward()
        opt_D.step()
        g_losses = g_loss_all(D_all(fake))  # (E,)
        opt_G.zero_grad()
        g_losses.sum().backward()
        opt_G.step()
        if ema is not None:
            ema_update(list(ema.values()), list(G_params.values()), cfg.ema)
        for scheduler in schedulers:
            scheduler.step()
        for run, d, g in zip(runs, d_losses.tolist(), g_losses.tolist(), strict=True):
            run.d_losses.append(d)
            run.g_losses.append(g)
        if step == 1 or step % cfg.snapshot_every == 0:
            with torch.no_grad():
                shown = G_all(z_show).cpu()
            for e, run in enumerate(runs):
                run.snapshots[step] = shown[e]
    _unstack(G_params, Gs)
    _unstack(D_params, Ds)
    if ema is not None:
        G_emas = [copy.deepcopy(G) for G in Gs]
        _unstack(ema, G_emas)
        for run, G_ema in zip(runs, G_emas, strict=True):
            run.G_ema = G_ema
    return runs


def _stack(models: list[torch.nn.Module]):
    """Stack E same-shaped models' parameters: -> (dict of leaf tensors (E, ...), forward)

    where forward maps x (E, N, ...) to the E models' outputs (E, ...), model e on x[e]."""
    params, _ = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")

    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.vmap(lambda p, x_e: functional_call(base, p, (x_e,)))(params, x)

    return params, forward


def _unstack(params: dict[str, torch.Tensor], models: list[torch.nn.Module]) -> None:
    """Copy the trained stacked parameters back into the E separate models."""
    with torch.no_grad():
        for e, model in enumerate(models):
            for name, p in model.named_parameters():
                p.copy_(params[name][e])


def train_digits_gan(X: torch.Tensor, cfg: DigitsGANConfig | None = None, seed: int = 0, *,
                     device: torch.device | str = "cpu", progress: bool = True) -> GANRun:
    """Train the DCGAN on images X (N, 1, 8, 8) in [0, 1], drawing minibatches with a seed."""
    cfg = cfg or DigitsGANConfig()
    _check_config(cfg, "train_digits_gan")
    if X.ndim != 4 or tuple(X.shape[1:]) != (1, 8, 8):
        raise ValueError(f"train_digits_gan: expected X of shape (N, 1, 8, 8), "
                         f"got {tuple(X.shape)}")
    if X.min() < 0 or X.max() > 1:
        raise ValueError(f"train_digits_gan: pixels must lie in [0, 1], got "
                         f"[{X.min().item():.3g}, {X.max().item():.3g}]")
    torch.manual_seed(seed_for(seed))
    G = DigitsGenerator(cfg.z_dim, cfg.width).to(device)
    D = DigitsDiscriminator(cfg.width).to(device)
    opt_G = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_D = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=cfg.betas)
    rng = torch.Generator().manual_seed(seed_for(30_000 + seed))
    X = X.to(device)
    run = GANRun(G, D)
    for _ in tqdm(range(cfg.steps), desc="digits DCGAN", disable=not progress, mininterval=1.0):
        idx = torch.randint(len(X), (cfg.batch_size,), generator=rng)
        z = torch.randn(cfg.batch_size, cfg.z_dim, generator=rng).to(device)
        d_loss, g_loss = _gan_step(G, D, opt_G, opt_D, X[idx.to(device)], z, cfg.loss)
        run.d_losses.append(d_loss)
        run.g_losses.append(g_loss)
    G.eval()
    return run


def nearest_neighbour_distances(queries: torch.Tensor, references: torch.Tensor,
                                exclude_self: bool = False) -> torch.Tensor:
    """Euclidean distance from each query to its nearest reference: (M, ...), (N, ...) -> (M,).

    Rows are flattened. exclude_self=True (queries is references) skips the zero self-match.
    """
    q, r = queries.flatten(1).float(), references.flatten(1).float()
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"nearest_neighbour_distances: queries have {q.shape[1]} features "
                         f"but references have {r.shape[1]}")
    d = torch.cdist(q, r)  # (M, N)
    if exclude_self:
        if q.shape != r.shape:
            raise ValueError("nearest_neighbour_distances: exclude_self needs queries == "
                             "references")
        d.fill_diagonal_(float("inf"))
    return d.min(dim=1).values
