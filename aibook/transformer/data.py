"""The chapter's data: a text corpus that ships with the book, and two tasks with exact answers.

- `corpus()`: the help text of Python's `pydoc_data.topics` (Python 3.11.7), shipped gzipped
  beside this file and checked against its sha256, so every Python version reads the same
  characters. It is English prose about Python with code samples, about 465 k characters.
  Copyright Python Software Foundation; the documentation is distributed under the PSF
  License Version 2 (https://docs.python.org/3/license.html).
- `CharVocab` and `lm_splits`: characters to ids, and contiguous train, val and test pieces.
- `sort_task` (minGPT's demo) and `addition_task`: every example has one right answer, so a
  model's held-out accuracy is exact.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
from dataclasses import dataclass
from importlib import resources

import torch

from aibook.device import seed_for

# sha256 of the decompressed UTF-8 text: the topics of Python 3.11.7's pydoc_data.topics,
# sorted by name, each stripped of newlines at its ends, joined by blank lines.
CORPUS_SHA256 = "2a95af4ac93f5b719944030ce3769070ddf827d847cba42192afa8da989e5dc4"
CORPUS_FILE = "pydoc_topics.txt.gz"
IGNORE = -100  # the target value F.cross_entropy skips


def corpus(expected_sha256: str = CORPUS_SHA256) -> str:
    """The shipped corpus as one string; raises ValueError if its sha256 differs."""
    raw = gzip.decompress(resources.files("aibook.transformer").joinpath(CORPUS_FILE)
                          .read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected_sha256:
        raise ValueError(f"corpus: {CORPUS_FILE} failed the checksum: expected sha256 "
                         f"{expected_sha256}, got {digest}")
    return raw.decode("utf-8")


class CharVocab:
    """The characters of a text, sorted; encode: str -> LongTensor (N,), decode: back."""

    def __init__(self, text: str) -> None:
        if not text:
            raise ValueError("CharVocab: expected a non-empty text")
        self.chars = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        unknown = sorted(set(text) - self.stoi.keys())
        if unknown:
            raise ValueError(f"CharVocab.encode: characters {unknown[:5]} are not in the "
                             f"vocabulary of {len(self)} characters")
        return torch.tensor([self.stoi[c] for c in text], dtype=torch.long)

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def lm_splits(ids: torch.Tensor, val: float = 0.1, test: float = 0.1
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Contiguous train, val, test pieces of a token stream (N,), in that order.

    Contiguous, not shuffled: a random split of overlapping windows would put almost every
    validation window's text in training as well."""
    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise ValueError(f"lm_splits: need fractions val, test in (0, 1) with val + test < 1, "
                         f"got val={val}, test={test}")
    n = len(ids)
    a, b = int(n * (1 - val - test)), int(n * (1 - test))
    return ids[:a], ids[a:b], ids[b:]


def lm_batch(data: torch.Tensor, batch_size: int, block_size: int, generator: torch.Generator
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of a stream (N,): inputs x (B, T) and next-token targets y (B, T)."""
    if len(data) <= block_size:
        raise ValueError(f"lm_batch: the stream has {len(data)} tokens, need more than "
                         f"block_size={block_size}")
    start = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    rows = start[:, None] + torch.arange(block_size + 1)
    window = data[rows]
    return window[:, :-1], window[:, 1:]


@dataclass
class Task:
    """A task with exact answers: prompts (N, P) and answers (N, A) of token ids, split.

    `sequences(split)` gives the model's input and targets (N, P + A - 1): the targets are
    the next tokens, with the prompt's places set to IGNORE so only the answer is learned."""

    prompts: torch.Tensor
    answers: torch.Tensor
    vocab_size: int
    split: dict[str, torch.Tensor]  # "train", "val", "test" -> row indices

    @property
    def block_size(self) -> int:
        return self.prompts.shape[1] + self.answers.shape[1] - 1

    def sequences(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.split[split]
        full = torch.cat([self.prompts[rows], self.answers[rows]], dim=1)
        x, y = full[:, :-1], full[:, 1:].clone()
        y[:, : self.prompts.shape[1] - 1] = IGNORE
        return x, y

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.split.items())
        return (f"Task(prompt={self.prompts.shape[1]}, answer={self.answers.shape[1]}, "
                f"vocab={self.vocab_size}, {sizes})")


def _split(n: int, val: float, test: float, seed: int) -> dict[str, torch.Tensor]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed_for(seed)))
    n_val, n_test = round(n * val), round(n * test)
    return {"train": order[n_val + n_test:], "val": order[:n_val],
            "test": order[n_val:n_val + n_test]}


def sort_task(length: int = 6, symbols: int = 3, *, val: float = 0.2, test: float = 0.2,
              seed: int = 0) -> Task:
    """Every sequence of `length` symbols (symbols^length of them), answered by its sorted
    copy, as in minGPT's demo. The rows are shuffled by seed_for(seed) into the splits."""
    if length < 2 or symbols < 2:
        raise ValueError(f"sort_task: need length >= 2 and symbols >= 2, got {length}, "
                         f"{symbols}")
    prompts = torch.tensor(list(itertools.product(range(symbols), repeat=length)))
    return Task(prompts, prompts.sort(dim=1).values, symbols,
                _split(len(prompts), val, test, seed))


def digits_of(x: torch.Tensor, n: int) -> torch.Tensor:
    """(N,) non-negative ints -> (N, n) their decimal digits, most significant first."""
    powers = 10 ** torch.arange(n - 1, -1, -1)
    return (x[:, None] // powers) % 10


def addition_task(n_digits: int = 2, *, val: float = 0.1, test: float = 0.1,
                  seed: int = 0) -> Task:
    """Every sum a + b of two n-digit numbers (zero-padded): the prompt is a's and b's digits,
    the answer the n + 1 digits of a + b, least significant first, as minGPT's adder writes
    it (a carry then flows in the order the digits are generated)."""
    if not 1 <= n_digits <= 3:
        raise ValueError(f"addition_task: n_digits must be 1, 2 or 3, got {n_digits}")
    m = 10 ** n_digits
    a, b = torch.arange(m).repeat_interleave(m), torch.arange(m).repeat(m)
    prompts = torch.cat([digits_of(a, n_digits), digits_of(b, n_digits)], dim=1)
    answers = digits_of(a + b, n_digits + 1).flip(1)
    return Task(prompts, answers, 10, _split(len(a), val, test, seed))
