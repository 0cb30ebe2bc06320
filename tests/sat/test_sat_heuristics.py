"""Branching heuristics on tiny formulas whose right answer is worked out by hand."""

from __future__ import annotations

import pytest

from palestra.sat.heuristics import (
    DLIS,
    VSIDS,
    BranchingView,
    JeroslowWang,
    RandomHeuristic,
    as_heuristic,
    restrict,
    top_literals,
)


def view_of(num_vars: int, clauses: list[list[int]], true: list[int] = ()) -> BranchingView:  # type: ignore[assignment]
    """A view of ``clauses`` under the literals ``true``, as a solver would build it."""
    value = [0] * (2 * num_vars + 1)
    for lit in true:
        value[lit], value[-lit] = 1, -1
    return BranchingView(num_vars, value, list(true), lambda: restrict(clauses, value))


# DLIS counts: 1 -> 3, 2 -> 2, 4 -> 2, -2 -> 2, ...  so DLIS picks 1.
# JW-OS: J(1) = 3/8, J(-2) = 1/4 + 1/4 = 1/2, J(2) = 1/8 + 1/8, ...  so JW-OS picks -2.
SPLIT = [[1, 2, 3], [1, 4, 5], [1, 2, 4], [-2, -3], [-2, 5]]


def test_dlis_and_jw_pick_the_expected_literal() -> None:
    assert DLIS().pick(view_of(5, SPLIT)) == 1
    assert JeroslowWang().pick(view_of(5, SPLIT)) == -2


def test_heuristics_read_the_current_formula() -> None:
    # With 2 true, [1,2,3], [1,2,4] are satisfied and [-2,-3] becomes the unit [-3]:
    # current formula [[1,4,5], [-3], [5]] -> DLIS ties 1, 4, 5, -3, 5 twice: picks 5.
    view = view_of(5, SPLIT, true=[2])
    assert view.clauses() == [[1, 4, 5], [-3], [5]]
    assert view.unassigned() == [1, 3, 4, 5]
    assert (view.value(2), view.value(-2), view.value(1)) == (True, False, None)
    assert DLIS().pick(view) == 5
    assert JeroslowWang().pick(view) == 5  # J(5) = 1/8 + 1/2 beats J(-3) = 1/2


def test_ties_go_to_smaller_variable_then_positive() -> None:
    assert DLIS().pick(view_of(3, [[-2, 3], [2, -3]])) == 2
    assert JeroslowWang().pick(view_of(3, [[-3, -1], [1, 3]])) == 1
    # No clause left: the first free variable.
    assert DLIS().pick(view_of(3, [[1]], true=[1])) == 2
    assert JeroslowWang().pick(view_of(3, [], true=[-1])) == 2


def test_scores_rank_literals_as_pick_does() -> None:
    # JW-OS on SPLIT: J(-2) = 1/2, then J(1) = J(5) = 3/8 (a tie: the smaller variable first),
    # then J(2) = J(-3) = J(4) = 1/4.
    jw = JeroslowWang().scores(view_of(5, SPLIT))
    assert top_literals(jw, 6) == [-2, 1, 5, 2, -3, 4]
    assert top_literals(jw, 1) == [JeroslowWang().pick(view_of(5, SPLIT))]
    dlis = DLIS().scores(view_of(5, SPLIT))
    assert dlis[1] == 3 and top_literals(dlis, 3) == [1, 2, -2]
    assert top_literals({3: 1.0, -3: 1.0, 2: 0.5}, 5) == [3, -3, 2]
    assert JeroslowWang().scores(view_of(3, [], true=[-1])) == {}


def test_view_is_lazy_and_cached() -> None:
    calls = []

    def residual() -> list[list[int]]:
        calls.append(1)
        return [[1]]

    view = BranchingView(2, [0] * 5, [], residual)
    assert RandomHeuristic(0).pick(view) in (1, -1, 2, -2)
    assert calls == []
    assert view.clauses() is view.clauses()
    assert calls == [1]
    assert view.saved_phase(1) is None
    phased = BranchingView(2, [0] * 5, [], residual, phases=[0, -1, 1])
    assert (phased.saved_phase(1), phased.saved_phase(2)) == (False, True)


def test_vsids_bumps_learned_literals() -> None:
    h = VSIDS(decay=0.5)
    view = view_of(4, [[1, 2], [1, 3], [-4, 2]])
    assert h.pick(view) == 1  # initial scores are occurrence counts: 1 and 2 have 2 each
    h.on_conflict([-4, 3])  # bump by 1: -4 and 3 at 2
    h.on_conflict([-4])  # bump by 2: -4 at 4
    assert h.pick(view) == -4
    after_4 = view_of(4, [[1, 2], [1, 3], [-4, 2]], true=[4])
    assert h.pick(after_4) == 1  # 1, 2, 3 all at 2: the smallest variable
    h.on_conflict([3, -1])  # bump by 4: 3 at 6
    assert h.pick(after_4) == 3
    h.bump = 1e101
    h.on_conflict([2])
    assert max(h.score or []) < 1e100


def test_random_is_seeded_and_free() -> None:
    view = view_of(6, [[1, 2, 3]], true=[2, -5])
    picks = [RandomHeuristic(7).pick(view) for _ in range(3)]
    assert len(set(picks)) == 1
    h = RandomHeuristic(3)
    seen = {h.pick(view) for _ in range(200)}
    assert seen == {1, -1, 3, -3, 4, -4, 6, -6}


def test_as_heuristic() -> None:
    h = DLIS()
    assert as_heuristic(h) is h
    wrapped = as_heuristic(lambda view: 3)
    assert wrapped.pick(view_of(3, [])) == 3
    with pytest.raises(TypeError):
        as_heuristic(42)  # type: ignore[arg-type]
