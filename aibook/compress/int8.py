"""The compression chapter's careful int8 recipe for a transformer encoder, as a library.

Dynamic int8 quantizes each Linear's input batch with one scale, set by its largest |x|;
transformers have a few huge activations in fixed channels, and one of them sets the step
for all the other values. The recipe, each step a standard one:

1. find the Linear whose input sticks out the most (max |x| / mean |x| on a sample batch)
   and keep it in float32 (mixed precision, in the spirit of LLM.int8);
2. quantize every other Linear per output channel (`per_channel_dynamic_qconfig`);
3. store the word-embedding table in 8 bits per row (`float_qparams_weight_only_qconfig`).

The chapter builds these steps one cell at a time; `benchmarks/minilm_int8.py` imports them.
"""

from __future__ import annotations

import torch
import torch.ao.quantization as qz
from torch import nn


def input_peaks(model: nn.Module, batch: dict[str, torch.Tensor],
                prefix: str = "encoder") -> dict[str, float]:
    """max |x| / mean |x| of the input of every Linear whose name starts with `prefix`,
    on one forward pass of `model(**batch)`. -> {layer name: ratio}."""
    peaks: dict[str, float] = {}
    hooks = [module.register_forward_hook(
        lambda mod, inputs, out, name=name: peaks.__setitem__(
            name, (inputs[0].abs().max() / inputs[0].abs().mean()).item()))
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and name.startswith(prefix)]
    if not hooks:
        raise ValueError(f"input_peaks: no nn.Linear named {prefix!r}... in the model")
    try:
        with torch.inference_mode():
            model(**batch)
    finally:
        for h in hooks:
            h.remove()
    return peaks


def careful_int8(model: nn.Module, batch: dict[str, torch.Tensor], *,
                 embeddings: str = "embeddings.word_embeddings") -> tuple[nn.Module, str]:
    """The careful int8 copy of `model` and the name of the one Linear kept in float32."""
    peaks = input_peaks(model, batch)
    worst = max(peaks, key=peaks.get)
    spec: dict[str, object] = {name: qz.per_channel_dynamic_qconfig
                               for name, module in model.named_modules()
                               if isinstance(module, nn.Linear) and name != worst}
    spec[embeddings] = qz.float_qparams_weight_only_qconfig
    return qz.quantize_dynamic(model, spec, dtype=torch.qint8), worst
