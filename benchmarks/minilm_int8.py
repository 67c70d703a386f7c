"""Chapter 6: int8 dynamic quantization of MiniLM vs fp32: latency at batch 1 and 32, size."""

from __future__ import annotations

import io

import torch
import torch.ao.quantization as qz

from aibook import minilm, sentiment
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


def careful_int8(model: torch.nn.Module, enc: dict) -> torch.nn.Module:
    """Chapter 6's recipe: per-channel int8 Linears, except the one whose input has the largest
    outlier (max |x| / mean |x| on `enc`), kept in float; an 8-bit embedding table."""
    peaks: dict[str, float] = {}
    hooks = [m.register_forward_hook(
        lambda mod, inputs, out, name=name: peaks.__setitem__(
            name, (inputs[0].abs().max() / inputs[0].abs().mean()).item()))
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and name.startswith("encoder")]
    with torch.inference_mode():
        model(**enc)
    for h in hooks:
        h.remove()
    worst = max(peaks, key=peaks.get)
    spec = {name: qz.per_channel_dynamic_qconfig for name, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and name != worst}
    spec["embeddings.word_embeddings"] = qz.float_qparams_weight_only_qconfig
    return qz.quantize_dynamic(model, spec, dtype=torch.qint8)


def measure(repeats: int = 7) -> dict:
    """Size ratio, speed-ups at batch 1 and 32 and lowest cosine, for the plain recipe
    (every Linear int8) and the chapter's careful one."""
    tokenizer, fp32 = minilm.load()
    enc32 = tokenizer((SENTENCES * 8)[:32], padding=True, return_tensors="pt")
    models = {"plain": qz.quantize_dynamic(fp32, {torch.nn.Linear}, dtype=torch.qint8),
              "careful": careful_int8(fp32, enc32)}
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
