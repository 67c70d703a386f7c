"""The machinery that REINFORCE, A2C (`aibook.rl.reinforce`) and PPO (`aibook.rl.ppo`) share.

`ActorCritic` (two tanh MLPs with orthogonal initialisation, as in CleanRL), `VecRunner`
(T steps of E envs in a gymnasium SyncVectorEnv), `EpisodeRunner` (one whole episode in each
of E envs), `evaluate`, and learning-curve helpers. Every trainer logs the same history as
`aibook.rl.dqn.train`: "episode_returns", "episode_ends" (the env step at which each training
episode ended, counting the steps of all envs) and "env_steps". The estimators and losses are
in `aibook.rl.pg`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aibook.device import seed_for
from aibook.parallel import run_all
from aibook.rl.envs import make
from aibook.rl.pg import entropy, log_prob
from aibook.timing import torch_threads

Array = np.ndarray | torch.Tensor
Config = TypeVar("Config")
Result = TypeVar("Result")


# --- the actor-critic network, rollouts and evaluation ----------------------------------------


def layer_init(layer: nn.Linear, std: float = math.sqrt(2), bias: float = 0.0) -> nn.Linear:
    """Orthogonal weights with gain std and constant biases (openai/baselines, CleanRL)."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


class ActorCritic(nn.Module):
    """Two separate MLPs, obs (B, obs_dim) -> logits (B, A) and V(s) (B,), tanh activations.

    The policy's last layer starts near zero (gain 0.01), so the first policy is nearly
    uniform; the value head starts with gain 1 (CleanRL's ppo.py)."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: int = 64):
        super().__init__()
        if obs_dim < 1 or n_actions < 2 or hidden < 1:
            raise ValueError(f"ActorCritic: expected obs_dim >= 1, n_actions >= 2 and hidden >= 1, "
                             f"got {obs_dim}, {n_actions} and {hidden}")
        self.actor = nn.Sequential(layer_init(nn.Linear(obs_dim, hidden)), nn.Tanh(),
                                   layer_init(nn.Linear(hidden, hidden)), nn.Tanh(),
                                   layer_init(nn.Linear(hidden, n_actions), std=0.01))
        self.critic = nn.Sequential(layer_init(nn.Linear(obs_dim, hidden)), nn.Tanh(),
                                    layer_init(nn.Linear(hidden, hidden)), nn.Tanh(),
                                    layer_init(nn.Linear(hidden, 1), std=1.0))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """The policy's logits (B, A): so `agent(obs).argmax(1)` is the greedy action."""
        return self.actor(obs)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, generator: torch.Generator | None = None
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample a ~ pi(. | s) -> (actions (B,), log pi(a | s) (B,), V(s) (B,))."""
        logits = self.actor(obs)
        actions = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator).squeeze(-1)
        return actions, log_prob(logits, actions), self.value(obs)

    def evaluate_actions(self, obs: torch.Tensor, actions: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """With gradients: (log pi(a | s) (B,), entropy (B,), V(s) (B,))."""
        logits = self.actor(obs)
        return log_prob(logits, actions), entropy(logits), self.value(obs)


def spaces(env: gym.Env | gym.vector.VectorEnv) -> tuple[int, int]:
    """(obs_dim, n_actions) of an env with a flat Box observation and a Discrete action space."""
    obs_space = getattr(env, "single_observation_space", env.observation_space)
    act_space = getattr(env, "single_action_space", env.action_space)
    if not isinstance(act_space, gym.spaces.Discrete):
        raise ValueError(f"policy gradients here need a Discrete action space, got {act_space}")
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise ValueError(f"policy gradients here need a flat Box observation space, got "
                         f"{obs_space}")
    return obs_space.shape[0], int(act_space.n)


def new_history() -> dict:
    """The training log of every trainer here. "episode_returns", "episode_ends" and
    "env_steps" mean what they mean in aibook.rl.dqn.train's history, so learning curves of
    both compare step for step; "updates" holds one dict of losses per gradient update."""
    return {"episode_returns": [], "episode_ends": [], "env_steps": 0, "updates": []}


@dataclass
class Rollout:
    """T steps of E envs: obs (T, E, obs_dim) float32; actions (T, E) int64; logp, values,
    rewards, dones (T, E) float32; next_value (E,) = V of the observation after the last step.

    rewards hold r_t, plus gamma V(s_final) on a time-limit cut when the runner bootstraps
    truncations; dones[t] = 1 where step t ended its episode (terminated or truncated)."""

    obs: np.ndarray
    actions: np.ndarray
    logp: np.ndarray
    values: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    next_value: np.ndarray


class VecRunner:
    """E copies of an env stepped side by side (gymnasium's SyncVectorEnv), T steps at a time.

    The runner keeps each env's current observation between rollouts, so episodes run across
    rollout boundaries, and logs every finished episode into `history`. Envs reset themselves
    in the step that ends an episode (autoreset "same step"): the observation returned is the
    next episode's first, and the last one is in info["final_obs"].

    A time-limit cut (truncated, e.g. CartPole-v1's 500 steps) is not the end of the task:
    with bootstrap_truncated, the runner adds gamma V(s_final) to that step's reward, so the
    advantage estimators can still treat the step as the end of the rollout's episode
    (Pardo et al., 2018, "partial-episode bootstrapping"; Stable-Baselines3 does the same).
    CleanRL's ppo.py treats a cut as a termination.
    """

    def __init__(self, env_id: str, num_envs: int, seed: int, *, bootstrap_truncated: bool = True):
        if num_envs < 1:
            raise ValueError(f"VecRunner: expected num_envs >= 1, got {num_envs}")
        make(env_id).close()  # a clear error for an unknown id, before the vector env starts
        self.envs = gym.vector.SyncVectorEnv([lambda: make(env_id) for _ in range(num_envs)],
                                             autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
        self.obs_dim, self.n_actions = spaces(self.envs)
        self.num_envs, self.bootstrap_truncated = num_envs, bootstrap_truncated
        self.obs, _ = self.envs.reset(seed=seed)  # env i gets seed + i
        self.running_return = np.zeros(num_envs)
        self.history = new_history()

    def collect(self, agent: ActorCritic, num_steps: int, gamma: float,
                generator: torch.Generator | None = None) -> Rollout:
        """Play num_steps steps in every env with actions sampled from agent's policy."""
        T, E = num_steps, self.num_envs
        obs = np.zeros((T, E, self.obs_dim), dtype=np.float32)
        actions = np.zeros((T, E), dtype=np.int64)
        logp, values, rewards, dones = (np.zeros((T, E), dtype=np.float32) for _ in range(4))
        for t in range(T):
            obs[t] = self.obs
            a, lp, v = agent.act(torch.from_numpy(obs[t]), generator)
            actions[t], logp[t], values[t] = a.numpy(), lp.numpy(), v.numpy()
            self.obs, reward, terminated, truncated, info = self.envs.step(actions[t])
            rewards[t] = reward
            cut = truncated & ~terminated
            if self.bootstrap_truncated and cut.any():
                final = np.stack(info["final_obs"][cut]).astype(np.float32)
                with torch.no_grad():
                    rewards[t, cut] += gamma * agent.value(torch.from_numpy(final)).numpy()
            done = terminated | truncated
            dones[t] = done
            self.history["env_steps"] += E
            self.running_return += reward
            for i in np.flatnonzero(done):
                self.history["episode_returns"].append(float(self.running_return[i]))
                self.history["episode_ends"].append(self.history["env_steps"])
                self.running_return[i] = 0.0
        with torch.no_grad():
            next_value = agent.value(torch.as_tensor(self.obs, dtype=torch.float32)).numpy()
        return Rollout(obs, actions, logp, values, rewards, dones, next_value)

    def close(self) -> None:
        self.envs.close()


class EpisodeRunner:
    """E plain copies of an env; `collect` plays exactly one whole episode in each, side by
    side (one batched forward pass per step over the envs still running), as REINFORCE needs:
    every return is a complete Monte Carlo return, nothing is bootstrapped."""

    def __init__(self, env_id: str, num_envs: int, seed: int):
        if num_envs < 1:
            raise ValueError(f"EpisodeRunner: expected num_envs >= 1, got {num_envs}")
        self.envs = [make(env_id) for _ in range(num_envs)]
        self.obs_dim, self.n_actions = spaces(self.envs[0])
        self.seeds: list[int | None] = [seed + i for i in range(num_envs)]  # first reset only
        self.history = new_history()

    def collect(self, agent: ActorCritic, generator: torch.Generator | None = None
                ) -> dict[str, np.ndarray]:
        """One episode per env, concatenated env after env: obs (N, obs_dim), actions (N,),
        rewards (N,), dones (N,) (1 on each episode's last step), N the steps played."""
        E = len(self.envs)
        current = np.zeros((E, self.obs_dim), dtype=np.float32)
        for i, env in enumerate(self.envs):
            current[i], _ = env.reset(seed=self.seeds[i])
            self.seeds[i] = None  # later resets continue the env's own random stream
        trajectories: list[dict[str, list]] = [{"obs": [], "actions": [], "rewards": []}
                                               for _ in range(E)]
        running = np.ones(E, dtype=bool)
        while running.any():
            idx = np.flatnonzero(running)
            a, _, _ = agent.act(torch.from_numpy(current[idx]), generator)
            for i, action in zip(idx, a.tolist(), strict=True):
                tr = trajectories[i]
                tr["obs"].append(current[i].copy())
                tr["actions"].append(action)
                current[i], reward, terminated, truncated, _ = self.envs[i].step(action)
                tr["rewards"].append(float(reward))
                self.history["env_steps"] += 1
                if terminated or truncated:
                    running[i] = False
                    self.history["episode_returns"].append(float(sum(tr["rewards"])))
                    self.history["episode_ends"].append(self.history["env_steps"])
        for tr in trajectories:
            tr["dones"] = [0.0] * (len(tr["rewards"]) - 1) + [1.0]  # 1 on the last step
        return {"obs": np.concatenate([np.array(tr["obs"]) for tr in trajectories]),
                "actions": np.concatenate([np.array(tr["actions"]) for tr in trajectories]),
                "rewards": np.concatenate([np.array(tr["rewards"], dtype=np.float32)
                                           for tr in trajectories]),
                "dones": np.concatenate([np.array(tr["dones"], dtype=np.float32)
                                         for tr in trajectories])}

    def close(self) -> None:
        for env in self.envs:
            env.close()


def adam(params, lr: float, eps: float = 1e-5) -> torch.optim.Adam:
    """Adam with eps = 1e-5 (openai/baselines' PPO2, CleanRL), fused when torch can."""
    try:
        return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)
    except RuntimeError:  # older torch: fused Adam is CUDA-only
        return torch.optim.Adam(params, lr=lr, eps=eps)


@torch_threads(1)
def evaluate(agent: nn.Module, env_id: str = "CartPole-v1", episodes: int = 20,
             seed: int = 10_000, greedy: bool = True) -> np.ndarray:
    """Returns of `episodes` episodes played side by side -> (episodes,).

    greedy=True plays argmax_a of the policy's logits (`agent(obs)`), like
    aibook.rl.dqn.evaluate; greedy=False samples a ~ pi(. | s) (what training played). The
    default seed (10000) is dqn.evaluate's, so both agents meet the same start states, and
    it is never used in training."""
    if episodes < 1:
        raise ValueError(f"evaluate: expected episodes >= 1, got {episodes}")
    envs = gym.make_vec(env_id, num_envs=episodes)
    obs, _ = envs.reset(seed=seed_for(seed))
    generator = torch.Generator().manual_seed(seed_for(seed))
    returns = np.zeros(episodes)
    running = np.ones(episodes, dtype=bool)  # an env is done after its first episode
    while running.any():
        with torch.no_grad():
            logits = agent(torch.as_tensor(obs, dtype=torch.float32))
            if greedy:
                actions = logits.argmax(dim=1)
            else:
                actions = torch.multinomial(F.softmax(logits, dim=-1), 1,
                                            generator=generator).squeeze(-1)
        obs, reward, terminated, truncated, _ = envs.step(actions.numpy())
        returns += reward * running
        running &= ~(terminated | truncated)
    envs.close()
    return returns


# --- learning curves --------------------------------------------------------------------------


def window_mean(history: dict, end: int, width: int) -> float:
    """Mean return of the training episodes that ended in (end - width, end] env steps
    (nan if none did). Works on any trainer's history here and on aibook.rl.dqn's."""
    ends = np.asarray(history["episode_ends"])
    returns = np.asarray(history["episode_returns"], dtype=np.float64)
    inside = (ends > end - width) & (ends <= end)
    return float(returns[inside].mean()) if inside.any() else float("nan")


def learning_curve(history: dict, steps, width: int) -> np.ndarray:
    """window_mean at each of `steps` -> (len(steps),): a curve on a common step grid, so runs
    of different algorithms (or seeds) can be averaged and compared step for step."""
    return np.array([window_mean(history, int(s), width) for s in steps])


def final_return(history: dict, fraction: float = 0.1) -> float:
    """Mean return of the training episodes that ended in the last `fraction` of the steps
    played (the last 10 % by default)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"final_return: expected 0 < fraction <= 1, got {fraction}")
    n = history["env_steps"]
    return window_mean(history, n, max(1, int(round(fraction * n))))


# --- many runs --------------------------------------------------------------------------------


def train_runs(train: Callable[[Config], Result], configs: Sequence[Config],
               pool: Executor | None = None, desc: str | None = None,
               test_episodes: int | None = None) -> list:
    """[train(cfg) for cfg in configs], in order, with a progress bar; with test_episodes,
    [(*train(cfg), evaluate(agent, episodes=test_episodes)) ...], each run's greedy test
    returns (test_episodes,) computed where the run trained.

    With a pool (a `concurrent.futures.ProcessPoolExecutor` with the "spawn" context, say) the
    runs go side by side, one per worker: on two cores, two seeds at a time. Each trainer here
    seeds itself from its config and uses one thread, so a run gives the same result in a
    worker as in this process. `train` and the configs must pickle: a library function
    (`ppo.train`) does, a function defined in a notebook cell does not.
    """
    if test_episodes is not None:
        if test_episodes < 1:
            raise ValueError(f"train_runs: expected test_episodes >= 1, got {test_episodes}")
        train = functools.partial(_train_and_test, train, test_episodes)
    return run_all(train, configs, pool, desc)


def _train_and_test(train: Callable, episodes: int, cfg) -> tuple:
    """(agent, history, greedy test returns (episodes,)): the test runs in the worker too."""
    agent, history = train(cfg)
    return agent, history, evaluate(agent, episodes=episodes)
