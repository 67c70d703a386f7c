"""aibook: the helper library of the aibook deep-learning textbook.

Each chapter's ideas live in a module named after them (`aibook.autograd`,
`aibook.cnn`, `aibook.transformer`, `aibook.ssl`, `aibook.rl`, `aibook.gan`, `aibook.finetune`,
`aibook.compress`, `aibook.robust`, `aibook.distributed`).
The shared helpers are importable from the top level. Claims go through `aibook.stats`
(intervals over seeds) and `aibook.claims` (glue numbers into the text); every seeded helper
adds AIBOOK_SEED_OFFSET to the base seed it is given.
"""

from aibook.data import digits, loader, moons
from aibook.device import device, seed_everything, seed_for
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
    "seed_for",
]
