"""A scalar autograd engine: `Value`, in the spirit of Karpathy's micrograd.

Each operation computes its output and defines, as a closure, how to send the
output's gradient back to its inputs (the local chain rule). `Value.backward`
orders the graph topologically and runs those closures from the output back to
the leaves. The sort is iterative, so deep graphs do not hit Python's recursion
limit.

    >>> a, b = Value(2.0), Value(-3.0)
    >>> y = (a * b + 1).tanh()
    >>> y.backward()
    >>> a.grad  # dy/da = (1 - y**2) * b
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Callable, Iterable

from aibook.device import seed_for

Number = int | float


class Value:
    """A scalar node of a computational graph: its `data`, and `grad` = d(output)/d(self)."""

    __slots__ = ("data", "grad", "_backward", "_prev", "_op", "label")

    def __init__(self, data: Number, _prev: tuple[Value, ...] = (), _op: str = "",
                 label: str = "") -> None:
        if type(data) is not float:  # the fast path first: most nodes come from operations
            if isinstance(data, Value):
                raise TypeError("Value: got a Value; use it directly instead of wrapping it")
            if not isinstance(data, numbers.Real):
                raise TypeError(f"Value: expected a real number, got {type(data).__name__}")
            data = float(data)
        self.data = data
        self.grad = 0.0
        self._backward: Callable[[], None] | None = None
        self._prev = _prev
        self._op = _op
        self.label = label

    def __repr__(self) -> str:
        name = f"{self.label}: " if self.label else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g})"

    # ---- operations: each defines out and how out.grad flows back -------------------

    def __add__(self, other: Value | Number) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Value | Number) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, k: Number) -> Value:
        if not isinstance(k, int | float):
            raise TypeError(f"Value ** k: k must be an int or float, got {type(k).__name__}")
        if self.data < 0 and not float(k).is_integer():
            raise ValueError(f"Value ** k: a negative base ({self.data}) needs an integer k, "
                             f"got {k}")
        out = Value(self.data**k, (self,), f"**{k:g}")

        def _backward() -> None:
            self.grad += k * self.data ** (k - 1) * out.grad

        out._backward = _backward
        return out

    def relu(self) -> Value:
        out = Value(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward() -> None:
            self.grad += (out.data > 0) * out.grad

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward() -> None:
            self.grad += (1.0 - t * t) * out.grad

        out._backward = _backward
        return out

    def exp(self) -> Value:
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward() -> None:
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def log(self) -> Value:
        if self.data <= 0:
            raise ValueError(f"Value.log: expected a positive number, got {self.data}")
        out = Value(math.log(self.data), (self,), "log")

        def _backward() -> None:
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def sigmoid(self) -> Value:
        x = self.data  # two branches so that exp never overflows
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        out = Value(s, (self,), "sigmoid")

        def _backward() -> None:
            self.grad += s * (1.0 - s) * out.grad

        out._backward = _backward
        return out

    # ---- everything else is built from the operations above --------------------------

    def __neg__(self) -> Value:
        return self * -1

    def __sub__(self, other: Value | Number) -> Value:
        return self + (-other)

    def __truediv__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):
            return self * other**-1
        return self * (1.0 / other)

    def __radd__(self, other: Number) -> Value:
        return self + other

    def __rsub__(self, other: Number) -> Value:
        return (-self) + other

    def __rmul__(self, other: Number) -> Value:
        return self * other

    def __rtruediv__(self, other: Number) -> Value:
        return self**-1 * other

    # ---- the algorithm: reverse-mode automatic differentiation -----------------------

    def backward(self) -> None:
        """Fill `.grad` of every node with d(self)/d(node).

        Leaves accumulate across calls (as in PyTorch: reset them with
        `p.grad = 0.0`); inner nodes start from zero on every call.
        """
        order = topological_order(self)
        for node in order:
            if node._prev:
                node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):
            if node._backward is not None:
                node._backward()


def topological_order(root) -> list:
    """Nodes reachable from `root` (through `._prev`), each after all of its inputs.

    Iterative depth-first search, so a chain of 100,000 nodes is fine.
    Works for any node with a `_prev` tuple (Value and Tensor).
    """
    order: list = []
    visited: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        stack.extend((p, False) for p in node._prev if id(p) not in visited)
    return order


# ---- a micrograd-style MLP of Values, for comparisons with the Tensor engine -------------


class ScalarMLP:
    """A multilayer perceptron built from scalar `Value`s. sizes: e.g. [2, 16, 16, 1].

    Hidden layers use ReLU, the last layer is linear. Weights are uniform in
    +-1/sqrt(fan_in) like torch.nn.Linear, drawn from `random.Random(seed)`.
    """

    def __init__(self, sizes: Iterable[int], seed: int = 0) -> None:
        self.sizes = list(sizes)
        if len(self.sizes) < 2 or any(n < 1 for n in self.sizes):
            raise ValueError(f"ScalarMLP: expected >= 2 positive layer sizes, got {self.sizes}")
        rng = random.Random(seed_for(seed))
        self.layers = []
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            bound = 1.0 / math.sqrt(n_in)
            W = [[Value(rng.uniform(-bound, bound)) for _ in range(n_in)] for _ in range(n_out)]
            b = [Value(rng.uniform(-bound, bound)) for _ in range(n_out)]
            self.layers.append((W, b))

    def __call__(self, x: list[Value | Number]) -> list[Value]:
        """x: a list of sizes[0] numbers -> a list of sizes[-1] Values."""
        if len(x) != self.sizes[0]:
            raise ValueError(f"ScalarMLP: expected {self.sizes[0]} inputs, got {len(x)}")
        for i, (W, b) in enumerate(self.layers):
            x = [sum((w_j * x_j for w_j, x_j in zip(w, x, strict=True)), b_i)
                 for w, b_i in zip(W, b, strict=True)]
            if i < len(self.layers) - 1:
                x = [v.relu() for v in x]
        return x

    def parameters(self) -> list[Value]:
        return [p for W, b in self.layers for p in [*(w for row in W for w in row), *b]]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = 0.0
