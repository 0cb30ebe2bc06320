"""The connection world: legal actions, clones, inference counts, checked proofs, golden trace."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from palestra.core.golden import assert_golden, playthrough
from palestra.core.world import State, make_world
from palestra.logic.syntax import Fn, Lit, Var
from palestra.prove.checker import check
from palestra.prove.world import Action, ConnectionState, connection_world

BUILTIN = Path(__file__).resolve().parents[2] / "src" / "palestra" / "data" / "tptp" / "m2k"
GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"

a, b = Fn("a"), Fn("b")
X, Y = Var("X"), Var("Y")


def lit(s: str, *args: Fn | Var) -> Lit:
    return Lit(not s.startswith("-"), Fn(s.lstrip("-"), tuple(args)))


# p(a) and (p(X) -> q(X)) imply q(a), in leanCoP's positive representation (DNF)
SMALL = [[lit("-p", a)], [lit("p", X), lit("-q", X)], [lit("q", a)]]


def small() -> ConnectionState:
    return connection_world([tuple(c) for c in SMALL])


def test_registered_and_speaks_the_state_contract() -> None:
    state = make_world("connection", matrix=[tuple(c) for c in SMALL])
    assert isinstance(state, State)
    assert isinstance(state, ConnectionState)


def test_start_actions_are_extensions_into_start_clauses() -> None:
    state = small()
    # no conjecture markers: every clause without negative literals is a start clause
    assert state.legal_actions() == [Action("ext", 3)]
    assert not state.is_terminal()
    state.apply(Action("ext", 3))
    assert str(state).startswith("goal q(a)")
    assert state.legal_actions() == [Action("ext", 2)]


def test_a_small_proof_closes_and_passes_the_checker() -> None:
    state = small()
    for _ in range(3):
        state.apply(state.legal_actions()[0])
    assert state.is_terminal() and state.is_proved() and state.reward() == 1.0
    assert state.inferences == 3
    proof = state.proof()
    assert check([tuple(c) for c in SMALL], proof).accepted
    assert proof.substitution == {"X_1": a}


def test_reduction_actions_name_path_positions() -> None:
    # -p(a) and p(X)|... : the goal p(a) below -p(X) is closed by a reduction
    m = [(lit("p", X), lit("q", X)), (lit("-q", Y), lit("-p", Y))]
    state = connection_world(m, max_depth=3)
    state.apply(Action("ext", 0))  # start clause [#, p(X), q(X)]: # connects to -#
    assert str(state).startswith("goal p(")
    exts = state.legal_actions()
    assert all(x.kind == "ext" for x in exts)
    state.apply(exts[0])  # p(X) into -p(Y) of [-q(Y), -p(Y)]: goal -q(X)
    reds = [x for x in state.legal_actions() if x.kind == "red"]
    assert reds == [] or all(0 <= x.ref < state.depth() for x in reds)


def test_clone_is_independent() -> None:
    state = connection_world(path=BUILTIN / "t12_yellow_0.p")
    state.apply(state.legal_actions()[0])
    before = (str(state), state.legal_actions(), state.inferences)
    copy = state.clone()
    rng = random.Random(1)
    while not copy.is_terminal():
        copy.apply(rng.choice(copy.legal_actions()))
    assert (str(state), state.legal_actions(), state.inferences) == before
    # and the other way round: the original moves on, the clone is untouched
    copy2 = state.clone()
    snapshot = (str(copy2), copy2.legal_actions())
    state.apply(state.legal_actions()[-1])
    assert (str(copy2), copy2.legal_actions()) == snapshot


def test_inferences_count_one_per_step_and_the_limit_is_terminal() -> None:
    state = connection_world(path=BUILTIN / "t10_orders_2.p", inference_limit=3)
    for k in range(3):
        assert state.inferences == k
        if state.is_terminal():
            break
        state.apply(state.legal_actions()[0])
    else:
        assert state.inferences == 3
        assert state.is_terminal() and state.legal_actions() == []
        assert state.reward() == 0.0 or state.is_proved()


def test_illegal_action_is_refused() -> None:
    with pytest.raises(ValueError, match="not a legal action"):
        small().apply(Action("red", 0))


def test_depth_bound_removes_deep_extensions() -> None:
    deep = connection_world(path=BUILTIN / "t10_orders_2.p", max_depth=1)
    deep.apply(deep.legal_actions()[0])
    # path holds -# only: depth 1 reached, only ground clauses and reductions remain
    for x in deep.legal_actions():
        assert x.kind == "red" or deep.problem.entry[x.ref][2]


def _random_proofs(path: Path, tries: int, seed: int, **kw: object) -> int:
    start = connection_world(path=path, **kw)  # type: ignore[arg-type]
    rng = random.Random(seed)
    found = 0
    for _ in range(tries):
        s = start.clone()
        while not s.is_terminal():
            s.apply(rng.choice(s.legal_actions()))
        if s.is_proved():
            verdict = check(start.problem.matrix, s.proof())
            assert verdict.accepted, f"{path.stem}: {verdict.reason}"
            found += 1
    return found


def test_random_playouts_that_close_pass_the_checker() -> None:
    proved = [p.stem for p in sorted(BUILTIN.glob("*.p")) if _random_proofs(p, 60, 3, max_depth=6)]
    assert len(proved) >= 4, proved


def test_mcts_proofs_on_shared_m2k_pass_the_checker(m2k: Path) -> None:
    """Proofs closed by MCTS (its random rollouts or its tree) on a sample of M2k."""
    from palestra.core.search import mcts

    files = sorted(m2k.glob("*.p"))
    proved = 0
    for path in random.Random(0).sample(files, 40):
        start = connection_world(path=path, max_depth=6)
        result = mcts(start, budget=1500, playouts_per_step=100, seed=0)
        if result.solved:
            assert isinstance(result.solution, ConnectionState)
            verdict = check(start.problem.matrix, result.solution.proof())
            assert verdict.accepted, f"{path.stem}: {verdict.reason}"
            proved += 1
    assert proved >= 8


def test_golden_playthrough() -> None:
    state = connection_world(path=BUILTIN / "t29_xboole_1.p")
    text = playthrough(state, seed=2, max_steps=40)
    assert_golden(text, GOLDEN / "connection_t29_xboole_1_seed2.txt")
