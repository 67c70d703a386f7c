"""Convolution from scratch: im2col, conv2d and max-pool with an explicit backward, in numpy.

The convolutional-network chapter builds these, checks them against `torch.nn.functional`,
trains a tiny conv net with them, then switches to a LeNet-style `nn.Module` for 8x8 digits.

Notation (as in the text): x (N, C, H, W) input, W (F, C, kh, kw) filters, b (F,) biases,
s the stride, p the padding; the output is (N, F, OH, OW) with OH = (H + 2p - kh) // s + 1.
Every forward returns (out, cache); the matching backward takes (dout, cache).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn

from aibook.device import seed_for

# ---------------------------------------------------------------- shapes and im2col


def conv_output_size(n: int, k: int, stride: int = 1, padding: int = 0) -> int:
    """Output length along one axis: floor((n + 2 * padding - k) / stride) + 1."""
    if k < 1 or stride < 1 or padding < 0:
        raise ValueError(f"conv_output_size: need k >= 1, stride >= 1, padding >= 0, "
                         f"got k={k}, stride={stride}, padding={padding}")
    if n + 2 * padding < k:
        raise ValueError(f"conv_output_size: kernel {k} is larger than the padded input "
                         f"{n} + 2*{padding} = {n + 2 * padding}")
    return (n + 2 * padding - k) // stride + 1


def _check_4d(name: str, x: np.ndarray) -> None:
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        got = x.shape if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"{name}: expected a numpy array of shape (N, C, H, W), got {got}")


def im2col(x: np.ndarray, kh: int, kw: int, stride: int = 1, padding: int = 0,
           pad_value: float = 0.0) -> np.ndarray:
    """Unfold every kh x kw patch of x (N, C, H, W) into a row.

    Returns cols (N * OH * OW, C * kh * kw): row n*OH*OW + i*OW + j is the patch whose
    top-left corner is (i * stride, j * stride) in the padded input, flattened as (C, kh, kw).
    No Python loop over pixels: a strided view, then one copy.

    In memory, cols is stored column by column: it is the transpose of a contiguous
    (C * kh * kw, N * OH * OW) array, so each column (one channel at one kernel offset) is one
    contiguous block of N * OH * OW numbers. conv2d's matrix products read it in that order,
    and col2im adds back one such block per kernel offset.
    """
    _check_4d("im2col", x)
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, kh, stride, padding), conv_output_size(W, kw, stride, padding)
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)),
                   constant_values=pad_value)
    win = sliding_window_view(x, (kh, kw), axis=(2, 3))  # (N, C, H', W', kh, kw)
    win = win[:, :, ::stride, ::stride][:, :, :OH, :OW]  # (N, C, OH, OW, kh, kw)
    cols_t = np.ascontiguousarray(win.transpose(1, 4, 5, 0, 2, 3))  # (C, kh, kw, N, OH, OW)
    return cols_t.reshape(C * kh * kw, N * OH * OW).T


def col2im(cols: np.ndarray, x_shape: tuple[int, int, int, int], kh: int, kw: int,
           stride: int = 1, padding: int = 0) -> np.ndarray:
    """The adjoint of im2col: add every row of cols back onto the pixels it came from.

    cols (N * OH * OW, C * kh * kw) -> (N, C, H, W). Pixels covered by several patches
    receive the sum, which is exactly what the backward pass needs. One loop over the
    kh * kw kernel offsets: offset (u, v) adds its block of C * N * OH * OW values onto a
    shifted (for stride > 1 also strided) window of the padded input, one vectorised slice-add.
    Fastest when cols has im2col's memory layout, where every block is contiguous; any other
    layout is first copied into it.

    The sum is kept batch-last, (C, H, W, N), and the blocks are indexed in that order, so the
    innermost loop of each add runs along the N images and writes contiguous memory, rather
    than along the OW pixels of one output row.
    """
    N, C, H, W = x_shape
    OH, OW = conv_output_size(H, kh, stride, padding), conv_output_size(W, kw, stride, padding)
    if cols.shape != (N * OH * OW, C * kh * kw):
        raise ValueError(f"col2im: expected cols of shape {(N * OH * OW, C * kh * kw)} for "
                         f"x_shape {tuple(x_shape)}, got {cols.shape}")
    blocks = cols.T.reshape(C, kh, kw, N, OH, OW)  # a view for im2col's layout
    blocks = blocks.transpose(0, 1, 2, 4, 5, 3)  # (C, kh, kw, OH, OW, N), a view
    out = np.zeros((C, H + 2 * padding, W + 2 * padding, N), dtype=cols.dtype)
    for u in range(kh):
        for v in range(kw):
            out[:, u:u + stride * OH:stride, v:v + stride * OW:stride] += blocks[:, u, v]
    out = out[:, padding:padding + H, padding:padding + W]  # drop the padding
    return np.ascontiguousarray(out.transpose(3, 0, 1, 2))  # (N, C, H, W)


# ---------------------------------------------------------------- conv2d


def conv2d_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray | None = None,
                   stride: int = 1, padding: int = 0) -> tuple[np.ndarray, tuple]:
    """Cross-correlation, as torch.nn.functional.conv2d: out[n, f] = sum_c x[n, c] * W[f, c] + b[f].

    x (N, C, H, W), W (F, C, kh, kw), b (F,) or None -> out (N, F, OH, OW), cache.
    """
    _check_4d("conv2d_forward", x)
    _check_4d("conv2d_forward (weight)", W)
    F_, C, kh, kw = W.shape
    if x.shape[1] != C:
        raise ValueError(f"conv2d_forward: x has {x.shape[1]} channels but W expects {C} "
                         f"(x {x.shape}, W {W.shape})")
    if b is not None and b.shape != (F_,):
        raise ValueError(f"conv2d_forward: expected b of shape ({F_},), got {b.shape}")
    N, _, H, Wd = x.shape
    OH, OW = conv_output_size(H, kh, stride, padding), conv_output_size(Wd, kw, stride, padding)
    cols = im2col(x, kh, kw, stride, padding)  # (N*OH*OW, C*kh*kw)
    # out = cols @ W_row^T, computed transposed as W_row @ cols^T, which reads cols^T row by row
    out = W.reshape(F_, -1) @ cols.T  # (F, N*OH*OW)
    if b is not None:
        out += b[:, None]
    out = out.reshape(F_, N, OH, OW).transpose(1, 0, 2, 3)
    return np.ascontiguousarray(out), (x.shape, cols, W, b is not None, stride, padding)


def conv2d_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray,
                                                               np.ndarray | None]:
    """Gradients of conv2d. dout (N, F, OH, OW) -> dx (N, C, H, W), dW (F, C, kh, kw), db (F,).

    With out = cols @ W_row^T and G = dout as (N*OH*OW, F): dW = G^T @ cols, db = the column
    sums of G, dcols = G @ W_row and dx = col2im(dcols). db is None when the forward had no bias.
    """
    x_shape, cols, W, has_bias, stride, padding = cache
    F_, C, kh, kw = W.shape
    N = x_shape[0]
    expected = (N, F_, conv_output_size(x_shape[2], kh, stride, padding),
                conv_output_size(x_shape[3], kw, stride, padding))
    if dout.shape != expected:
        raise ValueError(f"conv2d_backward: expected dout of shape {expected}, got {dout.shape}")
    G_t = dout.transpose(1, 0, 2, 3).reshape(F_, -1)  # G^T (F, N*OH*OW), rows as in cols
    dW = (G_t @ cols).reshape(W.shape)
    db = G_t.sum(axis=1) if has_bias else None
    # dcols = G @ W_row, computed as (W_row^T @ G^T)^T: it comes out in im2col's layout
    dcols = (W.reshape(F_, -1).T @ G_t).T  # (N*OH*OW, C*kh*kw)
    dx = col2im(dcols, x_shape, kh, kw, stride, padding)
    return dx, dW, db


# ---------------------------------------------------------------- max-pool


def maxpool2d_forward(x: np.ndarray, kernel_size: int = 2, stride: int | None = None,
                      padding: int = 0) -> tuple[np.ndarray, tuple]:
    """Max over each kernel_size^2 window, as torch.nn.functional.max_pool2d.

    x (N, C, H, W) -> out (N, C, OH, OW), cache. stride defaults to kernel_size;
    padding adds -inf borders (at most kernel_size // 2, as in torch).
    """
    _check_4d("maxpool2d_forward", x)
    stride = kernel_size if stride is None else stride
    if padding > kernel_size // 2:
        raise ValueError(f"maxpool2d_forward: padding must be at most kernel_size // 2 = "
                         f"{kernel_size // 2}, got {padding}")
    N, C, H, W = x.shape
    OH = conv_output_size(H, kernel_size, stride, padding)
    OW = conv_output_size(W, kernel_size, stride, padding)
    # Each channel is pooled on its own: treat (N*C) images of one channel.
    cols = im2col(x.reshape(N * C, 1, H, W), kernel_size, kernel_size, stride, padding,
                  pad_value=-np.inf)  # (N*C*OH*OW, k*k)
    arg = cols.argmax(axis=1)  # the first maximum, as torch picks it
    out = cols[np.arange(len(arg)), arg].reshape(N, C, OH, OW)
    return out, (x.shape, arg, kernel_size, stride, padding)


def maxpool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of max-pool: each window's dout goes to the position of its maximum.

    dout (N, C, OH, OW) -> dx (N, C, H, W). Overlapping windows add up.
    """
    x_shape, arg, k, stride, padding = cache
    N, C, H, W = x_shape
    expected = (N, C, conv_output_size(H, k, stride, padding),
                conv_output_size(W, k, stride, padding))
    if dout.shape != expected:
        raise ValueError(f"maxpool2d_backward: expected dout of shape {expected}, "
                         f"got {dout.shape}")
    dcols = np.zeros((arg.size, k * k), dtype=dout.dtype)
    dcols[np.arange(arg.size), arg] = dout.ravel()
    return col2im(dcols, (N * C, 1, H, W), k, k, stride, padding).reshape(x_shape)


# ---------------------------------------------------------------- a conv net in numpy


class ScratchConvNet:
    """conv(1 -> F, 3x3, pad 1) -> ReLU -> max-pool 2 -> linear -> 10 logits, all numpy.

    x (N, 1, H, W) -> logits (N, K). `loss_and_grads` runs forward and the explicit
    backward; `sgd_step` applies plain SGD with momentum.

    Initialisation: W1 (F, 1, 3, 3) is drawn with variance 2 / fan_in = 2 / 9 (He et al.),
    because a ReLU follows it and zeroes half of its outputs; W2 (F * (H/2) * (W/2), K)
    with variance 1 / fan_in (LeCun), because the logits pass through no ReLU. Biases are 0.
    """

    def __init__(self, n_filters: int = 8, image_size: int = 8, n_classes: int = 10,
                 seed: int = 0, dtype: type = np.float64):
        rng = np.random.default_rng(seed_for(seed))
        side = image_size // 2
        self.params = {
            "W1": rng.normal(0, math.sqrt(2 / 9), (n_filters, 1, 3, 3)).astype(dtype),
            "b1": np.zeros(n_filters, dtype),
            "W2": rng.normal(0, math.sqrt(1 / (n_filters * side * side)),
                             (n_filters * side * side, n_classes)).astype(dtype),
            "b2": np.zeros(n_classes, dtype),
        }
        self.velocity = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, tuple]:
        p = self.params
        h, conv_cache = conv2d_forward(x, p["W1"], p["b1"], stride=1, padding=1)
        relu_mask = h > 0
        a, pool_cache = maxpool2d_forward(h * relu_mask, 2)
        flat = a.reshape(len(x), -1)
        logits = flat @ p["W2"] + p["b2"]
        return logits, (conv_cache, relu_mask, pool_cache, flat, a.shape)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted class per image: (N,) int."""
        return self.forward(x)[0].argmax(axis=1)

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
        """Mean softmax cross-entropy on (x, y) and its gradient for every parameter."""
        logits, (conv_cache, relu_mask, pool_cache, flat, a_shape) = self.forward(x)
        z = logits - logits.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        n = len(y)
        loss = -logp[np.arange(n), y].mean()
        dlogits = np.exp(logp)
        dlogits[np.arange(n), y] -= 1
        dlogits /= n  # (N, K)
        grads = {"W2": flat.T @ dlogits, "b2": dlogits.sum(axis=0)}
        da = (dlogits @ self.params["W2"].T).reshape(a_shape)
        dh = maxpool2d_backward(da, pool_cache) * relu_mask
        _, grads["W1"], grads["b1"] = conv2d_backward(dh, conv_cache)
        return float(loss), grads

    def sgd_step(self, grads: dict, lr: float = 0.1, momentum: float = 0.9) -> None:
        for k, g in grads.items():
            self.velocity[k] = momentum * self.velocity[k] - lr * g
            self.params[k] += self.velocity[k]


# ---------------------------------------------------------------- LeNet in PyTorch


@dataclass
class LeNetConfig:
    """A LeNet-style net sized for small images (8x8 digits by default, 28 for MNIST)."""

    image_size: int = 8
    channels: tuple[int, int] = (32, 64)
    hidden: int = 128
    n_classes: int = 10
    dropout: float = 0.25


class LeNet(nn.Module):
    """Two [conv 3x3 (pad 1) -> ReLU -> max-pool 2] blocks, then an MLP head.

    x (N, 1, S, S) -> logits (N, n_classes). With S = 8: 8 -> 4 -> 2 pixels per side.
    `features(x)` returns the feature maps of both blocks, for looking inside.
    """

    def __init__(self, config: LeNetConfig | None = None):
        super().__init__()
        self.config = c = config or LeNetConfig()
        if c.image_size % 4:
            raise ValueError(f"LeNet: image_size must be divisible by 4 (two 2x2 pools), "
                             f"got {c.image_size}")
        c1, c2 = c.channels
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        side = c.image_size // 4
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(c.dropout),
                                  nn.Linear(c2 * side * side, c.hidden), nn.ReLU(),
                                  nn.Dropout(c.dropout), nn.Linear(c.hidden, c.n_classes))

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Feature maps after each block: (N, c1, S/2, S/2) and (N, c2, S/4, S/4)."""
        s = self.config.image_size
        if x.ndim != 4 or x.shape[1:] != (1, s, s):
            raise ValueError(f"LeNet: expected input (N, 1, {s}, {s}), got {tuple(x.shape)}")
        h1 = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h2 = F.max_pool2d(F.relu(self.conv2(h1)), 2)
        return h1, h2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)[1])


# ---------------------------------------------------------------- augmentation


def augment(x: torch.Tensor, y: torch.Tensor, *, max_shift: float = 1.0,
            max_degrees: float = 8.0, p: float = 0.5, generator: torch.Generator | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Randomly shift (up to max_shift pixels) and rotate (up to max_degrees) each image.

    x (N, C, H, W) float, y (N,) -> (x_aug (N, C, H, W), y unchanged). Each image is
    transformed with probability p and left as it is otherwise. Pixels moved in from
    outside the image are 0 (background); shifts and rotations are drawn uniformly.
    """
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"augment: expected a float tensor (N, C, H, W), got "
                         f"{x.dtype} {tuple(x.shape)}")
    if len(y) != len(x):
        raise ValueError(f"augment: x has {len(x)} images but y has {len(y)} labels")
    if max_shift < 0 or max_degrees < 0 or not 0 <= p <= 1:
        raise ValueError(f"augment: need max_shift >= 0, max_degrees >= 0 and 0 <= p <= 1, "
                         f"got {max_shift}, {max_degrees}, {p}")
    N, _, H, W = x.shape
    u = torch.rand(N, 4, generator=generator, dtype=torch.float64)
    angle = (2 * u[:, 0] - 1) * math.radians(max_degrees)
    tx, ty = (2 * u[:, 1] - 1) * max_shift, (2 * u[:, 2] - 1) * max_shift  # in pixels
    theta = affine_matrix(angle, tx, ty, H, W).to(x.dtype)
    moved = (u[:, 3] < p).reshape(N, 1, 1, 1)
    return torch.where(moved, shift_rotate(x, theta), x), y


class Augmented:
    """Batches of `batches` (e.g. a DataLoader) passed through `augment` on every pass,
    so `aibook.fit` sees fresh shifts and rotations each epoch. Seeded by `seed`."""

    def __init__(self, batches, seed: int = 0, **augment_kwargs):
        self.batches, self.kwargs = batches, augment_kwargs
        self.generator = torch.Generator().manual_seed(seed_for(seed))

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for x, y in self.batches:
            yield augment(x, y, generator=self.generator, **self.kwargs)


def shift_pixels(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Move the content of x (..., H, W) by whole pixels: dy down, dx right (negative: up,
    left). What leaves the image is lost; zeros (background) come in. Same shape as x."""
    if not isinstance(dy, int) or not isinstance(dx, int):
        raise ValueError(f"shift_pixels: expected whole-pixel int moves, got dy={dy!r}, "
                         f"dx={dx!r}")
    H, W = x.shape[-2:]
    out = torch.zeros_like(x)
    if abs(dy) >= H or abs(dx) >= W:
        return out
    src = x[..., max(-dy, 0):H - max(dy, 0), max(-dx, 0):W - max(dx, 0)]
    out[..., max(dy, 0):H - max(-dy, 0), max(dx, 0):W - max(-dx, 0)] = src
    return out


def affine_matrix(angle: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor, H: int,
                  W: int) -> torch.Tensor:
    """The (N, 2, 3) matrices for F.affine_grid that rotate by `angle` (radians) and move
    the content by (tx, ty) pixels (right and down). Coordinates are normalised to [-1, 1]."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid maps output coordinates to input coordinates: moving content by +t
    # means sampling at -t, and 1 pixel is 2 / W in normalised units.
    return torch.stack([torch.stack([cos, -sin, -tx * 2 / W], 1),
                        torch.stack([sin, cos, -ty * 2 / H], 1)], 1)


def shift_rotate(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample x (N, C, H, W) through the affine matrices theta (N, 2, 3), zero outside."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
