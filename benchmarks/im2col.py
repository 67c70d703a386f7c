"""The CNN chapter's timing claims about im2col, measured and checked on the machine at hand.

    python -m benchmarks.im2col            # prints the medians, then checks the claims

The chapter shows the medians of its own run but asserts no timing: a time depends on
the machine. The claims live here instead, on one convolution layer the size of LeNet's
second (x (64, 6, 12, 12), W (16, 6, 5, 5), float32), forward plus backward, with numpy's
BLAS and torch each on one thread:

1. our im2col conv2d (`aibook.cnn`) is slower than `torch.nn.functional.conv2d`, but takes
   at most twice as long (MAX_RATIO);
2. in ours, the copies (im2col and col2im), which do no arithmetic, take about as long as
   the matrix products (the forward GEMM and the two backward GEMMs), which do all of it:
   the ratio of the two lies between 1/2 and 2.

The parts are timed as conv2d runs them: im2col's matrix stored column by column, each GEMM
written in the order that reads it contiguously, and col2im given dcols in that same layout.
Timed one by one, they reuse memory that is already mapped; the whole layer also allocates
a few MB of fresh arrays on every call, so the parts need not add up to it.

Every timing is a median over alternating rounds after a warm-up (benchmarks/common.py).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from aibook import cnn
from aibook.timing import single_thread
from benchmarks.common import compare

X_SHAPE = (64, 6, 12, 12)  # (N, C, H, W): LeNet's second convolution on a batch of 64
W_SHAPE = (16, 6, 5, 5)  # (F, C, kh, kw)
MAX_RATIO = 2.0  # claim 1: ours takes at most this many times as long as F.conv2d


def measure(repeats: int = 7) -> dict[str, float]:
    """Median seconds of ours and F.conv2d (forward + backward) and of our four parts.

    Returns {"ours_s", "conv2d_s", "ratio" (ours / conv2d, median of per-round ratios),
    "im2col_s", "forward_gemm_s", "backward_gemms_s", "col2im_s", "copies_over_gemms"}.
    """
    rng = np.random.default_rng(0)
    x = rng.standard_normal(X_SHAPE).astype(np.float32)
    W = rng.standard_normal(W_SHAPE).astype(np.float32)
    b = np.zeros(W_SHAPE[0], np.float32)
    out, cache = cnn.conv2d_forward(x, W, b)
    dout = rng.standard_normal(out.shape).astype(np.float32)  # (N, F, OH, OW)
    F_, _, kh, kw = W_SHAPE
    cols = cache[1]  # (N*OH*OW, C*kh*kw), the transpose of a contiguous array
    Wrow = W.reshape(F_, -1)  # (F, C*kh*kw)
    G_t = dout.transpose(1, 0, 2, 3).reshape(F_, -1)  # G^T (F, N*OH*OW)
    dcols = (Wrow.T @ G_t).T  # what col2im scatters back, in im2col's layout
    xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    doutt = torch.from_numpy(dout)

    def ours():
        cnn.conv2d_backward(dout, cnn.conv2d_forward(x, W, b)[1])

    def theirs():
        for t in (xt, Wt, bt):
            t.grad = None
        F.conv2d(xt, Wt, bt).backward(doutt)

    with single_thread():  # numpy's BLAS and torch each on one thread: like for like
        race = compare({"conv2d": theirs, "ours": ours}, repeats=repeats)
        parts = compare({"im2col": lambda: cnn.im2col(x, kh, kw),
                         "forward_gemm": lambda: Wrow @ cols.T,
                         "backward_gemms": lambda: (G_t @ cols, Wrow.T @ G_t),
                         "col2im": lambda: cnn.col2im(dcols, x.shape, kh, kw)},
                        repeats=repeats)
    result = {"ours_s": race["ours"]["median_s"], "conv2d_s": race["conv2d"]["median_s"],
              "ratio": race["ours"]["ratio_to_conv2d"]}
    result.update({f"{k}_s": v["median_s"] for k, v in parts.items()})
    copies = result["im2col_s"] + result["col2im_s"]
    result["copies_over_gemms"] = copies / (result["forward_gemm_s"] + result["backward_gemms_s"])
    return result


def check(result: dict[str, float]) -> None:
    """The chapter's two timing claims; raises AssertionError with the numbers if one fails."""
    assert 1 < result["ratio"] <= MAX_RATIO, (
        f"im2col conv2d is not between 1 and {MAX_RATIO} times F.conv2d here: {result}")
    assert 0.5 <= result["copies_over_gemms"] <= 2, (
        f"the copies (im2col + col2im) and the matrix products are not within a factor 2 of "
        f"each other here: {result}")


def main() -> None:
    result = measure(repeats=15)  # more rounds than run.py's record: the check is a bound
    for key, value in result.items():
        print(f"{key:>18}: {value * 1e3:.3f} ms" if key.endswith("_s") else
              f"{key:>18}: {value:.2f}")
    check(result)
    print("both claims hold on this machine")


if __name__ == "__main__":
    main()
