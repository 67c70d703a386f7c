"""Weight initialisation from variance preservation: Xavier/Glorot and Kaiming/He.

A layer computes z_j = sum_{i=1}^{n_in} h_i W_ij (+ b_j, set to 0 here), with W_ij drawn
independently, mean 0, independent of the input h. Then

    Var(z_j) = n_in Var(W) E[h_i^2].                                             (forward)

The input h is the activation of the previous layer's z: h = f(z).
- ReLU: z is symmetric about 0, so E[h^2] = E[z^2 ; z > 0] = Var(z) / 2, and
  Var(z_l) = n_in Var(W) Var(z_{l-1}) / 2. Keeping Var(z_l) = Var(z_{l-1}) needs
  Var(W) = 2 / n_in: Kaiming (He et al., 2015), Var(W) = gain^2 / fan_in with gain^2 = 2.
- tanh, near 0 (tanh(z) ~ z): E[h^2] ~ Var(z), so Var(W) = 1 / n_in (gain 1). Away from 0
  tanh shrinks its input; torch's gain 5/3 for tanh makes up for that (an empirical choice).
- Any other gain: Var(W) = gain^2 / fan_in; a layer whose Var(W) is c times too large
  multiplies the variance by c, and L layers by c^L: it explodes (c > 1) or vanishes (c < 1).

Backwards, the gradient obeys the same rule with the other fan:
Var(dL/dh_i) = n_out Var(W) Var(dL/dz_j) (times f'(z)^2 terms). Keeping both passes needs
Var(W) = 1/n_in and 1/n_out at once; Glorot and Bengio (2010) take the compromise

    Var(W) = gain^2 * 2 / (fan_in + fan_out)                                    (Xavier)

A uniform U(-a, a) has variance a^2 / 3, so the uniform versions use a = sqrt(3) std.

Orientation: as in `Linear`, W has shape (fan_in, fan_out) = (d_in, d_out); torch stores the
transpose, (fan_out, fan_in). Every function draws from the `numpy.random.Generator` it is
given, so a result replays from its seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from numbers import Integral, Real

import numpy as np

from aibook.autograd.nn import MLP, Linear, Module
from aibook.autograd.tensor import Tensor, no_grad

GAINS = {"linear": 1.0, "relu": float(np.sqrt(2.0)), "tanh": 5.0 / 3.0}  # torch's values


def calculate_gain(nonlinearity: str) -> float:
    """The gain that torch.nn.init.calculate_gain gives: linear 1, relu sqrt(2), tanh 5/3."""
    if nonlinearity not in GAINS:
        raise ValueError(f"calculate_gain: nonlinearity must be one of {sorted(GAINS)}, "
                         f"got {nonlinearity!r}")
    return GAINS[nonlinearity]


# ---- the four initialisations -------------------------------------------------------------


def xavier_std(fan_in: int, fan_out: int, gain: float = 1.0) -> float:
    """Glorot's standard deviation, gain * sqrt(2 / (fan_in + fan_out))."""
    _check(fan_in, fan_out, gain, "xavier")
    return gain * float(np.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_std(fan_in: int, fan_out: int, nonlinearity: str = "relu",
                mode: str = "fan_in") -> float:
    """He's standard deviation, gain / sqrt(fan), fan = fan_in (forward) or fan_out (backward)."""
    gain = calculate_gain(nonlinearity)
    _check(fan_in, fan_out, gain, "kaiming")
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return gain / float(np.sqrt(fan_in if mode == "fan_in" else fan_out))


def xavier_uniform(fan_in: int, fan_out: int, gain: float = 1.0, *,
                   rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    """W ~ U(-a, a), a = sqrt(3) gain sqrt(2 / (fan_in + fan_out)). -> (fan_in, fan_out)."""
    a = np.sqrt(3.0) * xavier_std(fan_in, fan_out, gain)
    return _generator(rng).uniform(-a, a, (fan_in, fan_out)).astype(dtype)


def xavier_normal(fan_in: int, fan_out: int, gain: float = 1.0, *,
                  rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    """W ~ N(0, gain^2 2 / (fan_in + fan_out)). -> (fan_in, fan_out)."""
    std = xavier_std(fan_in, fan_out, gain)
    return _generator(rng).normal(0.0, std, (fan_in, fan_out)).astype(dtype)


def kaiming_uniform(fan_in: int, fan_out: int, nonlinearity: str = "relu",
                    mode: str = "fan_in", *, rng: np.random.Generator,
                    dtype=np.float64) -> np.ndarray:
    """W ~ U(-a, a), a = sqrt(3) gain / sqrt(fan). -> (fan_in, fan_out)."""
    a = np.sqrt(3.0) * kaiming_std(fan_in, fan_out, nonlinearity, mode)
    return _generator(rng).uniform(-a, a, (fan_in, fan_out)).astype(dtype)


def kaiming_normal(fan_in: int, fan_out: int, nonlinearity: str = "relu",
                   mode: str = "fan_in", *, rng: np.random.Generator,
                   dtype=np.float64) -> np.ndarray:
    """W ~ N(0, gain^2 / fan). -> (fan_in, fan_out)."""
    std = kaiming_std(fan_in, fan_out, nonlinearity, mode)
    return _generator(rng).normal(0.0, std, (fan_in, fan_out)).astype(dtype)


def _check(fan_in, fan_out, gain, who: str) -> None:
    for name, n in (("fan_in", fan_in), ("fan_out", fan_out)):
        if not isinstance(n, Integral) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{who}: {name} must be a positive int, got {n!r}")
    if not isinstance(gain, Real) or not np.isfinite(gain) or gain <= 0:
        raise ValueError(f"{who}: gain must be a positive finite number, got {gain!r}")


def _generator(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    return rng


# ---- applying them to a model -------------------------------------------------------------


def linear_layers(model: Module) -> Iterator[Linear]:
    """Every `Linear` inside `model` (itself, an attribute, or an item of a list), in order."""
    if isinstance(model, Linear):
        yield model
        return
    for value in vars(model).values():
        for item in (value if isinstance(value, list | tuple) else (value,)):
            if isinstance(item, Module):
                yield from linear_layers(item)


def reinit(model: Module, init: Callable[[int, int], np.ndarray], bias: float = 0.0) -> Module:
    """Overwrite, in place, the weights of every Linear in `model` with init(fan_in, fan_out).

    The biases become `bias` (0 by default, so that they add no variance of their own).
    The Tensors stay the same objects, so an optimizer that holds them sees the new values.
    Returns the model. For example, Kaiming for a ReLU MLP:

        reinit(model, partial(kaiming_normal, nonlinearity="relu", rng=rng))
    """
    layers = list(linear_layers(model))
    if not layers:
        raise ValueError(f"reinit: found no Linear layer in {type(model).__name__}")
    for layer in layers:
        W = np.asarray(init(*layer.W.shape))
        if W.shape != layer.W.shape:
            raise ValueError(f"reinit: init{layer.W.shape} returned shape {W.shape}, expected "
                             f"{layer.W.shape} = (fan_in, fan_out)")
        layer.W.data[...] = W
        if layer.b is not None:
            layer.b.data[...] = bias
    return model


def pre_activations(model: MLP, x) -> list[np.ndarray]:
    """The pre-activations z_1, ..., z_L of an L-layer MLP on input x (N, d_in).

    z_l = h_{l-1} W_l + b_l with h_0 = x and h_l = f(z_l) (f = ReLU or tanh); z_L is the
    output. The activations are f(z_l) for l < L: np.maximum(z, 0) or np.tanh(z).
    """
    h = x if isinstance(x, Tensor) else Tensor(x)
    zs = []
    with no_grad():
        for i, layer in enumerate(model.layers):
            z = layer(h)
            zs.append(z.data)
            if i < len(model.layers) - 1:
                h = z.relu() if model.activation == "relu" else z.tanh()
    return zs
