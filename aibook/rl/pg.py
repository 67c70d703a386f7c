"""Policy gradients: the theorem checked exactly, return and advantage estimators, and the
losses that REINFORCE, A2C (`aibook.rl.reinforce`) and PPO (`aibook.rl.ppo`) share.

1. The policy-gradient theorem on a K-armed bandit with a softmax policy pi = softmax(theta):
   J(theta) = sum_a pi(a) r(a) has the closed-form gradient pi * (r - J), and the
   score-function (REINFORCE) estimate g = (R - b) grad log pi(A), A ~ pi, is unbiased for it
   whatever the constant baseline b; its variance, also in closed form, depends on b.
2. Returns and advantages of a rollout, arrays of shape (T,) or (T, E) (T steps of E envs
   side by side): `discounted_returns`, `td_errors` and `gae` (Schulman et al., 2016).
   dones[t] = 1 means that step t was the *last* step of its episode: nothing is
   bootstrapped across it. (CleanRL stores the flag one step later, on the first step of the
   next episode; the arithmetic is the same.)
3. Losses: the vanilla policy-gradient surrogate, PPO's clipped surrogate (Schulman et al.,
   2017), the (optionally clipped) value loss and the entropy of a categorical policy.

The network, the rollout runners and evaluation are in `aibook.rl.rollout`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from aibook.device import seed_for

Array = np.ndarray | torch.Tensor

# --- 1. the policy-gradient theorem on a bandit ------------------------------------------------


def softmax(theta: np.ndarray) -> np.ndarray:
    """pi = softmax(theta), computed stably (theta - max)."""
    z = np.exp(theta - np.max(theta))
    return z / z.sum()


def _bandit(theta, rewards_mean, who: str) -> tuple[np.ndarray, np.ndarray]:
    theta = np.asarray(theta, dtype=np.float64)
    r = np.asarray(rewards_mean, dtype=np.float64)
    if theta.ndim != 1 or theta.size < 2:
        raise ValueError(f"{who}: expected theta of shape (K,) with K >= 2 arms, got shape "
                         f"{theta.shape}")
    if r.shape != theta.shape:
        raise ValueError(f"{who}: expected rewards_mean of shape {theta.shape} (one per arm), got "
                         f"{r.shape}")
    return theta, r


def expected_return(theta, rewards_mean) -> float:
    """J(theta) = sum_a pi(a) r(a)."""
    theta, r = _bandit(theta, rewards_mean, "expected_return")
    return float(softmax(theta) @ r)


def exact_gradient(theta, rewards_mean) -> np.ndarray:
    """grad J(theta) in closed form -> (K,).

    dJ/dtheta_k = sum_a r(a) dpi(a)/dtheta_k = sum_a r(a) pi(a) (1[a = k] - pi(k))
                = pi(k) (r(k) - J).
    """
    theta, r = _bandit(theta, rewards_mean, "exact_gradient")
    pi = softmax(theta)
    return pi * (r - pi @ r)


def score(theta, actions: np.ndarray) -> np.ndarray:
    """grad_theta log pi(a) = onehot(a) - pi for each action -> (n, K)."""
    theta = np.asarray(theta, dtype=np.float64)
    actions = np.asarray(actions)
    return np.eye(theta.size)[actions] - softmax(theta)


def gaussian_rewards(means, std: float = 1.0) -> Callable[[np.ndarray, np.random.Generator],
                                                          np.ndarray]:
    """A reward sampler for the bandit: R | a ~ Normal(means[a], std^2)."""
    means = np.asarray(means, dtype=np.float64)
    if std < 0:
        raise ValueError(f"gaussian_rewards: expected std >= 0, got {std}")

    def sample(actions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return means[actions] + std * rng.standard_normal(len(actions))

    return sample


def _generator(rng: np.random.Generator | int | None, who: str) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, int) and not isinstance(rng, bool) and rng >= 0):
        return np.random.default_rng(seed_for(rng or 0))
    raise ValueError(f"{who}: expected a numpy Generator or a non-negative base seed, got {rng!r}")


def score_function_samples(theta, reward_sampler: Callable, n: int, baseline: float = 0.0,
                           rng: np.random.Generator | int | None = None) -> np.ndarray:
    """n independent REINFORCE estimates of grad J -> (n, K).

    g_i = (r_i - b) grad log pi(a_i), with a_i ~ pi = softmax(theta) and
    r_i = reward_sampler(actions, rng)[i]. rng: a numpy Generator, or a base seed (seed_for).
    """
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 1 or theta.size < 2:
        raise ValueError(f"score_function_samples: expected theta of shape (K,) with K >= 2, got "
                         f"shape {theta.shape}")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"score_function_samples: expected an int n >= 1, got {n!r}")
    rng = _generator(rng, "score_function_samples")
    actions = rng.choice(theta.size, size=n, p=softmax(theta))
    rewards = np.asarray(reward_sampler(actions, rng), dtype=np.float64)
    if rewards.shape != (n,):
        raise ValueError(f"score_function_samples: reward_sampler must return shape ({n},), got "
                         f"{rewards.shape}")
    return (rewards - baseline)[:, None] * score(theta, actions)


def exact_variance(theta, rewards_mean, baseline: float = 0.0, reward_std: float = 0.0
                   ) -> np.ndarray:
    """Per-coordinate variance of one score-function sample -> (K,), for R | a with mean
    r(a) and standard deviation reward_std:

        Var g_k = sum_a pi(a) ((r(a) - b)^2 + reward_std^2) (1[a = k] - pi(k))^2 - (dJ/dtheta_k)^2.
    """
    theta, r = _bandit(theta, rewards_mean, "exact_variance")
    pi = softmax(theta)
    s2 = (np.eye(theta.size) - pi) ** 2  # s2[a, k] = (1[a = k] - pi(k))^2
    second = (pi * ((r - baseline) ** 2 + reward_std ** 2)) @ s2
    return second - exact_gradient(theta, r) ** 2


def optimal_baseline(theta, rewards_mean) -> float:
    """The constant b that minimises the total variance sum_k Var g_k:

        b* = E[r(A) |grad log pi(A)|^2] / E[|grad log pi(A)|^2]

    (set the derivative in b of E[(R - b)^2 |s(A)|^2] to zero; zero-mean reward noise
    independent of A does not move it). Close to, but not exactly, J(theta).
    """
    theta, r = _bandit(theta, rewards_mean, "optimal_baseline")
    pi = softmax(theta)
    w = pi * ((np.eye(theta.size) - pi) ** 2).sum(axis=1)  # pi(a) |onehot(a) - pi|^2
    return float(w @ r / w.sum())


def z_scores(samples: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """(sample mean - expected) / standard error, per coordinate -> (K,).

    An unbiased estimator gives |z| below 4 on every coordinate except with tiny probability
    (about 6e-5 per coordinate for a normal mean)."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[0] < 2:
        raise ValueError(f"z_scores: expected samples of shape (n, K) with n >= 2, got "
                         f"{samples.shape}")
    se = samples.std(axis=0, ddof=1) / math.sqrt(samples.shape[0])
    return (samples.mean(axis=0) - np.asarray(expected)) / se


# --- 2. returns and advantages ----------------------------------------------------------------


def _check_rollout(who: str, rewards: Array, **others: Array) -> int:
    if rewards.ndim not in (1, 2) or rewards.shape[0] < 1:
        raise ValueError(f"{who}: expected rewards of shape (T,) or (T, E) with T >= 1, got "
                         f"{tuple(rewards.shape)}")
    for name, x in others.items():
        if tuple(x.shape) != tuple(rewards.shape):
            raise ValueError(f"{who}: {name} must have the shape of rewards "
                             f"{tuple(rewards.shape)}, got {tuple(x.shape)}")
    return rewards.shape[0]


def _not_done(dones: Array, like: Array) -> Array:
    """1 - dones as floats of like's kind (dones may be bool)."""
    if isinstance(like, torch.Tensor):
        return 1.0 - torch.as_tensor(dones).to(like.dtype)
    return 1.0 - np.asarray(dones, dtype=like.dtype)


def _zeros_like(x: Array) -> Array:
    return torch.zeros_like(x) if isinstance(x, torch.Tensor) else np.zeros_like(x)


def _floats(x: Array) -> Array:
    if isinstance(x, torch.Tensor):
        return x if x.is_floating_point() else x.double()
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def discounted_returns(rewards: Array, dones: Array, gamma: float,
                       next_value: Array | float = 0.0) -> Array:
    """G_t = r_t + gamma (1 - d_t) G_{t+1}, with G_T = next_value -> the shape of rewards.

    An episode that ends at step t (dones[t] = 1) starts its return afresh; the last
    unfinished episode of each env is bootstrapped with next_value (0: pure Monte Carlo).
    numpy arrays or torch tensors, (T,) or (T, E); next_value a scalar or (E,).
    """
    rewards = _floats(rewards)
    T = _check_rollout("discounted_returns", rewards, dones=dones)
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"discounted_returns: expected 0 <= gamma <= 1, got {gamma}")
    not_done = _not_done(dones, rewards)
    returns = _zeros_like(rewards)
    running = next_value
    for t in reversed(range(T)):
        running = rewards[t] + gamma * not_done[t] * running
        returns[t] = running
    return returns


def td_errors(rewards: Array, values: Array, next_value: Array | float, dones: Array,
              gamma: float) -> Array:
    """One-step TD errors delta_t = r_t + gamma (1 - d_t) V(s_{t+1}) - V(s_t), with
    V(s_T) = next_value."""
    rewards = _floats(rewards)
    _check_rollout("td_errors", rewards, values=values, dones=dones)
    if isinstance(rewards, torch.Tensor):
        nv = torch.as_tensor(next_value, dtype=values.dtype).expand_as(values[0]).unsqueeze(0)
        next_values = torch.cat([values[1:], nv])
    else:
        nv = np.broadcast_to(np.asarray(next_value, dtype=values.dtype), values[0].shape)
        next_values = np.concatenate([values[1:], nv[None]])
    return rewards + gamma * _not_done(dones, rewards) * next_values - values


def gae(rewards: Array, values: Array, next_value: Array | float, dones: Array, gamma: float,
        lam: float) -> Array:
    """Generalised advantage estimates (Schulman et al., 2016) -> the shape of rewards.

        A_t = delta_t + gamma lam (1 - d_t) A_{t+1},  A_T = 0,

    an exponentially weighted sum of TD errors. lam = 0 gives the TD errors (low variance,
    biased by V); lam = 1 gives discounted_returns(...) - values (Monte Carlo, unbiased).
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"gae: expected 0 <= lam <= 1, got {lam}")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gae: expected 0 <= gamma <= 1, got {gamma}")
    delta = td_errors(rewards, values, next_value, dones, gamma)
    not_done = _not_done(dones, delta)
    advantages = _zeros_like(delta)
    running = 0.0
    for t in reversed(range(delta.shape[0])):
        running = delta[t] + gamma * lam * not_done[t] * running
        advantages[t] = running
    return advantages


def normalize(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / (std + eps): advantage normalisation, a per-batch rescaling."""
    return (x - x.mean()) / (x.std() + eps) if x.numel() > 1 else x - x.mean()


# --- 3. losses --------------------------------------------------------------------------------


def log_prob(logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """log pi(a | s) of a categorical policy: logits (B, A), actions (B,) -> (B,)."""
    return F.log_softmax(logits, dim=-1).gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """H(pi(. | s)) = -sum_a pi(a) log pi(a): logits (B, A) -> (B,)."""
    logp = F.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1)


def pg_loss(logp: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
    """The vanilla surrogate -mean(log pi(a|s) A): its gradient is minus the policy-gradient
    estimate (the advantages are treated as constants)."""
    if logp.shape != advantages.shape:
        raise ValueError(f"pg_loss: logp and advantages must have one shape, got "
                         f"{tuple(logp.shape)} and {tuple(advantages.shape)}")
    return -(logp * advantages.detach()).mean()


def ppo_clip_loss(new_logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                  clip: float) -> torch.Tensor:
    """PPO's clipped surrogate (Schulman et al., 2017), as a loss to minimise:

        -mean( min(rho A, clip(rho, 1 - eps, 1 + eps) A) ),   rho = exp(new_logp - old_logp).

    Where rho has left [1 - eps, 1 + eps] in the direction that A rewards (rho > 1 + eps with
    A > 0, rho < 1 - eps with A < 0), the clipped term is the minimum and is constant, so
    that sample contributes no gradient: the policy is not pushed further from the old one.
    """
    if not clip > 0:
        raise ValueError(f"ppo_clip_loss: expected clip > 0, got {clip}")
    if not new_logp.shape == old_logp.shape == advantages.shape:
        raise ValueError(f"ppo_clip_loss: new_logp, old_logp and advantages must have one shape, "
                         f"got {tuple(new_logp.shape)}, {tuple(old_logp.shape)} and "
                         f"{tuple(advantages.shape)}")
    ratio = torch.exp(new_logp - old_logp.detach())
    advantages = advantages.detach()
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip, 1.0 + clip) * advantages
    return -torch.min(unclipped, clipped).mean()


def value_loss(values: torch.Tensor, returns: torch.Tensor, old_values: torch.Tensor | None = None,
               clip: float | None = None) -> torch.Tensor:
    """0.5 mean (V(s) - R)^2; with old_values and clip, PPO2's clipped version

        0.5 mean max( (V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2 ).
    """
    if values.shape != returns.shape:
        raise ValueError(f"value_loss: values and returns must have one shape, got "
                         f"{tuple(values.shape)} and {tuple(returns.shape)}")
    returns = returns.detach()
    loss = (values - returns) ** 2
    if clip is not None:
        if old_values is None:
            raise ValueError("value_loss: clip needs old_values, the values at collection time")
        if not clip > 0:
            raise ValueError(f"value_loss: expected clip > 0, got {clip}")
        old_values = old_values.detach()
        clipped = old_values + torch.clamp(values - old_values, -clip, clip)
        loss = torch.max(loss, (clipped - returns) ** 2)
    return 0.5 * loss.mean()


def approx_kl(new_logp: torch.Tensor, old_logp: torch.Tensor) -> float:
    """mean((rho - 1) - log rho), an unbiased, non-negative estimate of KL(old || new)
    (Schulman's k3 estimator; CleanRL's approx_kl)."""
    with torch.no_grad():
        log_ratio = new_logp - old_logp
        return float(((log_ratio.exp() - 1) - log_ratio).mean())


# --- 4. RLHF: the KL-penalised reward ---------------------------------------------------------


def kl_penalized_rewards(score: float, logp: Array, ref_logp: Array, beta: float) -> Array:
    """Per-token rewards of one sampled response in RLHF -> the shape of logp, (T,):

        r_t = -beta (log pi(y_t | x, y_<t) - log pi_ref(y_t | x, y_<t)),  plus `score` at t = T-1,

    where `score` is the reward model's number for the whole response (Ziegler et al., 2019;
    Ouyang et al., 2022). Summed over t, the penalty is beta times the sampled estimate of
    KL(pi || pi_ref) for this response; it keeps the tuned policy near the reference model.
    """
    if not beta >= 0:
        raise ValueError(f"kl_penalized_rewards: expected beta >= 0, got {beta}")
    logp, ref_logp = _floats(logp), _floats(ref_logp)  # lists and ints become float arrays
    if logp.ndim != 1 or logp.shape[0] < 1 or tuple(ref_logp.shape) != tuple(logp.shape):
        raise ValueError(f"kl_penalized_rewards: expected logp and ref_logp of one shape (T,) "
                         f"with T >= 1, got {tuple(logp.shape)} and {tuple(ref_logp.shape)}")
    rewards = -beta * (logp - ref_logp)
    rewards[-1] = rewards[-1] + score
    return rewards
