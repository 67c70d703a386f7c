"""Attention and Transformers: a small GPT built from torch tensor ops.

- `aibook.transformer.attention`: scaled dot-product attention, causal masks, multi-head
  attention with a KV cache.
- `aibook.transformer.gpt`: pre-LayerNorm blocks and a GPT with cached sampling.
- `aibook.transformer.bpe`: byte-pair encoding, trained and applied from scratch.
- `aibook.transformer.data`: the shipped text corpus and two tasks with exact answers.
- `aibook.transformer.train`: the training loop, exact-match accuracy, nats per token, and
  the counted unigram and bigram baselines.
"""

from aibook.transformer.attention import (
    MultiHeadAttention,
    causal_mask,
    scaled_dot_product_attention,
)
from aibook.transformer.bpe import BPE, train_bpe
from aibook.transformer.gpt import GPT, Block, GPTConfig, sinusoidal_positions

__all__ = ["BPE", "GPT", "Block", "GPTConfig", "MultiHeadAttention", "causal_mask",
           "scaled_dot_product_attention", "sinusoidal_positions", "train_bpe"]
