"""The chapter "Backpropagation from scratch": two autograd engines and what trains with them.

- `scalar.Value`: micrograd-style scalar autograd (and `ScalarMLP` built from it);
- `tensor.Tensor`, `tensor.no_grad`: the same on numpy arrays, with broadcasting;
- `nn`: `Linear`, `MLP`, losses `mse` and `cross_entropy`, `train_step`;
- `optim`: `SGD` (with momentum), `Adam` (their `weight_decay` is L2, added to the gradient)
  and `AdamW` (decoupled weight decay); `schedules`: `warmup_cosine`, a `Scheduler` that sets
  an optimizer's lr each step, and the learning-rate range test (`lr_range_test`,
  `suggest_lr`);
- `manual`: the backward pass of a 2-layer MLP with softmax cross-entropy, written out
  tensor by tensor (`from aibook.autograd import manual`);
- `norm` and `init`, for training deep networks: `BatchNorm1d` (with `train()`/`eval()`
  and running statistics) and `LayerNorm`; Xavier/Glorot and Kaiming/He initialisation,
  `reinit` to apply one to a model's Linear layers, `pre_activations` to follow the
  statistics through depth;
- `check.gradcheck`: finite-difference checks; `draw.draw_graph`: a graph figure.

The tests in tests/test_autograd_*.py compare every piece with PyTorch.
"""

from aibook.autograd.check import GradcheckResult, gradcheck
from aibook.autograd.draw import draw_graph
from aibook.autograd.init import (
    calculate_gain,
    kaiming_normal,
    kaiming_uniform,
    linear_layers,
    pre_activations,
    reinit,
    xavier_normal,
    xavier_uniform,
)
from aibook.autograd.nn import MLP, Linear, Module, accuracy, cross_entropy, mse, train_step
from aibook.autograd.norm import BatchNorm1d, LayerNorm
from aibook.autograd.optim import SGD, Adam, AdamW, Optimizer
from aibook.autograd.scalar import ScalarMLP, Value, topological_order
from aibook.autograd.schedules import Scheduler, lr_range_test, suggest_lr, warmup_cosine
from aibook.autograd.tensor import Tensor, no_grad, unbroadcast

__all__ = [
    "MLP",
    "SGD",
    "Adam",
    "AdamW",
    "BatchNorm1d",
    "GradcheckResult",
    "LayerNorm",
    "Linear",
    "Module",
    "Optimizer",
    "Scheduler",
    "ScalarMLP",
    "Tensor",
    "Value",
    "accuracy",
    "calculate_gain",
    "cross_entropy",
    "draw_graph",
    "gradcheck",
    "kaiming_normal",
    "kaiming_uniform",
    "linear_layers",
    "lr_range_test",
    "mse",
    "no_grad",
    "pre_activations",
    "reinit",
    "suggest_lr",
    "topological_order",
    "train_step",
    "unbroadcast",
    "warmup_cosine",
    "xavier_normal",
    "xavier_uniform",
]
