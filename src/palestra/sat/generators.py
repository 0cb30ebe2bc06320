"""SR(n): random formulas in SAT/UNSAT pairs that differ in one literal (Selsam et al. 2019).

NeuroSAT's generator (``gen_sr_dimacs.py``), for ``n`` variables::

    F := []
    repeat:
        k := 1 + Bernoulli(0.7) + Geometric(0.4)      clause width, Geometric on {1, 2, ...}
        C := k distinct variables, uniform, each negated with probability 1/2
        if F + [C] is unsatisfiable (MiniSat): stop
        F := F + [C]
    UNSAT formula: F + [C]
    SAT formula:   F + [C'] where C' is C with its first literal negated

The SAT member is satisfiable: every model of ``F`` falsifies ``C`` (else ``F + [C]`` would be
satisfiable), so it makes the negated first literal true and satisfies ``C'``.

The ``"hard"`` variant of Jaszczur, Łuszczyk & Michalewski 2019 ("Neural heuristics for SAT
solving") draws widths ``2 + Bernoulli(0.3) + Geometric(0.4)``, at least 3. Widths are capped
at ``n``.

``label`` adds the supervision targets: satisfiability, and for every literal whether the
formula with that literal fixed true is satisfiable (MiniSat under that assumption). Requires
python-sat (``pip install palestra[sat]``), imported when first used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from palestra.sat.cnf import CNF

__all__ = ["LabeledCNF", "SRPair", "clause_width", "generate_sr_pair", "label"]

Variant = Literal["neurosat", "hard"]


@dataclass(frozen=True)
class SRPair:
    """Two formulas over the same variables, equal but for the first literal of the last clause."""

    sat: CNF
    unsat: CNF


@dataclass(frozen=True)
class LabeledCNF:
    """A formula with its labels.

    ``literal_sat[0, v - 1]`` says whether the formula with ``v`` true is satisfiable,
    ``literal_sat[1, v - 1]`` the same for ``-v``; flattened, positives come first as in
    NeuroSAT's literal order. All False for an unsatisfiable formula.
    """

    cnf: CNF
    satisfiable: bool
    literal_sat: np.ndarray  # [2, num_vars] bool

    def literal_label(self, lit: int) -> bool:
        return bool(self.literal_sat[0 if lit > 0 else 1, abs(lit) - 1])


def clause_width(rng: np.random.Generator, variant: Variant = "neurosat") -> int:
    """One clause width: ``1 + Bernoulli(0.7) + Geometric(0.4)`` or, for ``"hard"``,
    ``2 + Bernoulli(0.3) + Geometric(0.4)``."""
    if variant == "neurosat":
        return 1 + int(rng.random() < 0.7) + int(rng.geometric(0.4))
    if variant == "hard":
        return 2 + int(rng.random() < 0.3) + int(rng.geometric(0.4))
    raise ValueError(f"unknown SR variant {variant!r}, expected 'neurosat' or 'hard'")


def generate_sr_pair(
    num_vars: int, rng: np.random.Generator, variant: Variant = "neurosat"
) -> SRPair:
    """One SR(``num_vars``) pair (see the module docstring); reproducible given ``rng``."""
    from pysat.solvers import Minisat22

    if num_vars < 1:
        raise ValueError(f"num_vars must be >= 1, got {num_vars}")
    clauses: list[list[int]] = []
    with Minisat22() as solver:
        while True:
            k = min(clause_width(rng, variant), num_vars)
            variables = rng.choice(num_vars, size=k, replace=False) + 1
            signs = rng.random(k) < 0.5
            clause = [int(v) if s else -int(v) for v, s in zip(variables, signs, strict=True)]
            solver.add_clause(clause)
            if not solver.solve():
                break
            clauses.append(clause)
    flipped = [-clause[0], *clause[1:]]
    return SRPair(sat=CNF(num_vars, [*clauses, flipped]), unsat=CNF(num_vars, [*clauses, clause]))


def label(cnf: CNF) -> LabeledCNF:
    """Label ``cnf`` by MiniSat: satisfiable, and satisfiable with each literal fixed true.

    Literals true in a model already found are labelled without another call.
    """
    from pysat.solvers import Minisat22

    n = cnf.num_vars
    literal_sat = np.zeros((2, n), dtype=bool)
    with Minisat22(bootstrap_with=cnf.clauses) as solver:
        satisfiable = bool(solver.solve())
        if satisfiable:
            _mark(literal_sat, solver.get_model(), n)
            for lit in [v for v in range(1, n + 1)] + [-v for v in range(1, n + 1)]:
                row = 0 if lit > 0 else 1
                if literal_sat[row, abs(lit) - 1]:
                    continue
                if solver.solve(assumptions=[lit]):
                    _mark(literal_sat, solver.get_model(), n)
    return LabeledCNF(cnf, satisfiable, literal_sat)


def _mark(literal_sat: np.ndarray, model: list[int] | None, n: int) -> None:
    for lit in model or ():
        if 0 < abs(lit) <= n:
            literal_sat[0 if lit > 0 else 1, abs(lit) - 1] = True
