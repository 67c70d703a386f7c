"""The chapter "Backpropagation from scratch": two autograd engines and what trains with them.

- `scalar.Value`: micrograd-style scalar autograd (and `ScalarMLP` built from it);
- `tensor.Tensor`, `tensor.no_grad`: the same on numpy arrays, with broadcasting;
- `nn`: `Linear`, `MLP`, losses `mse` and `cross_entropy`, `train_step`;
- `optim`: `SGD` (with momentum) and `Adam`;
- `check.gradcheck`: finite-difference checks; `draw.draw_graph`: a graph figure.

The tests in tests/test_autograd_*.py compare every piece with PyTorch.
"""

from aibook.autograd.check import GradcheckResult, gradcheck
from aibook.autograd.draw import draw_graph
from aibook.autograd.nn import MLP, Linear, Module, accuracy, cross_entropy, mse, train_step
from aibook.autograd.optim import SGD, Adam, Optimizer
from aibook.autograd.scalar import ScalarMLP, Value, topological_order
from aibook.autograd.tensor import Tensor, no_grad, unbroadcast

__all__ = [
    "MLP",
    "SGD",
    "Adam",
    "GradcheckResult",
    "Linear",
    "Module",
    "Optimizer",
    "ScalarMLP",
    "Tensor",
    "Value",
    "accuracy",
    "cross_entropy",
    "draw_graph",
    "gradcheck",
    "mse",
    "no_grad",
    "topological_order",
    "train_step",
    "unbroadcast",
]
