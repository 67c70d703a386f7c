"""A sentence classifier on a pretrained encoder (MiniLM): probe, LoRA and full fine-tuning.

    logits = W normalize(mean_pool(encoder(tokens), mask)) + b

`minilm.embed` computes the same normalised mean-pooled vectors, so a logistic
regression fitted on them (a linear probe) can be copied into the head
(`head_from_probe`) and fine-tuning starts where the probe ended: LP-FT.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from importlib.resources import files

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from aibook import train
from aibook.device import seed_for
from aibook.finetune.params import warmup_schedule
from aibook.minilm import mean_pool
from aibook.train import model_device

TUNING_FILE = "minilm_tuning.json"  # written by scripts/tune_minilm.py (validation tweets only)


@dataclass
class TextConfig:
    """Fine-tuning hyperparameters for MiniLM in the chapter."""

    max_length: int = 64      # tokens; the tweets have 28 on average, 54 at most
    batch_size: int = 16
    steps: int = 24
    warmup: int = 2
    lr_full: float = 1e-4     # the validation search's choices (minilm_tuning.json)
    lr_lora: float = 3e-4
    r: int = 8
    alpha: float = 16.0
    targets: tuple[str, ...] = ("query", "value")


def config_for(steps: int, **kw) -> TextConfig:
    """A TextConfig for `steps` steps, warming up over the first tenth of them (at least one)."""
    if steps < 1:
        raise ValueError(f"config_for: steps must be >= 1, got {steps}")
    return TextConfig(steps=steps, warmup=max(1, steps // 10), **kw)


def tuning_record() -> dict:
    """The validation search that chose the learning rates and steps (scripts/tune_minilm.py)."""
    return json.loads(files("aibook.finetune").joinpath(TUNING_FILE).read_text())


def tuned(method: str) -> tuple[float, TextConfig]:
    """(learning rate, TextConfig) that the validation search chose for "full" or "lora"."""
    chosen = tuning_record()["chosen"]
    if method not in chosen:
        raise ValueError(f"tuned: method must be one of {sorted(chosen)}, got {method!r}")
    return chosen[method]["lr"], config_for(chosen[method]["steps"])


class SentenceClassifier(nn.Module):
    """A head on mean-pooled, normalised encoder outputs.

    encoder: a BertModel (or a peft model around one).
    (input_ids, attention_mask): (B, T) -> logits (B, C).
    """

    def __init__(self, encoder: nn.Module, hidden: int = 384, n_classes: int = 2):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(hidden, n_classes)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids and mask -> (B, H) unit-length sentence vectors."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return F.normalize(mean_pool(hidden, attention_mask), dim=1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(input_ids, attention_mask))


def head_from_probe(head: nn.Linear, coef: np.ndarray, intercept: np.ndarray) -> nn.Linear:
    """Copy a fitted scikit-learn LogisticRegression (coef_, intercept_) into a 2-class head.

    Binary logistic regression gives one score z = w.x + b; logits (-z/2, z/2) give the
    same softmax probabilities. For K > 2 classes coef is (K, H) and is copied as is.
    """
    coef, intercept = np.atleast_2d(coef), np.atleast_1d(intercept)
    if coef.shape[1] != head.in_features:
        raise ValueError(f"head_from_probe: coef has {coef.shape[1]} features, "
                         f"the head expects {head.in_features}")
    if coef.shape[0] == 1:
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.concatenate([-intercept / 2,
                                                                            intercept / 2])
    if coef.shape[0] != head.out_features:
        raise ValueError(f"head_from_probe: {coef.shape[0]} classes, head has {head.out_features}")
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(coef, dtype=head.weight.dtype))
        head.bias.copy_(torch.as_tensor(intercept, dtype=head.bias.dtype))
    return head


def batches_by_length(tokenizer, texts: list[str], batch_size: int, max_length: int):
    """Yield (indices, encoded batch): texts sorted by length, so that padding stays short."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                        max_length=max_length, return_tensors="pt")
        yield idx, enc


@torch.no_grad()
def predict(model: SentenceClassifier, tokenizer, texts: list[str], *, batch_size: int = 64,
            max_length: int = 64, progress: bool = False) -> torch.Tensor:
    """Logits (N, C) for `texts`, in their original order."""
    if isinstance(texts, str):
        raise TypeError("predict: expected a list of strings, got a single string")
    model.eval()
    dev = model_device(model)
    out = torch.empty(len(texts), model.head.out_features)
    steps = batches_by_length(tokenizer, texts, batch_size, max_length)
    for idx, enc in tqdm(steps, total=-(-len(texts) // batch_size), disable=not progress,
                         desc="predict"):
        out[idx] = model(enc["input_ids"].to(dev), enc["attention_mask"].to(dev)).float().cpu()
    return out


@torch.no_grad()
def encode(model: SentenceClassifier, tokenizer, texts: list[str], *, batch_size: int = 64,
           max_length: int = 64) -> torch.Tensor:
    """Frozen sentence vectors (N, H) on the CPU, in the order of `texts` (the probe's features)."""
    if isinstance(texts, str):
        raise TypeError("encode: expected a list of strings, got a single string")
    model.eval()
    dev = model_device(model)
    out = torch.empty(len(texts), model.head.in_features)
    for idx, enc in batches_by_length(tokenizer, texts, batch_size, max_length):
        vectors = model.embed(enc["input_ids"].to(dev), enc["attention_mask"].to(dev))
        out[idx] = vectors.float().cpu()
    return out


def accuracy(model: SentenceClassifier, tokenizer, texts: list[str], labels: torch.Tensor,
             **kw) -> float:
    """Fraction of `texts` whose predicted class equals `labels` (N,)."""
    return train.accuracy(predict(model, tokenizer, texts, **kw), labels)


def length_batches(lengths: list[int], batch_size: int, generator: torch.Generator,
                   pool: int = 8) -> list[list[int]]:
    """One epoch of index batches whose members have similar lengths.

    Shuffle, sort each chunk of `pool` batches by length, cut it into batches, shuffle the
    batches: every item once, batches still random, little padding (what transformers'
    Trainer does with group_by_length). The last batch may be smaller.
    """
    if batch_size < 1 or pool < 1:
        raise ValueError(f"length_batches: batch_size and pool must be >= 1, got "
                         f"{batch_size} and {pool}")
    order = torch.randperm(len(lengths), generator=generator).tolist()
    chunk = batch_size * pool
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: lengths[i])
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def fine_tune(model: SentenceClassifier, tokenizer, texts: list[str], labels: torch.Tensor, *,
              lr: float, cfg: TextConfig | None = None, seed: int = 0,
              desc: str = "fine-tune", progress: bool = True) -> list[float]:
    """AdamW on the parameters that require grad for `cfg.steps` steps, warmup then linear decay.

    Batches of `cfg.batch_size` come from `length_batches` epochs drawn by `seed`.
    Returns the training loss of every step.
    """
    cfg = cfg or TextConfig()
    if len(texts) != len(labels):
        raise ValueError(f"fine_tune: {len(texts)} texts but {len(labels)} labels")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("fine_tune: no parameter requires grad")
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    sched = warmup_schedule(opt, cfg.warmup, cfg.steps)
    g = torch.Generator().manual_seed(seed_for(seed))
    lengths = [len(t) for t in texts]
    dev = model_device(model)
    losses: list[float] = []
    batches: list[list[int]] = []
    model.train()
    bar = tqdm(range(cfg.steps), desc=desc, disable=not progress)
    for _ in bar:
        if not batches:
            batches = length_batches(lengths, cfg.batch_size, g)
        idx = batches.pop()
        enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                        max_length=cfg.max_length, return_tensors="pt")
        logits = model(enc["input_ids"].to(dev), enc["attention_mask"].to(dev))
        loss = F.cross_entropy(logits, labels[idx].to(dev))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    return losses


def bag_of_words(train_texts: list[str], train_labels, test_texts: list[str], test_labels,
                 seed: int = 0):
    """TF-IDF word uni- and bigrams + logistic regression (C by 5-fold CV on train only).

    Returns (test accuracy, the fitted pipeline: `.predict(texts)` gives labels).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline

    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    clf = _fit_cv(LogisticRegressionCV, vec.fit_transform(train_texts),
                  np.asarray(train_labels), seed)
    pipeline = make_pipeline(vec, clf)
    return float(pipeline.score(test_texts, np.asarray(test_labels))), pipeline


def linear_probe(E_train: torch.Tensor, y_train, E_test: torch.Tensor, y_test, seed: int = 0):
    """Logistic regression on frozen sentence vectors (N, H), C by 5-fold CV.

    Returns (test accuracy, the fitted LogisticRegressionCV).
    """
    from sklearn.linear_model import LogisticRegressionCV

    clf = _fit_cv(LogisticRegressionCV, E_train.numpy(), np.asarray(y_train), seed)
    return float(clf.score(E_test.numpy(), np.asarray(y_test))), clf


def _fit_cv(cls, X, y, seed: int):
    """Logistic regression with C in {0.1, ..., 30} picked by 5-fold CV on (X, y) only."""
    with warnings.catch_warnings():  # scikit-learn 1.9 announces a change of attributes
        warnings.simplefilter("ignore", FutureWarning)
        return cls(Cs=[0.1, 0.3, 1, 3, 10, 30], cv=5, max_iter=2000,
                   random_state=seed_for(seed)).fit(X, y)
