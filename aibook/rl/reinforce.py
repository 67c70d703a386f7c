"""REINFORCE with a learned value baseline, and advantage actor-critic (A2C) with GAE.

Both follow the policy gradient E[ sum_t A_t grad log pi(a_t | s_t) ] with the same network
(rollout.ActorCritic) and losses (pg.pg_loss, pg.value_loss, pg.entropy); they differ in the
advantage A_t and so in how long they must wait for it:

  - REINFORCE (Williams, 1992): A_t = G_t - V(s_t), G_t the discounted Monte Carlo return to
    the end of the episode. Unbiased for any baseline V, but each update waits for whole
    episodes (`episodes_per_update` of them, played side by side), and G_t is noisy.
  - A2C (Mnih et al., 2016, synchronous version): A_t = GAE(lambda) over T steps of E envs,
    bootstrapped with V at the end of the rollout, so it updates every T * E steps, whether
    or not episodes have ended. Lower variance, biased by V's errors.

One gradient step per batch for both (PPO, in aibook.rl.ppo, takes many).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from aibook.device import seed_for
from aibook.rl import pg, rollout
from aibook.timing import torch_threads

evaluate = rollout.evaluate  # greedy (default) or sampled returns of a trained agent


@dataclass
class ReinforceConfig:
    env_id: str = "CartPole-v1"
    seed: int = 0
    total_timesteps: int = 100_000  # training stops after the batch that reaches this
    learning_rate: float = 1e-2
    episodes_per_update: int = 8  # whole episodes played side by side, then one update
    gamma: float = 0.99
    norm_adv: bool = True  # rescale the batch's advantages to mean 0, std 1
    baseline: bool = True  # subtract the learned V(s_t) from G_t (False: plain REINFORCE;
    #                        V is trained either way, so the two runs differ only there)
    vf_coef: float = 0.5
    ent_coef: float = 0.0
    max_grad_norm: float = 0.5
    hidden: int = 64
    torch_threads: int | None = 1
    progress: bool = True


@dataclass
class A2CConfig:
    env_id: str = "CartPole-v1"
    seed: int = 0
    total_timesteps: int = 100_000  # environment steps, all envs together
    learning_rate: float = 1e-3
    num_envs: int = 4
    num_steps: int = 32  # steps per env per update
    gamma: float = 0.99
    gae_lambda: float = 0.95
    norm_adv: bool = False
    vf_coef: float = 0.5
    ent_coef: float = 0.01
    max_grad_norm: float = 0.5
    hidden: int = 64
    bootstrap_truncated: bool = True  # a time-limit cut is not a termination
    torch_threads: int | None = 1
    progress: bool = True


def _check(cfg: ReinforceConfig | A2CConfig) -> None:
    who = type(cfg).__name__
    sizes = {"total_timesteps": cfg.total_timesteps, "hidden": cfg.hidden,
             "learning_rate": cfg.learning_rate, "max_grad_norm": cfg.max_grad_norm}
    if isinstance(cfg, ReinforceConfig):
        sizes["episodes_per_update"] = cfg.episodes_per_update
    else:
        sizes |= {"num_envs": cfg.num_envs, "num_steps": cfg.num_steps}
        if not 0.0 <= cfg.gae_lambda <= 1.0:
            raise ValueError(f"{who}: expected 0 <= gae_lambda <= 1, got {cfg.gae_lambda}")
    for name, value in sizes.items():
        if not value > 0:
            raise ValueError(f"{who}: expected {name} > 0, got {value}")
    if not 0.0 <= cfg.gamma <= 1.0:
        raise ValueError(f"{who}: expected 0 <= gamma <= 1, got {cfg.gamma}")
    if cfg.ent_coef < 0 or cfg.vf_coef < 0:
        raise ValueError(f"{who}: expected ent_coef >= 0 and vf_coef >= 0, got {cfg.ent_coef} "
                         f"and {cfg.vf_coef}")
    if isinstance(cfg, A2CConfig) and cfg.total_timesteps < cfg.num_envs * cfg.num_steps:
        raise ValueError(f"{who}: total_timesteps = {cfg.total_timesteps} is less than one batch "
                         f"(num_envs * num_steps = {cfg.num_envs * cfg.num_steps})")


def _step(agent: rollout.ActorCritic, optimizer: torch.optim.Optimizer, obs: torch.Tensor,
          actions: torch.Tensor, advantages: torch.Tensor, returns: torch.Tensor,
          cfg: ReinforceConfig | A2CConfig) -> dict:
    """One gradient step on  pg_loss - ent_coef * entropy + vf_coef * value_loss."""
    logp, ent, values = agent.evaluate_actions(obs, actions)
    adv = pg.normalize(advantages) if cfg.norm_adv else advantages
    policy_loss = pg.pg_loss(logp, adv)
    v_loss = pg.value_loss(values, returns)
    loss = policy_loss - cfg.ent_coef * ent.mean() + cfg.vf_coef * v_loss
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(agent.parameters(), cfg.max_grad_norm)
    optimizer.step()
    return {"policy_loss": policy_loss.item(), "value_loss": v_loss.item(),
            "entropy": ent.mean().item()}


def train_reinforce(cfg: ReinforceConfig | None = None) -> tuple[rollout.ActorCritic, dict]:
    """REINFORCE with a learned value baseline. -> (agent, history), history as in
    aibook.rl.dqn.train ("episode_returns", "episode_ends", "env_steps") plus "updates".
    Each update plays episodes_per_update whole episodes, so env_steps overshoots
    total_timesteps by less than one batch."""
    cfg = cfg or ReinforceConfig()
    _check(cfg)
    with torch_threads(cfg.torch_threads):
        run_seed = seed_for(cfg.seed)
        torch.manual_seed(run_seed)
        generator = torch.Generator().manual_seed(run_seed)
        runner = rollout.EpisodeRunner(cfg.env_id, cfg.episodes_per_update, run_seed)
        agent = rollout.ActorCritic(runner.obs_dim, runner.n_actions, cfg.hidden)
        optimizer = rollout.adam(agent.parameters(), cfg.learning_rate)
        bar = tqdm(total=cfg.total_timesteps, desc="REINFORCE", disable=not cfg.progress,
                   mininterval=1.0, unit="step")
        while runner.history["env_steps"] < cfg.total_timesteps:
            before = runner.history["env_steps"]
            batch = runner.collect(agent, generator)
            returns = torch.from_numpy(pg.discounted_returns(batch["rewards"], batch["dones"],
                                                             cfg.gamma))  # Monte Carlo G_t
            obs = torch.from_numpy(batch["obs"])
            with torch.no_grad():
                baseline = agent.value(obs) if cfg.baseline else torch.zeros_like(returns)
            runner.history["updates"].append(
                _step(agent, optimizer, obs, torch.from_numpy(batch["actions"]),
                      returns - baseline, returns, cfg))
            bar.update(runner.history["env_steps"] - before)
        bar.close()
        runner.close()
        return agent, runner.history


def train_a2c(cfg: A2CConfig | None = None) -> tuple[rollout.ActorCritic, dict]:
    """Synchronous advantage actor-critic with GAE(lambda). -> (agent, history), history as
    in aibook.rl.dqn.train plus "updates"; env_steps = (total_timesteps // batch) * batch."""
    cfg = cfg or A2CConfig()
    _check(cfg)
    with torch_threads(cfg.torch_threads):
        run_seed = seed_for(cfg.seed)
        torch.manual_seed(run_seed)
        generator = torch.Generator().manual_seed(run_seed)
        runner = rollout.VecRunner(cfg.env_id, cfg.num_envs, run_seed,
                                   bootstrap_truncated=cfg.bootstrap_truncated)
        agent = rollout.ActorCritic(runner.obs_dim, runner.n_actions, cfg.hidden)
        optimizer = rollout.adam(agent.parameters(), cfg.learning_rate)
        batch_size = cfg.num_envs * cfg.num_steps
        num_updates = cfg.total_timesteps // batch_size
        for _ in tqdm(range(num_updates), desc="A2C", disable=not cfg.progress,
                      mininterval=1.0):
            ro = runner.collect(agent, cfg.num_steps, cfg.gamma, generator)
            advantages = pg.gae(ro.rewards, ro.values, ro.next_value, ro.dones, cfg.gamma,
                                cfg.gae_lambda)
            returns = advantages + ro.values
            runner.history["updates"].append(
                _step(agent, optimizer, torch.from_numpy(ro.obs.reshape(-1, runner.obs_dim)),
                      torch.from_numpy(ro.actions.reshape(-1)),
                      torch.from_numpy(np.ascontiguousarray(advantages.reshape(-1))),
                      torch.from_numpy(np.ascontiguousarray(returns.reshape(-1))), cfg))
        runner.close()
        return agent, runner.history
