"""MNIST-1D (Greydanus 2020), generated offline by the `mnist1d` package, and
subsets with k labels per class for label-efficiency curves.

`make_dataset` draws the data procedurally from ten 1-D templates with numpy's global
generator seeded at 42: no download. We keep its 4,000/1,000 train/test split and carve a
validation set out of the train part. The arrays are checked against a sha256 of their
values rounded to 5 decimals (rounding keeps the check stable across CPUs, whose floats may
differ in the last bits).
"""

from __future__ import annotations

import functools
import hashlib
import random

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from aibook.data import Split
from aibook.device import seed_for

MNIST1D_VERSION = "0.0.2.post1"
# sha256 of np.round(x, 5) (float64, little-endian) followed by y (int64) for the 5,000
# signals of mnist1d's default arguments, train part first.
MNIST1D_SHA256 = "6ce50c30669264df9c74accb1e8b8ac243b10059d83af5cc3e28fb94be9d2774"


def fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    """sha256 of x rounded to 5 decimals (as little-endian float64) followed by y (int64)."""
    h = hashlib.sha256(np.round(np.asarray(x, dtype=np.float64), 5).astype("<f8").tobytes())
    h.update(np.asarray(y).astype("<i8").tobytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _generate() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    # make_dataset seeds numpy's and Python's global generators: put them back afterwards,
    # so loading the data does not change the random numbers a chapter draws next.
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    try:
        d = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)
    x = np.concatenate([d["x"], d["x_test"]])
    y = np.concatenate([d["y"], d["y_test"]])
    got = fingerprint(x, y)
    if got != MNIST1D_SHA256:
        raise RuntimeError(f"mnist1d: expected the data of mnist1d=={MNIST1D_VERSION} with its "
                           f"default arguments (sha256 {MNIST1D_SHA256}), got sha256 {got}; "
                           f"install mnist1d=={MNIST1D_VERSION}")
    return d["x"], d["y"], d["x_test"], d["y_test"]


def mnist1d(val: int = 1000, seed: int = 0, dtype: torch.dtype = torch.float32) -> Split:
    """MNIST-1D: X (N, 40) signals (standardised by the generator), y (N,) digits 0-9.

    Train 4,000 - val, validation `val` (a stratified draw from the generator's train part,
    fixed by seed_for(seed)), test the generator's 1,000.
    """
    x, y, x_test, y_test = _generate()
    if not 0 < val < len(x):
        raise ValueError(f"mnist1d: expected 0 < val < {len(x)}, got {val}")
    # Stratified: the same share of each class goes to validation.
    _, val_idx = train_test_split(np.arange(len(x)), test_size=val, stratify=y,
                                  random_state=seed_for(seed))
    mask = np.zeros(len(x), dtype=bool)
    mask[val_idx] = True
    as_x = functools.partial(torch.as_tensor, dtype=dtype)
    return Split(as_x(x[~mask]), torch.as_tensor(y[~mask]), as_x(x[mask]),
                 torch.as_tensor(y[mask]), as_x(x_test), torch.as_tensor(y_test))


def per_class(y: torch.Tensor | np.ndarray, k: int, seed: int) -> np.ndarray:
    """Indices of k examples of each class of y (N,), drawn without replacement with
    seed_for(seed); sorted. k larger than a class's size is an error."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed_for(seed))
    out = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        if k < 1 or k > len(members):
            raise ValueError(f"per_class: expected 1 <= k <= {len(members)} (class {c}), got {k}")
        out.append(rng.choice(members, size=k, replace=False))
    return np.sort(np.concatenate(out))
