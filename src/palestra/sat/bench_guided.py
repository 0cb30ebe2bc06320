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

**NeuroCore inside our own CDCL** (``cdcl_guidance``): the compiled CDCL (VSIDS, Luby
restarts) alone, with the core network resetting its VSIDS scores through the C hook
(``neurocore.solve_cdcl_guided``; no propagator, no frozen variables, one Python call per
query), and with the same network passes but their scores permuted among the variables
(the control: whether the network's information, rather than any refocusing, helps); so the
comparison isolates the guidance. CaDiCaL and MiniSat are reference points.
Instances at sizes where the plain compiled CDCL takes about 0.5-10 s (``cdcl_sets``):
SATLIB uf/uuf225, generated 3-colouring, pigeonhole and planning (held out). The options are
first tuned (``tune_cdcl_guidance``, a small grid) on other instances of the trained families
only (SATLIB uf/uuf200, other seeds; never planning, never the evaluation instances). Every
CDCL refutation's DRUP proof is checked (outside the clock).

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
    CoreGuideOptions,
    NeuroCoreOptions,
    core_labels,
    evaluate_core,
    load_core_model,
    score_variables,
    solve_cdcl_guided,
    solve_neurocore,
)

__all__ = [
    "CDCL_SOLVERS",
    "SOLVERS",
    "TUNING_GRID",
    "amortised_guidance",
    "cdcl_guidance",
    "cdcl_sets",
    "par2",
    "tune_cdcl_guidance",
]

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
        "reused": st.reused,
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


def _solved_in_time(
    fn: Any, jobs: list[tuple], insts: list[Any], time_limit: float, deadline: float, who: str
) -> list[dict[str, Any] | None]:
    """Run ``fn`` on each job (one at a time, killed at ``deadline``); each instance's result
    when solved within ``time_limit`` (``None`` otherwise). A crash, or an answer that
    contradicts the instance's known status, stops the bench."""
    out: list[dict[str, Any] | None] = [None] * len(insts)
    for r in run_jobs(fn, jobs, workers=1, deadline_s=deadline):
        if r.status == "crashed":
            raise RuntimeError(f"{who} crashed on {insts[r.key].name}: {r.error}")
        if r.ok and r.value["seconds"] <= time_limit:
            want = Status.SATISFIABLE if insts[r.key].satisfiable else Status.UNSATISFIABLE
            if r.value["status"] != want.value:
                raise RuntimeError(
                    f"{who} answered {r.value['status']} on {insts[r.key].name}, known {want.value}"
                )
            out[r.key] = r.value
    return out


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
            results[name] = _solved_in_time(
                _attempt, jobs, insts, time_limit, time_limit + 2.0, f"{fam}: {name}"
            )
        tag = " [held out]" if fam.startswith(held_out) else ""
        row, secs = _family_row(fam + tag, results, SOLVERS, "guided", time_limit)
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
    bench.table(
        f"Amortised guidance: solved within {time_limit:g} s and PAR-2, same instances",
        _headers(SOLVERS),
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


# ------------------------------------------------------------- NeuroCore inside our CDCL
CDCL_SOLVERS = ("CDCL", "CDCL + network", "CDCL + shuffled scores", "CaDiCaL", "MiniSat")


def _cdcl_attempt(args: tuple[str, CNF, CoreGuideOptions, bool]) -> dict[str, Any]:
    """One solver of ``CDCL_SOLVERS`` on one formula; a CDCL refutation's DRUP proof is
    checked (after the clock stops) when ``check`` is set."""
    name, cnf, opts, check = args
    if name in ("CaDiCaL", "MiniSat"):
        return _attempt((name, cnf, NeuroCoreOptions()))
    from palestra.sat.drup import check_drup

    if name == "CDCL + shuffled scores":  # the control: same passes, scores permuted
        opts = replace(opts, shuffle=True)
    r, st = solve_cdcl_guided(cnf, None if name == "CDCL" else _model, opts)
    checked = r.checked
    if r.status is Status.UNSATISFIABLE and check:
        verdict = check_drup(cnf, r.proof or [])
        if not verdict:
            raise RuntimeError(f"{name}: refutation failed DRUP checking: {verdict.reason}")
        checked = True
    return {
        "status": r.status.value,
        "seconds": r.seconds,
        "conflicts": r.conflicts,
        "checked": checked,
        "queries": st.queries,
        "skipped": st.skipped,
        "reused": st.reused,
        "query_seconds": sum(st.query_seconds),
    }


def cdcl_sets(per_family: int, seed: int, satlib: str = "", *, tuning: bool = False) -> dict:
    """The instances of the CDCL part, at sizes where the plain compiled CDCL takes about
    0.5-10 s: evaluation (``tuning=False``: SATLIB uf/uuf225, 3-colouring of 375 vertices,
    pigeonhole 11 into 10, planning 10x10 with 9 waypoints, the held-out family) or tuning
    (``tuning=True``: other seeds, SATLIB uf/uuf200, and no planning: the held-out family is
    never tuned on)."""
    from palestra.sat.families import colouring, pigeonhole, planning

    rng = np.random.default_rng([seed, 29, tuning])
    half = max(1, per_family // 2)
    n = "200" if tuning else "225"
    root = satlib or None
    sets: dict[str, list[Instance]] = {
        f"SATLIB uf/uuf{n} (random 3-SAT)": satlib_family(f"uf{n}", half, seed + 7, root)
        + satlib_family(f"uuf{n}", per_family - half, seed + 7, root),
        "colouring 375 (generated)": [
            colouring(375, 900, 3, rng, planted=False) for _ in range(per_family)
        ],
        "pigeonhole 11/10 (generated)": [
            pigeonhole(11, 10, rng, degree=int(rng.integers(7, 11))) for _ in range(per_family)
        ],
    }
    if not tuning:
        sets["planning 10x10 (generated)"] = [
            planning(10, 9, rng, slack=1 if i % 2 == 0 else -1) for i in range(per_family)
        ]
    return sets


def _run_family(
    insts: list[Instance],
    solvers: tuple[str, ...],
    opts: CoreGuideOptions,
    time_limit: float,
    check: bool,
) -> dict[str, list[dict[str, Any] | None]]:
    results: dict[str, list[dict[str, Any] | None]] = {}
    for name in solvers:
        jobs = [(name, x.cnf, opts, check) for x in insts]
        # The DRUP check runs after the clock: give it time beyond the limit.
        deadline = time_limit + (30.0 if check else 2.0)
        results[name] = _solved_in_time(_cdcl_attempt, jobs, insts, time_limit, deadline, name)
    return results


# The tuning grid of the bench (CoreGuideOptions fields): the paper's update at the default
# interval with the shipped 4-round network, the cheaper 2-round pass, more frequent queries,
# no focus where the predicted core is nearly everything (max_core_share), a persistent
# (scale 100) focus, the phase head, learnt clauses shown to the network, a restart per query.
TUNING_GRID: list[dict[str, Any]] = [
    {"rounds": 4, "max_core_share": 1.0},
    {"rounds": 2, "max_core_share": 1.0},
    {"rounds": 2, "max_core_share": 1.0, "interval": 500, "first": 500},
    {"rounds": 2, "max_core_share": 0.9},
    {"rounds": 2, "max_core_share": 0.9, "interval": 500, "first": 500},
    {"rounds": 2, "max_core_share": 0.9, "scale": 100.0},
    {"rounds": 2, "max_core_share": 0.9, "phases": True},
    {"rounds": 2, "max_core_share": 0.9, "learnt": 500},
]


def _family_row(
    label: str,
    results: dict[str, list[dict[str, Any] | None]],
    solvers: tuple[str, ...],
    guided_name: str,
    time_limit: float,
) -> tuple[list[Any], dict[str, list[float | None]]]:
    """A family's table row (the columns of :func:`_headers`) and each solver's seconds per
    instance (None: not solved in time)."""
    secs = {s: [None if v is None else v["seconds"] for v in results[s]] for s in solvers}
    guided = [v for v in results[guided_name] if v is not None]
    queries = sum(v["queries"] for v in guided)
    q_sec = sum(v["query_seconds"] for v in guided)
    g_sec = sum(v["seconds"] for v in guided)
    row: list[Any] = [label, len(results[solvers[0]])]
    for s in solvers:
        row += [sum(x is not None for x in secs[s]), par2(secs[s], time_limit)]
    row += [
        queries / max(len(guided), 1),
        sum(v["reused"] for v in guided) / max(len(guided), 1),
        1e3 * q_sec / queries if queries else float("nan"),
        100 * q_sec / g_sec if g_sec else 0.0,
    ]
    return row, secs


def _headers(solvers: tuple[str, ...]) -> list[str]:
    """The columns of :func:`_family_row`."""
    headers = ["family", "n"]
    for s in solvers:
        headers += [f"solved {s}", f"PAR-2 {s} (s)"]
    return [
        *headers,
        "network passes / solved",
        "reused answers / solved",
        "guidance ms / pass (network, formula preparation)",
        "network % of guided time",
    ]


def _conflict_ratio(
    plain: list[dict[str, Any] | None], guided: list[dict[str, Any] | None]
) -> float:
    """Geometric mean of guided / plain conflicts over the instances both solved."""
    both = [
        (p["conflicts"], g["conflicts"])
        for p, g in zip(plain, guided, strict=True)
        if p is not None and g is not None
    ]
    if not both:
        return float("nan")
    return float(np.exp(np.mean([np.log(max(g, 1) / max(p, 1)) for p, g in both])))


def tune_cdcl_guidance(
    bench: Bench | None,
    grid: list[dict[str, Any]],
    *,
    per_family: int = 3,
    time_limit: float = 10.0,
    seed: int = 0,
    satlib: str = "",
) -> tuple[CoreGuideOptions, list[list[Any]]]:
    """Each option set of ``grid`` (``CoreGuideOptions`` fields) on the tuning instances
    (``cdcl_sets(tuning=True)``: trained families only, never the evaluation instances);
    returns the best options and the table's rows (the first: the plain CDCL).

    The criterion is the estimated time ratio to the plain CDCL, ``conflicts ratio / (1 -
    network share)`` (the conflicts are exact, the wall time on a shared machine varies by
    10-20% between runs of the same search), among the option sets that solve as many
    instances as the plain CDCL; the wall-clock PAR-2 is reported alongside."""
    sets = cdcl_sets(per_family, seed, satlib, tuning=True)
    insts = [x for xs in sets.values() for x in xs]
    plain = _run_family(insts, ("CDCL",), CoreGuideOptions(proof=False), time_limit, False)
    plain_res = plain["CDCL"]
    plain_secs = [None if v is None else v["seconds"] for v in plain_res]
    n_plain = sum(v is not None for v in plain_res)
    rows: list[list[Any]] = [["plain CDCL", n_plain, par2(plain_secs, time_limit), 1.0, "", ""]]
    best, best_score = CoreGuideOptions(), float("inf")
    for point in grid:
        opts = CoreGuideOptions(proof=False, **point)
        res = _run_family(insts, ("CDCL + network",), opts, time_limit, False)["CDCL + network"]
        secs = [None if v is None else v["seconds"] for v in res]
        done = [v for v in res if v is not None]
        share = sum(v["query_seconds"] for v in done) / max(sum(v["seconds"] for v in done), 1e-9)
        ratio = _conflict_ratio(plain_res, res)
        score = ratio / max(1.0 - share, 1e-9)
        rows.append(
            [
                ", ".join(f"{k}={v}" for k, v in point.items()),
                len(done),
                par2(secs, time_limit),
                ratio,
                share,
                score,
            ]
        )
        if len(done) >= n_plain and score < best_score:
            best, best_score = CoreGuideOptions(**point), score
    rows[0][-1] = 1.0
    if bench is not None:
        bench.table(
            f"Tuning the CDCL guidance on {len(insts)} training-family instances "
            f"({', '.join(sets)}; {time_limit:g} s limit)",
            [
                "options",
                "solved",
                "PAR-2 (s)",
                "conflicts / plain (geo. mean)",
                "network share of time",
                "estimated time / plain (criterion)",
            ],
            rows,
        )
    return best, rows


def cdcl_guidance(
    bench: Bench,
    *,
    model: str = "default",
    per_family: int = 6,
    time_limit: float = 10.0,
    opts: CoreGuideOptions | None = None,
    grid: list[dict[str, Any]] | None = None,
    tune_per_family: int = 3,
    satlib: str = "",
    check: bool = True,
) -> dict[str, Any]:
    """NeuroCore inside the compiled CDCL: plain CDCL vs the same CDCL refocused by the core
    network (``neurocore.solve_cdcl_guided``), CaDiCaL and MiniSat as reference points, on
    the evaluation instances of ``cdcl_sets`` (planning: never trained on, never tuned on).
    With ``grid``, the options are first tuned on the tuning instances
    (``tune_cdcl_guidance``), else ``opts`` are used. Every answer is compared with the
    known status, every model checked, every CDCL refutation's DRUP proof checked
    (``check``)."""
    import torch

    global _model
    torch.set_num_threads(1)
    _model = load_core_model(model)
    t_part = time.perf_counter()
    raw: dict[str, Any] = {}
    if grid:
        opts, rows = tune_cdcl_guidance(
            bench,
            grid,
            per_family=tune_per_family,
            time_limit=time_limit,
            seed=bench.seed,
            satlib=satlib,
        )
        raw["tuning"] = rows
    opts = opts or CoreGuideOptions()
    raw["options"] = {k: getattr(opts, k) for k in opts.__dataclass_fields__}
    rows = []
    setting = (
        f"{per_family} instances, {time_limit:g} s limit, interval {opts.interval}, first "
        f"{opts.first}, scale {opts.scale:g}, itau {opts.itau:g}, rounds {opts.rounds or 'own'}"
        f", at most {opts.max_queries} queries, network share <= {opts.max_share:g}, no focus"
        f" above a core share of {opts.max_core_share:g}, learnt {opts.learnt}, phases "
        f"{opts.phases}, restart {opts.restart}"
    )
    for fam, insts in cdcl_sets(per_family, bench.seed, satlib).items():
        results = _run_family(insts, CDCL_SOLVERS, opts, time_limit, check)
        tag = " [held out]" if fam.startswith("planning") else ""
        row, secs = _family_row(fam + tag, results, CDCL_SOLVERS, "CDCL + network", time_limit)
        row += [
            _conflict_ratio(results["CDCL"], results["CDCL + network"]),
            _conflict_ratio(results["CDCL"], results["CDCL + shuffled scores"]),
        ]
        rows.append(row)
        bench.figure(
            f"PAR-2, {fam}{tag}, CDCL + network",
            par2(secs["CDCL + network"], time_limit),
            "s",
            peer="plain CDCL",
            peer_value=par2(secs["CDCL"], time_limit),
            higher_is_better=False,
            setting=setting,
        )
        raw[fam] = {
            "instances": [x.name for x in insts],
            "satisfiable": [x.satisfiable for x in insts],
            **secs,
            "conflicts": {
                s: [None if v is None else v["conflicts"] for v in results[s]]
                for s in ("CDCL", "CDCL + network", "CDCL + shuffled scores")
            },
            "queries": [None if v is None else v["queries"] for v in results["CDCL + network"]],
        }
    headers = [
        *_headers(CDCL_SOLVERS),
        "conflicts guided / plain (geo. mean)",
        "conflicts shuffled / plain (geo. mean)",
    ]
    bench.table(
        f"NeuroCore inside the compiled CDCL: solved within {time_limit:g} s and PAR-2, "
        "same instances",
        headers,
        rows,
    )
    bench.note(
        f"CDCL: the compiled core, VSIDS (decay 0.95) and Luby restarts (unit 100); + network: "
        f"the same solver whose VSIDS scores the core network resets ({setting}); + shuffled "
        "scores: the control, the same passes with the scores permuted among the variables. "
        f"Every "
        f"CDCL refutation's DRUP proof checked: {check}. The part took "
        f"{time.perf_counter() - t_part:.0f} s."
    )
    return raw
