"""Environments for the RL chapter: `make(env_id)` wraps `gymnasium.make` with clear errors.

Every id is looked up in gymnasium's own registry (`gymnasium.envs.registry`), so an
unknown id fails with the closest registered names, and the returned env checks
each action against its action space before stepping.
"""

from __future__ import annotations

import difflib
from typing import Any

import gymnasium as gym


class CheckAction(gym.Wrapper):
    """Raise a ValueError naming the action space when `step` gets an action outside it.

    (FrozenLake would otherwise fail with a bare KeyError deep inside its table.)
    """

    def step(self, action: Any):
        if not self.action_space.contains(action):
            raise ValueError(f"{self.spec.id if self.spec else 'env'}.step: expected an action "
                             f"in {self.action_space}, got {action!r}")
        return self.env.step(action)


def make(env_id: str, **kwargs: Any) -> gym.Env:
    """`gymnasium.make(env_id, **kwargs)` plus an action check; unknown ids raise ValueError.

    Examples: make("FrozenLake-v1"), make("CliffWalking-v1"), make("CartPole-v1"),
    make("Taxi-v4"). (CliffWalking-v0 and Taxi-v3 are gone in gymnasium 1.x.)
    """
    if not isinstance(env_id, str):
        raise TypeError(f"make: expected an environment id string, got {type(env_id).__name__}")
    registry = gym.envs.registry
    if env_id not in registry:
        close = difflib.get_close_matches(env_id, list(registry), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"make: unknown environment id {env_id!r} in gymnasium "
                         f"{gym.__version__}'s registry{hint}")
    return CheckAction(gym.make(env_id, **kwargs))
