"""A small GPT: token and position embeddings, pre-LayerNorm blocks, a KV cache for sampling.

Each block is x + attn(LN(x)), then x + MLP(LN(x)) (pre-LN, as GPT-2): the residual path
carries the signal and its gradient straight through the stack, and the normalisation keeps
each branch's input at unit scale. As in GPT-2 (Radford et al., 2019), the projections that
write into the residual stream start with standard deviation 0.02 / sqrt(2 n_layer), so the
stream's variance does not grow with depth.
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


class Block(nn.Module):
    """x (B, T, d_model) -> (B, T, d_model): pre-LN attention, then a pre-LN MLP."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn = MultiHeadAttention(cfg.d_model, cfg.n_head)
        self.fc = nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model)
        self.proj = nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor, kv_cache: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        a, cache = self.attn(self.ln1(x), causal=True, kv_cache=kv_cache)
        x = x + a
        x = x + self.proj(F.gelu(self.fc(self.ln2(x))))
        return x, cache


class GPT(nn.Module):
    """idx (B, T) of token ids -> logits (B, T, vocab_size) for the next token at each place."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.block_size, cfg.d_model)
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
        positions = torch.arange(past, past + t, device=idx.device)
        x = self.tok(idx) + self.pos(positions)
        new_cache: Cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if cache is None else cache[i])
            new_cache.append(kv)
        return self.head(self.ln_f(x)), new_cache

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the next-token predictions, in nats per token."""
        logits, _ = self(idx)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

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
        if idx.shape[1] + n_new > self.cfg.block_size:
            raise ValueError(f"generate: {idx.shape[1]} + {n_new} tokens exceed block_size="
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
