"""DQN pieces: the replay buffer, the target with terminal flags, the Huber loss, seeding."""

import inspect

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from aibook.device import seed_for
from aibook.rl import dqn


def filled(capacity: int, n: int, obs_dim: int = 3) -> dqn.ReplayBuffer:
    rb = dqn.ReplayBuffer(capacity, obs_dim, seed=0)
    for i in range(n):  # transition i is recognisable: obs = (i, i, ...), reward = i
        rb.add(np.full(obs_dim, i), i % 2, float(i), np.full(obs_dim, i + 1), i % 5 == 4)
    return rb


def test_replay_buffer_keeps_its_capacity_and_drops_the_oldest():
    rb = filled(capacity=4, n=7)
    assert len(rb) == 4
    assert sorted(rb.rewards.tolist()) == [3.0, 4.0, 5.0, 6.0]  # 0, 1, 2 were overwritten
    batch = rb.sample(500)
    assert set(batch["rewards"].tolist()) == {3.0, 4.0, 5.0, 6.0}
    # each sampled transition is whole: next_obs = obs + 1, terminated where reward % 5 == 4
    torch.testing.assert_close(batch["next_obs"], batch["obs"] + 1)
    torch.testing.assert_close(batch["terminated"], (batch["rewards"] % 5 == 4).float())


@settings(max_examples=25, deadline=None)
@given(capacity=st.integers(1, 50), n=st.integers(1, 80), obs_dim=st.integers(1, 6),
       batch_size=st.integers(1, 64))
def test_replay_buffer_samples_have_the_right_shapes_and_dtypes(capacity, n, obs_dim, batch_size):
    rb = filled(capacity, n, obs_dim)
    assert len(rb) == min(capacity, n)
    b = rb.sample(batch_size)
    assert b["obs"].shape == b["next_obs"].shape == (batch_size, obs_dim)
    assert b["actions"].shape == b["rewards"].shape == b["terminated"].shape == (batch_size,)
    assert b["obs"].dtype == b["next_obs"].dtype == b["rewards"].dtype == torch.float32
    assert b["terminated"].dtype == torch.float32 and b["actions"].dtype == torch.int64
    assert b["rewards"].min() >= max(0, n - capacity)  # only the newest `capacity` remain


def test_replay_buffer_errors_are_clear():
    with pytest.raises(ValueError, match="expected capacity >= 1, got 0"):
        dqn.ReplayBuffer(0, 4)
    rb = dqn.ReplayBuffer(3, 4)
    with pytest.raises(ValueError, match="the buffer is empty"):
        rb.sample(2)
    with pytest.raises(ValueError, match=r"expected observations of shape \(4,\), got \(3,\)"):
        rb.add(np.zeros(3), 0, 0.0, np.zeros(4), False)


def test_dqn_target_bootstraps_only_non_terminal_transitions():
    rewards = torch.tensor([1.0, 1.0, -2.0])
    next_q = torch.tensor([[0.5, 3.0], [4.0, -1.0], [10.0, 20.0]])
    terminated = torch.tensor([0.0, 1.0, 0.0])
    y = dqn.dqn_target(rewards, next_q, terminated, gamma=0.5)
    torch.testing.assert_close(y, torch.tensor([1.0 + 0.5 * 3.0, 1.0, -2.0 + 0.5 * 20.0]))


def test_dqn_loss_on_a_fixed_batch_equals_a_hand_computation():
    torch.manual_seed(0)
    q, target = dqn.QNetwork(2, 3, hidden=8), dqn.QNetwork(2, 3, hidden=8)
    batch = {"obs": torch.tensor([[0.1, -0.2], [1.0, 0.5], [-3.0, 2.0]]),
             "actions": torch.tensor([2, 0, 1]),
             "rewards": torch.tensor([1.0, 0.0, 5.0]),
             "next_obs": torch.tensor([[0.0, 0.0], [2.0, -1.0], [0.3, 0.3]]),
             "terminated": torch.tensor([0.0, 1.0, 0.0])}
    gamma = 0.9
    with torch.no_grad():
        Q, Q_next = q(batch["obs"]).tolist(), target(batch["next_obs"]).tolist()
    total = 0.0
    for i in range(3):  # one transition at a time, in plain Python
        y = batch["rewards"][i].item()
        if batch["terminated"][i].item() == 0.0:
            y += gamma * max(Q_next[i])
        d = abs(Q[i][batch["actions"][i].item()] - y)
        total += 0.5 * d * d if d < 1.0 else d - 0.5  # Huber with delta = 1
    loss = dqn.dqn_loss(q, target, batch, gamma)
    assert loss.item() == pytest.approx(total / 3, rel=1e-5)  # float32 vs float64 arithmetic
    loss.backward()  # gradients flow into the online network only
    assert all(p.grad is not None for p in q.parameters())
    assert all(p.grad is None for p in target.parameters())


def test_linear_schedule_goes_from_start_to_end_then_stays():
    assert dqn.linear_schedule(1.0, 0.05, 100, 0) == 1.0
    assert dqn.linear_schedule(1.0, 0.05, 100, 50) == pytest.approx(0.525)
    assert dqn.linear_schedule(1.0, 0.05, 100, 100) == pytest.approx(0.05)
    assert dqn.linear_schedule(1.0, 0.05, 100, 10_000) == pytest.approx(0.05)
    assert dqn.linear_schedule(0.0, 1.0, 10, 5) == pytest.approx(0.5)  # increasing works too


def test_training_with_the_same_seed_repeats_exactly():
    cfg = dqn.DQNConfig(total_timesteps=400, learning_starts=100, train_frequency=4,
                        target_network_frequency=100, hidden=16, progress=False, seed=5)
    q1, h1 = dqn.train(cfg)
    q2, h2 = dqn.train(cfg)
    assert h1["losses"] == h2["losses"] and h1["episode_returns"] == h2["episode_returns"]
    assert h1["env_steps"] == 400 and len(h1["losses"]) == (400 - 100) // 4  # no early stop
    for p1, p2 in zip(q1.parameters(), q2.parameters(), strict=True):
        torch.testing.assert_close(p1, p2, rtol=0, atol=0)
    _, h3 = dqn.train(dqn.DQNConfig(**{**cfg.__dict__, "seed": 6}))
    assert h3["losses"] != h1["losses"]


class AngleController(nn.Module):
    """A fixed policy: push right when theta + omega > 0 (no learning). It keeps the pole up
    for hundreds of steps, so its episodes end both ways: pole down, and the 500-step cut."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # (B, 4) -> (B, 2)
        s = obs[:, 2] + obs[:, 3]
        return torch.stack([-s, s], dim=1)


def test_vectorised_evaluate_matches_one_env_at_a_time():
    episodes, seed = 6, 7
    returns = dqn.evaluate(AngleController(), episodes=episodes, seed=seed)
    # The same start states, read from the vector env, replayed one by one in a plain env.
    starts = gym.make_vec("CartPole-v1", num_envs=episodes)
    starts.reset(seed=seed_for(seed))
    expected = []
    for i in range(episodes):
        env = gym.make("CartPole-v1")
        env.reset(seed=0)
        env.unwrapped.state = starts.unwrapped.state[:, i].copy()  # float64, as in the vector env
        obs, G, done = np.array(env.unwrapped.state, dtype=np.float32), 0.0, False
        while not done:
            with torch.no_grad():
                action = int(AngleController()(torch.as_tensor(obs).unsqueeze(0)).argmax())
            obs, r, terminated, truncated, _ = env.step(action)
            G, done = G + r, terminated or truncated
        expected.append(G)
    # Same physics in float64 on both sides; returns are step counts, so they must be equal.
    np.testing.assert_array_equal(returns, expected)
    assert returns.max() == 500 and returns.min() < 500  # both kinds of episode end occurred


def test_evaluate_repeats_with_its_seed_and_checks_its_input():
    q = dqn.QNetwork(4, 2, hidden=8)
    a, b = dqn.evaluate(q, episodes=3, seed=0), dqn.evaluate(q, episodes=3, seed=0)
    assert a.shape == (3,) and np.array_equal(a, b) and np.all((a >= 1) & (a <= 500))
    with pytest.raises(ValueError, match="expected episodes >= 1, got 0"):
        dqn.evaluate(q, episodes=0)


def test_training_stops_at_the_first_greedy_check_that_passes():
    # Every CartPole episode lasts at least a few steps, so a threshold of 5 passes at the first
    # check: after eval_frequency env steps (the first multiple past learning_starts).
    cfg = dqn.DQNConfig(total_timesteps=3_000, learning_starts=200, eval_frequency=500,
                        stop_return=5.0, hidden=16, progress=False)
    _, h = dqn.train(cfg)
    assert h["env_steps"] == 500 and len(h["checks"]) == 1
    assert h["checks"][0][0] == 500 and h["checks"][0][1] >= 5.0


def test_training_runs_its_whole_budget_when_no_check_passes():
    cfg = dqn.DQNConfig(total_timesteps=2_000, learning_starts=200, eval_frequency=500,
                        eval_episodes=2, stop_return=1_000.0, hidden=16, progress=False)
    _, h = dqn.train(cfg)  # a return of 1000 is impossible (episodes are cut at 500)
    assert h["env_steps"] == 2_000 and [step for step, _ in h["checks"]] == [500, 1000, 1500, 2000]
    _, h = dqn.train(dqn.DQNConfig(**{**cfg.__dict__, "stop_return": None}))
    assert h["env_steps"] == 2_000 and h["checks"] == []


def test_the_stopping_checks_never_play_the_test_episodes():
    test_seed = inspect.signature(dqn.evaluate).parameters["seed"].default
    assert dqn.DQNConfig().eval_seed != test_seed
