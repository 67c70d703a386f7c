"""Proximal Policy Optimization (PPO) in one file, CleanRL style: config, then the loop.

Schulman et al. (2017), with the code-level details of openai/baselines' PPO2 as CleanRL's
ppo.py has them (Huang et al., 2022, "The 37 implementation details of PPO"):
  - E envs stepped side by side (a gymnasium SyncVectorEnv), T steps each per update;
  - separate actor and critic MLPs, orthogonal initialisation, Adam with eps = 1e-5 and the
    learning rate annealed linearly to 0;
  - advantages by GAE(lambda), normalised per minibatch;
  - several epochs of minibatch steps on the clipped surrogate, the (clipped) value loss and
    an entropy bonus, with the global gradient norm clipped.
The shared pieces are in aibook.rl.pg (GAE, the losses) and aibook.rl.rollout (the network,
the rollout runner);
the update is here. One difference from CleanRL: a time-limit cut is bootstrapped with
V(s_final) rather than treated as a termination (`bootstrap_truncated`, see rollout.VecRunner).
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
class PPOConfig:
    env_id: str = "CartPole-v1"
    seed: int = 0
    total_timesteps: int = 100_000  # environment steps, all envs together
    learning_rate: float = 2.5e-4
    anneal_lr: bool = True  # decay the learning rate linearly to 0 over the updates
    num_envs: int = 4
    num_steps: int = 128  # steps per env per rollout: a batch is num_envs * num_steps
    gamma: float = 0.99
    gae_lambda: float = 0.95
    num_minibatches: int = 4
    update_epochs: int = 4  # passes over each batch
    norm_adv: bool = True
    clip_coef: float = 0.2  # epsilon of the clipped surrogate
    clip_vloss: bool = True  # clip the value update to +-clip_coef too (PPO2, CleanRL)
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = None  # stop an update's epochs early past this approx KL
    hidden: int = 64
    bootstrap_truncated: bool = True  # a time-limit cut is not a termination
    torch_threads: int | None = 1  # minibatches of 128 are too small to share between threads
    progress: bool = True

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size


def check_config(cfg: PPOConfig) -> None:
    """Raise ValueError naming the first bad setting."""
    positive = {"num_envs": cfg.num_envs, "num_steps": cfg.num_steps, "hidden": cfg.hidden,
                "num_minibatches": cfg.num_minibatches, "update_epochs": cfg.update_epochs,
                "learning_rate": cfg.learning_rate, "clip_coef": cfg.clip_coef,
                "max_grad_norm": cfg.max_grad_norm}
    for name, value in positive.items():
        if not value > 0:
            raise ValueError(f"PPOConfig: expected {name} > 0, got {value}")
    for name, value in {"gamma": cfg.gamma, "gae_lambda": cfg.gae_lambda}.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"PPOConfig: expected 0 <= {name} <= 1, got {value}")
    if cfg.ent_coef < 0 or cfg.vf_coef < 0:
        raise ValueError(f"PPOConfig: expected ent_coef >= 0 and vf_coef >= 0, got "
                         f"{cfg.ent_coef} and {cfg.vf_coef}")
    if cfg.batch_size % cfg.num_minibatches:
        raise ValueError(f"PPOConfig: the batch (num_envs * num_steps = {cfg.batch_size}) must "
                         f"split into num_minibatches = {cfg.num_minibatches} equal minibatches")
    if cfg.total_timesteps < cfg.batch_size:
        raise ValueError(f"PPOConfig: total_timesteps = {cfg.total_timesteps} is less than one "
                         f"batch (num_envs * num_steps = {cfg.batch_size})")


def train(cfg: PPOConfig | None = None) -> tuple[rollout.ActorCritic, dict]:
    """Train a PPO agent. -> (agent, history) where history holds "episode_returns",
    "episode_ends" (the env step, all envs counted, at which each training episode ended),
    "env_steps" (num_updates * batch_size) and "updates" (per update: policy and value loss,
    entropy, approx KL, clip fraction, learning rate), as aibook.rl.dqn.train's history."""
    cfg = cfg or PPOConfig()
    check_config(cfg)
    with torch_threads(cfg.torch_threads):
        return _train(cfg)


def _train(cfg: PPOConfig) -> tuple[rollout.ActorCritic, dict]:
    run_seed = seed_for(cfg.seed)
    torch.manual_seed(run_seed)
    rng = np.random.default_rng(run_seed)  # minibatch shuffling
    generator = torch.Generator().manual_seed(run_seed)  # action sampling
    runner = rollout.VecRunner(cfg.env_id, cfg.num_envs, run_seed,
                               bootstrap_truncated=cfg.bootstrap_truncated)
    agent = rollout.ActorCritic(runner.obs_dim, runner.n_actions, cfg.hidden)
    optimizer = rollout.adam(agent.parameters(), cfg.learning_rate)

    bar = tqdm(total=cfg.num_updates * cfg.batch_size, desc="PPO", disable=not cfg.progress,
               mininterval=1.0, unit="step")
    for update in range(cfg.num_updates):
        lr = cfg.learning_rate * (1.0 - update / cfg.num_updates if cfg.anneal_lr else 1.0)
        for group in optimizer.param_groups:
            group["lr"] = lr

        # 1. play T steps in each of the E envs with the current policy
        ro = runner.collect(agent, cfg.num_steps, cfg.gamma, generator)
        advantages = pg.gae(ro.rewards, ro.values, ro.next_value, ro.dones, cfg.gamma,
                            cfg.gae_lambda)
        returns = advantages + ro.values  # the value target: the lambda-return

        # 2. flatten (T, E) into a batch of T * E samples
        b_obs = torch.from_numpy(ro.obs.reshape(-1, runner.obs_dim))
        b_actions = torch.from_numpy(ro.actions.reshape(-1))
        b_logp, b_values, b_adv, b_returns = (torch.from_numpy(x.reshape(-1)) for x in
                                              (ro.logp, ro.values, advantages, returns))

        # 3. several epochs of minibatch steps on the clipped objective
        stats = []
        for _ in range(cfg.update_epochs):
            order = rng.permutation(cfg.batch_size)
            for start in range(0, cfg.batch_size, cfg.minibatch_size):
                mb = torch.from_numpy(order[start:start + cfg.minibatch_size])
                new_logp, ent, new_values = agent.evaluate_actions(b_obs[mb], b_actions[mb])
                adv = pg.normalize(b_adv[mb]) if cfg.norm_adv else b_adv[mb]
                policy_loss = pg.ppo_clip_loss(new_logp, b_logp[mb], adv, cfg.clip_coef)
                v_loss = pg.value_loss(new_values, b_returns[mb], b_values[mb],
                                       cfg.clip_coef if cfg.clip_vloss else None)
                loss = policy_loss - cfg.ent_coef * ent.mean() + cfg.vf_coef * v_loss
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), cfg.max_grad_norm)
                optimizer.step()
                with torch.no_grad():
                    ratio = (new_logp - b_logp[mb]).exp()
                    clipfrac = float(((ratio - 1).abs() > cfg.clip_coef).float().mean())
                stats.append((policy_loss.item(), v_loss.item(), ent.mean().item(),
                              pg.approx_kl(new_logp, b_logp[mb]), clipfrac))
            if cfg.target_kl is not None and stats[-1][3] > cfg.target_kl:
                break
        p, v, h, kl, cf = np.mean(stats, axis=0)
        runner.history["updates"].append({"policy_loss": p, "value_loss": v, "entropy": h,
                                          "approx_kl": kl, "clipfrac": cf, "lr": lr})
        bar.update(cfg.batch_size)
    bar.close()
    runner.close()
    return agent, runner.history
