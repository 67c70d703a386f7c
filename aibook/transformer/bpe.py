"""Byte-pair encoding (Sennrich et al., 2016) from scratch: train merges, encode, decode.

Training starts from single characters and repeats: count every adjacent pair of symbols in
the corpus's words (each word weighted by how often it occurs), merge the most frequent pair
into a new symbol, until the vocabulary has `vocab_size` symbols. Words are what whitespace
separates, so no merge crosses a space.

Ties between equally frequent pairs are broken as Hugging Face `tokenizers`' BpeTrainer breaks
them: the pair whose two symbol ids are smallest (first id, then second) wins, where the
alphabet's ids follow the characters' code points and each merged symbol takes the next id.
With that rule our merges equal the library's, one for one (tests/test_transformer.py).

Encoding a word applies the learned merges in the order they were learned (lowest rank first),
as the library's BPE model does.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class BPE:
    """vocab: symbol -> id; merges: (left, right) pairs in the order they were learned."""

    vocab: dict[str, int]
    merges: list[tuple[str, str]]
    ranks: dict[tuple[str, str], int] = field(init=False)

    def __post_init__(self) -> None:
        self.ranks = {pair: r for r, pair in enumerate(self.merges)}
        self.inverse = {i: s for s, i in self.vocab.items()}

    def encode_word(self, word: str) -> list[str]:
        """One word -> its symbols, merging the best-ranked adjacent pair until none is left."""
        unknown = sorted(set(word) - self.vocab.keys())
        if unknown:
            raise ValueError(f"BPE.encode: characters {unknown} are not in the vocabulary")
        symbols = list(word)
        while len(symbols) > 1:
            pairs = [(self.ranks.get(p, len(self.ranks)), i)
                     for i, p in enumerate(zip(symbols, symbols[1:], strict=False))]
            rank, i = min(pairs)
            if rank == len(self.ranks):
                break
            symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
        return symbols

    def encode(self, text: str) -> list[int]:
        """Text -> token ids, word by word (whitespace is dropped, as the pre-tokenizer does)."""
        return [self.vocab[s] for word in text.split() for s in self.encode_word(word)]

    def decode_words(self, ids: list[int]) -> list[str]:
        """Token ids -> their symbols' strings (the words' spaces are not stored)."""
        return [self.inverse[i] for i in ids]


def _merge(symbols: tuple[int, ...], pair: tuple[int, int], new: int) -> tuple[int, ...]:
    """Replace each non-overlapping occurrence of `pair`, left to right, by `new`."""
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(new)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def train_bpe(text: str, vocab_size: int) -> BPE:
    """Learn merges on the whitespace-separated words of `text` until the vocabulary (the
    alphabet plus one symbol per merge) has vocab_size symbols, or no pair is left."""
    if not isinstance(text, str) or not text.split():
        raise ValueError("train_bpe: expected a non-empty string of words")
    words = Counter(text.split())
    alphabet = sorted({c for w in words for c in w})
    if vocab_size < len(alphabet):
        raise ValueError(f"train_bpe: vocab_size={vocab_size} is smaller than the alphabet "
                         f"({len(alphabet)} characters)")
    symbols = alphabet[:]
    ids = {c: i for i, c in enumerate(alphabet)}
    corpus = {tuple(ids[c] for c in w): n for w, n in words.items()}
    merges: list[tuple[str, str]] = []
    while len(symbols) < vocab_size:
        counts: Counter[tuple[int, int]] = Counter()
        for word, n in corpus.items():
            for pair in zip(word, word[1:], strict=False):
                counts[pair] += n
        if not counts:
            break
        # most frequent; among ties the smallest (id, id) pair, as the library's heap orders
        best = min(counts, key=lambda p: (-counts[p], p))
        merged = symbols[best[0]] + symbols[best[1]]
        if merged not in ids:  # "a"+"bc" after "ab"+"c": the same string keeps its one id
            ids[merged] = len(symbols)
            symbols.append(merged)
        merges.append((symbols[best[0]], symbols[best[1]]))
        corpus = {_merge(w, best, ids[merged]): n for w, n in corpus.items()}
    return BPE(dict(ids), merges)
