"""Federated averaging (McMahan et al. 2017), simulated in one process.

``K`` clients each hold their own examples, which never leave them. Each round, the server sends
the global weights ``w``; every client runs ``E`` epochs of minibatch SGD on its own data from
``w``, and the server replaces ``w`` by the average of the clients' weights, weighted by their
numbers of examples: ``w <- sum_k (n_k / n) w_k``. FedSGD is the special case of one full-batch
gradient step per round. With non-IID clients (each sees two digits), many local epochs pull
each client towards its own classes, away from the others: *client drift*.

On ``torch.distributed`` a client is a rank: the server's average is an all-reduce of
``(n_k / n) w_k`` (a weighted ``dist.all_reduce``), once per round instead of once per step.
Here the ``K`` clients train side by side as one batched computation: the weights carry a
leading client dimension ``K``, which makes the simulation fast on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from aibook.device import seed_for

__all__ = ["FedConfig", "FedHistory", "fedavg", "iid_split", "init_mlp", "mlp_logits",
           "non_iid_split", "weighted_average"]

Params = dict[str, torch.Tensor]


def non_iid_split(y: np.ndarray, n_clients: int, classes_per_client: int = 2,
                  seed: int = 0) -> list[np.ndarray]:
    """McMahan et al.'s pathological non-IID split: each client sees only a few classes.

    Every class is cut into equal shards of single-class examples, and each client is dealt
    ``classes_per_client`` shards of different classes. Returns ``n_clients`` index arrays of
    equal length (leftover examples are dropped). ``seed`` is a base seed.
    """
    y = np.asarray(y)
    classes = np.unique(y)
    n_shards = n_clients * classes_per_client
    if n_clients < 1 or not 1 <= classes_per_client <= len(classes) or n_shards % len(classes):
        raise ValueError(f"non_iid_split: expected n_clients * classes_per_client to be a "
                         f"multiple of the {len(classes)} classes, with 1 <= classes_per_client "
                         f"<= {len(classes)}; got {n_clients} x {classes_per_client}")
    per_class = n_shards // len(classes)
    size = min(int((y == c).sum()) for c in classes) // per_class
    if size < 1:
        raise ValueError(f"non_iid_split: a class has fewer than {per_class} examples")
    rng = np.random.default_rng(seed_for(seed))
    shards = [rng.permutation(np.flatnonzero(y == c))[: per_class * size].reshape(per_class, size)
              for c in classes]
    labels = np.repeat(classes, per_class)  # one label per shard
    for _ in range(1000):  # deal until no client holds two shards of one class
        deal = rng.permutation(n_shards).reshape(n_clients, classes_per_client)
        if all(len(set(labels[d])) == classes_per_client for d in deal):
            break
    else:  # with many clients a valid random deal is rare: deal round-robin instead, shards in
        # class order, shard i to client i % n_clients, so one class's per_class <= n_clients
        # shards land on different clients
        order = np.concatenate([np.flatnonzero(labels == c) for c in rng.permutation(classes)])
        deal = order.reshape(classes_per_client, n_clients).T[rng.permutation(n_clients)]
    taken = {c: 0 for c in classes}
    out = []
    for d in deal:
        parts = []
        for c in labels[d]:
            parts.append(shards[int(np.searchsorted(classes, c))][taken[c]])
            taken[c] += 1
        out.append(np.sort(np.concatenate(parts)))
    return out


def iid_split(n: int, n_clients: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """``n_clients`` disjoint random index arrays of ``size`` examples each, out of ``n``."""
    if n_clients * size > n:
        raise ValueError(f"iid_split: {n_clients} clients x {size} examples exceed the {n} given")
    rng = np.random.default_rng(seed_for(seed))
    return list(np.sort(rng.permutation(n)[: n_clients * size].reshape(n_clients, size), axis=1))


def weighted_average(tensors: list[torch.Tensor], counts: list[int]) -> torch.Tensor:
    """``sum_k (n_k / n) tensors[k]``: the server's step in FedAvg (all tensors one shape)."""
    if len(tensors) != len(counts) or not tensors:
        raise ValueError(f"weighted_average: expected one count per tensor, got {len(tensors)} "
                         f"tensors and {len(counts)} counts")
    if any(c <= 0 for c in counts):
        raise ValueError(f"weighted_average: expected positive counts, got {counts}")
    w = torch.as_tensor(counts, dtype=tensors[0].dtype) / sum(counts)
    return torch.einsum("k,k...->...", w, torch.stack(tensors))


def init_mlp(n_in: int, hidden: int, n_out: int, generator: torch.Generator) -> Params:
    """A one-hidden-layer MLP's weights, PyTorch's default (Kaiming-uniform) scale."""
    def uniform(shape: tuple[int, ...], fan_in: int) -> torch.Tensor:
        bound = 1 / fan_in ** 0.5
        return (torch.rand(shape, generator=generator) * 2 - 1) * bound
    return {"W1": uniform((n_in, hidden), n_in), "b1": uniform((hidden,), n_in),
            "W2": uniform((hidden, n_out), hidden), "b2": uniform((n_out,), hidden)}


def mlp_logits(params: Params, X: torch.Tensor) -> torch.Tensor:
    """Logits. Unbatched: X (n, d) -> (n, c). Per client: params with a leading K, X (K, n, d)."""
    h = torch.relu(X @ params["W1"] + params["b1"].unsqueeze(-2))
    return h @ params["W2"] + params["b2"].unsqueeze(-2)


@dataclass
class FedConfig:
    rounds: int = 30  # communication rounds
    local_epochs: int = 5  # E; ignored when batch_size is None (FedSGD: one full-batch step)
    batch_size: int | None = 10  # B; None is full batch, one step per round: FedSGD
    lr: float = 0.1
    hidden: int = 32


@dataclass
class FedHistory:
    accuracy: list[float] = field(default_factory=list)  # of the global model, after each round
    drift: list[float] = field(default_factory=list)  # mean ||w_k - w|| over clients, per round
    snapshots: list[Params] = field(default_factory=list)  # the global weights after each round


def _local_training(global_params: Params, Xc: torch.Tensor, yc: torch.Tensor, config: FedConfig,
                    generator: torch.Generator) -> Params:
    """Every client's E epochs of SGD from the global weights, batched over clients."""
    K, n = yc.shape
    local = {k: v.expand(K, *v.shape).clone().requires_grad_() for k, v in global_params.items()}
    if config.batch_size is None:
        batches = [torch.arange(n)]
    else:
        batches = []
        for _ in range(config.local_epochs):
            batches += torch.randperm(n, generator=generator).split(config.batch_size)
    rows = torch.arange(K)[:, None]
    for idx in batches:
        logits = mlp_logits(local, Xc[:, idx])
        # the sum over clients of each client's mean loss: each client's gradient is its own
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yc[rows, idx].reshape(-1),
                               reduction="none").view(K, -1).mean(1).sum()
        grads = torch.autograd.grad(loss, list(local.values()))
        with torch.no_grad():
            for p, g in zip(local.values(), grads, strict=True):
                p -= config.lr * g
    return {k: v.detach() for k, v in local.items()}


def fedavg(clients: list[tuple[torch.Tensor, torch.Tensor]], X_val: torch.Tensor,
           y_val: torch.Tensor, config: FedConfig, seed: int = 0) -> FedHistory:
    """Run FedAvg (or FedSGD, with ``batch_size=None``) and score the global model each round.

    ``clients``: one ``(X (n, d), y (n,))`` per client, all with the same ``n``. ``seed`` is a
    base seed (initial weights and the clients' minibatch order).
    """
    sizes = {len(y) for _, y in clients}
    if len(sizes) != 1:
        raise ValueError(f"fedavg: the batched simulation expects clients of equal size, got "
                         f"sizes {sorted(sizes)}")
    Xc = torch.stack([X for X, _ in clients])
    yc = torch.stack([y for _, y in clients])
    n_classes = int(max(int(yc.max()), int(y_val.max()))) + 1
    generator = torch.Generator().manual_seed(seed_for(seed))
    params = init_mlp(Xc.shape[-1], config.hidden, n_classes, generator)
    counts = [len(y) for _, y in clients]
    history = FedHistory()
    for _ in range(config.rounds):
        local = _local_training(params, Xc, yc, config, generator)
        params = {k: weighted_average(list(v), counts) for k, v in local.items()}
        flat_local = torch.cat([v.reshape(len(counts), -1) for v in local.values()], 1)
        flat_global = torch.cat([v.reshape(-1) for v in params.values()])
        history.drift.append((flat_local - flat_global).norm(dim=1).mean().item())
        with torch.no_grad():
            acc = (mlp_logits(params, X_val).argmax(1) == y_val).double().mean().item()
        history.accuracy.append(acc)
        history.snapshots.append(params)
    return history
