"""Our transformer pieces against PyTorch's, side by side in one run.

    python -m benchmarks.transformer      # ~2 min on 2 cores; writes benchmarks/transformer.json

- attention: `aibook.transformer.scaled_dot_product_attention` (causal) against
  `F.scaled_dot_product_attention(is_causal=True)`, forward + backward, at three sizes;
- block: our pre-LN `Block` against `nn.TransformerEncoderLayer(norm_first=True)` with the
  same widths, GELU, no dropout and a causal mask, forward + backward;
- training: one AdamW step of our `GPT` against the same model assembled from torch.nn
  modules (embeddings, `nn.TransformerEncoder` of norm-first layers, LayerNorm, head), in
  tokens per second; the book's target is a ratio of at most 1.3;
- generation: `GPT.generate` with and without the KV cache, greedy, at several lengths.

Every number is a median over alternating rounds after a warm-up (benchmarks/common.py).
"""

from __future__ import annotations

import json

import torch
import torch.nn.functional as F
from torch import nn

from aibook.transformer import GPT, Block, GPTConfig, causal_mask, scaled_dot_product_attention
from benchmarks.common import compare, write_record

REPEATS = 7
ATTENTION_SIZES = [(8, 4, 64, 16), (8, 4, 128, 32), (4, 8, 256, 32)]   # (B, heads, T, d_head)
BLOCK_SIZES = [(16, 64, 64, 4), (8, 128, 128, 4)]                       # (B, T, d_model, heads)
TRAIN = GPTConfig(vocab_size=96, block_size=128, n_layer=4, n_head=4, d_model=128)
TRAIN_BATCH = 16
GENERATE_LENGTHS = [32, 64, 128]


def attention(repeats: int) -> dict:
    out = {}
    for B, H, T, d in ATTENTION_SIZES:
        g = torch.Generator().manual_seed(0)
        q, k, v = (torch.randn(B, H, T, d, generator=g, requires_grad=True) for _ in range(3))
        mask = causal_mask(T)

        def ours(q=q, k=k, v=v, mask=mask):
            scaled_dot_product_attention(q, k, v, mask=mask).sum().backward()

        def theirs(q=q, k=k, v=v):
            F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()

        out[f"B{B}_H{H}_T{T}_d{d}"] = compare({"torch": theirs, "ours": ours}, repeats=repeats)
    return out


class TorchBlock(nn.Module):
    """nn.TransformerEncoderLayer as a causal pre-LN block: (B, T, d) -> (B, T, d)."""

    def __init__(self, d_model: int, heads: int, mlp_ratio: int = 4):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(d_model, heads, mlp_ratio * d_model, dropout=0.0,
                                                activation="gelu", batch_first=True,
                                                norm_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1])
        return self.layer(x, src_mask=mask, is_causal=True)


def block(repeats: int) -> dict:
    out = {}
    for B, T, d, heads in BLOCK_SIZES:
        torch.manual_seed(0)
        ours = Block(GPTConfig(vocab_size=2, block_size=T, n_head=heads, d_model=d))
        theirs = TorchBlock(d, heads)
        x = torch.randn(B, T, d, requires_grad=True)
        out[f"B{B}_T{T}_d{d}_H{heads}"] = compare(
            {"torch": lambda theirs=theirs, x=x: theirs(x).sum().backward(),
             "ours": lambda ours=ours, x=x: ours(x)[0].sum().backward()}, repeats=repeats)
    return out


class TorchGPT(nn.Module):
    """The same GPT from torch.nn modules: idx (B, T) -> logits (B, T, vocab)."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.block_size, cfg.d_model)
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.n_head, cfg.mlp_ratio * cfg.d_model,
                                           dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, cfg.n_layer, enable_nested_tensor=False)
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(T))
        mask = nn.Transformer.generate_square_subsequent_mask(T)
        return self.head(self.ln_f(self.blocks(x, mask=mask, is_causal=True)))


def training(repeats: int) -> dict:
    torch.manual_seed(0)
    ours, theirs = GPT(TRAIN), TorchGPT(TRAIN)
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(TRAIN.vocab_size, (TRAIN_BATCH, TRAIN.block_size + 1), generator=g)
    x, y = idx[:, :-1], idx[:, 1:]
    opts = {"ours": torch.optim.AdamW(ours.parameters(), lr=1e-3),
            "torch": torch.optim.AdamW(theirs.parameters(), lr=1e-3)}

    def step(model, opt, logits_of):
        def run():
            loss = F.cross_entropy(logits_of(x).reshape(-1, TRAIN.vocab_size), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return run

    times = compare({"torch": step(theirs, opts["torch"], theirs),
                     "ours": step(ours, opts["ours"], lambda t: ours(t)[0])}, repeats=repeats)
    tokens = TRAIN_BATCH * TRAIN.block_size
    for record in times.values():
        record["tokens_per_s"] = tokens / record["median_s"]
    return times


def generation(repeats: int) -> dict:
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=96, block_size=max(GENERATE_LENGTHS) + 1, n_layer=4, n_head=4,
                    d_model=128)
    model = GPT(cfg).eval()
    prompt = torch.zeros(1, 1, dtype=torch.long)
    out = {}
    for n in GENERATE_LENGTHS:
        out[f"new_{n}"] = compare(
            {"recompute": lambda n=n: model.generate(prompt, n, temperature=0, use_cache=False),
             "kv_cache": lambda n=n: model.generate(prompt, n, temperature=0, use_cache=True)},
            repeats=repeats)
    return out


def main() -> dict:
    torch.set_num_threads(torch.get_num_threads())
    record = write_record("transformer", lambda: {
        "attention": attention(REPEATS), "block": block(REPEATS),
        "training": training(REPEATS), "generation": generation(REPEATS)},
        one_thread=False, repeats=REPEATS)
    print(json.dumps({k: record[k] for k in ("training", "seconds")}, indent=1))
    return record


if __name__ == "__main__":
    main()
