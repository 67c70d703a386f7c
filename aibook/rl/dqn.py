"""Deep Q-learning (DQN) in one file, CleanRL style: config, replay buffer, Q-network, loss, loop.

The ingredients of Mnih et al. (2015), each a few lines:
  - a replay buffer of transitions (s, a, r, s', terminated), sampled uniformly;
  - a Q-network Q_theta(s) -> (A,) and a frozen copy, the target network Q_theta-;
  - the TD target y = r + gamma * (1 - terminated) * max_a' Q_theta-(s', a');
  - the Huber loss between Q_theta(s, a) and y;
  - epsilon-greedy exploration with epsilon decayed linearly.
Training stops early once the greedy policy reaches `stop_return` on separate check episodes
(like Stable-Baselines3's EvalCallback + StopTrainingOnRewardThreshold).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from aibook.device import seed_for
from aibook.rl.envs import make
from aibook.timing import torch_threads


@dataclass
class DQNConfig:
    env_id: str = "CartPole-v1"
    seed: int = 0
    total_timesteps: int = 100_000  # environment steps of training
    learning_rate: float = 2.5e-3
    buffer_size: int = 50_000
    gamma: float = 0.99
    batch_size: int = 128
    hidden: int = 64  # width of the two hidden layers
    learning_starts: int = 1_000  # random actions until the buffer holds this many transitions
    train_frequency: int = 8  # one gradient step every this many environment steps
    target_network_frequency: int = 250  # copy Q_theta into Q_theta- every this many env steps
    start_e: float = 1.0  # epsilon at step 0 ...
    end_e: float = 0.05  # ... reached after exploration_fraction * total_timesteps steps
    exploration_fraction: float = 0.05
    max_grad_norm: float = 10.0
    stop_return: float | None = 475.0  # stop once the greedy policy averages this (None: never)
    eval_frequency: int = 1_000  # ... checked every this many env steps (after learning_starts)
    eval_episodes: int = 5  # ... on this many greedy episodes,
    eval_seed: int = 20_000  # ... seeded from here: distinct from training and from evaluate()
    torch_threads: int | None = 1  # a batch of 128 is too small to share between threads
    progress: bool = True


# --- the replay buffer ------------------------------------------------------------------------

class ReplayBuffer:
    """A ring buffer of the last `capacity` transitions; the oldest is overwritten first."""

    def __init__(self, capacity: int, obs_dim: int, seed: int = 0):
        if capacity < 1:
            raise ValueError(f"ReplayBuffer: expected capacity >= 1, got {capacity}")
        self.capacity, self.obs_dim = capacity, obs_dim
        self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.pos, self.size = 0, 0  # next slot to write, number of transitions held
        self.rng = np.random.default_rng(seed_for(seed))

    def __len__(self) -> int:
        return self.size

    def add(self, obs, action: int, reward: float, next_obs, terminated: bool) -> None:
        """Store one transition; obs and next_obs have shape (obs_dim,)."""
        obs, next_obs = np.asarray(obs, np.float32), np.asarray(next_obs, np.float32)
        if obs.shape != (self.obs_dim,) or next_obs.shape != (self.obs_dim,):
            raise ValueError(f"ReplayBuffer.add: expected observations of shape ({self.obs_dim},),"
                             f" got {obs.shape} and {next_obs.shape}")
        i = self.pos
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.terminated[i] = next_obs, float(terminated)
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        """A uniform batch (with replacement): obs, next_obs (B, obs_dim) float32, actions (B,)
        int64, rewards (B,) float32, terminated (B,) float32 (1.0 where the episode ended)."""
        if self.size == 0:
            raise ValueError("ReplayBuffer.sample: the buffer is empty; add transitions first")
        idx = self.rng.integers(0, self.size, size=batch_size)
        return {"obs": torch.from_numpy(self.obs[idx]),
                "actions": torch.from_numpy(self.actions[idx]),
                "rewards": torch.from_numpy(self.rewards[idx]),
                "next_obs": torch.from_numpy(self.next_obs[idx]),
                "terminated": torch.from_numpy(self.terminated[idx])}


# --- the Q-network and the loss ---------------------------------------------------------------

class QNetwork(nn.Module):
    """An MLP: observation (B, obs_dim) -> action values (B, n_actions)."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs_dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, n_actions))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)


def dqn_target(rewards: torch.Tensor, next_q_target: torch.Tensor, terminated: torch.Tensor,
               gamma: float) -> torch.Tensor:
    """y = r + gamma * (1 - terminated) * max_a' Q_target(s', a').

    Shapes: rewards (B,), next_q_target (B, A), terminated (B,) -> y (B,)."""
    return rewards + gamma * (1.0 - terminated) * next_q_target.max(dim=1).values


def dqn_loss(q_network: nn.Module, target_network: nn.Module, batch: dict[str, torch.Tensor],
             gamma: float) -> torch.Tensor:
    """Huber (smooth L1, delta = 1) loss between Q(s, a) and the target y, batch mean."""
    with torch.no_grad():
        y = dqn_target(batch["rewards"], target_network(batch["next_obs"]),
                       batch["terminated"], gamma)
    q_sa = q_network(batch["obs"]).gather(1, batch["actions"].unsqueeze(1)).squeeze(1)  # (B,)
    return F.smooth_l1_loss(q_sa, y)


def linear_schedule(start_e: float, end_e: float, duration: int, t: int) -> float:
    """Epsilon at step t: a straight line from start_e to end_e over `duration` steps, then flat."""
    fraction = min(t / max(duration, 1), 1.0)
    return start_e + (end_e - start_e) * fraction


# --- the training loop ------------------------------------------------------------------------

def adam(params: list[nn.Parameter], lr: float) -> torch.optim.Adam:
    """Adam, fused into one kernel when torch can (>= 2.4 on the CPU). On these tiny layers the
    fused update took a third of the time of the per-tensor loop on a 2-core CPU; the
    arithmetic is the same up to float rounding."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except RuntimeError:  # older torch: fused Adam is CUDA-only
        return torch.optim.Adam(params, lr=lr)


def train(cfg: DQNConfig | None = None, env: gym.Env | None = None
          ) -> tuple[QNetwork, dict]:
    """Train a DQN agent. -> (q_network, history) where history holds "episode_returns",
    "episode_ends" (the env step at which each training episode ended), "losses", "checks"
    ((env step, mean greedy return) of each stopping check) and "env_steps", the number of
    environment steps used (fewer than total_timesteps if a check passed)."""
    cfg = cfg or DQNConfig()
    with torch_threads(cfg.torch_threads):
        return _train(cfg, env)


def _train(cfg: DQNConfig, env: gym.Env | None) -> tuple[QNetwork, dict]:
    if env is None:
        env = make(cfg.env_id)
    run_seed = seed_for(cfg.seed)
    torch.manual_seed(run_seed)
    rng = np.random.default_rng(run_seed)
    obs_dim, n_actions = env.observation_space.shape[0], env.action_space.n
    q_network = QNetwork(obs_dim, n_actions, cfg.hidden)
    target_network = copy.deepcopy(q_network)
    optimizer = adam(list(q_network.parameters()), cfg.learning_rate)
    rb = ReplayBuffer(cfg.buffer_size, obs_dim, seed=cfg.seed)
    history: dict = {"episode_returns": [], "episode_ends": [], "losses": [], "checks": [],
                     "env_steps": 0}

    obs, _ = env.reset(seed=run_seed)
    episode_return = 0.0
    for global_step in tqdm(range(cfg.total_timesteps), desc="DQN", disable=not cfg.progress,
                            mininterval=1.0):
        history["env_steps"] = global_step + 1
        epsilon = linear_schedule(cfg.start_e, cfg.end_e,
                                  int(cfg.exploration_fraction * cfg.total_timesteps), global_step)
        if global_step < cfg.learning_starts or rng.random() < epsilon:
            action = int(rng.integers(n_actions))
        else:
            with torch.no_grad():
                action = int(q_network(torch.as_tensor(obs).unsqueeze(0)).argmax())
        next_obs, reward, terminated, truncated, _ = env.step(action)
        rb.add(obs, action, reward, next_obs, terminated)  # truncation is not termination
        episode_return += reward
        obs = next_obs
        if terminated or truncated:
            history["episode_returns"].append(episode_return)
            history["episode_ends"].append(global_step + 1)
            obs, _ = env.reset()
            episode_return = 0.0

        if global_step >= cfg.learning_starts:
            if global_step % cfg.train_frequency == 0:
                loss = dqn_loss(q_network, target_network, rb.sample(cfg.batch_size), cfg.gamma)
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(q_network.parameters(), cfg.max_grad_norm)
                optimizer.step()
                history["losses"].append(loss.item())
            if global_step % cfg.target_network_frequency == 0:
                target_network.load_state_dict(q_network.state_dict())
            if cfg.stop_return is not None and (global_step + 1) % cfg.eval_frequency == 0:
                # Solved? Like SB3's EvalCallback with StopTrainingOnRewardThreshold: play the
                # greedy policy on separate check episodes, never on the test episodes.
                check = evaluate(q_network, cfg.env_id, cfg.eval_episodes, cfg.eval_seed)
                history["checks"].append((global_step + 1, float(check.mean())))
                if check.mean() >= cfg.stop_return:
                    break
    return q_network, history


@torch_threads(1)
def evaluate(q_network: nn.Module, env_id: str = "CartPole-v1", episodes: int = 20,
             seed: int = 10_000) -> np.ndarray:
    """Greedy returns of `episodes` episodes played side by side -> (episodes,).

    The episodes run in one vectorised env (gymnasium's `make_vec`), so each step is one
    batched forward pass. The default seed (10000) is never used in training nor in the
    stopping checks (DQNConfig.eval_seed), so this is a fresh test.
    """
    if episodes < 1:
        raise ValueError(f"evaluate: expected episodes >= 1, got {episodes}")
    envs = gym.make_vec(env_id, num_envs=episodes)
    obs, _ = envs.reset(seed=seed_for(seed))
    returns = np.zeros(episodes)
    running = np.ones(episodes, dtype=bool)  # an env is done after its first episode
    while running.any():
        with torch.no_grad():
            actions = q_network(torch.as_tensor(obs, dtype=torch.float32)).argmax(dim=1)
        obs, reward, terminated, truncated, _ = envs.step(actions.numpy())
        returns += reward * running
        running &= ~(terminated | truncated)
    envs.close()
    return returns
