"""The compression chapter: int8 dynamic quantization of MiniLM vs fp32 (latency, size)."""

from __future__ import annotations

import torch
import torch.ao.quantization as qz

from aibook import minilm, sentiment
from aibook.compress import careful_int8
from aibook.measure import state_bytes
from benchmarks.common import compare

SENTENCES = [
    "The movie was surprisingly good, with a clever plot and warm performances.",
    "I would not recommend this restaurant to anyone.",
    "Quantization stores weights as 8-bit integers with a scale and a zero point.",
    "A short one.",
]


def measure(repeats: int = 7) -> dict:
    """Size ratio, speed-ups at batch 1 and 32 and lowest cosine, for the plain recipe
    (every Linear int8) and the chapter's careful one."""
    tokenizer, fp32 = minilm.load()
    enc32 = tokenizer((SENTENCES * 8)[:32], padding=True, return_tensors="pt")
    models = {"plain": qz.quantize_dynamic(fp32, {torch.nn.Linear}, dtype=torch.qint8),
              "careful": careful_int8(fp32, enc32)[0]}
    out: dict = {"fp32_bytes": state_bytes(fp32)}
    tweets = sentiment.load(seed=0, n_train=100, n_val=0, n_test=200).test.texts
    e32 = minilm.embed(tweets, tokenizer, fp32, batch_size=32)
    for name, model in models.items():
        out[f"{name}_size_ratio"] = out["fp32_bytes"] / state_bytes(model)
        cos = (e32 * minilm.embed(tweets, tokenizer, model, batch_size=32)).sum(1)  # unit vectors
        out[f"{name}_mean_cosine"], out[f"{name}_min_cosine"] = cos.mean().item(), cos.min().item()
    for batch in (1, 32):
        enc = tokenizer((SENTENCES * batch)[:batch], padding=True, return_tensors="pt")

        def run(model, enc=enc):
            with torch.inference_mode():
                return model(**enc).last_hidden_state

        timing = compare({"fp32": lambda: run(fp32), **{n: (lambda m=m: run(m))
                                                        for n, m in models.items()}},
                         repeats=repeats)
        for name in models:
            out[f"{name}_batch{batch}_speedup"] = 1 / timing[name]["ratio_to_fp32"]
    return out
