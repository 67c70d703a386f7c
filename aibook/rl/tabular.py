"""Tabular control: epsilon-greedy, the Q-learning and Sarsa updates, and their training loop.

Q is a (S, A) float64 table. Both methods move Q(s, a) towards a TD target,

    Q(s, a) <- Q(s, a) + alpha * (target - Q(s, a)),
    Q-learning (off-policy): target = r + gamma * max_a' Q(s', a')
    Sarsa      (on-policy):  target = r + gamma * Q(s', a'), a' the action actually taken next,

and the bootstrap term is dropped when s' ends the episode (terminated). A time-limit
cut (truncated) is not an end of the task, so it keeps the bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from aibook.device import seed_for


@dataclass
class TabularConfig:
    algo: str = "q_learning"  # "q_learning" or "sarsa"
    episodes: int = 500
    alpha: float = 0.5  # step size
    gamma: float = 1.0  # discount
    epsilon: float = 0.1  # exploration rate at the start ...
    epsilon_end: float | None = None  # ... decayed linearly to this over the run (None: constant)
    seed: int = 0
    progress: bool = True  # show a tqdm bar over episodes


# --- the pieces -------------------------------------------------------------------------------

def epsilon_greedy(Q_s: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
    """With probability epsilon a uniformly random action, else a greedy one (ties at random).

    Q_s: (A,) action values of the current state.
    """
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon_greedy: expected epsilon in [0, 1], got {epsilon}")
    if rng.random() < epsilon:
        return int(rng.integers(len(Q_s)))
    best = np.flatnonzero(Q_s == Q_s.max())
    return int(best[0] if len(best) == 1 else rng.choice(best))


def td_target(r: float, value_next: float, terminated: bool, gamma: float) -> float:
    """r + gamma * value_next, without the bootstrap when the episode terminated."""
    return r + (0.0 if terminated else gamma * value_next)


def q_learning_update(Q: np.ndarray, s: int, a: int, r: float, s_next: int, terminated: bool,
                      alpha: float, gamma: float) -> float:
    """Q(s,a) += alpha * (r + gamma max_a' Q(s',a') - Q(s,a)), in place. Returns the TD error."""
    delta = td_target(r, Q[s_next].max(), terminated, gamma) - Q[s, a]
    Q[s, a] += alpha * delta
    return float(delta)


def sarsa_update(Q: np.ndarray, s: int, a: int, r: float, s_next: int, a_next: int,
                 terminated: bool, alpha: float, gamma: float) -> float:
    """Q(s,a) += alpha * (r + gamma Q(s',a') - Q(s,a)), in place. Returns the TD error."""
    delta = td_target(r, Q[s_next, a_next], terminated, gamma) - Q[s, a]
    Q[s, a] += alpha * delta
    return float(delta)


# --- the training loop ------------------------------------------------------------------------

def train(env: gym.Env, cfg: TabularConfig | None = None, Q: np.ndarray | None = None
          ) -> tuple[np.ndarray, np.ndarray]:
    """Run cfg.episodes episodes of Q-learning or Sarsa on a discrete env.

    Returns (Q: (S, A), returns: (episodes,) the undiscounted return of each episode as it
    was played, exploration included: the "online" performance of Sutton & Barto's Figure 6.4).
    """
    cfg = cfg or TabularConfig()
    if cfg.algo not in ("q_learning", "sarsa"):
        raise ValueError(f"train: expected algo 'q_learning' or 'sarsa', got {cfg.algo!r}")
    S, A = env.observation_space.n, env.action_space.n
    Q = np.zeros((S, A)) if Q is None else Q
    run_seed = seed_for(cfg.seed)
    rng = np.random.default_rng(run_seed)
    env.action_space.seed(run_seed)
    returns = np.zeros(cfg.episodes)
    eps_end = cfg.epsilon if cfg.epsilon_end is None else cfg.epsilon_end
    bar = tqdm(range(cfg.episodes), desc=cfg.algo, disable=not cfg.progress, leave=False)
    for episode in bar:
        epsilon = cfg.epsilon + (eps_end - cfg.epsilon) * episode / max(cfg.episodes - 1, 1)
        s, _ = env.reset(seed=run_seed if episode == 0 else None)
        a = epsilon_greedy(Q[s], epsilon, rng)
        done = False
        while not done:
            s_next, r, terminated, truncated, _ = env.step(a)
            a_next = epsilon_greedy(Q[s_next], epsilon, rng)
            if cfg.algo == "sarsa":
                sarsa_update(Q, s, a, r, s_next, a_next, terminated, cfg.alpha, cfg.gamma)
            else:
                q_learning_update(Q, s, a, r, s_next, terminated, cfg.alpha, cfg.gamma)
            returns[episode] += r
            s, a, done = s_next, a_next, terminated or truncated
    return Q, returns


# --- using what was learned -------------------------------------------------------------------

def greedy_policy(Q: np.ndarray) -> np.ndarray:
    """pi(s) = argmax_a Q(s, a), lowest action on ties. (S, A) -> (S,) int."""
    return Q.argmax(axis=1)


def evaluate(env: gym.Env, pi: np.ndarray, episodes: int, seed: int = 0,
             max_steps: int = 10_000) -> np.ndarray:
    """Play the deterministic policy pi: (S,) for `episodes` episodes. -> returns (episodes,).

    max_steps guards against a policy that loops forever in an env without a time limit.
    """
    returns = np.zeros(episodes)
    for i in range(episodes):
        s, _ = env.reset(seed=seed_for(seed) if i == 0 else None)
        for _ in range(max_steps):
            s, r, terminated, truncated, _ = env.step(int(pi[s]))
            returns[i] += r
            if terminated or truncated:
                break
    return returns


def greedy_path(env: gym.Env, pi: np.ndarray, seed: int = 0, max_steps: int = 1_000
                ) -> tuple[list[int], float]:
    """States visited by one episode of pi (start state included) and its return."""
    s, _ = env.reset(seed=seed_for(seed))
    path, G = [s], 0.0
    for _ in range(max_steps):
        s, r, terminated, truncated, _ = env.step(int(pi[s]))
        path.append(s)
        G += r
        if terminated or truncated:
            break
    return path, G
