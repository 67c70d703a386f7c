"""The fine-tuning chapter: fine-tuning and transfer learning.

- `params`: freeze, the trainable-parameter summary peft prints, learning-rate warmup;
- `lora`: the LoRA layer from scratch, wrapping a model's Linear layers, adapters;
- `transfer`: a small CNN pretrained on digits 0-4, adapted to 5-9 from k labels per class;
- `text`: a sentence classifier on MiniLM (probe, LoRA, full fine-tune).
"""

from aibook.finetune.lora import (
    LoRALinear,
    add_lora,
    copy_from_peft,
    load_adapter,
    lora_layers,
    lora_state_dict,
    merge_lora,
    save_adapter,
    unmerge_lora,
)
from aibook.finetune.params import (
    freeze,
    trainable_summary,
    unfreeze,
    warmup_factor,
    warmup_schedule,
)

__all__ = [
    "LoRALinear",
    "add_lora",
    "copy_from_peft",
    "freeze",
    "load_adapter",
    "lora_layers",
    "lora_state_dict",
    "merge_lora",
    "save_adapter",
    "trainable_summary",
    "unfreeze",
    "unmerge_lora",
    "warmup_factor",
    "warmup_schedule",
]
