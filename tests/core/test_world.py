"""The state contract, the world registry, and golden traces, on the SAT branching world."""

from __future__ import annotations

from pathlib import Path

import pytest

from palestra.core.errors import PalestraError
from palestra.core.evaluator import RolloutEvaluator
from palestra.core.golden import assert_golden, playthrough
from palestra.core.world import State, make_world, world_names
from palestra.sat.cnf import CNF
from palestra.sat.dimacs import read_dimacs

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def uf20() -> CNF:
    return read_dimacs(DATA / "sat" / "uf20-01.cnf")


def test_registry_makes_builtin_worlds(uf20: CNF) -> None:
    assert "sat" in world_names()
    state = make_world("sat", cnf=uf20)
    assert isinstance(state, State)
    with pytest.raises(PalestraError, match="unknown world 'nope'"):
        make_world("nope")


def test_clone_is_independent(uf20: CNF) -> None:
    state = make_world("sat", cnf=uf20)
    copy = state.clone()
    copy.apply(copy.legal_actions()[0])
    assert state.assignment == {} and copy.assignment
    assert state.legal_actions() != copy.legal_actions()


def test_terminal_states_are_checked_models_or_conflicts(uf20: CNF) -> None:
    for seed in range(20):
        state = make_world("sat", cnf=uf20)
        playthrough(state, seed=seed, max_steps=100)
        assert state.is_terminal() and state.legal_actions() == []
        if state.reward() == 1.0:
            assert uf20.check_model(state.model())
        else:
            assert state.conflict
            assert any(all(-lit in state.model() for lit in c) for c in uf20.clauses)


def test_unit_propagation_on_apply() -> None:
    state = make_world("sat", cnf=CNF(3, [[1, 2], [-1, 3], [-2, -3]]))
    state.apply(1)  # forces 3, then -2
    assert state.model() == [1, -2, 3]
    assert state.is_terminal() and state.reward() == 1.0


def test_rollouts_find_models_of_a_satisfiable_formula(uf20: CNF) -> None:
    value = RolloutEvaluator(n_rollouts=30, seed=0).value(make_world("sat", cnf=uf20))
    assert 0.0 < value <= 1.0


def test_golden_playthrough(uf20: CNF) -> None:
    trace = playthrough(make_world("sat", cnf=uf20), seed=5, max_steps=40)
    assert_golden(trace, DATA / "golden" / "sat_uf20-01_seed5.txt")


def test_golden_detects_a_change(tmp_path: Path, uf20: CNF) -> None:
    trace = playthrough(make_world("sat", cnf=uf20), seed=5)
    path = tmp_path / "t.txt"
    with pytest.raises(AssertionError, match="no golden trace"):
        assert_golden(trace, path)
    path.write_text(trace.replace("reward  0", "reward  1", 1))
    with pytest.raises(AssertionError, match="golden trace differs"):
        assert_golden(trace, path)
