"""Chapter 6: int8 dynamic quantization of MiniLM vs fp32: latency at batch 1 and 32, size."""

from __future__ import annotations

import io

import torch

from aibook import minilm
from benchmarks.common import compare

SENTENCES = [
    "The movie was surprisingly good, with a clever plot and warm performances.",
    "I would not recommend this restaurant to anyone.",
    "Quantization stores weights as 8-bit integers with a scale and a zero point.",
    "A short one.",
]


def state_bytes(model: torch.nn.Module) -> int:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def measure(repeats: int = 7) -> dict:
    tokenizer, fp32 = minilm.load()
    int8 = torch.ao.quantization.quantize_dynamic(fp32, {torch.nn.Linear}, dtype=torch.qint8)
    out: dict = {"fp32_bytes": state_bytes(fp32), "int8_bytes": state_bytes(int8)}
    out["size_ratio"] = out["fp32_bytes"] / out["int8_bytes"]
    for batch in (1, 32):
        texts = (SENTENCES * batch)[:batch]
        enc = tokenizer(texts, padding=True, return_tensors="pt")

        def run(model, enc=enc):
            with torch.inference_mode():
                return model(**enc).last_hidden_state

        timing = compare({"fp32": lambda: run(fp32), "int8": lambda: run(int8)}, repeats=repeats)
        out[f"batch{batch}"] = timing
        out[f"batch{batch}_speedup"] = 1 / timing["int8"]["ratio_to_fp32"]
    e32 = minilm.embed(SENTENCES, tokenizer, fp32)
    e8 = minilm.embed(SENTENCES, tokenizer, int8)
    out["min_cosine"] = (e32 * e8).sum(1).min().item()
    return out
