"""The compression chapter: make a trained network smaller and faster, and measure what it costs.

- `aibook.compress.prune`: magnitude pruning (global, unstructured, iterated with fine-tuning)
  with `torch.nn.utils.prune`, and structured pruning of hidden units that shrinks the layers.
- `aibook.compress.quantize`: affine and symmetric integer quantization from scratch,
  per tensor and per channel, for any bit width from 2 to 16.
- `aibook.compress.gemm`: the int8 matrix product from scratch (int8 weights, uint8
  activations, int32 accumulation, requantization), as torch.ao's quantized Linear runs it.
- `aibook.compress.int8`: the careful int8 recipe for a transformer encoder (one outlier-fed
  Linear kept in float, per-channel weights, an 8-bit embedding table).
- `aibook.compress.qat`: quantization-aware training, fake-quantized weights with the
  straight-through estimator, checked against torch.fake_quantize_per_channel_affine.
- `aibook.compress.distill`: the knowledge-distillation loss of Hinton et al. (2015), a
  training loop that uses it (with the teacher's logits computed once for a fixed transfer
  set), and the fraction of the student-teacher gap it closes.

Sizes and timings come from the shared `aibook.measure` and `aibook.timing`.
"""

from aibook.compress.distill import (
    DistillConfig,
    distill,
    distillation_loss,
    gap_closed,
    with_teacher_logits,
)
from aibook.compress.gemm import (
    dynamic_int8_forward,
    dynamic_int8_linear,
    int8_linear,
    int8_weight,
    int32_accumulate,
    quantize_bias,
    requantize,
)
from aibook.compress.int8 import careful_int8, input_peaks
from aibook.compress.prune import (
    check_sparsity,
    global_magnitude_prune,
    make_permanent,
    prunable,
    shrink_hidden_units,
    sparsity,
)
from aibook.compress.qat import fake_quantize, freeze_quantized, quantization_aware
from aibook.compress.quantize import (
    QTensor,
    check_bits,
    dequantize,
    qparams,
    qrange,
    quantize,
    quantize_tensor,
)

__all__ = [
    "DistillConfig",
    "QTensor",
    "check_bits",
    "careful_int8",
    "check_sparsity",
    "dequantize",
    "distill",
    "distillation_loss",
    "dynamic_int8_forward",
    "dynamic_int8_linear",
    "fake_quantize",
    "freeze_quantized",
    "gap_closed",
    "global_magnitude_prune",
    "input_peaks",
    "int8_linear",
    "int8_weight",
    "int32_accumulate",
    "make_permanent",
    "prunable",
    "quantization_aware",
    "qparams",
    "qrange",
    "quantize",
    "quantize_bias",
    "quantize_tensor",
    "requantize",
    "shrink_hidden_units",
    "sparsity",
    "with_teacher_logits",
]
