"""``palestra sat solve FILE`` and ``palestra sat gen``.

``solve`` reads a DIMACS file, runs the chosen solver (this package's DPLL or CDCL, or CaDiCaL
guided through python-sat's user propagator) with the chosen branching heuristic, and checks
the answer before printing it:

* a model must satisfy every clause of the formula (otherwise ``RuntimeError``);
* a CDCL refutation is accepted only with its DRUP proof verified by ``drup.check_drup``;
  DPLL and CaDiCaL refutations are reported with ``checked: false`` (no proof to check).

Output is SAT-competition style (``c`` comments, ``s STATUS``, ``v ... 0`` model lines), or with
``json`` one object: ``status``, ``model`` (DIMACS literals or null), ``decisions``, ``steps``
(DPLL branching calls; decisions elsewhere), ``seconds`` (solving only), ``checked``, and
``solver``, ``heuristic``, ``conflicts``.

``gen`` writes SR(n) pairs as DIMACS files ``sr<n>-<i>-sat.cnf`` / ``sr<n>-<i>-unsat.cnf``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from palestra.sat.cnf import CNF, Status
from palestra.sat.config import SatGenConfig, SatSolveConfig
from palestra.sat.dimacs import read_dimacs, write_dimacs
from palestra.sat.heuristics import DLIS, VSIDS, Heuristic, JeroslowWang, RandomHeuristic

__all__ = ["format_competition", "gen", "make_heuristic", "solve"]


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
        cfg.heuristic,
        cfg.model,
        cfg.threshold,
        cfg.seed,
        cfg.rounds,
        cfg.lookahead,
        cfg.fail_first,
    )


def _run(cfg: SatSolveConfig, cnf: CNF) -> dict[str, Any]:
    if cfg.solver == "cadical":
        from palestra.sat.cadical import solve_cadical

        # CaDiCaL's own branching (VSIDS/VMTF) is "vsids": then nothing is connected.
        h = None if cfg.heuristic == "vsids" else _heuristic(cfg)
        r = solve_cadical(cnf, h, max_guided=cfg.max_steps if cfg.max_steps is not None else 1000)
        return {
            "status": r.status,
            "model": r.model,
            "decisions": r.decisions,
            "steps": r.decisions,
            "conflicts": r.conflicts,
            "guided": r.guided,
            "checked": r.checked,
        }
    h = _heuristic(cfg)
    if cfg.solver == "dpll":
        from palestra.sat.dpll import solve_dpll

        d = solve_dpll(cnf, h, max_steps=cfg.max_steps)
        return {
            "status": d.status,
            "model": d.model,
            "decisions": d.decisions,
            "steps": d.steps,
            "conflicts": d.conflicts,
            "checked": False,
        }
    from palestra.sat.cdcl import CDCLConfig, solve_cdcl
    from palestra.sat.drup import check_drup

    c = solve_cdcl(cnf, h, CDCLConfig(max_decisions=cfg.max_steps))
    checked = False
    if c.status is Status.UNSATISFIABLE and c.proof is not None:
        verdict = check_drup(cnf, c.proof)
        if not verdict:
            raise RuntimeError(f"CDCL refutation failed DRUP checking: {verdict.reason}")
        checked = True
    return {
        "status": c.status,
        "model": c.model,
        "decisions": c.decisions,
        "steps": c.decisions,
        "conflicts": c.conflicts,
        "checked": checked,
    }


def solve(cfg: SatSolveConfig, out: TextIO | None = None) -> dict[str, Any]:
    """Solve ``cfg.file``, check the answer, print it (see the module docstring), return it."""
    cnf = read_dimacs(cfg.file, strict=cfg.strict)
    t0 = time.perf_counter()
    result = _run(cfg, cnf)
    seconds = time.perf_counter() - t0
    if result["model"] is not None:
        if not cnf.check_model(result["model"]):
            raise RuntimeError(f"{cfg.solver} returned a model that falsifies a clause")
        result["checked"] = True
    record = {
        "file": str(cfg.file),
        "solver": cfg.solver,
        "heuristic": cfg.heuristic,
        "status": result["status"].value,
        "model": result["model"],
        "decisions": result["decisions"],
        "steps": result["steps"],
        "conflicts": result["conflicts"],
        "seconds": round(seconds, 6),
        "checked": result["checked"],
    }
    out = out or sys.stdout
    if cfg.json:
        out.write(json.dumps(record) + "\n")
    else:
        out.write(format_competition(record))
    return record


def format_competition(record: dict[str, Any]) -> str:
    """SAT-competition output: comments, ``s STATUS`` and ``v`` lines ending in ``0``."""
    lines = [
        f"c palestra {record['solver']} / {record['heuristic']}: "
        f"{record['decisions']} decisions, {record['conflicts']} conflicts, "
        f"{record['seconds']:.3f} s, checked {str(record['checked']).lower()}",
        f"s {record['status']}",
    ]
    if record["model"] is not None:
        tokens = [str(lit) for lit in record["model"]] + ["0"]
        line = "v"
        for tok in tokens:
            if len(line) + 1 + len(tok) > 78:
                lines.append(line)
                line = "v"
            line += " " + tok
        lines.append(line)
    return "\n".join(lines) + "\n"


def gen(cfg: SatGenConfig) -> list[Path]:
    """Write ``cfg.count`` SR(``cfg.n``) pairs into ``cfg.out``; returns the paths written."""
    from palestra.sat.generators import generate_sr_pair

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
