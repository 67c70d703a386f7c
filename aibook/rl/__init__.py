"""The reinforcement-learning chapter: one readable file per algorithm family.

- `aibook.rl.envs`: `make(env_id)`, gymnasium.make with clear errors;
- `aibook.rl.dp`: value iteration, policy iteration, exact policy evaluation, finite horizons;
- `aibook.rl.tabular`: epsilon-greedy, Q-learning, Sarsa;
- `aibook.rl.dqn`: replay buffer, Q-network, target network, Huber loss, training loop;
- `aibook.rl.mcts`: tic-tac-toe, minimax and UCT.
- `aibook.rl.pg`: the policy-gradient theorem on a bandit (`exact_gradient`,
  `score_function_samples`, `exact_variance`, `optimal_baseline`), `discounted_returns`,
  `td_errors`, `gae`, the losses (`pg_loss`, `ppo_clip_loss`, `value_loss`, `entropy`) and
  RLHF's `kl_penalized_rewards`;
- `aibook.rl.rollout`: the `ActorCritic` network, the rollout runners (`VecRunner`,
  `EpisodeRunner`), `evaluate`, learning curves and `train_runs` (seeds side by side);
- `aibook.rl.reinforce`: REINFORCE with a learned baseline, and advantage actor-critic (A2C)
  with GAE;
- `aibook.rl.ppo`: PPO with the clipped objective, CleanRL-style, hyper-parameters at the top.

The submodules are imported on demand (`from aibook.rl import dqn`), so that importing
one does not pull in gymnasium or torch when it is not needed.
"""
