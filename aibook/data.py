"""Data sets that ship with the book's dependencies, split the same way in every chapter.

Everything here works offline: digits and moons come from scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.datasets import load_digits, make_moons
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

from aibook.device import seed_for


@dataclass
class Split:
    """Train/validation/test tensors. X_*: (N, ...) float, y_*: (N,) int64 labels."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor

    def numpy(self) -> tuple[np.ndarray, ...]:
        """The six arrays as numpy, in the order X_train, y_train, X_val, y_val, X_test, y_test."""
        return tuple(t.numpy() for t in self.astuple())

    def astuple(self) -> tuple[torch.Tensor, ...]:
        return (self.X_train, self.y_train, self.X_val, self.y_val, self.X_test, self.y_test)

    def __repr__(self) -> str:
        names = ("X_train", "X_val", "X_test")
        tensors = (self.X_train, self.X_val, self.X_test)
        sizes = ", ".join(f"{n}={tuple(t.shape)}" for n, t in zip(names, tensors, strict=True))
        return f"Split({sizes})"


def stratified_split(
    X: np.ndarray, y: np.ndarray, *, val: float, test: float, seed: int
) -> tuple[np.ndarray, ...]:
    """Split arrays into train/val/test keeping class proportions. val, test: fractions of all."""
    if len(X) != len(y):
        raise ValueError(f"stratified_split: X has {len(X)} rows but y has {len(y)}")
    for name, frac in (("val", val), ("test", test)):
        if not 0 <= frac < 1:
            raise ValueError(f"stratified_split: {name} must be a fraction in [0, 1), got {frac}")
    if val + test >= 1:
        raise ValueError(f"stratified_split: val + test must be < 1, got {val + test}")
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=test, stratify=y, random_state=seed_for(seed)
    )
    if val == 0:
        return X_rest, y_rest, X_rest[:0], y_rest[:0], X_test, y_test
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=val / (1 - test), stratify=y_rest, random_state=seed_for(seed)
    )
    return X_train, y_train, X_val, y_val, X_test, y_test


def digits(
    seed: int = 0,
    *,
    val: float = 0.15,
    test: float = 0.2,
    flat: bool = True,
    dtype: torch.dtype = torch.float32,
) -> Split:
    """scikit-learn's 1,797 handwritten 8x8 digits, pixels scaled to [0, 1].

    flat=True gives X of shape (N, 64); flat=False gives (N, 1, 8, 8) for CNNs.
    The split is stratified by class and fixed by `seed`.
    """
    bunch = load_digits()
    X = (bunch.data / 16.0).astype(np.float64)
    y = bunch.target.astype(np.int64)
    parts = stratified_split(X, y, val=val, test=test, seed=seed)
    shape = (-1, 64) if flat else (-1, 1, 8, 8)
    tensors = [
        torch.as_tensor(a, dtype=dtype).reshape(shape) if i % 2 == 0 else torch.as_tensor(a)
        for i, a in enumerate(parts)
    ]
    return Split(*tensors)


def moons(
    n: int = 1000,
    noise: float = 0.15,
    seed: int = 0,
    *,
    val: float = 0.0,
    test: float = 0.3,
    dtype: torch.dtype = torch.float32,
) -> Split:
    """scikit-learn's two interleaving half circles: X (N, 2), y (N,) in {0, 1}."""
    if n < 10:
        raise ValueError(f"moons: need at least 10 points, got n={n}")
    X, y = make_moons(n_samples=n, noise=noise, random_state=seed_for(seed))
    parts = stratified_split(X, y.astype(np.int64), val=val, test=test, seed=seed)
    return Split(*[
        torch.as_tensor(a, dtype=dtype) if i % 2 == 0 else torch.as_tensor(a)
        for i, a in enumerate(parts)
    ])


def loader(
    X: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 64,
    *,
    shuffle: bool = True,
    seed: int = 0,
) -> DataLoader:
    """A torch DataLoader over (X, y) whose shuffling order is fixed by `seed`."""
    if len(X) != len(y):
        raise ValueError(f"loader: X has {len(X)} rows but y has {len(y)}")
    generator = torch.Generator().manual_seed(seed_for(seed))
    return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=shuffle,
                      generator=generator)
