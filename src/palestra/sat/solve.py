"""``palestra sat solve FILE`` and ``palestra sat gen``.

``solve`` reads a DIMACS file, runs the chosen solver and checks the answer before printing
it. The default, ``--solver cadical``, is the fast answer: python-sat's CaDiCaL 1.9.5 on its
own (``plain.solve_plain``). The research solvers branch by ``--heuristic``: this package's
CDCL (its compiled core by default, ``--engine python`` the reference) and DPLL, and
``cadical-guided`` (CaDiCaL guided through python-sat's user propagator). The checks:

* a model must satisfy every clause of the formula (``CNF.check_model``, else ``RuntimeError``);
* a CaDiCaL refutation is accepted only with its LRAT proof verified by ``lrat.check_lrat``
  (where its hints fail, its lemmas by DRUP), a CDCL one with its DRUP proof verified by
  ``drup.check_drup`` (both compiled); with ``--no-check-proof`` it is printed unchecked
  (``c UNSAT unchecked`` and ``checked: false``). DPLL and guided CaDiCaL refutations have no
  proof and are reported with ``checked: false``.

Output is SAT-competition style (``c`` comments, ``s STATUS``, ``v ... 0`` model lines), or with
``json`` one object: ``file``, ``heuristic`` (``cadical`` for the default: its own) and the
solver's ``SolveResult.to_json()``:
``solver``, ``status``, ``model`` (DIMACS literals or null), ``decisions``, ``conflicts``,
``propagations``, ``steps`` (DPLL branching calls), ``learned``, ``restarts``, ``guided``,
``seconds`` (the solver's own wall time), ``checked`` and ``proof_format`` (``lrat``, ``drat``,
or null: DRUP lines or no proof). A count the solver does not keep is null (``steps`` for
CDCL and CaDiCaL, ``propagations`` for DPLL; see ``cnf.SolveResult``).

``gen`` writes SR(n) pairs as DIMACS files ``sr<n>-<i>-sat.cnf`` / ``sr<n>-<i>-unsat.cnf``.

Bad input is the user's to fix and never a traceback: a malformed or absurdly large file raises
``dimacs.DimacsError`` (a ``PalestraError``, ``FILE:LINE:COL: message``), a missing,
unreadable or directory path the ``OSError`` of ``open``, and ``palestra sat solve`` prints
either as one line ``error: ...`` with exit status 2 (``cli.main``), apart from the
SAT-competition statuses of real answers: 10 SATISFIABLE, 20 UNSATISFIABLE, 0 UNKNOWN. A model
or proof that fails its check is a solver bug: ``RuntimeError`` with its traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from palestra.core.errors import PalestraError
from palestra.core.verdict import Verdict
from palestra.sat.cnf import CNF, SolveResult, Status
from palestra.sat.config import SatGenConfig, SatSolveConfig
from palestra.sat.dimacs import MAX_VARIABLES, read_dimacs, write_dimacs
from palestra.sat.heuristics import DLIS, VSIDS, Heuristic, JeroslowWang, RandomHeuristic

__all__ = ["check_answer", "format_competition", "gen", "make_heuristic", "solve"]


def make_heuristic(
    name: str,
    model: str = "default",
    threshold: float = 0.3,
    seed: int = 0,
    rounds: int = 0,
    lookahead: int = 0,
    fail_first: bool = False,
) -> Heuristic:
    """The heuristic called ``name`` (dlis, jw, vsids, random, neural, hybrid); ``rounds``
    overrides the network's message-passing rounds (0: the model's own); ``lookahead > 0``
    makes the hybrid look one step ahead over JW-OS's best ``lookahead`` literals, with
    ``fail_first`` also on branches it believes refuted."""
    if lookahead and name != "hybrid":
        raise ValueError(f"lookahead applies to the hybrid heuristic only, not {name!r}")
    if name == "dlis":
        return DLIS()
    if name == "jw":
        return JeroslowWang()
    if name == "vsids":
        return VSIDS()
    if name == "random":
        return RandomHeuristic(seed)
    if name in ("neural", "hybrid"):
        import torch

        from palestra.sat.neural import Hybrid, NeuralHeuristic, load_model

        if "OMP_NUM_THREADS" not in os.environ:
            torch.set_num_threads(1)  # per-decision passes are tiny: threads only add overhead
        net = load_model(model, rounds)
        if name == "neural":
            return NeuralHeuristic(net)
        return Hybrid(net, threshold=threshold, lookahead=lookahead, fail_first=fail_first)
    raise ValueError(f"unknown heuristic {name!r}")


def _heuristic(cfg: SatSolveConfig) -> Heuristic:
    return make_heuristic(
        cfg.branching,
        cfg.model,
        cfg.threshold,
        cfg.seed,
        cfg.rounds,
        cfg.lookahead,
        cfg.fail_first,
    )


def _run(cfg: SatSolveConfig, cnf: CNF) -> SolveResult:
    if cfg.solver == "cadical":
        from palestra.sat.plain import solve_plain

        return solve_plain(cnf, proof=cfg.check_proof, max_conflicts=cfg.max_steps)
    if cfg.solver == "cadical-guided":
        from palestra.sat.cadical import solve_cadical

        # CaDiCaL's own branching (VSIDS/VMTF) is "vsids": then nothing is connected.
        h = None if cfg.branching == "vsids" else _heuristic(cfg)
        budget = cfg.max_steps if cfg.max_steps is not None else 1000
        result = solve_cadical(cnf, h, max_guided=budget)
        return dataclasses.replace(result, solver="cadical-guided")
    if cfg.solver == "dpll":
        from palestra.sat.dpll import solve_dpll

        return solve_dpll(cnf, _heuristic(cfg), max_steps=cfg.max_steps)
    from palestra.sat.cdcl import CDCLConfig, solve_cdcl

    return solve_cdcl(
        cnf,
        _heuristic(cfg),
        CDCLConfig(max_decisions=cfg.max_steps, proof=cfg.check_proof),
        engine="python" if cfg.engine == "python" else "auto",
    )


# Binary proofs longer than this are checked backward: on SATLIB uuf refutations by CaDiCaL
# the forward check is the faster one up to about 150 KB (uuf50-uuf150: 0.10 vs 0.18 ms at
# 0.5 KB, 1.3 vs 1.8 ms at 8 KB, equal near 150 KB), the backward one above (uuf200, 1 MB:
# 250 vs 340 ms), where it skips the third of the lemmas no conflict uses.
BACKWARD_FROM_BYTES = 150_000


def _check_proof(cnf: CNF, result: SolveResult) -> Verdict[Any]:
    """The verdict on ``result``'s proof: LRAT by ``lrat.check_lrat``, and where its hints
    fail, the same lemmas by DRUP (``lrat.lrat_to_drat``: sound either way, the hints only
    save the search); DRAT bytes and DRUP text by ``drup.check_drup``."""
    from palestra.sat.drup import check_drup

    proof = result.proof
    assert proof is not None
    if result.proof_format == "lrat" and isinstance(proof, bytes):
        from palestra.sat.lrat import check_lrat, lrat_to_drat

        verdict = check_lrat(cnf, proof)
        if verdict:
            return verdict
        proof = lrat_to_drat(cnf, proof)
    big = isinstance(proof, bytes) and len(proof) > BACKWARD_FROM_BYTES
    return check_drup(cnf, proof, backward=big)


def check_answer(cnf: CNF, result: SolveResult, check_proof: bool = True) -> SolveResult:
    """``result`` marked ``checked`` once its answer is verified: a model must satisfy every
    clause (``CNF.check_model``), a refutation with a proof must pass its check
    (``_check_proof``: LRAT linear; DRUP text and binary DRAT up to ``BACKWARD_FROM_BYTES``
    forward, every lemma checked, larger binary ones backward, drat-trim's mode).

    A failed check raises ``RuntimeError`` with the checker's reason. A refutation without a
    proof (DPLL's, guided CaDiCaL's), or with ``check_proof`` off, and an UNKNOWN are returned
    unchecked.
    """
    if result.model is not None:
        verdict = cnf.check_model(result.model)
        failure = "returned a model that falsifies a clause"
    elif result.status is Status.UNSATISFIABLE and result.proof is not None and check_proof:
        verdict = _check_proof(cnf, result)
        lrat = result.proof_format == "lrat"
        failure = f"refutation failed {'LRAT and DRUP' if lrat else 'DRUP'} checking"
    else:
        return result
    if not verdict:
        raise RuntimeError(f"{result.solver} {failure}: {verdict.reason}")
    return dataclasses.replace(result, checked=True)


def solve(cfg: SatSolveConfig, out: TextIO | None = None) -> SolveResult:
    """Solve ``cfg.file``, check the answer, print it (see the module docstring), return it."""
    if cfg.guide == "network":  # CaDiCaL or CDCL refocused by the core network (neurocore)
        from palestra.sat.neurocore import solve_guided

        return solve_guided(cfg, out)
    cnf = read_dimacs(cfg.file, strict=cfg.strict)
    result = check_answer(cnf, _run(cfg, cnf), check_proof=cfg.check_proof)
    out = out or sys.stdout
    if cfg.json:
        record = {"file": str(cfg.file), "heuristic": cfg.branching, **result.to_json()}
        out.write(json.dumps(record) + "\n")
    else:
        out.write(format_competition(result, cfg.branching))
    return result


def format_competition(result: SolveResult, heuristic: str) -> str:
    """SAT-competition output: comments, ``s STATUS`` and ``v`` lines ending in ``0``."""
    lines = [
        f"c palestra {result.solver} / {heuristic}: "
        f"{result.decisions} decisions, {result.conflicts} conflicts, "
        f"{result.seconds:.3f} s, checked {str(result.checked).lower()}",
    ]
    if result.status is Status.UNSATISFIABLE and not result.checked:
        lines.append("c UNSAT unchecked: no proof was checked")
    lines.append(f"s {result.status.value}")
    if result.model is not None:
        tokens = [str(lit) for lit in result.model] + ["0"]
        line = "v"
        for tok in tokens:
            if len(line) + 1 + len(tok) > 78:
                lines.append(line)
                line = "v"
            line += " " + tok
        lines.append(line)
    return "\n".join(lines) + "\n"


def gen(cfg: SatGenConfig) -> list[Path]:
    """Write ``cfg.count`` SR(``cfg.n``) pairs into ``cfg.out``; returns the paths written.

    ``n`` above ``dimacs.MAX_VARIABLES`` is refused (``PalestraError``): no reader here would
    take the files back."""
    from palestra.sat.generators import generate_sr_pair

    if cfg.n > MAX_VARIABLES:
        raise PalestraError(f"n = {cfg.n} is above the DIMACS limit of {MAX_VARIABLES} variables")

    rng = np.random.default_rng(cfg.seed)
    cfg.out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(cfg.count):
        pair = generate_sr_pair(cfg.n, rng, cfg.variant)
        for kind, cnf in (("sat", pair.sat), ("unsat", pair.unsat)):
            path = cfg.out / f"sr{cfg.n}-{i:04d}-{kind}.cnf"
            note = f"SR({cfg.n}) {cfg.variant} pair {i} ({kind}), seed {cfg.seed}"
            write_dimacs(cnf, path, comments=[note])
            paths.append(path)
    return paths
