"""Monte Carlo Tree Search (UCT) on tic-tac-toe, with minimax as the perfect opponent.

A board is a tuple of 9 ints, squares numbered row by row
    0 | 1 | 2
    3 | 4 | 5
    6 | 7 | 8
holding +1 (X), -1 (O) or 0 (empty). X moves first, so the player to move follows
from the board. A player is any callable board -> square.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from aibook.device import seed_for

Board = tuple[int, ...]
EMPTY: Board = (0,) * 9
LINES = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]


@dataclass
class MCTSConfig:
    iterations: int = 1_000  # simulations per move
    c: float = math.sqrt(2)  # exploration constant of UCT
    seed: int = 0


# --- the game ---------------------------------------------------------------------------------

def to_move(board: Board) -> int:
    """+1 when X is to move, -1 when O is."""
    return 1 if sum(board) == 0 else -1


@cache  # only 5478 boards are reachable; searches ask about the same ones again and again
def winner(board: Board) -> int | None:
    """+1 or -1 for a win, 0 for a draw (full board), None while the game goes on."""
    for i, j, k in LINES:
        if board[i] != 0 and board[i] == board[j] == board[k]:
            return board[i]
    return 0 if 0 not in board else None


def legal_moves(board: Board) -> list[int]:
    return [i for i, v in enumerate(board) if v == 0]


def play(board: Board, move: int) -> Board:
    """The board after the player to move takes square `move` (0..8)."""
    if not isinstance(move, int | np.integer) or not 0 <= move < 9:
        raise ValueError(f"play: expected a square 0..8, got {move!r}")
    if winner(board) is not None:
        raise ValueError(f"play: the game is over (winner {winner(board)}), no move allowed")
    if board[move] != 0:
        raise ValueError(f"play: square {move} is taken; legal moves are {legal_moves(board)}")
    return board[:move] + (to_move(board),) + board[move + 1:]


# --- perfect play -----------------------------------------------------------------------------

@cache
def minimax(board: Board) -> int:
    """The game's value with perfect play from here, from X's point of view: +1, 0 or -1."""
    w = winner(board)
    if w is not None:
        return w
    values = [minimax(play(board, m)) for m in legal_moves(board)]
    return max(values) if to_move(board) == 1 else min(values)


def minimax_player(board: Board) -> int:
    """A perfect player: the first square (lowest index) that keeps the best value."""
    p = to_move(board)
    return max(legal_moves(board), key=lambda m: p * minimax(play(board, m)))


def random_player(seed: int = 0) -> Callable[[Board], int]:
    rng = np.random.default_rng(seed_for(seed))
    return lambda board: int(rng.choice(legal_moves(board)))


# --- UCT --------------------------------------------------------------------------------------

def uct_score(W: float, N: int, N_parent: int, c: float) -> float:
    """Upper confidence bound for trees: W/N + c * sqrt(ln N_parent / N); inf when N = 0.

    W: total reward of the child from the point of view of the player who moved into it.
    """
    if N == 0:
        return math.inf
    return W / N + c * math.sqrt(math.log(N_parent) / N)


@dataclass
class Node:
    board: Board
    parent: Node | None = None
    move: int | None = None  # the move that led here
    N: int = 0  # visits
    W: float = 0.0  # total reward for the player who made `move`
    children: list[Node] = field(default_factory=list)
    untried: list[int] = field(default_factory=list)


def mcts_search(board: Board, cfg: MCTSConfig | None = None,
                rng: np.random.Generator | None = None) -> Node:
    """Run cfg.iterations rounds of select / expand / simulate / backpropagate. -> the root."""
    cfg = cfg or MCTSConfig()
    rng = rng or np.random.default_rng(seed_for(cfg.seed))
    if winner(board) is not None:
        raise ValueError("mcts_search: the game is already over")
    root = Node(board, untried=legal_moves(board))
    for _ in range(cfg.iterations):
        node = root
        # 1. selection: follow the best UCT child while the node is fully expanded
        while not node.untried and node.children:
            node = max(node.children, key=lambda ch: uct_score(ch.W, ch.N, node.N, cfg.c))
        # 2. expansion: add one untried move
        if node.untried:
            move = node.untried.pop(int(rng.integers(len(node.untried))))
            child_board = play(node.board, move)
            child = Node(child_board, parent=node, move=move,
                         untried=legal_moves(child_board) if winner(child_board) is None else [])
            node.children.append(child)
            node = child
        # 3. simulation: random moves to the end
        b = node.board
        while (result := winner(b)) is None:
            moves = legal_moves(b)
            b = play(b, moves[int(rng.integers(len(moves)))])
        # 4. backpropagation: +1 win, 0.5 draw, 0 loss for the player who moved into each node
        while node is not None:
            node.N += 1
            if node.parent is not None:
                mover = to_move(node.parent.board)
                node.W += 0.5 if result == 0 else float(result == mover)
            node = node.parent
    return root


def mcts_player(cfg: MCTSConfig | None = None) -> Callable[[Board], int]:
    """A player that searches cfg.iterations simulations and plays the most visited move."""
    cfg = cfg or MCTSConfig()
    rng = np.random.default_rng(seed_for(cfg.seed))

    def move(board: Board) -> int:
        root = mcts_search(board, cfg, rng)
        return max(root.children, key=lambda ch: ch.N).move

    return move


def play_game(x_player: Callable[[Board], int], o_player: Callable[[Board], int]
              ) -> tuple[int, list[Board]]:
    """Play one game. -> (winner: +1 X, -1 O, 0 draw; the boards from empty to the end)."""
    boards = [EMPTY]
    while winner(boards[-1]) is None:
        player = x_player if to_move(boards[-1]) == 1 else o_player
        boards.append(play(boards[-1], int(player(boards[-1]))))
    return winner(boards[-1]), boards
