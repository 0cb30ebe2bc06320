"""MCTS over the world contract: the UCT formula, big steps, seeding, and finding wins."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from palestra.core.search import Node, mcts, uct_score
from palestra.sat.dimacs import read_dimacs
from palestra.sat.world import SatState

DATA = Path(__file__).resolve().parents[1] / "data"
BUILTIN = Path(__file__).resolve().parents[2] / "src" / "palestra" / "data" / "tptp" / "m2k"


@dataclass
class Corridor:
    """Depth-``length`` binary choices; only the all-zero line wins."""

    length: int
    moves: list[int] = field(default_factory=list)

    def legal_actions(self) -> list[int]:
        return [] if self.is_terminal() else [0, 1]

    def apply(self, action: int) -> None:
        self.moves.append(action)

    def is_terminal(self) -> bool:
        return len(self.moves) == self.length or any(self.moves)

    def reward(self) -> float:
        return 1.0 if len(self.moves) == self.length and not any(self.moves) else 0.0

    def clone(self) -> Corridor:
        return Corridor(self.length, list(self.moves))


class FixedPriors:
    """Priors ``(0.8, 0.2)``, value 0.5: a hand-made evaluator."""

    def prior(self, state: Corridor) -> list[float]:
        return [0.8, 0.2][: len(state.legal_actions())]

    def value(self, state: Corridor) -> float:
        return 0.5


def test_uct_formula_on_a_hand_built_tree() -> None:
    root = Node(None, None, 1.0, 0, None)
    root.n = 10
    a = Node(root, 0, 0.45, 1, None)
    a.n, a.w = 6, 3.0
    b = Node(root, 1, 0.55, 1, None)
    b.n, b.w = 4, 1.0
    c = Node(root, 2, 0.1, 1, None)
    assert uct_score(a, 10, 1.0) == pytest.approx(0.5 + 0.45 * math.sqrt(math.log(10) / 6))
    assert uct_score(b, 10, 2.0) == pytest.approx(0.25 + 2 * 0.55 * math.sqrt(math.log(10) / 4))
    assert uct_score(c, 10, 1.0) == math.inf  # unvisited first
    assert uct_score(c, 10, 1.0, fpu=0.0) == pytest.approx(0.1 * math.sqrt(math.log(10)))
    # with cp = 1 child a is chosen, with a large cp the less visited b
    assert uct_score(a, 10, 1.0) > uct_score(b, 10, 1.0)
    assert uct_score(b, 10, 10.0) > uct_score(a, 10, 10.0)


def test_visits_follow_the_priors_and_values() -> None:
    r = mcts(Corridor(1), FixedPriors(), playouts_per_step=10**6, budget=40, min_visits=1)
    assert r.solved  # the 0 child is a terminal win
    r = mcts(Corridor(3), FixedPriors(), playouts_per_step=10**6, budget=3)
    assert r.inferences <= 3


def test_big_steps_commit_to_the_most_visited_child() -> None:
    r = mcts(Corridor(12), None, playouts_per_step=5, budget=10_000, rollout_depth=0, seed=1)
    assert r.solved
    assert r.big_steps >= 1
    assert r.root_actions == [0] * r.big_steps  # dead 1-children are never committed to
    big = [n for n in r.nodes if n.big_step]
    assert len(big) == r.big_steps
    assert [n.depth for n in big] == list(range(r.big_steps))
    for n in big:
        assert sum(n.visits) > 0 and n.actions == [0, 1]


def test_budget_counts_tree_and_rollout_applies() -> None:
    r = mcts(Corridor(40), None, playouts_per_step=10**6, budget=100, rollout_depth=5)
    assert not r.solved and r.inferences == 100


def test_seeded_determinism() -> None:
    from palestra.prove.world import connection_world

    def once(seed: int) -> tuple:
        r = mcts(
            connection_world(path=BUILTIN / "t48_funct_1.p"),
            budget=3000,
            playouts_per_step=100,
            seed=seed,
        )
        return r.solved, r.inferences, r.playouts, [str(a) for a in r.root_actions]

    assert once(7) == once(7)


def test_finds_the_win_on_the_sat_world() -> None:
    cnf = read_dimacs(DATA / "sat" / "uf20-01.cnf")
    state = SatState(cnf)
    r = mcts(state, None, cp=1.0, playouts_per_step=200, budget=20_000, seed=0)
    assert r.solved
    assert isinstance(r.solution, SatState) and cnf.check_model(r.solution.model())
    assert state.assignment == {} or not state.is_terminal()  # the start state is untouched
    r2 = mcts(SatState(cnf), None, cp=1.0, playouts_per_step=200, budget=20_000, seed=0)
    assert (r2.inferences, r2.playouts) == (r.inferences, r.playouts)


def test_finds_a_proof_in_the_connection_world() -> None:
    from palestra.prove.checker import check
    from palestra.prove.world import ConnectionState, connection_world

    start = connection_world(path=BUILTIN / "t48_funct_1.p")
    r = mcts(start, budget=20_000, playouts_per_step=200, seed=0)
    assert r.solved and isinstance(r.solution, ConnectionState)
    assert check(start.problem.matrix, r.solution.proof()).accepted
    assert start.inferences == 0


class Trap(Corridor):
    """Action 0 first opens a finite subtree with no win (that looks good to the evaluator);
    action 1 first, then zeros, wins at depth 4."""

    def __init__(self, moves: list[int] | None = None) -> None:
        super().__init__(4, list(moves or []))

    def is_terminal(self) -> bool:
        m = self.moves
        return len(m) == 4 or (len(m) > 1 and m[0] == 1 and any(m[1:]))

    def reward(self) -> float:
        m = self.moves
        return 1.0 if len(m) == 4 and m[0] == 1 and not any(m[1:]) else 0.0

    def clone(self) -> Trap:
        return type(self)(self.moves)


class LuresIntoTheTrap:
    def prior(self, state: Trap) -> list[float]:
        return [0.5, 0.5][: len(state.legal_actions())]

    def value(self, state: Trap) -> float:
        return 0.9 if state.moves[:1] == [0] else 0.1


def test_backtracking_leaves_a_lost_big_step() -> None:
    kw = dict(playouts_per_step=4, budget=1000, seed=0)
    stuck = mcts(Trap(), LuresIntoTheTrap(), **kw)
    assert stuck.root_actions[0] == 0 and stuck.exhausted and not stuck.solved
    back = mcts(Trap(), LuresIntoTheTrap(), backtrack=True, **kw)
    assert back.root_actions[0] == 0  # the same first commitment, then back out of it
    assert back.solved and back.solution.moves == [1, 0, 0, 0]

    # a world with no win at all still ends: every line below the first root is lost
    class NoWin(Trap):
        def reward(self) -> float:
            return 0.0

    none = mcts(NoWin(), LuresIntoTheTrap(), backtrack=True, **kw)
    assert none.exhausted and not none.solved and none.inferences < 1000
