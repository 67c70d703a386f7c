"""Attention from torch tensor ops: scaled dot-product attention, causal masks, multi-head.

Notation (Vaswani et al., 2017): queries Q (..., T_q, d_k), keys K (..., T_k, d_k), values
V (..., T_k, d_v). Attention is a soft dictionary lookup: each query takes a weighted mean of
the values, with weights softmax(Q K^T / sqrt(d_k)) over the keys.

The 1/sqrt(d_k) keeps the scores' variance near 1 when the entries of Q and K have variance 1:
a dot product of d_k such terms has variance d_k, and without the scaling the softmax
saturates as d_k grows, so its gradient vanishes.

`torch.nn.functional.scaled_dot_product_attention` and `torch.nn.MultiheadAttention` are the
library twins; tests/test_transformer.py checks forward and backward against both.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def causal_mask(t_q: int, t_k: int | None = None, device: torch.device | None = None
                ) -> torch.Tensor:
    """Boolean mask (T_q, T_k), True where query i may attend to key j, i.e. j <= i + T_k - T_q.

    With T_k > T_q (a KV cache holding earlier positions), the queries are the last T_q
    positions of the sequence."""
    t_k = t_q if t_k is None else t_k
    if t_q < 1 or t_k < t_q:
        raise ValueError(f"causal_mask: need 1 <= T_q <= T_k, got T_q={t_q}, T_k={t_k}")
    i = torch.arange(t_q, device=device)[:, None] + (t_k - t_q)
    j = torch.arange(t_k, device=device)[None, :]
    return j <= i


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None, *, causal: bool = False,
                                 return_weights: bool = False
                                 ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q K^T / sqrt(d_k) + masking) V.

    q: (..., T_q, d_k); k: (..., T_k, d_k); v: (..., T_k, d_v); mask: boolean, broadcastable
    to (..., T_q, T_k), True = may attend. Returns (..., T_q, d_v), and the weights
    (..., T_q, T_k) when return_weights."""
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"attention: expected q (..., T_q, d), k (..., T_k, d), v (..., T_k, "
                         f"d_v); got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        c = causal_mask(q.shape[-2], k.shape[-2], device=q.device)
        mask = c if mask is None else mask & c
    if mask is not None:
        if mask.dtype != torch.bool:
            raise ValueError(f"attention: mask must be boolean (True = attend), got {mask.dtype}")
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    out = weights @ v
    return (out, weights) if return_weights else out


class MultiHeadAttention(nn.Module):
    """h heads of width d_model / h; x (B, T, d_model) -> (B, T, d_model).

    One (d_model, 3 d_model) projection makes Q, K and V for all heads at once; each head
    attends on its own slice; the heads are concatenated and mixed by the output projection.
    `kv_cache` (the keys and values of earlier positions) lets generation attend to the past
    without recomputing it."""

    def __init__(self, d_model: int, n_heads: int, bias: bool = True) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"MultiHeadAttention: d_model={d_model} is not divisible by "
                             f"n_heads={n_heads}")
        self.d_model, self.n_heads = d_model, n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.proj = nn.Linear(d_model, d_model, bias=bias)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, d_model) -> (B, h, T, d_model / h)."""
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, self.d_model // self.n_heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, *, causal: bool = True,
                kv_cache: tuple[torch.Tensor, torch.Tensor] | None = None,
                return_weights: bool = False):
        """x: (B, T, d_model). kv_cache: (K, V), each (B, h, T_past, d_model / h).

        Returns y (B, T, d_model) and the new cache (K, V) over T_past + T positions, and the
        attention weights (B, h, T, T_past + T) when return_weights."""
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"MultiHeadAttention: expected x of shape (B, T, {self.d_model}), "
                             f"got {tuple(x.shape)}")
        q, k, v = (self._heads(part) for part in self.qkv(x).split(self.d_model, dim=-1))
        if kv_cache is not None:
            k, v = torch.cat([kv_cache[0], k], dim=2), torch.cat([kv_cache[1], v], dim=2)
        out, weights = scaled_dot_product_attention(q, k, v, causal=causal, return_weights=True)
        b, _, t, _ = out.shape
        y = self.proj(out.transpose(1, 2).reshape(b, t, self.d_model))
        return (y, (k, v), weights) if return_weights else (y, (k, v))

    @torch.no_grad()
    def load_from_torch(self, mha: nn.MultiheadAttention) -> MultiHeadAttention:
        """Copy the weights of a batch_first torch.nn.MultiheadAttention with the same sizes
        (its in_proj packs W_q, W_k, W_v in the same order as our qkv)."""
        if mha.embed_dim != self.d_model or mha.num_heads != self.n_heads:
            raise ValueError(f"load_from_torch: expected d_model={self.d_model}, "
                             f"n_heads={self.n_heads}; got {mha.embed_dim}, {mha.num_heads}")
        self.qkv.weight.copy_(mha.in_proj_weight)
        self.proj.weight.copy_(mha.out_proj.weight)
        if self.qkv.bias is not None:
            self.qkv.bias.copy_(mha.in_proj_bias)
            self.proj.bias.copy_(mha.out_proj.bias)
        return self
