"""DQN pieces: the replay buffer, the target with terminal flags, the Huber loss, seeding."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_evaluate_returns_one_return_per_episode():
    q = dqn.QNetwork(4, 2, hidden=8)
    returns = dqn.evaluate(q, episodes=3, seed=0)
    assert returns.shape == (3,) and np.all((returns >= 1) & (returns <= 500))
