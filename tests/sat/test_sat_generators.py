"""SR(n) generators and labels, checked by brute force on small n."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from palestra.sat.cdcl import solve_cdcl
from palestra.sat.cnf import CNF, Status
from palestra.sat.generators import clause_width, generate_sr_pair, label

pytest.importorskip("pysat.solvers", reason="python-sat is not installed")


def brute_force(cnf: CNF) -> tuple[bool, np.ndarray]:
    """Satisfiable, and [2, n] satisfiable-with-literal-true, by enumerating assignments."""
    n = cnf.num_vars
    literal_sat = np.zeros((2, n), dtype=bool)
    for bits in itertools.product((False, True), repeat=n):
        model = [v + 1 if b else -(v + 1) for v, b in enumerate(bits)]
        if cnf.check_model(model):
            for v, b in enumerate(bits):
                literal_sat[0 if b else 1, v] = True
    return bool(literal_sat.any()) or (n == 0 and cnf.check_model([])), literal_sat


def test_clause_widths() -> None:
    rng = np.random.default_rng(0)
    neurosat = np.array([clause_width(rng, "neurosat") for _ in range(20000)])
    hard = np.array([clause_width(rng, "hard") for _ in range(20000)])
    assert neurosat.min() == 2 and hard.min() == 3
    # E = 1 + 0.7 + 1/0.4 = 4.2 and 2 + 0.3 + 2.5 = 4.8
    assert abs(neurosat.mean() - 4.2) < 0.05 and abs(hard.mean() - 4.8) < 0.05
    with pytest.raises(ValueError, match="variant"):
        clause_width(rng, "easy")  # type: ignore[arg-type]


@pytest.mark.parametrize("variant", ["neurosat", "hard"])
def test_pairs_and_labels_match_brute_force(variant: str) -> None:
    rng = np.random.default_rng(11)
    for n in (3, 5, 7, 9):
        for _ in range(3):
            pair = generate_sr_pair(n, rng, variant)  # type: ignore[arg-type]
            sat, unsat = pair.sat, pair.unsat
            assert sat.num_vars == unsat.num_vars == n
            assert sat.clauses[:-1] == unsat.clauses[:-1]
            assert sat.clauses[-1] == [-unsat.clauses[-1][0], *unsat.clauses[-1][1:]]
            low = 2 if variant == "neurosat" else 3
            assert all(min(low, n) <= len(c) <= n for c in sat.clauses)
            assert all(len({abs(x) for x in c}) == len(c) for c in sat.clauses)
            assert brute_force(CNF(n, sat.clauses[:-1]))[0]  # the prefix is satisfiable
            for cnf, expected in ((sat, True), (unsat, False)):
                labelled = label(cnf)
                truth, literal_sat = brute_force(cnf)
                assert labelled.satisfiable == truth == expected
                assert (labelled.literal_sat == literal_sat).all()
                assert labelled.literal_sat.shape == (2, n)
                lit = int(rng.integers(1, n + 1))
                assert labelled.literal_label(-lit) == literal_sat[1, lit - 1]
                assert solve_cdcl(cnf).status is (
                    Status.SATISFIABLE if expected else Status.UNSATISFIABLE
                )


def test_seeded_and_larger_n() -> None:
    a = generate_sr_pair(40, np.random.default_rng(3))
    b = generate_sr_pair(40, np.random.default_rng(3))
    assert a == b
    assert solve_cdcl(a.sat).status is Status.SATISFIABLE
    assert solve_cdcl(a.unsat).status is Status.UNSATISFIABLE
    labelled = label(a.sat)
    assert labelled.satisfiable and labelled.literal_sat.any(axis=0).all()
    for v in range(1, 41):  # spot-check a few labels by fixing the literal as a unit clause
        if v % 8 == 0:
            for lit in (v, -v):
                fixed = CNF(40, [*a.sat.clauses, [lit]])
                assert (solve_cdcl(fixed).status is Status.SATISFIABLE) == labelled.literal_label(
                    lit
                )


def test_unsat_labels_are_false_and_bad_n() -> None:
    assert not label(CNF(2, [[1], [-1]])).literal_sat.any()
    with pytest.raises(ValueError):
        generate_sr_pair(0, np.random.default_rng(0))
