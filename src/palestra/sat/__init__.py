"""The SAT pillar: CNF formulas, DIMACS, SR(n) generators, DPLL and CDCL solvers sharing one
branching hook, and a DRUP proof checker.

    cnf.py         CNF, Status, SolveResult          the exchange types; the model check
    dimacs.py      read / parse / write DIMACS       DimacsError is FILE:LINE: message
    generators.py  SR(n) pairs and their labels      python-sat imported on first use
    heuristics.py  BranchingView, Heuristic          DLIS, JW-OS, VSIDS, random
    propagate.py   propagate                         two watched literals (CDCL, DRUP)
    dpll.py        solve_dpll                        steps = branching calls
    cdcl.py        solve_cdcl                        watched literals, 1-UIP, DRUP proof
    drup.py        check_drup                        reverse unit propagation, a Verdict
    diagnose.py    path_mistakes                     a heuristic's wrong picks, by depth

Importing this package has no side effects and does not import python-sat.
"""

from palestra.sat.cdcl import CDCLConfig, solve_cdcl
from palestra.sat.cnf import CNF, SolveResult, Status
from palestra.sat.dimacs import DimacsError, format_dimacs, parse_dimacs, read_dimacs, write_dimacs
from palestra.sat.dpll import solve_dpll
from palestra.sat.drup import DrupEvidence, check_drup
from palestra.sat.generators import LabeledCNF, SRPair, generate_sr_pair, label
from palestra.sat.heuristics import (
    DLIS,
    VSIDS,
    BranchingView,
    Heuristic,
    JeroslowWang,
    RandomHeuristic,
)

__all__ = [
    "CNF",
    "DLIS",
    "VSIDS",
    "BranchingView",
    "CDCLConfig",
    "DimacsError",
    "DrupEvidence",
    "Heuristic",
    "JeroslowWang",
    "LabeledCNF",
    "RandomHeuristic",
    "SRPair",
    "SolveResult",
    "Status",
    "check_drup",
    "format_dimacs",
    "generate_sr_pair",
    "label",
    "parse_dimacs",
    "read_dimacs",
    "solve_cdcl",
    "solve_dpll",
    "write_dimacs",
]
