"""A tensor autograd engine on numpy: `Tensor` and the `no_grad()` context.

The same idea as the scalar `Value`, one array at a time. Each operation
returns its output and a closure `backward(g) -> gradients of the inputs`,
where g = d(loss)/d(output) has the output's shape. When numpy broadcast an
input to a bigger shape, its gradient is summed back to the input's shape
(`unbroadcast`). Tensors hold float64 or float32 arrays; the dtype is kept.

    >>> W = Tensor(np.random.randn(3, 2), requires_grad=True)
    >>> x = Tensor(np.random.randn(5, 3))
    >>> loss = (x @ W).relu().sum()
    >>> loss.backward()
    >>> W.grad.shape  # (3, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from aibook.autograd.scalar import topological_order

SUPPORTED_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
_grad_enabled = True


@contextmanager
def no_grad() -> Iterator[None]:
    """Inside `with no_grad():` operations record no graph (for evaluation and updates)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def _as_array(data, dtype=None) -> np.ndarray:
    """float64/float32 arrays are kept (no copy); ints, bools and lists become float64."""
    arr = np.asarray(data, dtype=dtype)
    if arr.dtype not in SUPPORTED_DTYPES:
        if arr.dtype.kind in "iub":
            arr = arr.astype(np.float64)
        else:
            raise TypeError(f"Tensor: unsupported dtype {arr.dtype}; supported dtypes are "
                            "float64 and float32 (ints, bools and lists become float64)")
    return arr


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum g over the axes that broadcasting added or stretched, giving an array of `shape`."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    return g


class Tensor:
    """An n-d array node: `data` (numpy), `grad` (numpy array of the same shape, or None)."""

    __slots__ = ("data", "grad", "requires_grad", "_backward", "_prev", "_op")
    __array_ufunc__ = None  # so that `ndarray + Tensor` calls Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None) -> None:
        self.data: np.ndarray = _as_array(data.data if isinstance(data, Tensor) else data, dtype)
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self._backward: Callable | None = None
        self._prev: tuple[Tensor, ...] = ()
        self._op = ""

    @staticmethod
    def from_op(data: np.ndarray, inputs: tuple[Tensor, ...], backward: Callable,
                op: str = "") -> Tensor:
        """The output of an operation. backward(g) returns one gradient (or None) per input.

        This is how every operation below, and fused ones elsewhere (cross-entropy),
        join the graph. Under `no_grad()`, or when no input needs a gradient, no
        graph is recorded.
        """
        out = Tensor.__new__(Tensor)
        out.data, out.grad, out._op = data, None, op
        if _grad_enabled and any(t.requires_grad for t in inputs):
            out.requires_grad, out._prev, out._backward = True, inputs, backward
        else:
            out.requires_grad, out._prev, out._backward = False, (), None
        return out

    def _lift(self, other) -> Tensor:
        """Wrap a plain number or array as a constant of this tensor's dtype."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, int | float):
            return Tensor(np.asarray(other, dtype=self.data.dtype))
        return Tensor(other)

    # ---- small conveniences -----------------------------------------------------------

    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    size = property(lambda self: self.data.size)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        flag = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4)}, dtype={self.dtype}{flag})"

    def item(self) -> float:
        return self.data.item()

    def numpy(self) -> np.ndarray:
        return self.data

    def detach(self) -> Tensor:
        return Tensor(self.data)

    def zero_grad(self) -> None:
        """Forget the gradient (it becomes None, as in torch's `zero_grad(set_to_none=True)`)."""
        self.grad = None

    # ---- elementwise arithmetic, with broadcasting ------------------------------------

    def __add__(self, other) -> Tensor:
        a, b = self, self._lift(other)

        def backward(g):
            return (unbroadcast(g, a.data.shape) if a.requires_grad else None,
                    unbroadcast(g, b.data.shape) if b.requires_grad else None)

        return Tensor.from_op(a.data + b.data, (a, b), backward, "+")

    def __sub__(self, other) -> Tensor:
        a, b = self, self._lift(other)

        def backward(g):
            return (unbroadcast(g, a.data.shape) if a.requires_grad else None,
                    unbroadcast(-g, b.data.shape) if b.requires_grad else None)

        return Tensor.from_op(a.data - b.data, (a, b), backward, "-")

    def __mul__(self, other) -> Tensor:
        a, b = self, self._lift(other)

        def backward(g):
            return (unbroadcast(g * b.data, a.data.shape) if a.requires_grad else None,
                    unbroadcast(g * a.data, b.data.shape) if b.requires_grad else None)

        return Tensor.from_op(a.data * b.data, (a, b), backward, "*")

    def __truediv__(self, other) -> Tensor:
        a, b = self, self._lift(other)
        out = a.data / b.data

        def backward(g):
            g_b = g / b.data
            return (unbroadcast(g_b, a.data.shape) if a.requires_grad else None,
                    unbroadcast(-g_b * out, b.data.shape) if b.requires_grad else None)

        return Tensor.from_op(out, (a, b), backward, "/")

    def __pow__(self, k) -> Tensor:
        """self ** k for a number k, or a Tensor k (then d/dk = out * log(self), self > 0)."""
        a, b = self, self._lift(k)
        out = a.data**b.data

        def backward(g):
            g_a = g_b = None
            if a.requires_grad:
                g_a = unbroadcast(g * b.data * a.data ** (b.data - 1), a.data.shape)
            if b.requires_grad:
                g_b = unbroadcast(g * out * np.log(a.data), b.data.shape)
            return g_a, g_b

        return Tensor.from_op(out, (a, b), backward, "**")

    def __neg__(self) -> Tensor:
        return Tensor.from_op(-self.data, (self,), lambda g: (-g,), "neg")

    def __radd__(self, other) -> Tensor:
        return self + other

    def __rsub__(self, other) -> Tensor:
        return self._lift(other) - self

    def __rmul__(self, other) -> Tensor:
        return self * other

    def __rtruediv__(self, other) -> Tensor:
        return self._lift(other) / self

    def __rpow__(self, other) -> Tensor:
        return self._lift(other) ** self

    # ---- matrix product ---------------------------------------------------------------

    def __matmul__(self, other) -> Tensor:
        """(..., n, k) @ (..., k, m) -> (..., n, m); 1-d operands act as a row or column."""
        a, b = self, self._lift(other)
        A, B = a.data, b.data
        if A.ndim == 0 or B.ndim == 0:
            raise ValueError(f"matmul: operands must have at least 1 dimension, got shapes "
                             f"{A.shape} and {B.shape}")
        k_b = B.shape[0] if B.ndim == 1 else B.shape[-2]
        if A.shape[-1] != k_b:
            raise ValueError(f"matmul: shapes {A.shape} and {B.shape} do not align "
                             f"(inner dimensions {A.shape[-1]} != {k_b})")

        def backward(g):
            if A.ndim == 2 and B.ndim == 2:  # the common case, no reshaping
                return (g @ B.T if a.requires_grad else None,
                        A.T @ g if b.requires_grad else None)
            A2 = A[None, :] if A.ndim == 1 else A
            B2 = B[:, None] if B.ndim == 1 else B
            g2 = g
            if A.ndim == 1:
                g2 = np.expand_dims(g2, -2)
            if B.ndim == 1:
                g2 = np.expand_dims(g2, -1)
            g_a = g_b = None
            if a.requires_grad:
                g_a = unbroadcast(g2 @ np.swapaxes(B2, -1, -2), A2.shape).reshape(A.shape)
            if b.requires_grad:
                g_b = unbroadcast(np.swapaxes(A2, -1, -2) @ g2, B2.shape).reshape(B.shape)
            return g_a, g_b

        return Tensor.from_op(A @ B, (a, b), backward, "@")

    def __rmatmul__(self, other) -> Tensor:
        return self._lift(other) @ self

    # ---- reductions -------------------------------------------------------------------

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        shape = self.data.shape

        def backward(g):
            if axis is not None and not keepdims:
                g = np.expand_dims(g, axis)
            return (np.broadcast_to(g, shape),)

        return Tensor.from_op(self.data.sum(axis=axis, keepdims=keepdims), (self,), backward,
                              "sum")

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        out = self.data.mean(axis=axis, keepdims=keepdims)
        shape, n = self.data.shape, self.data.size // max(out.size, 1)

        def backward(g):
            if axis is not None and not keepdims:
                g = np.expand_dims(g, axis)
            return (np.broadcast_to(g / n, shape),)

        return Tensor.from_op(out, (self,), backward, "mean")

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Largest entries; ties share the gradient equally (like torch.amax)."""
        x = self.data
        m = x.max(axis=axis, keepdims=True)

        def backward(g):
            if axis is not None and not keepdims:
                g = np.expand_dims(g, axis)
            mask = x == m
            return (mask * (g / mask.sum(axis=axis, keepdims=True)),)

        out = m if keepdims else (m.reshape(()) if axis is None else np.squeeze(m, axis))
        return Tensor.from_op(out, (self,), backward, "max")

    # ---- shapes and indexing ----------------------------------------------------------

    def reshape(self, *shape) -> Tensor:
        old = self.data.shape
        out = self.data.reshape(*shape)
        return Tensor.from_op(out, (self,), lambda g: (g.reshape(old),), "reshape")

    def transpose(self, *axes) -> Tensor:
        """Reverse the axes, or permute them as numpy.transpose(x, axes) does."""
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], tuple | list) else axes
        axes = tuple(axes) or tuple(reversed(range(self.data.ndim)))
        inverse = tuple(np.argsort(axes))
        out = self.data.transpose(axes)
        return Tensor.from_op(out, (self,), lambda g: (g.transpose(inverse),), "transpose")

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def __getitem__(self, index) -> Tensor:
        """Basic slicing and integer-array indexing, e.g. logp[np.arange(N), y]."""
        if isinstance(index, Tensor):
            index = index.data.astype(np.intp)
        x = self.data
        parts = index if isinstance(index, tuple) else (index,)
        fancy = any(isinstance(i, list) or (isinstance(i, np.ndarray) and i.dtype != bool)
                    for i in parts)  # integer arrays may repeat an index; masks cannot

        def backward(g):
            full = np.zeros_like(x)
            if fancy:  # repeated indices must add up
                np.add.at(full, index, g)
            else:
                full[index] = g
            return (full,)

        return Tensor.from_op(x[index], (self,), backward, "index")

    # ---- elementwise functions --------------------------------------------------------

    def relu(self) -> Tensor:
        x = self.data
        return Tensor.from_op(np.maximum(x, 0), (self,), lambda g: (g * (x > 0),), "relu")

    def tanh(self) -> Tensor:
        t = np.tanh(self.data)
        return Tensor.from_op(t, (self,), lambda g: (g * (1 - t * t),), "tanh")

    def exp(self) -> Tensor:
        e = np.exp(self.data)
        return Tensor.from_op(e, (self,), lambda g: (g * e,), "exp")

    def log(self) -> Tensor:
        x = self.data
        return Tensor.from_op(np.log(x), (self,), lambda g: (g / x,), "log")

    def sigmoid(self) -> Tensor:
        s = 0.5 * (1 + np.tanh(0.5 * self.data))  # = 1 / (1 + e^-x), without overflow
        return Tensor.from_op(s, (self,), lambda g: (g * s * (1 - s),), "sigmoid")

    def softmax(self, axis: int = -1) -> Tensor:
        """exp(x) / sum(exp(x)) along `axis`, computed after subtracting the max."""
        e = np.exp(self.data - self.data.max(axis=axis, keepdims=True))
        s = e / e.sum(axis=axis, keepdims=True)

        def backward(g):
            return (s * (g - (g * s).sum(axis=axis, keepdims=True)),)

        return Tensor.from_op(s, (self,), backward, "softmax")

    def log_softmax(self, axis: int = -1) -> Tensor:
        """x - logsumexp(x) along `axis`; logsumexp(x) = m + log(sum(exp(x - m))), m = max."""
        z = self.data - self.data.max(axis=axis, keepdims=True)
        out = z - np.log(np.exp(z).sum(axis=axis, keepdims=True))

        def backward(g):
            return (g - np.exp(out) * g.sum(axis=axis, keepdims=True),)

        return Tensor.from_op(out, (self,), backward, "log_softmax")

    # ---- the algorithm: reverse-mode automatic differentiation -----------------------

    def backward(self, grad=None) -> None:
        """Fill `.grad` of every tensor that requires it with d(self)/d(tensor).

        grad: the seed d(loss)/d(self), needed when self is not a scalar.
        Leaf gradients accumulate across calls (reset them with `zero_grad`);
        inner tensors get this call's gradient.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad; create the leaves "
                               "with requires_grad=True (and not inside no_grad())")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward: a seed gradient is needed for a non-scalar tensor "
                                   f"of shape {self.data.shape}; call backward(grad) with grad "
                                   f"of that shape, or reduce to a scalar first (e.g. .sum())")
            grad = np.ones_like(self.data)
        else:
            grad = np.array(grad.data if isinstance(grad, Tensor) else grad,
                            dtype=self.data.dtype)
            if grad.shape != self.data.shape:
                raise ValueError(f"backward: seed gradient has shape {grad.shape}, expected "
                                 f"{self.data.shape}")
        grads = {id(self): grad}
        for node in reversed(topological_order(self)):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if g.dtype != node.data.dtype:
                g = g.astype(node.data.dtype)
            if node._backward is None:  # a leaf: accumulate, in an array of its own
                node.grad = np.array(g) if node.grad is None else node.grad + g
                continue
            node.grad = g
            for parent, g_parent in zip(node._prev, node._backward(g), strict=True):
                if g_parent is None or not parent.requires_grad:
                    continue
                seen = grads.get(id(parent))
                grads[id(parent)] = g_parent if seen is None else seen + g_parent
