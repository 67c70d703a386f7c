"""Tabular control: epsilon-greedy, the Q-learning and Sarsa updates, seeding, env errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aibook.rl import tabular as tb
from aibook.rl.envs import make


def table():
    return np.array([[0.0, 1.0, 2.0], [5.0, -1.0, 3.0], [0.5, 0.25, 4.0]])


@pytest.mark.parametrize("terminated", [False, True])
def test_q_learning_update_moves_towards_the_bellman_optimality_target(terminated):
    Q, alpha, gamma = table(), 0.5, 0.9
    # Hand-made transition: s=0, a=1, r=-1, s'=1. max_a' Q(1, a') = 5.
    target = -1.0 + (0.0 if terminated else 0.9 * 5.0)
    delta = tb.q_learning_update(Q, 0, 1, -1.0, 1, terminated, alpha, gamma)
    assert delta == pytest.approx(target - 1.0)
    assert Q[0, 1] == pytest.approx(1.0 + 0.5 * (target - 1.0))
    others = np.ones_like(Q, dtype=bool)
    others[0, 1] = False
    np.testing.assert_array_equal(Q[others], table()[others])  # nothing else moved


@pytest.mark.parametrize("terminated", [False, True])
def test_sarsa_update_uses_the_next_action_actually_taken(terminated):
    Q, alpha, gamma = table(), 0.1, 0.99
    # s=2, a=0, r=1, s'=1, a'=1 with Q(1, 1) = -1 (not the max, 5).
    target = 1.0 + (0.0 if terminated else 0.99 * -1.0)
    tb.sarsa_update(Q, 2, 0, 1.0, 1, 1, terminated, alpha, gamma)
    assert Q[2, 0] == pytest.approx(0.5 + 0.1 * (target - 0.5))


@settings(max_examples=40, deadline=None)
@given(r=st.floats(-10, 10), v=st.floats(-10, 10), gamma=st.floats(0, 1), terminated=st.booleans())
def test_td_target_drops_the_bootstrap_only_when_terminated(r, v, gamma, terminated):
    expected = r if terminated else r + gamma * v
    assert tb.td_target(r, v, terminated, gamma) == pytest.approx(expected)


def test_epsilon_greedy_is_greedy_at_zero_and_uniform_at_one():
    rng = np.random.default_rng(0)
    Q_s = np.array([0.1, 0.7, 0.3, -2.0])
    assert all(tb.epsilon_greedy(Q_s, 0.0, rng) == 1 for _ in range(100))
    counts = np.bincount([tb.epsilon_greedy(Q_s, 1.0, rng) for _ in range(8000)], minlength=4)
    # Each count is Binomial(8000, 1/4): sd ~ 39, so 2000 +- 200 is a 5-sigma band.
    assert np.all(np.abs(counts - 2000) < 200), counts


def test_epsilon_greedy_picks_the_greedy_action_with_probability_one_minus_eps_plus_share():
    rng = np.random.default_rng(1)
    Q_s, eps, n = np.array([0.0, 1.0, 0.0]), 0.3, 20_000
    share = np.mean([tb.epsilon_greedy(Q_s, eps, rng) == 1 for _ in range(n)])
    # P(greedy) = 1 - eps + eps / A = 0.8; sd = sqrt(0.16 / 20000) ~ 0.003; 5-sigma tolerance.
    assert share == pytest.approx(1 - eps + eps / 3, abs=0.015)


def test_epsilon_greedy_breaks_ties_at_random():
    rng = np.random.default_rng(2)
    picks = {tb.epsilon_greedy(np.zeros(4), 0.0, rng) for _ in range(200)}
    assert picks == {0, 1, 2, 3}


def test_epsilon_greedy_rejects_epsilon_outside_unit_interval():
    with pytest.raises(ValueError, match=r"expected epsilon in \[0, 1\], got 1.5"):
        tb.epsilon_greedy(np.zeros(2), 1.5, np.random.default_rng())


def test_training_with_the_same_seed_repeats_exactly():
    env = make("CliffWalking-v1")
    cfg = tb.TabularConfig(algo="sarsa", episodes=30, seed=3, progress=False)
    Q1, ret1 = tb.train(env, cfg)
    Q2, ret2 = tb.train(env, cfg)
    np.testing.assert_array_equal(Q1, Q2)
    np.testing.assert_array_equal(ret1, ret2)
    Q3, _ = tb.train(env, tb.TabularConfig(algo="sarsa", episodes=30, seed=4, progress=False))
    assert not np.array_equal(Q1, Q3)


def test_q_learning_on_deterministic_cliffwalking_finds_the_13_step_path():
    env = make("CliffWalking-v1")
    Q, _ = tb.train(env, tb.TabularConfig(episodes=200, seed=0, progress=False))
    path, G = tb.greedy_path(env, tb.greedy_policy(Q))
    assert G == -13 and path[0] == 36 and path[-1] == 47 and len(path) == 14


def test_unknown_algo_raises():
    with pytest.raises(ValueError, match="expected algo 'q_learning' or 'sarsa'"):
        tb.train(make("FrozenLake-v1"), tb.TabularConfig(algo="td0", progress=False))


def test_bad_env_id_raises_with_a_suggestion():
    with pytest.raises(ValueError, match=r"id 'CliffWalking-v0'.*CliffWalking-v1"):
        make("CliffWalking-v0")
    with pytest.raises(ValueError, match="unknown environment id 'NoSuchEnv-v9'"):
        make("NoSuchEnv-v9")
    with pytest.raises(TypeError, match="expected an environment id string"):
        make(3)


@pytest.mark.parametrize("env_id, bad", [("FrozenLake-v1", 7), ("CartPole-v1", 2),
                                         ("CliffWalking-v1", -1)])
def test_invalid_action_raises_naming_the_action_space(env_id, bad):
    env = make(env_id)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=rf"expected an action in Discrete\(\d\), got {bad}"):
        env.step(bad)
    env.step(0)  # a valid action still works
