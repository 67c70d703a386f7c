"""The reinforcement-learning chapter: one readable file per algorithm family.

- `aibook.rl.envs`: `make(env_id)`, gymnasium.make with clear errors;
- `aibook.rl.dp`: value iteration, policy iteration, exact policy evaluation, finite horizons;
- `aibook.rl.tabular`: epsilon-greedy, Q-learning, Sarsa;
- `aibook.rl.dqn`: replay buffer, Q-network, target network, Huber loss, training loop;
- `aibook.rl.mcts`: tic-tac-toe, minimax and UCT.

The submodules are imported on demand (`from aibook.rl import dqn`), so that importing
one does not pull in gymnasium or torch when it is not needed.
"""
