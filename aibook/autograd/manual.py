"""Backpropagation by hand ("becoming a backprop ninja", Karpathy's zero-to-hero, part 4).

A 2-layer MLP with softmax cross-entropy, forward and backward written out in numpy,
one named tensor per line of the math:

    X (N, D) -> Z1 = X W1 + b1 (N, H) -> A1 = tanh(Z1) -> Z2 = A1 W2 + b2 (N, K) logits
             -> P = softmax(Z2) (N, K) -> loss = (1/N) sum_i -log P[i, y_i]

W1 (D, H), b1 (H,), W2 (H, K), b2 (K,): the orientation of `aibook.autograd.nn.Linear`
(y = x W + b), so `params_of(MLP([D, H, K], "tanh"))` gives the same network to both.

The backward pass walks the same lines in reverse. Each gradient dT = d(loss)/dT has the
shape of T, and each line is the chain rule for one operation:

    dZ2 = (P - onehot(y)) / N              softmax + cross-entropy, fused (see below)
    dW2 = A1^T dZ2       (H, K)            Z2 = A1 W2: dZ2[i,k] reaches W2[h,k] through A1[i,h]
    db2 = sum_i dZ2[i]   (K,)              b2 was broadcast over the N rows: its gradient adds them
    dA1 = dZ2 W2^T       (N, H)
    dZ1 = dA1 * (1 - A1^2)                 tanh'(z) = 1 - tanh(z)^2, elementwise
    dW1 = X^T dZ1        (D, H)
    db1 = sum_i dZ1[i]   (H,)
    dX  = dZ1 W1^T       (N, D)

`softmax_cross_entropy_long` derives dZ2 the long way, through every small step of the
loss, and the tests check that both ways agree (and agree with our `Tensor` and torch).
"""

from __future__ import annotations

import numpy as np

from aibook.autograd.nn import MLP

PARAM_NAMES = ("W1", "b1", "W2", "b2")

# ---- parameters and checks ---------------------------------------------------------------


def params_of(model: MLP) -> dict[str, np.ndarray]:
    """Copies of W1, b1, W2, b2 from a 2-layer tanh `MLP([D, H, K], "tanh")` of our engine."""
    if not isinstance(model, MLP) or len(model.layers) != 2 or model.activation != "tanh":
        raise ValueError(f"params_of: expected a 2-layer MLP with tanh, got {model!r}")
    first, second = model.layers
    if first.b is None or second.b is None:
        raise ValueError("params_of: both layers need a bias")
    return {"W1": first.W.data.copy(), "b1": first.b.data.copy(),
            "W2": second.W.data.copy(), "b2": second.b.data.copy()}


def init_params(D: int, H: int, K: int, *, seed: int = 0,
                dtype=np.float64) -> dict[str, np.ndarray]:
    """W1 (D, H), b1 (H,), W2 (H, K), b2 (K,), initialised as `MLP([D, H, K], "tanh", seed)`.

    Uniform in +-1/sqrt(fan_in), torch.nn.Linear's default. The seed follows
    AIBOOK_SEED_OFFSET, as every seeded helper of aibook does.
    """
    return params_of(MLP([D, H, K], "tanh", seed=seed, dtype=dtype))


def _check_params(params) -> tuple[int, int, int]:
    """(D, H, K) from W1 (D, H), b1 (H,), W2 (H, K), b2 (K,), or a ValueError saying what is off."""
    expected = "expected W1 (D, H), b1 (H,), W2 (H, K), b2 (K,)"
    missing = [name for name in PARAM_NAMES if name not in params]
    if missing:
        raise ValueError(f"params: missing {missing}; {expected}")
    W1, b1, W2, b2 = (np.asarray(params[name]) for name in PARAM_NAMES)
    if W1.ndim != 2 or W2.ndim != 2:
        raise ValueError(f"params: W1 and W2 must be 2-d, got shapes {W1.shape} and {W2.shape}; "
                         f"{expected}")
    (D, H), K = W1.shape, W2.shape[1]
    if b1.shape != (H,) or W2.shape != (H, K) or b2.shape != (K,):
        raise ValueError(f"params: got W1 {W1.shape}, b1 {b1.shape}, W2 {W2.shape}, "
                         f"b2 {b2.shape}; {expected} (here D={D}, H={H}, K={K})")
    return D, H, K


def _check_data(X, y, D: int, K: int) -> tuple[np.ndarray, np.ndarray]:
    """X as a float array (N, D) and y as an int array (N,) with labels in [0, K)."""
    X = np.asarray(X)
    if X.dtype.kind not in "f":
        if X.dtype.kind not in "iub":
            raise TypeError(f"forward: X must hold numbers, got dtype {X.dtype}")
        X = X.astype(np.float64)
    if X.ndim != 2 or X.shape[1] != D or X.shape[0] < 1:
        raise ValueError(f"forward: expected X of shape (N, D) = (N, {D}) with N >= 1, "
                         f"got {X.shape}")
    return X, _check_labels("forward", y, X.shape[0], K)


def _check_labels(who: str, y, N: int, K: int) -> np.ndarray:
    """y as an int array (N,) with labels in [0, K), or a ValueError naming `who`."""
    y = np.asarray(y)
    if y.shape != (N,):
        raise ValueError(f"{who}: expected labels y of shape (N,) = ({N},), got {y.shape}")
    if y.dtype.kind not in "iu":
        if y.dtype.kind != "f" or not np.all(y == np.round(y)):
            raise ValueError(f"{who}: labels y must be integers, got dtype {y.dtype}")
        y = y.astype(np.intp)
    if y.min() < 0 or y.max() >= K:
        raise ValueError(f"{who}: labels must be in [0, K) = [0, {K}), "
                         f"got values in [{y.min()}, {y.max()}]")
    return y


# ---- forward -----------------------------------------------------------------------------


def forward(params: dict[str, np.ndarray], X, y) -> tuple[float, dict[str, np.ndarray]]:
    """The loss and the cache of every intermediate. X: (N, D), y: (N,) ints in [0, K).

    Returns (loss, cache) with cache = {X, y, Z1, A1, Z2, P}: what `backward` needs.

    The loss is mean_i -log P[i, y_i], computed as mean_i (logsumexp(Z2[i]) - Z2[i, y_i]),
    logsumexp(z) = m + log sum_k exp(z_k - m) with m = max_k z_k: no exp overflows, and no
    log(0) when a probability underflows.
    """
    D, H, K = _check_params(params)
    X, y = _check_data(X, y, D, K)
    W1, b1, W2, b2 = (np.asarray(params[name]) for name in PARAM_NAMES)
    N = X.shape[0]
    Z1 = X @ W1 + b1                            # (N, H)
    A1 = np.tanh(Z1)                            # (N, H)
    Z2 = A1 @ W2 + b2                           # (N, K) logits
    m = Z2.max(axis=1, keepdims=True)           # (N, 1)
    E = np.exp(Z2 - m)                          # (N, K), entries in [0, 1]
    S = E.sum(axis=1, keepdims=True)            # (N, 1), >= 1
    P = E / S                                   # (N, K) softmax
    logsumexp = m[:, 0] + np.log(S[:, 0])       # (N,)
    loss = float(np.mean(logsumexp - Z2[np.arange(N), y]))
    return loss, {"X": X, "y": y, "Z1": Z1, "A1": A1, "Z2": Z2, "P": P}


# ---- backward ----------------------------------------------------------------------------


def softmax_cross_entropy_grad(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dZ2 = (P - onehot(y)) / N, the gradient of mean_i -log softmax(Z2)[i, y_i]. P: (N, K).

    Derivation, for one row z = Z2[i] with label c: the row's loss is
    l = -log P_c = logsumexp(z) - z_c, and d logsumexp(z) / dz_k = exp(z_k) / sum_j exp(z_j)
    = P_k. So dl/dz_k = P_k - [k = c]. The mean over the N rows divides by N. Each row of
    dZ2 sums to 0: raising every logit of a row together changes no probability.
    """
    N = P.shape[0]
    dZ2 = P.copy()
    dZ2[np.arange(N), y] -= 1
    return dZ2 / N


def softmax_cross_entropy_long(Z2: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """The loss and dZ2 through every small step, as zero-to-hero does before the short way.

    Z2: (N, K) logits, y: (N,) ints. Returns (loss, dZ2); dZ2 equals
    `softmax_cross_entropy_grad` up to rounding.

    Forward, one operation a line:

        logit_maxes    = max_k Z2[:, k]                  (N, 1)
        norm_logits    = Z2 - logit_maxes                (N, K)
        counts         = exp(norm_logits)                (N, K)
        counts_sum     = sum_k counts[:, k]              (N, 1) = exp(logsumexp - logit_maxes)
        counts_sum_inv = counts_sum ** -1                (N, 1)
        probs          = counts * counts_sum_inv         (N, K) softmax, broadcast over k
        logprobs       = log(probs)                      (N, K)
        loss           = -(1/N) sum_i logprobs[i, y_i]

    Backward, the chain rule on each line from the last one up (d<name> = dloss/d<name>):

        dlogprobs      = -1/N at [i, y_i], 0 elsewhere
        dprobs         = dlogprobs / probs                             (d log p = dp / p)
        dcounts_sum_inv = sum_k dprobs * counts                        (broadcast -> sum)
        dcounts        = dprobs * counts_sum_inv                       (first use of counts)
        dcounts_sum    = dcounts_sum_inv * (-counts_sum ** -2)
        dcounts       += dcounts_sum                                   (second use: add)
        dnorm_logits   = dcounts * counts                              (exp' = exp)
        dlogit_maxes   = -sum_k dnorm_logits                           (broadcast -> sum)
        dZ2            = dnorm_logits + onehot(argmax) * dlogit_maxes  (max routes to argmax)

    dlogit_maxes is 0 up to rounding: subtracting any constant from a row leaves the
    softmax unchanged, which is why subtracting the max is allowed at all. Unlike the
    short way this path takes log(probs), so it fails (log 0) when a probability
    underflows, for logits that differ by more than about 745.
    """
    Z2 = np.asarray(Z2)
    if Z2.ndim != 2 or Z2.shape[0] < 1:
        raise ValueError(f"softmax_cross_entropy_long: expected logits (N, K) with N >= 1, "
                         f"got {Z2.shape}")
    N, K = Z2.shape
    y = _check_labels("softmax_cross_entropy_long", y, N, K)
    rows = np.arange(N)
    # forward
    logit_maxes = Z2.max(axis=1, keepdims=True)
    norm_logits = Z2 - logit_maxes
    counts = np.exp(norm_logits)
    counts_sum = counts.sum(axis=1, keepdims=True)
    counts_sum_inv = counts_sum**-1
    probs = counts * counts_sum_inv
    logprobs = np.log(probs)
    loss = float(-logprobs[rows, y].mean())
    # backward
    dlogprobs = np.zeros_like(logprobs)
    dlogprobs[rows, y] = -1.0 / N
    dprobs = dlogprobs / probs
    dcounts_sum_inv = (dprobs * counts).sum(axis=1, keepdims=True)
    dcounts = dprobs * counts_sum_inv
    dcounts_sum = dcounts_sum_inv * (-(counts_sum**-2))
    dcounts += dcounts_sum  # broadcast (N, 1) over the K columns
    dnorm_logits = dcounts * counts
    dlogit_maxes = -dnorm_logits.sum(axis=1, keepdims=True)
    dZ2 = dnorm_logits.copy()
    dZ2[rows, Z2.argmax(axis=1)] += dlogit_maxes[:, 0]
    return loss, dZ2


def backward(params: dict[str, np.ndarray], cache: dict[str, np.ndarray]
             ) -> dict[str, np.ndarray]:
    """Gradients of the loss of `forward`: {dW1, db1, dW2, db2, dX}, each shaped as its tensor.

    cache: the second output of `forward(params, X, y)`. The lines are the chain rule
    of the module's docstring, in reverse order of the forward pass.
    """
    D, H, K = _check_params(params)
    missing = [key for key in ("X", "y", "A1", "P") if key not in cache]
    if missing:
        raise ValueError(f"backward: the cache lacks {missing}; pass the cache that "
                         "forward(params, X, y) returned")
    X, y, A1, P = cache["X"], cache["y"], cache["A1"], cache["P"]
    if A1.shape[1] != H or P.shape[1] != K or X.shape[1] != D:
        raise ValueError(f"backward: the cache (X {X.shape}, A1 {A1.shape}, P {P.shape}) does "
                         f"not come from these params (D={D}, H={H}, K={K})")
    W1, W2 = np.asarray(params["W1"]), np.asarray(params["W2"])
    dZ2 = softmax_cross_entropy_grad(P, y)      # (N, K)
    dW2 = A1.T @ dZ2                            # (H, K)
    db2 = dZ2.sum(axis=0)                       # (K,)
    dA1 = dZ2 @ W2.T                            # (N, H)
    dZ1 = dA1 * (1 - A1**2)                     # (N, H)
    dW1 = X.T @ dZ1                             # (D, H)
    db1 = dZ1.sum(axis=0)                       # (H,)
    dX = dZ1 @ W1.T                             # (N, D)
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2, "dX": dX}
