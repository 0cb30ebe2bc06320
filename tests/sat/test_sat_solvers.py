"""DPLL and CDCL against MiniSat: answers agree, models satisfy, UNSAT proofs check."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from palestra.core.data import expected as dataset_path
from palestra.sat.cdcl import CDCLConfig, luby, solve_cdcl
from palestra.sat.cnf import CNF, Status
from palestra.sat.dimacs import read_dimacs
from palestra.sat.dpll import solve_dpll
from palestra.sat.drup import check_drup
from palestra.sat.heuristics import DLIS, VSIDS, BranchingView, JeroslowWang, RandomHeuristic

SATLIB = dataset_path("satlib")  # PALESTRA_DATA or ../shared/data beside the checkout


def satlib_files(folder: str, count: int) -> list[Path]:
    """The first ``count`` files of a SATLIB family ([] when the satlib data set is not found)."""
    return sorted((SATLIB / folder).glob("*.cnf"))[:count] if (SATLIB / folder).is_dir() else []


pysat_solvers = pytest.importorskip("pysat.solvers", reason="python-sat is not installed")


def minisat(cnf: CNF) -> bool:
    with pysat_solvers.Minisat22(bootstrap_with=cnf.clauses) as solver:
        return bool(solver.solve())


def sr_formulas() -> list[CNF]:
    from palestra.sat.generators import generate_sr_pair

    rng = np.random.default_rng(2024)
    out = []
    for n in range(10, 41, 2):
        for variant in ("neurosat", "hard"):
            for _ in range(3 if variant == "neurosat" else 1):
                pair = generate_sr_pair(n, rng, variant)  # type: ignore[arg-type]
                out += [pair.sat, pair.unsat]
    return out


CORPUS = {
    "sr": sr_formulas(),
    "uf20": [read_dimacs(p) for p in satlib_files("uf20", 100)],
    "uf50": [read_dimacs(p) for p in satlib_files("uf50", 40)],
    "uuf50": [read_dimacs(p) for p in satlib_files("uuf50", 60)],
}


def check_answer(cnf: CNF, status: Status, model: list[int] | None, expected: bool) -> None:
    assert status is (Status.SATISFIABLE if expected else Status.UNSATISFIABLE)
    if expected:
        assert model is not None and len(model) == cnf.num_vars
        assert cnf.check_model(model)
    else:
        assert model is None


@pytest.mark.parametrize("family", list(CORPUS))
def test_agree_with_minisat(family: str) -> None:
    formulas = CORPUS[family]
    if not formulas:
        pytest.skip(f"no {family} formulas (SATLIB not found: palestra data list)")
    for i, cnf in enumerate(formulas):
        expected = minisat(cnf)
        r = solve_dpll(cnf)
        check_answer(cnf, r.status, r.model, expected)
        for config in (CDCLConfig(), CDCLConfig(vsids=True, restarts=True, luby_unit=8)):
            c = solve_cdcl(cnf, config=config)
            check_answer(cnf, c.status, c.model, expected)
            if not expected:
                assert c.proof is not None and c.proof[-1] == "0"
                verdict = check_drup(cnf, c.proof)
                assert verdict.accepted, (family, i, verdict)
                assert verdict.evidence.line == len(c.proof)


def test_other_heuristics_agree() -> None:
    for i, cnf in enumerate(CORPUS["sr"][:30]):
        expected = minisat(cnf)
        for h in (DLIS(), VSIDS(), RandomHeuristic(i), lambda view: view.unassigned()[-1]):
            r = solve_dpll(cnf, h)
            check_answer(cnf, r.status, r.model, expected)
        for h in (DLIS(), RandomHeuristic(i), lambda view: -view.unassigned()[0]):
            c = solve_cdcl(cnf, h)
            check_answer(cnf, c.status, c.model, expected)
            if not expected:
                assert check_drup(cnf, c.proof or []).accepted


@pytest.mark.parametrize("solve", [solve_dpll, solve_cdcl])
def test_edge_formulas(solve) -> None:  # type: ignore[no-untyped-def]
    assert solve(CNF(0, [])).status is Status.SATISFIABLE
    r = solve(CNF(3, []))
    assert r.status is Status.SATISFIABLE and len(r.model) == 3
    assert solve(CNF(2, [[1], []])).status is Status.UNSATISFIABLE
    assert solve(CNF(1, [[1], [-1]])).status is Status.UNSATISFIABLE
    cnf = CNF(2, [[1, -1], [2, 2]])
    r = solve(cnf)
    assert r.status is Status.SATISFIABLE and 2 in r.model and cnf.check_model(r.model)
    r = solve(CNF(3, [[1, 2, -2], [-3, -3]]))
    assert r.status is Status.SATISFIABLE and -3 in r.model


def test_cdcl_trivial_proofs() -> None:
    for cnf in (CNF(2, [[1], []]), CNF(1, [[1], [-1]]), CNF(2, [[1, 2], [-1, 2], [-2]])):
        r = solve_cdcl(cnf)
        assert r.status is Status.UNSATISFIABLE and r.decisions == 0
        assert check_drup(cnf, r.proof or []).accepted


def test_dpll_steps_and_cap() -> None:
    # Solved by unit propagation and pure literals alone: no step.
    r = solve_dpll(CNF(3, [[1], [-1, 2], [3, 2]]))
    assert (r.status, r.steps, r.decisions) == (Status.SATISFIABLE, 0, 0)
    # The 2^2 clauses over two variables: one step, both branches fail.
    r = solve_dpll(CNF(2, [[1, 2], [1, -2], [-1, 2], [-1, -2]]))
    assert (r.status, r.steps, r.decisions, r.conflicts) == (Status.UNSATISFIABLE, 1, 2, 2)
    hard = CORPUS["uuf50"][0] if CORPUS["uuf50"] else CORPUS["sr"][-1]
    full = solve_dpll(hard)
    assert full.steps > 3
    capped = solve_dpll(hard, max_steps=3)
    assert (capped.status, capped.steps, capped.model) == (Status.UNKNOWN, 3, None)
    assert capped.steps <= capped.decisions <= 2 * capped.steps
    assert solve_dpll(hard, max_steps=full.steps).status is full.status


def test_cdcl_budgets() -> None:
    hard = CORPUS["uuf50"][0] if CORPUS["uuf50"] else CORPUS["sr"][-1]
    r = solve_cdcl(hard, config=CDCLConfig(max_conflicts=2))
    assert (r.status, r.conflicts) == (Status.UNKNOWN, 3)
    r = solve_cdcl(hard, config=CDCLConfig(max_decisions=1))
    assert (r.status, r.decisions) == (Status.UNKNOWN, 1)
    r = solve_cdcl(hard, config=CDCLConfig(proof=False))
    assert r.status is Status.UNSATISFIABLE and r.proof is None and r.learned > 0


def test_cdcl_restarts_happen() -> None:
    hard = CORPUS["uuf50"][0] if CORPUS["uuf50"] else CORPUS["sr"][-1]
    r = solve_cdcl(hard, config=CDCLConfig(vsids=True, restarts=True, luby_unit=2))
    assert r.status is Status.UNSATISFIABLE and r.restarts > 0
    assert check_drup(hard, r.proof or []).accepted


def test_vsids_option_excludes_heuristic() -> None:
    with pytest.raises(ValueError, match="vsids"):
        solve_cdcl(CNF(1, []), DLIS(), CDCLConfig(vsids=True))


@pytest.mark.parametrize("solve", [solve_dpll, solve_cdcl])
def test_bad_pick_fails_loudly(solve) -> None:  # type: ignore[no-untyped-def]
    cnf = CNF(3, [[1, 2, 3], [-1, -2, -3], [1, -2, 3]])
    for bad in (0, 4, -7):
        with pytest.raises(ValueError, match="heuristic picked"):
            solve(cnf, lambda view, bad=bad: bad)


def test_luby() -> None:
    assert [luby(i) for i in range(15)] == [1, 1, 2, 1, 1, 2, 4, 1, 1, 2, 1, 1, 2, 4, 8]


class RecordingView:
    """Checks, at each decision, that the view shows exactly the current formula."""

    def __init__(self, cnf: CNF) -> None:
        self.cnf = cnf
        self.calls = 0

    def pick(self, view: BranchingView) -> int:
        self.calls += 1
        true = set(view.assignment())
        assert len(true) == len(view.assignment())
        free = set(view.unassigned())
        assert free == {v for v in range(1, view.num_vars + 1) if v not in true and -v not in true}
        expected = [
            [x for x in c if abs(x) in free]
            for c in self.cnf.clauses
            if true.isdisjoint(c) and not any(-x in c for x in c)
        ]
        assert sorted(map(sorted, view.clauses())) == sorted(map(sorted, expected))
        for v in range(1, view.num_vars + 1):
            assert view.value(v) == (True if v in true else False if -v in true else None)
        return JeroslowWang().pick(view)


@pytest.mark.parametrize("solve", [solve_dpll, solve_cdcl])
def test_view_is_the_current_formula(solve) -> None:  # type: ignore[no-untyped-def]
    for cnf in CORPUS["sr"][:12]:
        recorder = RecordingView(cnf)
        solve(cnf, recorder)
        assert recorder.calls > 0


def test_one_result_type_with_the_counts_each_solver_keeps() -> None:
    cnf = CNF(2, [[1, 2], [-1, 2], [1, -2]])
    d, c = solve_dpll(cnf), solve_cdcl(cnf)
    assert (d.solver, c.solver) == ("dpll", "cdcl") and d.model == c.model == [1, 2]
    assert d.steps is not None and d.propagations is None and d.learned is d.restarts is None
    assert c.steps is None and c.propagations is not None and c.learned is not None
    assert c.restarts == 0 and c.guided is None and d.guided is None
    assert not d.checked and not c.checked  # the solvers do not check themselves


def test_check_answer_marks_verified_answers_and_raises_on_wrong_ones() -> None:
    from palestra.sat.solve import check_answer as verify  # this file has its own check_answer

    cnf = CNF(2, [[1, 2], [-1, 2], [1, -2]])
    r = verify(cnf, solve_cdcl(cnf))
    assert r.checked and r.model == [1, 2]
    with pytest.raises(
        RuntimeError, match=r"cdcl returned .*: clause 0 \(1 2 0\) is not satisfied"
    ):
        verify(cnf, dataclasses.replace(r, model=[-1, -2], checked=False))
    xor = CNF(2, [[1, 2], [-1, 2], [1, -2], [-1, -2]])
    u = solve_cdcl(xor)
    assert verify(xor, u).checked
    with pytest.raises(RuntimeError, match="DRUP checking: lemma '0' is not RUP"):
        verify(xor, dataclasses.replace(u, proof=["0"]))
    assert not verify(xor, solve_dpll(xor)).checked  # no proof to check
