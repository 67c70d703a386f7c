"""Plotting helpers. Each returns a matplotlib Figure so notebooks show it and tests inspect it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

ArrayLike = np.ndarray | Sequence[float]


def _as_numpy(a) -> np.ndarray:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def plot_history(history, *, title: str = "", metric_name: str = "accuracy") -> Figure:
    """Loss (left) and metric (right) per epoch, from an `aibook.train.History` or dict of lists."""
    get = history.get if isinstance(history, dict) else lambda k, d=None: getattr(history, k, d)
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(9, 3.2))
    for key, ax in (("loss", ax_loss), ("metric", ax_metric)):
        train, val = get(key) or [], get(f"val_{key}") or []
        if train:
            ax.plot(range(1, len(train) + 1), train, label="train")
        if val:
            ax.plot(range(1, len(val) + 1), val, label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss" if key == "loss" else metric_name)
        if train or val:
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_curves(curves: dict[str, ArrayLike], *, xlabel: str = "step", ylabel: str = "",
                smooth: int = 1, title: str = "", ax=None) -> Figure:
    """Several named curves on one axis; `smooth` > 1 adds a moving average of that window."""
    if smooth < 1:
        raise ValueError(f"plot_curves: smooth must be >= 1, got {smooth}")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 3.5))
    for name, ys in curves.items():
        ys = _as_numpy(ys).astype(float)
        if smooth > 1 and len(ys) >= smooth:
            line, = ax.plot(ys, alpha=0.25)
            ma = np.convolve(ys, np.ones(smooth) / smooth, mode="valid")
            ax.plot(np.arange(smooth - 1, len(ys)), ma, color=line.get_color(), label=name)
        else:
            ax.plot(ys, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_decision_boundary(
    predict: Callable[[np.ndarray], np.ndarray],
    X: ArrayLike,
    y: ArrayLike,
    *,
    resolution: int = 200,
    margin: float = 0.5,
    title: str = "",
    ax=None,
) -> Figure:
    """Shade the plane by `predict` (maps (M, 2) points to (M,) labels) and scatter (X, y)."""
    X, y = _as_numpy(X), _as_numpy(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary: expected X of shape (N, 2), got {X.shape}")
    (x0, y0), (x1, y1) = X.min(0) - margin, X.max(0) + margin
    xx, yy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    grid = np.c_[xx.ravel(), yy.ravel()]
    zz = _as_numpy(predict(grid)).reshape(xx.shape)
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(4.5, 4))
    ax.contourf(xx, yy, zz, alpha=0.3, cmap="coolwarm", levels=np.unique(zz).size or 1)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=12, edgecolors="k", linewidths=0.3)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def image_grid(
    images: ArrayLike,
    labels: Sequence | None = None,
    *,
    ncols: int = 10,
    cmap: str = "gray_r",
    size: float = 0.9,
    title: str = "",
) -> Figure:
    """Show images (N, H, W) or (N, 1, H, W) in a grid, each titled by its label if given."""
    images = _as_numpy(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        raise ValueError(f"image_grid: expected (N, H, W) or (N, 1, H, W), got {images.shape}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"image_grid: {len(images)} images but {len(labels)} labels")
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 1.15),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap)
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, *, labels: Sequence | None = None,
                          title: str = "") -> Figure:
    """Counts of (true, predicted) label pairs, true labels on rows."""
    y_true, y_pred = _as_numpy(y_true).astype(int), _as_numpy(y_pred).astype(int)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"plot_confusion_matrix: y_true {y_true.shape} != y_pred {y_pred.shape}")
    k = int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    counts = np.zeros((k, k), dtype=int)
    np.add.at(counts, (y_true, y_pred), 1)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(counts, cmap="Blues")
    for (i, j), c in np.ndenumerate(counts):
        if c:
            ax.text(j, i, c, ha="center", va="center", fontsize=7,
                    color="white" if c > counts.max() / 2 else "black")
    ticks = labels if labels is not None else range(k)
    ax.set_xticks(range(k), ticks)
    ax.set_yticks(range(k), ticks)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
