"""Dynamic programming on a known MDP: the model as arrays, then the Bellman backups.

Gymnasium's toy-text environments expose their model as `env.unwrapped.P`, a dict
`P[s][a] = [(p, s_next, r, terminated), ...]`. `model_arrays` turns it into

    P: (S, A, S) float64   probability of s -> s_next under a, counting only
                           transitions that do NOT end the episode,
    R: (S, A) float64      expected immediate reward r(s, a),

so that every Bellman backup is one line: Q = R + gamma * P @ V. A transition
that terminates contributes its reward and nothing after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class DPConfig:
    gamma: float = 1.0  # discount; 1.0 makes V(s) the probability of reaching the goal
    theta: float = 1e-12  # value iteration stops when max |V_new - V| < theta
    max_iterations: int = 100_000


def model_arrays(P: dict) -> tuple[np.ndarray, np.ndarray]:
    """P[s][a] = [(p, s_next, r, terminated), ...] -> (P: (S, A, S), R: (S, A))."""
    if not isinstance(P, dict) or not P:
        raise ValueError(f"model_arrays: expected env.unwrapped.P, a non-empty dict, got "
                         f"{type(P).__name__}")
    S, A = len(P), len(P[0])
    P_arr, R = np.zeros((S, A, S)), np.zeros((S, A))
    for s in range(S):
        for a in range(A):
            for p, s_next, r, terminated in P[s][a]:
                R[s, a] += p * r
                if not terminated:
                    P_arr[s, a, s_next] += p
    return P_arr, R


def q_from_v(P: np.ndarray, R: np.ndarray, V: np.ndarray, gamma: float) -> np.ndarray:
    """One Bellman backup: Q(s, a) = r(s, a) + gamma * sum_s' P(s'|s, a) V(s'). -> (S, A)."""
    return R + gamma * P @ V


def value_iteration(P: np.ndarray, R: np.ndarray, cfg: DPConfig | None = None
                    ) -> tuple[np.ndarray, np.ndarray, int]:
    """V <- max_a Q(s, a) until it stops moving. -> (V: (S,), greedy policy: (S,) int, sweeps)."""
    cfg = cfg or DPConfig()
    V = np.zeros(P.shape[0])
    sweeps = 0
    while sweeps < cfg.max_iterations:
        V_new = q_from_v(P, R, V, cfg.gamma).max(axis=1)
        sweeps += 1
        converged = np.max(np.abs(V_new - V)) < cfg.theta
        V = V_new
        if converged:
            break
    else:
        raise RuntimeError(f"value_iteration: no convergence after {cfg.max_iterations} sweeps")
    return V, greedy(q_from_v(P, R, V, cfg.gamma)), sweeps


def greedy(Q: np.ndarray, decimals: int = 12) -> np.ndarray:
    """argmax_a Q(s, a), ties broken towards the lowest action after rounding. (S, A) -> (S,)."""
    return np.round(Q, decimals).argmax(axis=1)


def policy_evaluation(P: np.ndarray, R: np.ndarray, pi: np.ndarray, gamma: float) -> np.ndarray:
    """Exact V^pi by one linear solve of (I - gamma P_pi) V = r_pi.

    pi: (S,) int deterministic policy or (S, A) action probabilities. -> V: (S,).
    With gamma = 1 the system is solvable only if pi ends every episode with probability 1.
    """
    S, A = R.shape
    pi = np.asarray(pi)
    if pi.shape == (S,):
        pi = np.eye(A)[pi]
    if pi.shape != (S, A):
        raise ValueError(f"policy_evaluation: expected pi of shape ({S},) or ({S}, {A}), "
                         f"got {pi.shape}")
    P_pi = np.einsum("sa,sat->st", pi, P)  # (S, S)
    r_pi = (pi * R).sum(axis=1)  # (S,)
    return np.linalg.solve(np.eye(S) - gamma * P_pi, r_pi)


def policy_iteration(P: np.ndarray, R: np.ndarray, cfg: DPConfig | None = None
                     ) -> tuple[np.ndarray, np.ndarray, int]:
    """Evaluate pi exactly, act greedily on Q^pi, repeat until pi is stable.

    Starts from the all-zeros policy, or, when gamma = 1, from the greedy policy after one
    sweep of value iteration (an arbitrary policy may never end an episode, and then the
    linear system is singular). -> (V, pi, iterations).
    """
    cfg = cfg or DPConfig()
    S, A = R.shape
    pi = np.zeros(S, dtype=int)
    if cfg.gamma >= 1.0:  # a policy that never terminates makes the linear system singular
        pi = value_iteration(P, R, DPConfig(cfg.gamma, theta=np.inf))[1]  # stops after 1 sweep
    for it in range(1, cfg.max_iterations + 1):
        V = policy_evaluation(P, R, pi, cfg.gamma)
        Q = q_from_v(P, R, V, cfg.gamma)
        # Keep the current action when it is (numerically) tied with the best one.
        best = Q.max(axis=1)
        keep = Q[np.arange(S), pi] >= best - 1e-10
        new_pi = np.where(keep, pi, greedy(Q))
        if np.array_equal(new_pi, pi):
            return V, pi, it
        pi = new_pi
    raise RuntimeError(f"policy_iteration: no convergence after {cfg.max_iterations} steps")


def finite_horizon(P: np.ndarray, R: np.ndarray, horizon: int, pi: np.ndarray | None = None
                   ) -> np.ndarray:
    """Expected undiscounted return within `horizon` steps, e.g. FrozenLake's 100-step limit.

    pi=None: the best (time-dependent) policy, V_k = max_a [R + P V_{k-1}];
    pi: (S,) int: that stationary policy, V_k = R_pi + P_pi V_{k-1}.  V_0 = 0. -> V_horizon (S,).
    """
    if horizon < 0:
        raise ValueError(f"finite_horizon: expected horizon >= 0, got {horizon}")
    S = R.shape[0]
    V = np.zeros(S)
    for _ in range(horizon):
        Q = q_from_v(P, R, V, 1.0)
        V = Q.max(axis=1) if pi is None else Q[np.arange(S), pi]
    return V
