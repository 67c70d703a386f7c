"""Tic-tac-toe, minimax and UCT: rules, perfect play, tactics of the search."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aibook.rl import mcts as M

X, O, _ = 1, -1, 0


def test_winner_finds_rows_columns_diagonals_and_draws():
    assert M.winner((X, X, X, O, O, _, _, _, _)) == X
    assert M.winner((O, X, X, O, X, _, O, _, _)) == O
    assert M.winner((X, O, O, _, X, _, _, _, X)) == X
    assert M.winner((X, O, X, X, O, O, O, X, X)) == 0
    assert M.winner(M.EMPTY) is None


def test_minimax_says_tic_tac_toe_is_a_draw():
    assert M.minimax(M.EMPTY) == 0
    assert M.minimax((X, X, _, O, O, _, _, _, _)) == X  # X to move wins at 2


def test_play_rejects_taken_squares_out_of_range_and_finished_games():
    with pytest.raises(ValueError, match=r"square 4 is taken; legal moves are \[0, 1"):
        M.play((_, _, _, _, X, _, _, _, _), 4)
    with pytest.raises(ValueError, match="expected a square 0..8, got 9"):
        M.play(M.EMPTY, 9)
    with pytest.raises(ValueError, match="the game is over"):
        M.play((X, X, X, O, O, _, _, _, _), 5)


def test_uct_score_is_mean_plus_exploration_bonus():
    assert M.uct_score(0.0, 0, 10, 1.4) == math.inf
    assert M.uct_score(3.0, 4, 20, 2.0) == pytest.approx(0.75 + 2.0 * math.sqrt(math.log(20) / 4))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mcts_takes_the_winning_move(seed):
    # X to move: 6 wins at once (2-4-6); it is not the lowest legal square (3), nor the last.
    board = (O, O, X, _, X, _, _, _, _)
    assert M.to_move(board) == X and M.winner(M.play(board, 6)) == X
    move = M.mcts_player(M.MCTSConfig(iterations=300, seed=seed))(board)
    assert move == 6
    # and with a threat of its own on the board, winning beats blocking: 2 wins, 5 only blocks
    board = (X, X, _, O, O, _, _, _, _)
    assert M.mcts_player(M.MCTSConfig(iterations=300, seed=seed))(board) == 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mcts_blocks_the_losing_move(seed):
    # O to move; X threatens 0-4-8, so O must take 8.
    board = (X, _, _, _, X, _, O, _, _)
    assert M.to_move(board) == O
    move = M.mcts_player(M.MCTSConfig(iterations=300, seed=seed))(board)
    assert move == 8


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 1000), n_moves=st.integers(0, 6))
def test_mcts_move_is_legal_and_repeats_with_its_seed(seed, n_moves):
    rng = np.random.default_rng(seed)
    board = M.EMPTY
    for _ in range(n_moves):  # a random position that is still open
        moves = M.legal_moves(board)
        nxt = M.play(board, int(rng.choice(moves)))
        if M.winner(nxt) is not None:
            break
        board = nxt
    cfg = M.MCTSConfig(iterations=60, seed=seed)
    root1, root2 = M.mcts_search(board, cfg), M.mcts_search(board, cfg)
    assert [(c.move, c.N, c.W) for c in root1.children] == \
        [(c.move, c.N, c.W) for c in root2.children]
    assert sum(c.N for c in root1.children) == root1.N == 60
    assert M.mcts_player(cfg)(board) in M.legal_moves(board)


def test_minimax_player_never_loses_to_random_play():
    for seed in range(10):
        w, _ = M.play_game(M.random_player(seed), M.minimax_player)
        assert w in (0, O)
