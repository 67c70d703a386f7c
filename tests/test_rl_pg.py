"""Policy gradients: the estimator against the exact gradient, returns and GAE against slow
loops, PPO's losses by hand and by autograd, the runners, and short training runs."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from aibook.rl import dqn, pg, ppo, reinforce, rollout

# A 4-armed bandit whose softmax policy is far from uniform, with J(theta) far from 0, so a
# bias of size pi(k) * J shows up (test_the_unbiasedness_check_has_power).
THETA = np.array([0.5, -0.3, 1.0, 0.0])
MEANS = np.array([1.0, 2.0, -0.5, 3.0])
STD = 1.0
N = 200_000


def samples(baseline: float, seed: int = 0) -> np.ndarray:
    """N REINFORCE estimates; the same seed plays the same actions and rewards (common random
    numbers), so two baselines are compared on identical draws."""
    return pg.score_function_samples(THETA, pg.gaussian_rewards(MEANS, STD), N, baseline,
                                     np.random.default_rng(seed))


# --- the policy-gradient theorem on a bandit --------------------------------------------------

def test_exact_gradient_matches_central_differences():
    h = 1e-6
    numeric = np.array([(pg.expected_return(THETA + h * e, MEANS)
                         - pg.expected_return(THETA - h * e, MEANS)) / (2 * h)
                        for e in np.eye(4)])
    # central differences: truncation error O(h^2 |J'''|) ~ 1e-12, rounding ~ eps * |J| / h ~ 1e-10
    np.testing.assert_allclose(pg.exact_gradient(THETA, MEANS), numeric, atol=1e-8)
    # and the gradient of J is that of the softmax chain rule, sum_a r(a) dpi(a)/dtheta
    pi = pg.softmax(THETA)
    jacobian = np.diag(pi) - np.outer(pi, pi)  # dpi(a)/dtheta_k
    np.testing.assert_allclose(pg.exact_gradient(THETA, MEANS), jacobian @ MEANS, atol=1e-15)


def test_score_function_estimator_is_unbiased():
    exact = pg.exact_gradient(THETA, MEANS)
    for b in (0.0, 2.0, pg.optimal_baseline(THETA, MEANS)):
        z = pg.z_scores(samples(b), exact)
        # Unbiased: each z is about standard normal; |z| > 4 has probability 6e-5 per coordinate.
        assert np.all(np.abs(z) < 4), f"baseline {b}: z = {z}"


def test_the_unbiasedness_check_has_power():
    # A wrong estimator: (r - b) * onehot(a), the score without its softmax term -pi. Its mean
    # is pi(k) (r(k) - b) instead of pi(k) (r(k) - J): biased by pi(k) (J - b).
    rng = np.random.default_rng(0)
    pi = pg.softmax(THETA)
    actions = rng.choice(4, size=N, p=pi)
    rewards = pg.gaussian_rewards(MEANS, STD)(actions, rng)
    wrong = rewards[:, None] * np.eye(4)[actions]
    z = pg.z_scores(wrong, pg.exact_gradient(THETA, MEANS))
    bias = pi * pg.expected_return(THETA, MEANS)
    assert np.max(np.abs(z)) > 4, f"the check missed a bias of {bias}"
    # The same check passes the right estimator on the very same draws.
    right = rewards[:, None] * (np.eye(4)[actions] - pi)
    assert np.all(np.abs(pg.z_scores(right, pg.exact_gradient(THETA, MEANS))) < 4)


def test_a_constant_baseline_keeps_the_mean_and_cuts_the_variance():
    b_star = pg.optimal_baseline(THETA, MEANS)
    plain, based = samples(0.0), samples(b_star)  # the same draws
    exact = pg.exact_gradient(THETA, MEANS)
    # Same mean: the difference of the two estimators is -b * score, whose mean is 0 exactly.
    diff = based - plain
    assert np.all(np.abs(pg.z_scores(diff, np.zeros(4))) < 4)
    # Smaller total variance (the trace of the covariance, what b* minimises), measured. Not
    # on every coordinate: here the third one grows a little, as the closed form says too.
    v_plain, v_based = plain.var(axis=0, ddof=1), based.var(axis=0, ddof=1)
    assert v_based.sum() < v_plain.sum(), (v_based, v_plain)
    # The measured variances match the closed form. A sample variance has relative standard
    # error sqrt((kurtosis - 1) / N) < sqrt(20 / 2e5) = 1 % here; 5 % is five of those.
    np.testing.assert_allclose(v_plain, pg.exact_variance(THETA, MEANS, 0.0, STD), rtol=0.05)
    np.testing.assert_allclose(v_based, pg.exact_variance(THETA, MEANS, b_star, STD), rtol=0.05)
    exact_plain = pg.exact_variance(THETA, MEANS, 0.0, STD).sum()
    exact_based = pg.exact_variance(THETA, MEANS, b_star, STD).sum()
    assert exact_based < 0.7 * exact_plain  # 1.36 against 2.43 in closed form
    assert np.all(np.abs(pg.z_scores(based, exact)) < 4)


def test_optimal_baseline_minimises_the_exact_total_variance():
    b_star = pg.optimal_baseline(THETA, MEANS)
    grid = np.linspace(-5, 8, 1301)  # steps of 0.01
    total = [pg.exact_variance(THETA, MEANS, b, STD).sum() for b in grid]
    assert abs(grid[int(np.argmin(total))] - b_star) <= 0.005 + 1e-12
    assert b_star != pytest.approx(pg.expected_return(THETA, MEANS), abs=1e-3)  # not just J


def test_bandit_errors_are_clear():
    with pytest.raises(ValueError, match=r"expected rewards_mean of shape \(4,\)"):
        pg.exact_gradient(THETA, MEANS[:3])
    with pytest.raises(ValueError, match=r"expected theta of shape \(K,\) with K >= 2"):
        pg.exact_gradient([1.0], [1.0])
    sampler = pg.gaussian_rewards(MEANS)
    with pytest.raises(ValueError, match="expected an int n >= 1, got 0"):
        pg.score_function_samples(THETA, sampler, 0)
    with pytest.raises(ValueError, match=r"must return shape \(5,\)"):
        pg.score_function_samples(THETA, lambda a, rng: np.zeros(3), 5)
    with pytest.raises(ValueError, match="expected std >= 0"):
        pg.gaussian_rewards(MEANS, std=-1.0)


# --- returns and advantages -------------------------------------------------------------------

def slow_returns(r, d, gamma, next_value):
    """G_t summed term by term, env by env: sum_l gamma^l r_{t+l} up to the episode's end,
    plus gamma^(T-t) next_value if the episode runs past the rollout."""
    T, E = r.shape
    G = np.zeros((T, E))
    for e in range(E):
        for t in range(T):
            total, discount = 0.0, 1.0
            for u in range(t, T):
                total += discount * r[u, e]
                discount *= gamma
                if d[u, e]:
                    break
            else:
                total += discount * next_value[e]
            G[t, e] = total
    return G


def slow_gae(r, v, next_value, d, gamma, lam):
    """A_t = sum_l (gamma lam)^l delta_{t+l} up to the episode's end, each delta written out."""
    T, E = r.shape
    A = np.zeros((T, E))
    for e in range(E):
        for t in range(T):
            total, weight = 0.0, 1.0
            for u in range(t, T):
                v_next = 0.0 if d[u, e] else (v[u + 1, e] if u + 1 < T else next_value[e])
                total += weight * (r[u, e] + gamma * v_next - v[u, e])
                if d[u, e]:
                    break
                weight *= gamma * lam
            A[t, e] = total
    return A


@settings(max_examples=30, deadline=None)
@given(T=st.integers(1, 12), E=st.integers(1, 4), gamma=st.floats(0.0, 1.0),
       lam=st.floats(0.0, 1.0), p_done=st.sampled_from([0.0, 0.2, 0.5, 1.0]),
       seed=st.integers(0, 2**16))
def test_gae_and_returns_equal_slow_double_loops(T, E, gamma, lam, p_done, seed):
    rng = np.random.default_rng(seed)
    r, v = rng.normal(size=(T, E)), rng.normal(size=(T, E))
    d = rng.random((T, E)) < p_done  # episode ends anywhere, the last step included
    nv = rng.normal(size=E)
    # a few dozen multiply-adds of O(1) numbers in float64: 1e-12 is a wide margin
    np.testing.assert_allclose(pg.gae(r, v, nv, d, gamma, lam), slow_gae(r, v, nv, d, gamma, lam),
                               atol=1e-12)
    np.testing.assert_allclose(pg.discounted_returns(r, d, gamma, nv),
                               slow_returns(r, d, gamma, nv), atol=1e-12)


def test_gae_at_lambda_one_is_returns_minus_values_and_at_zero_the_td_errors():
    rng = np.random.default_rng(1)
    T, E, gamma = 50, 3, 0.97
    r, v, nv = rng.normal(size=(T, E)), rng.normal(size=(T, E)), rng.normal(size=E)
    d = rng.random((T, E)) < 0.1
    d[T // 2, 0] = True  # at least one episode end mid-rollout
    np.testing.assert_allclose(pg.gae(r, v, nv, d, gamma, 1.0),
                               pg.discounted_returns(r, d, gamma, nv) - v, atol=1e-12)
    td = pg.gae(r, v, nv, d, gamma, 0.0)
    np.testing.assert_allclose(td, pg.td_errors(r, v, nv, d, gamma), atol=0)
    for t in range(T):  # and the TD errors are what they say
        v_next = v[t + 1] if t + 1 < T else nv
        np.testing.assert_allclose(td[t], r[t] + gamma * (1 - d[t]) * v_next - v[t], atol=1e-15)


def test_returns_by_hand_and_numpy_and_torch_agree():
    r, d = np.array([1.0, 1.0, 1.0]), np.array([0, 1, 0])
    # the episode ending at step 1 does not see next_value; the one running on does
    np.testing.assert_allclose(pg.discounted_returns(r, d, 0.5, 4.0), [1.5, 1.0, 3.0])
    np.testing.assert_allclose(pg.discounted_returns(r, d, 0.5), [1.5, 1.0, 1.0])
    rng = np.random.default_rng(2)
    r, v, nv = rng.normal(size=(20, 2)), rng.normal(size=(20, 2)), rng.normal(size=2)
    d = rng.random((20, 2)) < 0.3
    ours = pg.gae(torch.from_numpy(r), torch.from_numpy(v), torch.from_numpy(nv),
                  torch.from_numpy(d), 0.99, 0.95)
    assert isinstance(ours, torch.Tensor)
    np.testing.assert_allclose(ours.numpy(), pg.gae(r, v, nv, d, 0.99, 0.95), atol=1e-12)
    one_env = pg.gae(r[:, 0], v[:, 0], nv[0], d[:, 0], 0.99, 0.95)  # (T,) works too
    np.testing.assert_allclose(one_env, pg.gae(r, v, nv, d, 0.99, 0.95)[:, 0], atol=0)


def test_return_and_gae_errors_are_clear():
    r = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"dones must have the shape of rewards \(4, 2\)"):
        pg.discounted_returns(r, np.zeros(4), 0.9)
    with pytest.raises(ValueError, match="expected 0 <= lam <= 1, got 1.5"):
        pg.gae(r, r, np.zeros(2), r, 0.9, 1.5)
    with pytest.raises(ValueError, match="expected 0 <= gamma <= 1, got -0.1"):
        pg.discounted_returns(r, r, -0.1)
    with pytest.raises(ValueError, match="values must have the shape"):
        pg.gae(r, np.zeros((3, 2)), np.zeros(2), r, 0.9, 0.9)


# --- losses -----------------------------------------------------------------------------------

def test_ppo_clip_loss_by_hand_and_its_gradient_vanishes_where_clipped():
    ratio = torch.tensor([1.5, 0.5, 1.1, 0.7, 1.5, 0.5], dtype=torch.float64)
    adv = torch.tensor([1.0, -1.0, -2.0, 2.0, -1.0, 1.0], dtype=torch.float64)
    old = torch.tensor([-0.3, -1.2, -0.7, -2.0, -0.1, -0.9], dtype=torch.float64)
    new = (old + ratio.log()).requires_grad_()
    loss = pg.ppo_clip_loss(new, old, adv, clip=0.2)
    # min(rho A, clip(rho, 0.8, 1.2) A) sample by sample:
    #   1.5,  1: min(1.5, 1.2) = 1.2    clipped, in A's direction: no gradient
    #   0.5, -1: min(-0.5, -0.8) = -0.8 clipped, in A's direction: no gradient
    #   1.1, -2: -2.2                   inside the interval: gradient
    #   0.7,  2: min(1.4, 1.6) = 1.4    outside, against A: the unclipped term, gradient
    #   1.5, -1: min(-1.5, -1.2) = -1.5 outside, against A: gradient
    #   0.5,  1: min(0.5, 0.8) = 0.5    outside, against A: gradient
    objective = [1.2, -0.8, -2.2, 1.4, -1.5, 0.5]
    assert loss.item() == pytest.approx(-sum(objective) / 6, abs=1e-12)
    loss.backward()
    # d(-rho A / n)/d new_logp = -rho A / n where the unclipped term is active, else 0
    expected = torch.tensor([0.0, 0.0, 2.2, -1.4, 1.5, -0.5], dtype=torch.float64) / 6
    torch.testing.assert_close(new.grad, expected, rtol=0, atol=1e-12)


def test_ppo_clip_loss_equals_the_vanilla_surrogate_gradient_at_ratio_one():
    # At new == old (the first minibatch of an update) the clipped objective's gradient is the
    # plain policy gradient: grad of -mean(rho A) = -mean(A grad log pi) at rho = 1.
    torch.manual_seed(0)
    logits = torch.randn(16, 3, requires_grad=True)
    actions, adv = torch.randint(0, 3, (16,)), torch.randn(16)
    logp = pg.log_prob(logits, actions)
    g_ppo, = torch.autograd.grad(pg.ppo_clip_loss(logp, logp.detach(), adv, 0.2), logits)
    g_pg, = torch.autograd.grad(pg.pg_loss(pg.log_prob(logits, actions), adv), logits)
    torch.testing.assert_close(g_ppo, g_pg, rtol=1e-6, atol=1e-7)


def test_value_loss_log_prob_and_entropy():
    v = torch.tensor([1.0, 2.0, 5.0])
    R = torch.tensor([2.0, 2.0, 0.0])
    assert pg.value_loss(v, R).item() == pytest.approx(0.5 * (1 + 0 + 25) / 3)
    old = torch.tensor([0.8, 2.5, 4.5])
    # clipped at c = 0.3: V_clip = old + clip(v - old) = [1.0, 2.2, 4.8];
    # max((v - R)^2, (V_clip - R)^2) = [max(1, 1), max(0, 0.04), max(25, 23.04)]
    assert pg.value_loss(v, R, old, 0.3).item() == pytest.approx(0.5 * (1 + 0.04 + 25) / 3)
    logits = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    actions = torch.tensor([0, 2, 1, 1, 0])
    dist = torch.distributions.Categorical(logits=logits)
    torch.testing.assert_close(pg.log_prob(logits, actions), dist.log_prob(actions))
    torch.testing.assert_close(pg.entropy(logits), dist.entropy())
    assert pg.entropy(torch.zeros(1, 4)).item() == pytest.approx(math.log(4))
    with pytest.raises(ValueError, match="expected clip > 0"):
        pg.ppo_clip_loss(v, v, v, clip=0.0)
    with pytest.raises(ValueError, match="clip needs old_values"):
        pg.value_loss(v, R, clip=0.2)
    with pytest.raises(ValueError, match="must have one shape"):
        pg.ppo_clip_loss(v, v[:2], v, clip=0.2)


# --- runners, evaluation, learning curves -----------------------------------------------------

class Balancer(nn.Module):
    """An ActorCritic stand-in with a fixed policy (push right when theta + omega > 0) and a
    constant value: it keeps the pole up for hundreds of steps, so episodes end both ways."""

    def __init__(self, value: float = 10.0):
        super().__init__()
        self.v = value

    def forward(self, obs):
        s = obs[:, 2] + obs[:, 3]
        return torch.stack([-s, s], dim=1) * 100.0

    def value(self, obs):
        return torch.full((obs.shape[0],), self.v)

    @torch.no_grad()
    def act(self, obs, generator=None):
        actions = self(obs).argmax(1)
        return actions, torch.zeros(len(obs)), self.value(obs)


@pytest.mark.parametrize("bootstrap", [True, False])
def test_vec_runner_logs_episodes_and_bootstraps_time_limit_cuts(bootstrap):
    # seed 0: env 0's first episode ends at step 334 (the cart leaves the track), then the
    # pole stays up until the 500-step cut
    runner = rollout.VecRunner("CartPole-v1", 2, seed=0, bootstrap_truncated=bootstrap)
    ro = runner.collect(Balancer(10.0), 1_000, gamma=0.9)
    runner.close()
    h = runner.history
    assert ro.obs.shape == (1_000, 2, 4) and ro.rewards.shape == ro.dones.shape == (1_000, 2)
    assert h["env_steps"] == 2_000 and len(h["episode_returns"]) == int(ro.dones.sum())
    assert np.all(np.diff(h["episode_ends"]) >= 0) and h["episode_ends"][-1] <= 2_000
    # Recover each episode's length from the dones: CartPole pays 1 per step, so a logged
    # return is a length, and length 500 is a time-limit cut.
    lengths, cut = [], np.zeros_like(ro.dones, dtype=bool)
    for e in range(2):
        start = 0  # the runner is fresh: step 0 starts an episode in every env
        for t in np.flatnonzero(ro.dones[:, e]):
            lengths.append(t - start + 1)
            cut[t, e] = t - start + 1 == 500
            start = t + 1
    assert sorted(lengths) == sorted(h["episode_returns"])
    assert cut.any() and (ro.dones.astype(bool) & ~cut).any()  # both kinds of end occurred
    expected = np.ones_like(ro.rewards)
    if bootstrap:
        expected[cut] += 0.9 * 10.0  # r + gamma V(s_final) on a cut, r elsewhere
    np.testing.assert_allclose(ro.rewards, expected, rtol=1e-6)
    np.testing.assert_allclose(ro.next_value, [10.0, 10.0])


def test_episode_runner_plays_one_whole_episode_per_env():
    runner = rollout.EpisodeRunner("CartPole-v1", 3, seed=0)
    agent = rollout.ActorCritic(4, 2, hidden=8)
    batch = runner.collect(agent, torch.Generator().manual_seed(0))
    runner.close()
    h = runner.history
    n = len(batch["rewards"])
    assert batch["obs"].shape == (n, 4) and batch["actions"].shape == batch["dones"].shape == (n,)
    assert batch["dones"].sum() == 3 and batch["dones"][-1] == 1
    assert n == h["env_steps"] == sum(h["episode_returns"]) and len(h["episode_returns"]) == 3
    # the concatenated episodes are as long as the logged returns, in env order
    ends = np.flatnonzero(batch["dones"])
    assert sorted(np.diff(np.concatenate([[-1], ends])).tolist()) == sorted(h["episode_returns"])


def test_greedy_evaluate_plays_dqns_episodes_and_sampled_repeats_with_its_seed():
    torch.manual_seed(0)
    agent = rollout.ActorCritic(4, 2, hidden=16)
    # greedy: the same start states and the same argmax as aibook.rl.dqn.evaluate
    np.testing.assert_array_equal(rollout.evaluate(agent, episodes=5, seed=3),
                                  dqn.evaluate(agent, episodes=5, seed=3))
    np.testing.assert_array_equal(rollout.evaluate(Balancer(), episodes=4),
                                  dqn.evaluate(Balancer(), episodes=4))
    a = rollout.evaluate(agent, episodes=6, seed=1, greedy=False)
    assert np.array_equal(a, rollout.evaluate(agent, episodes=6, seed=1, greedy=False))
    assert a.shape == (6,) and np.all((a >= 1) & (a <= 500))
    with pytest.raises(ValueError, match="expected episodes >= 1, got 0"):
        rollout.evaluate(agent, episodes=0)


def test_window_mean_and_learning_curve():
    h = {"episode_returns": [10.0, 20.0, 30.0, 40.0], "episode_ends": [5, 12, 20, 30],
         "env_steps": 30}
    assert rollout.window_mean(h, 20, 10) == 25.0  # episodes ending in (10, 20]
    assert math.isnan(rollout.window_mean(h, 4, 4))
    np.testing.assert_array_equal(rollout.learning_curve(h, [10, 30], 20), [10.0, 30.0])
    assert rollout.final_return(h, 0.5) == 35.0  # ends in (15, 30]
    with pytest.raises(ValueError, match="expected 0 < fraction <= 1"):
        rollout.final_return(h, 0.0)


def test_spaces_reject_continuous_actions():
    with pytest.raises(ValueError, match="need a Discrete action space"):
        rollout.spaces(gym.make("Pendulum-v1"))


# --- training ---------------------------------------------------------------------------------

def test_ppo_with_the_same_seed_repeats_exactly():
    cfg = ppo.PPOConfig(total_timesteps=1_024, num_steps=64, hidden=16, progress=False, seed=4)
    a1, h1 = ppo.train(cfg)
    a2, h2 = ppo.train(cfg)
    assert h1["episode_returns"] == h2["episode_returns"] and h1["updates"] == h2["updates"]
    assert h1["env_steps"] == 1_024 and len(h1["updates"]) == 1_024 // 256
    for p1, p2 in zip(a1.parameters(), a2.parameters(), strict=True):
        torch.testing.assert_close(p1, p2, rtol=0, atol=0)
    _, h3 = ppo.train(ppo.PPOConfig(**{**cfg.__dict__, "seed": 5}))
    assert h3["updates"] != h1["updates"]
    # the learning rate decays linearly to 0: lr * (1 - update / num_updates)
    assert [u["lr"] for u in h1["updates"]] == pytest.approx([2.5e-4 * (1 - k / 4)
                                                              for k in range(4)])


@pytest.mark.parametrize("bad, message", [
    ({"num_minibatches": 3}, "must split into num_minibatches = 3"),
    ({"total_timesteps": 100}, "less than one batch"),
    ({"clip_coef": 0.0}, "expected clip_coef > 0"),
    ({"gamma": 1.5}, "expected 0 <= gamma <= 1"),
    ({"gae_lambda": -0.1}, "expected 0 <= gae_lambda <= 1"),
    ({"num_envs": 0}, "expected num_envs > 0"),
    ({"ent_coef": -0.01}, "expected ent_coef >= 0"),
])
def test_bad_ppo_configs_raise_clear_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        ppo.train(ppo.PPOConfig(**{"progress": False, **bad}))


def test_bad_envs_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown environment id 'CartPole-v9'"):
        ppo.train(ppo.PPOConfig(env_id="CartPole-v9", progress=False))
    with pytest.raises(ValueError, match="need a Discrete action space"):
        ppo.train(ppo.PPOConfig(env_id="Pendulum-v1", progress=False))


@pytest.mark.parametrize("bad, message", [
    (reinforce.ReinforceConfig(episodes_per_update=0), "expected episodes_per_update > 0"),
    (reinforce.ReinforceConfig(learning_rate=-1.0), "expected learning_rate > 0"),
    (reinforce.A2CConfig(num_steps=0), "expected num_steps > 0"),
    (reinforce.A2CConfig(gae_lambda=2.0), "expected 0 <= gae_lambda <= 1"),
    (reinforce.A2CConfig(total_timesteps=10), "less than one batch"),
])
def test_bad_reinforce_and_a2c_configs_raise_clear_errors(bad, message):
    train = (reinforce.train_reinforce if isinstance(bad, reinforce.ReinforceConfig)
             else reinforce.train_a2c)
    with pytest.raises(ValueError, match=message):
        train(bad)


def test_reinforce_and_a2c_run_log_and_repeat():
    cfg = reinforce.ReinforceConfig(total_timesteps=500, episodes_per_update=4, hidden=16,
                                    progress=False, seed=1)
    _, h1 = reinforce.train_reinforce(cfg)
    _, h2 = reinforce.train_reinforce(cfg)
    assert h1 == h2 and h1["env_steps"] >= 500 and sum(h1["episode_returns"]) == h1["env_steps"]
    assert len(h1["episode_returns"]) == 4 * len(h1["updates"])  # whole episodes only
    cfg = reinforce.A2CConfig(total_timesteps=1_000, hidden=16, progress=False, seed=1)
    _, h1 = reinforce.train_a2c(cfg)
    _, h2 = reinforce.train_a2c(cfg)
    assert h1 == h2 and h1["env_steps"] == (1_000 // 128) * 128
    assert len(h1["updates"]) == 1_000 // 128


# Random play on CartPole-v1 lasts about 22 steps (20 on evaluate's episodes). After 8192
# steps (16 updates), PPO's greedy policy played 4.3 to 9.3 times as long on seeds 0-11 (mean
# 6.8); the test asks for twice as long, so a seed offset is very unlikely to fail it.
SHORT_BUDGET = 8_192
RANDOM_MARGIN = 2.0


def test_a_short_ppo_run_beats_random_play():
    agent, h = ppo.train(ppo.PPOConfig(total_timesteps=SHORT_BUDGET, progress=False, seed=0))
    trained = rollout.evaluate(agent, episodes=20)  # greedy, on evaluate's fresh start states

    class Random(nn.Module):  # argmax of uniform noise: a uniformly random action
        def forward(self, obs):
            return torch.rand(obs.shape[0], 2, generator=generator)

    generator = torch.Generator().manual_seed(0)
    random_play = rollout.evaluate(Random(), episodes=20)
    assert trained.mean() > RANDOM_MARGIN * random_play.mean(), (trained, random_play)
    # and the training episodes themselves got longer: the last tenth beats the first tenth
    first = rollout.window_mean(h, SHORT_BUDGET // 10, SHORT_BUDGET // 10)
    assert rollout.final_return(h) > first


def test_runs_in_worker_processes_equal_the_runs_here():
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    configs = [ppo.PPOConfig(total_timesteps=512, num_steps=64, hidden=8, progress=False,
                             seed=s) for s in (3, 4, 5)]
    here = rollout.train_runs(ppo.train, configs)
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
        there = rollout.train_runs(ppo.train, configs, pool)
    for (a1, h1), (a2, h2), cfg in zip(here, there, configs, strict=True):
        assert h1 == h2, f"seed {cfg.seed}: a worker's run differs from the run here"
        for p1, p2 in zip(a1.parameters(), a2.parameters(), strict=True):
            torch.testing.assert_close(p1, p2, rtol=0, atol=0)
    assert here[0][1]["updates"] != here[1][1]["updates"]  # and the seeds differ: in order
    # with test_episodes each run also plays evaluate's greedy test episodes where it trained
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
        tested = rollout.train_runs(ppo.train, configs[:2], pool, test_episodes=3)
    for (_agent, h, returns), (a1, h1) in zip(tested, here[:2], strict=True):
        assert h == h1 and returns.shape == (3,)
        np.testing.assert_array_equal(returns, rollout.evaluate(a1, episodes=3))
    with pytest.raises(ValueError, match="expected test_episodes >= 1"):
        rollout.train_runs(ppo.train, configs, test_episodes=0)


# --- RLHF's reward ----------------------------------------------------------------------------

def test_kl_penalized_rewards_by_hand_numpy_and_torch():
    logp, ref = np.log([0.5, 0.25, 0.8]), np.log([0.25, 0.25, 0.4])
    r = pg.kl_penalized_rewards(2.0, logp, ref, beta=0.1)
    np.testing.assert_allclose(r, [-0.1 * math.log(2), 0.0, 2.0 - 0.1 * math.log(2)])
    assert r.sum() == pytest.approx(2.0 - 0.1 * (logp - ref).sum())
    rt = pg.kl_penalized_rewards(2.0, torch.from_numpy(logp), torch.from_numpy(ref), 0.1)
    np.testing.assert_allclose(rt.numpy(), r, atol=1e-15)
    one = pg.kl_penalized_rewards(1.5, [-1], [-1], 0.3)  # lists of ints are fine too
    np.testing.assert_allclose(one, [1.5])  # T = 1: the score alone when pi = pi_ref
    # the input is not modified in place
    np.testing.assert_allclose(logp, np.log([0.5, 0.25, 0.8]))
    with pytest.raises(ValueError, match="expected beta >= 0"):
        pg.kl_penalized_rewards(1.0, logp, ref, -0.1)
    with pytest.raises(ValueError, match="of one shape"):
        pg.kl_penalized_rewards(1.0, logp, ref[:2], 0.1)
