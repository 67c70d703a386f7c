"""A small GPT: token and position embeddings, pre-LayerNorm blocks, a KV cache for sampling.

Each block is x + attn(LN(x)), then x + MLP(LN(x)) (pre-LN, as GPT-2): the residual path
carries the signal and its gradient straight through the stack, and the normalisation keeps
each branch's input at unit scale. As in GPT-2 (Radford et al., 2019), the projections that
write into the residual stream start with standard deviation 0.02 / sqrt(2 n_layer), so the
stream's variance does not grow with depth.

The config can switch parts off, so the chapter can show what each one is for: `positions`
("learned", "sinusoidal" or "none"), `causal` (False makes a BERT-style encoder), and
`residual` and `norm` in every block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from aibook.transformer.attention import MultiHeadAttention

Cache = list[tuple[torch.Tensor, torch.Tensor]]


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 64      # the longest context
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 64
    mlp_ratio: int = 4
    positions: str = "learned"  # "learned", "sinusoidal" (Vaswani et al., 2017) or "none"
    causal: bool = True         # False: every position sees the whole sequence (BERT)
    residual: bool = True       # False: x -> attn(LN(x)) -> MLP(LN(.)), no skip paths
    norm: bool = True           # False: no LayerNorm in the blocks

    def __post_init__(self) -> None:
        if self.positions not in POSITIONS:
            raise ValueError(f"GPTConfig: positions must be one of {POSITIONS}, got "
                             f"{self.positions!r}")
        if self.d_model % self.n_head:
            raise ValueError(f"GPTConfig: d_model={self.d_model} is not divisible by "
                             f"n_head={self.n_head}")


POSITIONS = ("learned", "sinusoidal", "none")


def sinusoidal_positions(t: int, d: int) -> torch.Tensor:
    """(T, d): PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d)).

    Each pair of columns is a rotation at its own frequency, so PE[p + k] is a fixed linear
    function of PE[p] for every p (Vaswani et al., 2017)."""
    if t < 1 or d < 2 or d % 2:
        raise ValueError(f"sinusoidal_positions: need T >= 1 and an even d >= 2, got T={t}, "
                         f"d={d}")
    p = torch.arange(t, dtype=torch.float64)[:, None]
    freq = 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    pe = torch.zeros(t, d, dtype=torch.float64)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(p * freq), torch.cos(p * freq)
    return pe.float()


class Block(nn.Module):
    """x (B, T, d_model) -> (B, T, d_model): pre-LN attention, then a pre-LN MLP."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.causal, self.residual = cfg.causal, cfg.residual
        norm = (lambda: nn.LayerNorm(cfg.d_model)) if cfg.norm else nn.Identity
        self.ln1, self.ln2 = norm(), norm()
        self.attn = MultiHeadAttention(cfg.d_model, cfg.n_head)
        self.fc = nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model)
        self.proj = nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor, kv_cache: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        a, cache = self.attn(self.ln1(x), causal=self.causal, kv_cache=kv_cache)
        x = x + a if self.residual else a
        m = self.proj(F.gelu(self.fc(self.ln2(x))))
        return (x + m if self.residual else m), cache


class GPT(nn.Module):
    """idx (B, T) of token ids -> logits (B, T, vocab_size) for the next token at each place."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        if cfg.positions == "learned":
            self.pos = nn.Embedding(cfg.block_size, cfg.d_model)
        elif cfg.positions == "sinusoidal":  # fixed, not trained: a buffer
            self.register_buffer("pe", sinusoidal_positions(cfg.block_size, cfg.d_model))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.apply(self._init)
        for block in self.blocks:  # the two projections that write into the residual stream
            for lin in (block.attn.proj, block.proj):
                nn.init.normal_(lin.weight, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor, cache: Cache | None = None
                ) -> tuple[torch.Tensor, Cache]:
        """idx: (B, T) token ids; cache: per block (K, V) of the T_past earlier positions.

        Returns logits (B, T, vocab_size) and the cache extended to T_past + T positions."""
        if idx.ndim != 2:
            raise ValueError(f"GPT: expected idx of shape (B, T), got {tuple(idx.shape)}")
        past = 0 if cache is None else cache[0][0].shape[2]
        t = idx.shape[1]
        if past + t > self.cfg.block_size:
            raise ValueError(f"GPT: {past + t} positions exceed block_size="
                             f"{self.cfg.block_size}")
        x = self.tok(idx)
        if self.cfg.positions == "learned":
            x = x + self.pos(torch.arange(past, past + t, device=idx.device))
        elif self.cfg.positions == "sinusoidal":
            x = x + self.pe[past:past + t]
        new_cache: Cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if cache is None else cache[i])
            new_cache.append(kv)
        return self.head(self.ln_f(x)), new_cache

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the predictions at every place whose target is not -100
        (the positions to ignore, as in F.cross_entropy), in nats per token.

        idx, targets: (B, T). For a GPT the target at place t is the token at t + 1."""
        if targets.shape != idx.shape:
            raise ValueError(f"GPT.loss: targets must have the shape of idx {tuple(idx.shape)}, "
                             f"got {tuple(targets.shape)}")
        logits, _ = self(idx)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                               ignore_index=-100)

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, n_new: int, *, temperature: float = 1.0,
                 top_k: int | None = None, use_cache: bool = True,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Append n_new sampled tokens to idx (B, T) -> (B, T + n_new).

        temperature 0 takes the most likely token. With use_cache, each step feeds only the
        newest token and reuses the keys and values of the earlier ones; without it, each
        step recomputes the whole context. Both give the same tokens (tested)."""
        if temperature < 0:
            raise ValueError(f"generate: temperature must be >= 0, got {temperature}")
        if not self.cfg.causal:
            raise ValueError("generate: this model is not causal (an encoder sees the future); "
                             "sampling needs causal=True")
        if idx.shape[1] + n_new - 1 > self.cfg.block_size:  # the last token is never fed
            raise ValueError(f"generate: {idx.shape[1]} + {n_new} tokens need a context of "
                             f"{idx.shape[1] + n_new - 1}, more than block_size="
                             f"{self.cfg.block_size}")
        cache: Cache | None = None
        step_input = idx
        for _ in range(n_new):
            if use_cache:
                logits, cache = self(step_input, cache)
            else:
                logits, _ = self(idx)
            logits = logits[:, -1, :]
            if temperature == 0:
                nxt = logits.argmax(dim=-1, keepdim=True)
            else:
                logits = logits / temperature
                if top_k is not None:
                    kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                probs = torch.softmax(logits, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator)
            idx = torch.cat([idx, nxt], dim=1)
            step_input = nxt
        return idx
