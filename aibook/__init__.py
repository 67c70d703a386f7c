"""aibook: the helper library of the aibook deep-learning textbook.

Each chapter's ideas live in a module named after them (`aibook.autograd`,
`aibook.cnn`, `aibook.rl`, `aibook.gan`, `aibook.finetune`, `aibook.compress`).
The shared helpers are importable from the top level.
"""

from aibook.data import digits, loader, moons
from aibook.device import device, seed_everything
from aibook.train import History, accuracy, evaluate, fit

__version__ = "0.1.0"

__all__ = [
    "History",
    "accuracy",
    "device",
    "digits",
    "evaluate",
    "fit",
    "loader",
    "moons",
    "seed_everything",
]
