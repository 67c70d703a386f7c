"""Chapter 6: make a trained network smaller and faster, and measure what it costs.

- `aibook.compress.measure`: parameters, bytes on disk, latency (warm-up, then the median).
- `aibook.compress.prune`: magnitude pruning (global, unstructured, iterated with fine-tuning)
  with `torch.nn.utils.prune`, and structured pruning of hidden units that shrinks the layers.
- `aibook.compress.quantize`: affine and symmetric integer quantization from scratch,
  per tensor and per channel, for any bit width from 2 to 16.
- `aibook.compress.distill`: the knowledge-distillation loss of Hinton et al. (2015), a
  training loop that uses it (with the teacher's logits computed once for a fixed transfer
  set), and the fraction of the student-teacher gap it closes.
"""

from aibook.compress.distill import (
    DistillConfig,
    distill,
    distillation_loss,
    gap_closed,
    with_teacher_logits,
)
from aibook.compress.measure import compare_latency, count_params, latency, state_bytes
from aibook.compress.prune import (
    check_sparsity,
    global_magnitude_prune,
    make_permanent,
    prunable,
    shrink_hidden_units,
    sparsity,
)
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
    "check_sparsity",
    "compare_latency",
    "count_params",
    "dequantize",
    "distill",
    "distillation_loss",
    "gap_closed",
    "global_magnitude_prune",
    "latency",
    "make_permanent",
    "prunable",
    "qparams",
    "qrange",
    "quantize",
    "quantize_tensor",
    "shrink_hidden_units",
    "sparsity",
    "state_bytes",
    "with_teacher_logits",
]
