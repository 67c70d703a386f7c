"""Dynamic programming on known MDPs: value iteration, exact evaluation, finite horizons."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aibook.rl import dp
from aibook.rl.envs import make


@pytest.fixture(scope="module")
def frozenlake():
    return dp.model_arrays(make("FrozenLake-v1").unwrapped.P)


def random_mdp(seed: int, S: int, A: int):
    """A random MDP where every transition ends the episode with probability 0.1."""
    rng = np.random.default_rng(seed)
    P = rng.random((S, A, S))
    P = 0.9 * P / P.sum(axis=2, keepdims=True)
    return P, rng.normal(size=(S, A))


def test_model_arrays_keep_all_probability_mass_and_expected_rewards(frozenlake):
    P_table = make("FrozenLake-v1").unwrapped.P
    P, R = frozenlake
    for s in range(16):
        for a in range(4):
            ends = sum(p for p, _, _, t in P_table[s][a] if t)
            assert P[s, a].sum() + ends == pytest.approx(1.0, abs=1e-12)
            assert R[s, a] == pytest.approx(sum(p * r for p, _, r, _ in P_table[s][a]))


@pytest.mark.parametrize("gamma", [0.9, 0.99, 1.0])
def test_value_iteration_equals_exact_policy_evaluation_by_linear_solve(frozenlake, gamma):
    P, R = frozenlake
    theta = 1e-13
    V, pi, _ = dp.value_iteration(P, R, dp.DPConfig(gamma=gamma, theta=theta))
    # Near convergence each sweep shrinks the error by rho, the spectral radius of gamma * P_pi,
    # so once a sweep moves V by < theta the error left is < theta * rho / (1 - rho) (a geometric
    # series; rho is about 0.98 at gamma = 1). Factor 2: the rate holds only asymptotically;
    # 1e-12: float64 rounding of values <= 1 over about a thousand sweeps.
    rho = np.abs(np.linalg.eigvals(gamma * P[np.arange(16), pi])).max()
    atol = 2 * theta * rho / (1 - rho) + 1e-12
    np.testing.assert_allclose(V, dp.policy_evaluation(P, R, pi, gamma), atol=atol)


def test_frozenlake_optimal_success_is_14_over_17_without_time_limit(frozenlake):
    V, _, _ = dp.value_iteration(*frozenlake)
    assert V[0] == pytest.approx(14 / 17, abs=1e-8)


def test_policy_iteration_finds_the_value_iteration_values(frozenlake):
    P, R = frozenlake
    V_vi, _, _ = dp.value_iteration(P, R)
    V_pi, pi, _ = dp.policy_iteration(P, R)
    np.testing.assert_allclose(V_pi, V_vi, atol=1e-8)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), S=st.integers(1, 6), A=st.integers(1, 4),
       gamma=st.floats(0.0, 0.95))
def test_value_iteration_satisfies_bellman_optimality_on_random_mdps(seed, S, A, gamma):
    P, R = random_mdp(seed, S, A)
    V, pi, _ = dp.value_iteration(P, R, dp.DPConfig(gamma=gamma))
    # Bellman optimality: V = max_a [R + gamma P V], checked by an explicit double loop.
    # theta = 1e-12 and gamma <= 0.95 leave an error < theta * gamma / (1 - gamma) < 2e-11
    # (the contraction bound); 1e-9 adds room for rounding and is still far below any real error.
    for s in range(S):
        q = [R[s, a] + gamma * sum(P[s, a, t] * V[t] for t in range(S)) for a in range(A)]
        assert V[s] == pytest.approx(max(q), abs=1e-9)
    np.testing.assert_allclose(dp.policy_evaluation(P, R, pi, gamma), V, atol=1e-9)
    V_pi, _, _ = dp.policy_iteration(P, R, dp.DPConfig(gamma=gamma))
    np.testing.assert_allclose(V_pi, V, atol=1e-9)


def test_finite_horizon_of_a_policy_equals_the_sum_of_matrix_powers(frozenlake):
    P, R = frozenlake
    _, pi, _ = dp.value_iteration(P, R)
    P_pi, r_pi = P[np.arange(16), pi], R[np.arange(16), pi]
    expected = sum(np.linalg.matrix_power(P_pi, k) @ r_pi for k in range(100))
    np.testing.assert_allclose(dp.finite_horizon(P, R, 100, pi), expected, atol=1e-12)


def test_best_finite_horizon_beats_every_stationary_policy_and_tends_to_the_infinite_one(
        frozenlake):
    P, R = frozenlake
    V_star, pi, _ = dp.value_iteration(P, R)
    best100 = dp.finite_horizon(P, R, 100)
    assert np.all(best100 >= dp.finite_horizon(P, R, 100, pi) - 1e-12)
    assert best100[0] < V_star[0]
    np.testing.assert_allclose(dp.finite_horizon(P, R, 5000), V_star, atol=1e-8)


def test_bad_inputs_raise_clear_errors(frozenlake):
    P, R = frozenlake
    with pytest.raises(ValueError, match=r"expected pi of shape \(16,\) or \(16, 4\)"):
        dp.policy_evaluation(P, R, np.zeros(5, dtype=int), 0.9)
    with pytest.raises(ValueError, match="expected horizon >= 0"):
        dp.finite_horizon(P, R, -1)
    with pytest.raises(ValueError, match="expected env.unwrapped.P"):
        dp.model_arrays([])
