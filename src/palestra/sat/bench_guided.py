"""The amortised-guidance part of ``palestra bench sat`` (``-o parts=guided``).

On held-out instances of each family (SATLIB uf225/uuf225 and flat75-180, and the generated
families at their test scale, instances none of which were trained on; ``planning`` is a
family the shipped network never saw), four solvers run one after the other on the same
instances, each in a forked job killed at the wall-time limit (``palestra.core.jobs``):

* **CaDiCaL**: python-sat's CaDiCaL 1.9.5 alone;
* **MiniSat**: python-sat's MiniSat 2.2;
* **guided**: ``neurocore.solve_neurocore`` with the core network;
* **chunks, no network**: the same chunks and propagator without the network (the control:
  what the mechanism costs by itself).

Per family: instances solved within ``time_limit`` seconds and PAR-2 (mean seconds, an
unsolved instance counted as twice the limit), and the guidance's per-query network cost.
Every answer is compared with the instance's known status and every model is checked; a
disagreement aborts the bench. A second table measures the network variants (rounds,
bfloat16, int8) on labelled test formulas: per-query seconds against core accuracy.

Wall times are the solvers' own, measured inside the job (forking is not counted); on a
shared machine they are noisy at the millisecond scale.
"""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import replace
from typing import Any

import numpy as np

from palestra.core.bench import Bench
from palestra.core.jobs import run_jobs
from palestra.sat.cnf import CNF, Status
from palestra.sat.families import Instance, family_instances, satlib_family
from palestra.sat.neurocore import (
    NeuroCoreOptions,
    core_labels,
    evaluate_core,
    load_core_model,
    score_variables,
    solve_neurocore,
)

__all__ = ["SOLVERS", "amortised_guidance", "par2"]

SOLVERS = ("CaDiCaL", "MiniSat", "guided", "chunks, no network")

_model: Any = None  # the network the forked jobs use


def par2(seconds: list[float | None], limit: float) -> float:
    """Mean seconds, an unsolved run (``None``) counting ``2 * limit``."""
    return float(np.mean([2 * limit if s is None else s for s in seconds])) if seconds else 0.0


def _attempt(args: tuple[str, CNF, NeuroCoreOptions]) -> dict[str, Any]:
    """One solver on one formula: status, seconds, conflicts, queries, network seconds."""
    name, cnf, opts = args
    if name == "CaDiCaL":
        from palestra.sat.cadical import solve_cadical

        r = solve_cadical(cnf)
        return {"status": r.status.value, "seconds": r.seconds, "conflicts": r.conflicts}
    if name == "MiniSat":
        from pysat.solvers import Minisat22

        with Minisat22(bootstrap_with=cnf.clauses) as s:
            t0 = time.perf_counter()
            ok = bool(s.solve())
            seconds = time.perf_counter() - t0
            model = s.get_model() if ok else None
            conflicts = int(s.accum_stats().get("conflicts", 0))
        if model is not None:
            present = {abs(x): x for x in model if abs(x) <= cnf.num_vars}
            full = [present.get(v, -v) for v in range(1, cnf.num_vars + 1)]
            if not cnf.check_model(full):
                raise RuntimeError("MiniSat returned a falsifying model")
        status = Status.SATISFIABLE if ok else Status.UNSATISFIABLE
        return {"status": status.value, "seconds": seconds, "conflicts": conflicts}
    net = _model if name == "guided" else None
    r, st = solve_neurocore(cnf, net, opts)
    return {
        "status": r.status.value,
        "seconds": r.seconds,
        "conflicts": r.conflicts,
        "queries": st.queries,
        "query_seconds": sum(st.query_seconds),
    }


def _instances(per_family: int, seed: int, satlib: str) -> dict[str, list[Instance]]:
    half = max(1, per_family // 2)
    sets = {
        "SATLIB uf/uuf225 (random 3-SAT)": satlib_family("uf225", half, seed, satlib or None)
        + satlib_family("uuf225", per_family - half, seed, satlib or None),
        "SATLIB flat75-180 (colouring)": satlib_family(
            "flat75-180", per_family, seed, satlib or None
        ),
    }
    for fam in ("random-3sat", "colouring", "pigeonhole", "planning"):
        sets[f"{fam} (generated)"] = family_instances(fam, per_family, seed + 1000, "test")
    return sets


def amortised_guidance(
    bench: Bench,
    *,
    model: str = "default",
    per_family: int = 10,
    time_limit: float = 5.0,
    opts: NeuroCoreOptions | None = None,
    held_out: str = "planning",
    satlib: str = "",
    variants: bool = True,
) -> dict[str, Any]:
    """Run the part (see the module docstring) into ``bench``; returns its raw data."""
    import torch

    global _model
    torch.set_num_threads(1)
    opts = opts or NeuroCoreOptions()
    _model = load_core_model(model)
    sets = _instances(per_family, bench.seed, satlib)
    rows, raw = [], {}
    t_part = time.perf_counter()
    for fam, insts in sets.items():
        results: dict[str, list[dict[str, Any] | None]] = {s: [] for s in SOLVERS}
        for name in SOLVERS:
            jobs = [(name, x.cnf, opts) for x in insts]
            out: list[dict[str, Any] | None] = [None] * len(insts)
            for r in run_jobs(_attempt, jobs, workers=1, deadline_s=time_limit + 2.0):
                if r.status == "crashed":
                    raise RuntimeError(f"{fam}: {name} crashed on {insts[r.key].name}: {r.error}")
                if r.ok and r.value["seconds"] <= time_limit:
                    want = Status.SATISFIABLE if insts[r.key].satisfiable else Status.UNSATISFIABLE
                    if r.value["status"] != want.value:
                        raise RuntimeError(
                            f"{fam}: {name} answered {r.value['status']} on "
                            f"{insts[r.key].name}, known {want.value}"
                        )
                    out[r.key] = r.value
            results[name] = out
        secs = {s: [None if v is None else v["seconds"] for v in results[s]] for s in SOLVERS}
        guided = [v for v in results["guided"] if v is not None]
        queries = sum(v["queries"] for v in guided)
        q_sec = sum(v["query_seconds"] for v in guided)
        g_sec = sum(v["seconds"] for v in guided)
        tag = " [held out]" if fam.startswith(held_out) else ""
        row = [fam + tag, len(insts)]
        for s in SOLVERS:
            row += [sum(x is not None for x in secs[s]), par2(secs[s], time_limit)]
        row += [
            queries / max(len(guided), 1),
            1e3 * q_sec / queries if queries else float("nan"),
            100 * q_sec / g_sec if g_sec else 0.0,
        ]
        rows.append(row)
        bench.figure(
            f"PAR-2, {fam}{tag}, guided",
            par2(secs["guided"], time_limit),
            "s",
            peer="CaDiCaL",
            peer_value=par2(secs["CaDiCaL"], time_limit),
            higher_is_better=False,
            setting=f"{len(insts)} instances, {time_limit:g} s limit, interval "
            f"{opts.interval}, scale {opts.scale:g}, at most {opts.max_queries} queries",
        )
        raw[fam] = {"instances": [x.name for x in insts], **secs}
    headers = ["family", "n"]
    for s in SOLVERS:
        headers += [f"solved {s}", f"PAR-2 {s} (s)"]
    headers += ["queries / instance", "ms / query", "network % of guided time"]
    bench.table(
        f"Amortised guidance: solved within {time_limit:g} s and PAR-2, same instances",
        headers,
        rows,
    )
    bench.note(
        f"Guided: CaDiCaL 1.9.5 refocused by the core network every {opts.interval} conflicts "
        f"(first chunk alone; focus decisions = ceil({opts.scale:g} x predicted core size), at "
        f"most {opts.max_focus}; at most {opts.max_queries} queries). Family '{held_out}' was "
        f"never trained on. The part took {time.perf_counter() - t_part:.0f} s."
    )
    if variants:
        raw["variants"] = _variants(bench, model, bench.seed)
    return raw


def _variants(bench: Bench, model: str, seed: int) -> list[list[Any]]:
    """Per-query seconds and core accuracy of cheaper forms of the network."""
    from palestra.models.sat_core import SatCoreGNN

    items = []
    for fam in ("colouring", "pigeonhole", "planning"):
        for x in family_instances(fam, 6, seed + 2000, "test"):
            items.append((x.cnf, *core_labels(x.cnf)))
    base = load_core_model(model)
    forms: dict[str, SatCoreGNN] = {}
    for rounds in sorted({base.cfg.rounds, max(1, base.cfg.rounds // 2)}, reverse=True):
        m = copy.deepcopy(base)
        m.cfg = replace(m.cfg, rounds=rounds)
        forms[f"fp32, {rounds} rounds"] = m
    forms[f"bf16, {base.cfg.rounds} rounds"] = load_core_model(model, "bf16")
    forms[f"int8, {base.cfg.rounds} rounds"] = load_core_model(model, "int8")
    rows = []
    for name, m in forms.items():
        times = []
        for cnf, _, _ in items:
            t0 = time.perf_counter()
            score_variables(m, cnf.clauses)
            times.append(time.perf_counter() - t0)
        metrics = evaluate_core(m, items)
        rows.append(
            [
                name,
                1e3 * statistics.median(times),
                metrics["core_acc"],
                metrics["core_top_precision"],
                metrics["core_base"],
                metrics["phase_acc"],
            ]
        )
    bench.table(
        f"Network variants on {len(items)} labelled test formulas"
        " (colouring, pigeonhole, planning)",
        [
            "form",
            "median ms / query",
            "core acc",
            "core top precision",
            "core base rate",
            "phase acc",
        ],
        rows,
    )
    return rows
