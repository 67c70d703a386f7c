"""Training a GPT and measuring it: the loop, exact-answer accuracy, loss in nats per token,
and the counted n-gram baselines a language model must beat.

All losses are natural-log cross-entropies, in nats per token (per character for a
character-level model); divide by ln 2 for bits.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from aibook.transformer.data import Task, lm_batch
from aibook.transformer.gpt import GPT


@dataclass
class TrainConfig:
    steps: int = 600
    batch_size: int = 64
    lr: float = 3e-3          # AdamW; small models tolerate nanoGPT's 1e-3 and more
    weight_decay: float = 0.0
    warmup: int = 20          # linear warm-up, then cosine decay to lr / 10
    grad_clip: float = 1.0
    eval_every: int = 100


@dataclass
class TrainLog:
    """What `train` saw: the train loss at every step, validation scores every eval_every
    steps, and the step whose validation score was best (the weights it returns)."""

    loss: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    best_step: int = 0


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up over cfg.warmup steps, then cosine decay from lr to lr / 10."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    done = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, done))))


def train(model: GPT, batch: Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]],
          cfg: TrainConfig, *, seed: int, validate: Callable[[GPT], float] | None = None,
          stop_at: float | None = None, progress: bool = True, desc: str = "train"
          ) -> TrainLog:
    """AdamW on model.loss(*batch(generator)) for at most cfg.steps steps.

    batch(generator) -> (x, y), each (B, T). validate(model) -> a score where higher is
    better (an accuracy, or minus a loss), on validation data; it runs every cfg.eval_every
    steps and at the end, and the model keeps the weights of its best score (early stopping
    chosen on validation). Training stops as soon as the score reaches `stop_at` (e.g. 1.0
    for a task whose validation answers are all right). seed: the generator's seed for the
    batches (use seed_for)."""
    if cfg.steps < 1:
        raise ValueError(f"train: steps must be >= 1, got {cfg.steps}")
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(seed)
    log, best, best_state = TrainLog(), -math.inf, None
    bar = tqdm(range(cfg.steps), desc=desc, disable=not progress, leave=False)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        model.train()
        loss = model.loss(*batch(g))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        log.loss.append(loss.item())
        if validate is not None and ((step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps):
            model.eval()
            score = float(validate(model))
            log.val_steps.append(step + 1)
            log.val.append(score)
            if score >= best:  # among equal scores, the later (longer-trained) weights
                best, best_state, log.best_step = score, copy.deepcopy(model.state_dict()), step + 1
            bar.set_postfix(loss=f"{loss.item():.3f}", val=f"{score:.3f}")
            if stop_at is not None and score >= stop_at:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return log


def task_batch(task: Task, batch_size: int) -> Callable[[torch.Generator], tuple]:
    """A batch function for `train`: random training rows of a Task."""
    x, y = task.sequences("train")

    def draw(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.randint(len(x), (batch_size,), generator=g)
        return x[rows], y[rows]
    return draw


def lm_batches(data: torch.Tensor, batch_size: int, block_size: int) -> Callable:
    """A batch function for `train`: random windows of a token stream."""
    return lambda g: lm_batch(data, batch_size, block_size, g)


@torch.no_grad()
def exact_match(model: GPT, task: Task, split: str) -> float:
    """Share of the split's prompts whose greedy answer is right in every token."""
    rows = task.split[split]
    prompts, answers = task.prompts[rows], task.answers[rows]
    out = model.generate(prompts, answers.shape[1], temperature=0)[:, prompts.shape[1]:]
    return (out == answers).all(dim=1).float().mean().item()


@torch.no_grad()
def mean_nll(model: GPT, data: torch.Tensor, block_size: int | None = None,
             batch_size: int = 256) -> float:
    """Mean next-token loss (nats per token) over a stream (N,), cut into non-overlapping
    windows of block_size + 1 tokens (the same windows every time: no sampling noise)."""
    t = block_size or model.cfg.block_size
    n = (len(data) - 1) // t
    if n < 1:
        raise ValueError(f"mean_nll: the stream has {len(data)} tokens, fewer than one window "
                         f"of {t + 1}")
    x = data[: n * t].view(n, t)
    y = data[1: n * t + 1].view(n, t)
    model.eval()
    total = sum(model.loss(x[i:i + batch_size], y[i:i + batch_size]).item()
                * len(x[i:i + batch_size]) for i in range(0, n, batch_size))
    return total / n


def unigram_nll(train_ids: torch.Tensor, eval_ids: torch.Tensor, vocab_size: int,
                alpha: float = 1.0) -> float:
    """Nats per token on eval_ids of token frequencies counted on train_ids (add-alpha)."""
    counts = torch.bincount(train_ids, minlength=vocab_size).double() + alpha
    logp = (counts / counts.sum()).log()
    return -logp[eval_ids].mean().item()


def bigram_counts(train_ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """(V, V) counts N[a, b] of token b right after token a."""
    n = torch.zeros(vocab_size, vocab_size, dtype=torch.float64)
    n.index_put_((train_ids[:-1], train_ids[1:]),
                 torch.ones(len(train_ids) - 1, dtype=torch.float64), accumulate=True)
    return n


def bigram_nll(counts: torch.Tensor, eval_ids: torch.Tensor, alpha: float) -> float:
    """Nats per token on eval_ids' consecutive pairs of the add-alpha bigram model
    P(b | a) = (N[a, b] + alpha) / (N[a, :].sum() + alpha V)."""
    if alpha <= 0:
        raise ValueError(f"bigram_nll: alpha must be > 0 (an unseen pair would cost infinitely "
                         f"many nats), got {alpha}")
    p = (counts + alpha) / (counts + alpha).sum(dim=1, keepdim=True)
    return -p[eval_ids[:-1], eval_ids[1:]].log().mean().item()
