"""``palestra bench sat``: the neural branching heuristic against JW-OS, DLIS, CaDiCaL, MiniSat.

The experiments of Jaszczur, Łuszczyk & Michalewski 2019 ("Neural heuristics for SAT
solving"), on freshly generated SR(n) formulas (variant ``hard`` by default) and SATLIB:

1. **DPLL, step cap.** Share of satisfiable SR(n) formulas solved within ``max_steps`` (1000)
   branching steps, for the network, the hybrid (network where its P(sat) >= 0.3, else JW-OS),
   JW-OS and DLIS. Paper, SR(90): network 45%, JW-OS 36%, DLIS 7%.
2. **Per-instance wins.** The hybrid against JW-OS, instance by instance: fewer DPLL steps
   (experiment 1's runs; unsolved counts as more than the cap) and fewer CDCL decisions (both
   members of SR pairs, a decision cap). Win rate = wins / (wins + losses), ties left out.
   Paper: 57-71% (DPLL), 61-67% (CDCL). CDCL (and experiment 3) also run **hybrid
   lookahead-k** (``lookahead``, default 2): the same hybrid, but where it trusts the
   network it sets each of JW-OS's ``k`` best literals in turn, propagates, and takes the
   one whose child formula the network finds likeliest satisfiable. It keeps JW-OS's
   propagation-seeking order and avoids the picks that look refuted; in CDCL, where every
   decision counts, it is the form that beats JW-OS (see the model README). It costs up to
   ``k + 1`` forward passes per decision, so experiment 1 runs it only with
   ``dpll_lookahead``.
3. **Guided CaDiCaL.** Median decisions and wall time of CaDiCaL 1.9.5 alone and with the
   hybrid making its first ``guided`` decisions (python-sat user propagator), with MiniSat 2.2
   alongside, on SR(100), SR(200) (NeuroSAT's variant by default: the hard variant's SR(200)
   takes minutes per pair just to generate), and SATLIB uf50 / uuf50 / flat30. Wall time of a
   guided run includes the network's forward passes and Python callbacks.
4. **Propagation speed.** Propagations per second of this package's CDCL (VSIDS, no proof;
   the compiled core) against MiniSat 2.2 on the same SATLIB instances.

The part ``plain`` (``-o parts=plain`` alone) is :mod:`palestra.sat.bench_plain`: the default
``sat solve`` against python-sat's CaDiCaL and MiniSat on the SATLIB families.

Every model found is checked against its formula and every CDCL refutation's DRUP proof is
verified; a failed check aborts the bench. Quick mode cuts the sample sizes (see
``SatBenchOptions``) to fit in about five minutes on one CPU thread.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from palestra.core.bench import Bench, register_suite
from palestra.core.config import Default, arg, with_defaults
from palestra.core.data import expected
from palestra.core.jobs import run_jobs
from palestra.core.progress import progress_bar
from palestra.sat.cnf import CNF, Status
from palestra.sat.config import NetworkOptions
from palestra.sat.heuristics import Heuristic

if TYPE_CHECKING:
    from palestra.models.sat_gnn import SatGNN

__all__ = ["SatBenchOptions", "run"]


@dataclass
@with_defaults(
    lookahead=Default(
        2, help="Experiments 2-3: 'hybrid lookahead-k' over JW-OS's k best literals (0: not run)."
    )
)
class SatBenchOptions(NetworkOptions):
    """Options of ``palestra bench sat`` (quick mode caps the sample sizes noted below); the
    network's are those of ``palestra sat solve``."""

    dpll_lookahead: bool = arg(
        False, "Experiment 1 runs 'hybrid lookahead-k' too (up to k + 1 passes per step: slow)."
    )
    variant: Literal["neurosat", "hard"] = arg("hard", "SR(n) variant of the generated formulas.")
    dpll_sizes: tuple[int, ...] = arg(
        (50, 70, 90, 110), "Experiment 1: SR(n) sizes (quick: 2).", min=1
    )
    dpll_per_size: int = arg(50, "Experiment 1: satisfiable formulas per size (quick: 6).", min=1)
    max_steps: int = arg(1000, "Experiment 1: DPLL step cap.", min=1)
    cdcl_n: int = arg(40, "Experiment 2: SR(n) of the CDCL comparison.", min=1)
    cdcl_pairs: int = arg(100, "Experiment 2: SR pairs for CDCL (both members; quick: 5).", min=1)
    cdcl_max_decisions: int = arg(20000, "Experiment 2: CDCL decision cap.", min=1)
    cadical_sizes: tuple[int, ...] = arg((100, 200), "Experiment 3: SR(n) sizes.", min=1)
    cadical_variant: Literal["neurosat", "hard"] = arg(
        "neurosat", "Experiment 3: SR variant ('hard' SR(200) takes minutes per pair to generate)."
    )
    guided: int = arg(100, "Experiment 3: CaDiCaL decisions made by the hybrid.", min=1)
    cadical_per_set: int = arg(20, "Experiment 3: instances per set (quick: 5).", min=1)
    speed_max_conflicts: int = arg(
        20000, "Experiment 4: conflict cap of our CDCL (quick: 3000).", min=1
    )
    satlib: str = arg("", "SATLIB folder (default: data set satlib, see palestra data list).")
    threads: int = arg(1, "torch threads (per process).", min=1)
    workers: int = arg(
        1, "Experiment 1: processes, each solving whole formulas (same results).", min=1
    )
    parts: tuple[Literal["paper", "plain", "guided"], ...] = arg(
        ("paper", "plain"),
        "Parts to run: paper (experiments 1-4), plain (default solver vs python-sat, compiled"
        " CDCL speed; sat.bench_plain), guided (amortised network guidance vs plain CaDiCaL"
        " and MiniSat per family, one held out, then NeuroCore inside the compiled CDCL vs"
        " the plain compiled CDCL, tuned on training families; sat.bench_guided; quick: 4"
        " and 3 per family, no tuning).",
    )


def _pct(xs: list[bool]) -> float:
    return 100.0 * sum(xs) / len(xs) if xs else float("nan")


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def _wins(ours: list[float], theirs: list[float]) -> tuple[int, int, int]:
    wins = sum(a < b for a, b in zip(ours, theirs, strict=True))
    losses = sum(a > b for a, b in zip(ours, theirs, strict=True))
    return wins, losses, len(ours) - wins - losses


def _win_rate(wins: int, losses: int) -> float:
    return 100.0 * wins / (wins + losses) if wins + losses else float("nan")


def _report_wins(
    bench: Bench,
    figure: str,
    row: str,
    ours: list[float],
    theirs: list[float],
    prefix: str = "",
    suffix: str = "",
) -> list:
    """Record the win-rate ``figure`` of ``ours`` against JW-OS's ``theirs`` (costs, lower
    wins) and return its row of experiment 2's table."""
    w, lo, ties = _wins(ours, theirs)
    bench.figure(
        figure,
        _win_rate(w, lo),
        "%",
        peer="JW-OS",
        peer_value=_win_rate(lo, w),
        setting=f"{prefix}{w} wins, {lo} losses, {ties} ties{suffix}",
    )
    return [row, len(ours), w, lo, ties, _win_rate(w, lo), _median(ours), _median(theirs)]


def _check_sat(cnf: CNF, model: list[int] | None, who: str) -> None:
    if model is None or not cnf.check_model(model):
        raise RuntimeError(f"{who}: returned a model that falsifies the formula")


def _satlib_sample(folder: Path, k: int, rng: np.random.Generator) -> list[tuple[str, CNF]]:
    """``k`` seeded-random parseable files of ``folder`` (flat30-1.cnf lacks its header)."""
    from palestra.sat.dimacs import DimacsError, read_dimacs

    files = sorted(folder.glob("*.cnf"))
    out: list[tuple[str, CNF]] = []
    for i in rng.permutation(len(files)):
        if len(out) >= k:
            break
        try:
            out.append((files[i].name, read_dimacs(files[i], strict=False)))
        except DimacsError:
            continue
    return out


def _minisat(cnf: CNF) -> tuple[bool, dict[str, int], float]:
    from pysat.solvers import Minisat22

    with Minisat22(bootstrap_with=cnf.clauses) as s:
        t0 = time.perf_counter()
        ok = bool(s.solve())
        seconds = time.perf_counter() - t0
        stats = s.accum_stats()
        if ok:
            _check_sat(cnf, s.get_model(), "MiniSat")
    return ok, stats, seconds


def _look_name(k: int, fail_first: bool = False) -> str:
    return f"hybrid lookahead-{k}" + (" fail-first" if fail_first else "")


def _hybrids(
    net: SatGNN, threshold: float, lookahead: int, fail_first: bool
) -> dict[str, Callable[[], Heuristic]]:
    """The bench's hybrids by name, each a fresh heuristic per call: the paper's, and
    ``hybrid lookahead-k`` (with ``fail_first``) when ``lookahead`` is ``k > 0``."""
    from palestra.sat.heuristics import JeroslowWang
    from palestra.sat.neural import Hybrid

    makers: dict[str, Callable[[], Heuristic]] = {
        "hybrid": lambda: Hybrid(net, JeroslowWang(), threshold)
    }
    if lookahead:
        makers[_look_name(lookahead, fail_first)] = lambda: Hybrid(
            net, JeroslowWang(), threshold, lookahead=lookahead, fail_first=fail_first
        )
    return makers


_worker_model = None


def _use_model(net: object) -> None:
    """The network ``_dpll_all`` runs in this process."""
    global _worker_model
    _worker_model = net


def _dpll_all(args: tuple[CNF, int, float, int, bool]) -> dict[str, tuple[bool, int, float]]:
    """Experiment 1 on one satisfiable formula: ``{heuristic: (solved, steps, seconds)}``,
    every model checked (also run as a job, with the network :func:`_use_model` set)."""
    from palestra.sat.dpll import solve_dpll
    from palestra.sat.heuristics import DLIS, JeroslowWang
    from palestra.sat.neural import NeuralHeuristic

    cnf, max_steps, threshold, lookahead, fail_first = args
    net = _worker_model
    makers = {
        "network": lambda: NeuralHeuristic(net),
        **_hybrids(net, threshold, lookahead, fail_first),
        "JW-OS": JeroslowWang,
        "DLIS": DLIS,
    }
    out = {}
    for name in makers:
        t0 = time.perf_counter()
        r = solve_dpll(cnf, makers[name](), max_steps=max_steps)
        seconds = time.perf_counter() - t0
        ok = r.status is Status.SATISFIABLE
        if ok:
            _check_sat(cnf, r.model, f"DPLL/{name}")
        elif r.status is Status.UNSATISFIABLE:
            raise RuntimeError(f"DPLL/{name} refuted a satisfiable SR({cnf.num_vars}) formula")
        out[name] = (ok, r.steps, seconds)
    return out


@register_suite("sat", config=SatBenchOptions)
def run(bench: Bench) -> None:
    import torch

    from palestra.sat.cadical import solve_cadical
    from palestra.sat.cdcl import CDCLConfig, solve_cdcl
    from palestra.sat.drup import check_drup
    from palestra.sat.generators import generate_sr_pair
    from palestra.sat.heuristics import JeroslowWang
    from palestra.sat.neural import load_model

    opt: SatBenchOptions = bench.options or SatBenchOptions()
    satlib = Path(opt.satlib) if opt.satlib else expected("satlib")
    if "plain" in opt.parts:
        from palestra.sat.bench_plain import plain_solving

        plain_solving(bench, satlib)
    if "guided" in opt.parts:
        from palestra.sat.bench_guided import TUNING_GRID, amortised_guidance, cdcl_guidance

        bench.data["guided"] = amortised_guidance(bench, per_family=4 if bench.quick else 10)
        bench.data["guided_cdcl"] = cdcl_guidance(
            bench,
            per_family=3 if bench.quick else 6,
            grid=None if bench.quick else TUNING_GRID,
            satlib=opt.satlib,
        )
    if "paper" not in opt.parts:
        return
    torch.set_num_threads(opt.threads)
    quick = bench.quick
    net = load_model(opt.model, opt.rounds)
    sizes = opt.dpll_sizes
    if quick and len(sizes) > 2:
        sizes = (sizes[0], sizes[-2])  # (50, 90) by default: SR(90) is the paper's figure
    per_size = min(opt.dpll_per_size, 6) if quick else opt.dpll_per_size
    cdcl_pairs = min(opt.cdcl_pairs, 5) if quick else opt.cdcl_pairs
    per_set = min(opt.cadical_per_set, 5) if quick else opt.cadical_per_set
    speed_conflicts = min(opt.speed_max_conflicts, 3000) if quick else opt.speed_max_conflicts
    bench.note(
        f"{'quick' if quick else 'full'} mode; SR variant {opt.variant}; model {opt.model} "
        f"({net.cfg.dim} wide, {net.cfg.rounds} rounds); hybrid threshold {opt.threshold}; "
        f"torch threads {opt.threads}"
    )

    # -- Experiment 1: DPLL with a step cap ------------------------------------------------
    dpll_look = opt.lookahead if opt.dpll_lookahead else 0
    dpll_hybrids = list(_hybrids(net, opt.threshold, dpll_look, opt.fail_first))
    names = ("network", *dpll_hybrids, "JW-OS", "DLIS")  # the order _dpll_all runs them
    dpll_steps: dict[str, list[float]] = {k: [] for k in names}
    solved_by_size: dict[int, dict[str, float]] = {}
    rows = []
    t_exp = time.perf_counter()
    formulas_by_size = {}
    for n in sizes:
        rng = np.random.default_rng([bench.seed, n])
        formulas_by_size[n] = [generate_sr_pair(n, rng, opt.variant).sat for _ in range(per_size)]
    tasks = [
        (cnf, opt.max_steps, opt.threshold, dpll_look, opt.fail_first)
        for n in sizes
        for cnf in formulas_by_size[n]
    ]
    results: list[dict[str, tuple[bool, int, float]]] = []
    _use_model(net)  # loaded above, with the threads set above; forked jobs inherit it
    with progress_bar(f"bench sat: DPLL on {len(tasks)} formulas", len(tasks)) as tick:
        if opt.workers > 1:
            by_index = {}
            for r in run_jobs(_dpll_all, tasks, workers=opt.workers):
                by_index[r.key] = r.unwrap()  # a crashed formula stops the bench, typed
                tick()
            results = [by_index[i] for i in range(len(tasks))]
        else:
            for t in tasks:
                results.append(_dpll_all(t))
                tick()
    for i, n in enumerate(sizes):
        done = results[i * per_size : (i + 1) * per_size]
        solved = {k: [r[k][0] for r in done] for k in names}
        seconds = {k: sum(r[k][2] for r in done) for k in names}
        for k in names:
            dpll_steps[k] += [r[k][1] if r[k][0] else opt.max_steps + 1 for r in done]
        solved_by_size[n] = {k: _pct(v) for k, v in solved.items()}
        rows.append(
            [f"SR({n})", per_size]
            + [solved_by_size[n][k] for k in names]
            + [round(seconds["hybrid"] / per_size, 2), round(seconds["JW-OS"] / per_size, 2)]
        )
        for name in ("network", *dpll_hybrids, "DLIS"):
            bench.figure(
                f"DPLL solved SR({n}), {name}",
                solved_by_size[n][name],
                "%",
                peer="JW-OS",
                peer_value=solved_by_size[n]["JW-OS"],
                setting=f"{per_size} SAT formulas, {opt.max_steps}-step cap",
            )
    bench.table(
        f"Experiment 1: DPLL, % of satisfiable SR(n) solved within {opt.max_steps} steps",
        ["formulas", "count", *names, "s/formula hybrid", "s/formula JW-OS"],
        rows,
    )
    bench.data["dpll_solved"] = {str(n): v for n, v in solved_by_size.items()}
    bench.note(
        "Paper (SR(90), 1000 steps): network 45%, JW-OS 36%, DLIS 7%. "
        f"Experiment 1 took {time.perf_counter() - t_exp:.0f} s."
    )
    title = "DPLL: solved within the step cap"
    with bench.plot("dpll_solved", title, xlabel="n", ylabel="%") as ax:
        for name in names:
            ax.plot(list(sizes), [solved_by_size[n][name] for n in sizes], marker="o", label=name)

    # -- Experiment 2: per-instance wins of the hybrids over JW-OS ------------------------
    t_exp = time.perf_counter()
    win_rows = [
        _report_wins(
            bench,
            f"{name} win rate vs JW-OS, DPLL steps",
            f"DPLL (steps), {name}",
            dpll_steps[name],
            dpll_steps["JW-OS"],
            suffix=f" of {len(dpll_steps[name])}",
        )
        for name in dpll_hybrids
    ]
    rng = np.random.default_rng([bench.seed, 7, opt.cdcl_n])
    cdcl_cfg = CDCLConfig(max_decisions=opt.cdcl_max_decisions)
    look_name = _look_name(opt.lookahead, opt.fail_first)
    hybrid_makers = _hybrids(net, opt.threshold, opt.lookahead, opt.fail_first)
    makers = {**hybrid_makers, "JW-OS": JeroslowWang}
    hybrids = list(hybrid_makers)
    cdcl_dec: dict[str, list[float]] = {k: [] for k in [*hybrids, "JW-OS"]}
    member: list[str] = []  # "SAT" / "UNSAT" per instance
    with progress_bar(f"bench sat: CDCL on {2 * cdcl_pairs} formulas", cdcl_pairs) as tick:
        for _ in range(cdcl_pairs):
            pair = generate_sr_pair(opt.cdcl_n, rng, opt.variant)
            for kind, cnf in (("SAT", pair.sat), ("UNSAT", pair.unsat)):
                member.append(kind)
                for name, out in cdcl_dec.items():
                    r = solve_cdcl(cnf, makers[name](), cdcl_cfg)
                    if r.status is Status.SATISFIABLE:
                        _check_sat(cnf, r.model, f"CDCL/{name}")
                    elif r.status is Status.UNSATISFIABLE and not (
                        check_drup(cnf, r.proof or []).accepted
                    ):
                        raise RuntimeError(f"CDCL/{name}: refutation failed DRUP checking")
                    out.append(r.decisions if r.status is not Status.UNKNOWN else float("inf"))
            tick()
    jw_dec = cdcl_dec["JW-OS"]
    for name in hybrids:
        by_kind = []
        for kind in ("SAT", "UNSAT"):
            ours = [d for d, k in zip(cdcl_dec[name], member, strict=True) if k == kind]
            theirs = [d for d, k in zip(jw_dec, member, strict=True) if k == kind]
            wk, lk, _ = _wins(ours, theirs)
            by_kind.append(f"{kind} {wk}-{lk}")
        win_rows.append(
            _report_wins(
                bench,
                f"{name} win rate vs JW-OS, CDCL decisions",
                f"CDCL SR({opt.cdcl_n}) (decisions), {name}",
                cdcl_dec[name],
                jw_dec,
                prefix=f"SR({opt.cdcl_n}) pairs x{cdcl_pairs}: ",
                suffix=f" ({', '.join(by_kind)})",
            )
        )
    bench.table(
        "Experiment 2: the hybrids vs JW-OS, instance by instance",
        [
            "solver, heuristic",
            "instances",
            "wins",
            "JW-OS wins",
            "ties",
            "win rate %",
            "median",
            "median JW-OS",
        ],
        win_rows,
    )
    bench.data["cdcl_decisions"] = {"member": member, **cdcl_dec}
    bench.note(
        "Paper: the hybrid wins on 57-71% of DPLL and 61-67% of CDCL instances. "
        f"'{look_name}': where P(sat) >= the threshold, the literal among "
        f"JW-OS's {opt.lookahead} best whose propagated child the network finds likeliest "
        "satisfiable"
        + ("; where it is below, the one it finds least likely. " if opt.fail_first else ". ")
        + f"The CDCL runs of experiment 2 took {time.perf_counter() - t_exp:.0f} s."
    )
    t_exp = time.perf_counter()

    # -- Experiment 3: CaDiCaL alone vs guided, MiniSat alongside ---------------------------
    sets: list[tuple[str, list[tuple[str, CNF]]]] = []
    for n in opt.cadical_sizes:
        rng = np.random.default_rng([bench.seed, 11, n])
        members = []
        for i in range((per_set + 1) // 2):
            pair = generate_sr_pair(n, rng, opt.cadical_variant)
            members += [(f"sr{n}-{i}-sat", pair.sat), (f"sr{n}-{i}-unsat", pair.unsat)]
        sets.append((f"SR({n}) {opt.cadical_variant}", members[:per_set]))
    have_satlib = satlib.is_dir()
    if have_satlib:
        for name in ("uf50", "uuf50", "flat30-60"):
            folder = satlib / name
            if folder.is_dir():
                rng = np.random.default_rng([bench.seed, 13, len(name)])
                sets.append((name, _satlib_sample(folder, per_set, rng)))
    else:
        bench.note(f"SATLIB not found at {satlib}: experiments 3-4 on SR(n) only.")
    cad_rows = []
    speed_ours: list[tuple[int, float]] = []
    speed_minisat: list[tuple[int, float]] = []
    for set_name, instances in sets:
        alone_d, alone_t, guided_d, guided_t, ms_d, ms_t, jw_d = [], [], [], [], [], [], []
        look_d: list[float] = []
        for _, cnf in instances:
            a = solve_cadical(cnf)
            g = solve_cadical(cnf, hybrid_makers["hybrid"](), max_guided=opt.guided)
            j = solve_cadical(cnf, JeroslowWang(), max_guided=opt.guided)
            statuses = {a.status, g.status, j.status}
            if look_name in hybrid_makers:
                t = solve_cadical(cnf, hybrid_makers[look_name](), max_guided=opt.guided)
                statuses.add(t.status)
                look_d.append(t.decisions)
            ok, stats, ms_sec = _minisat(cnf)
            if len(statuses) > 1 or (a.status is Status.SATISFIABLE) != ok:
                raise RuntimeError(f"{set_name}: CaDiCaL alone, guided and MiniSat disagree")
            jw_d.append(j.decisions)
            alone_d.append(a.decisions)
            alone_t.append(a.seconds)
            guided_d.append(g.decisions)
            guided_t.append(g.seconds)
            ms_d.append(stats.get("decisions", 0))
            ms_t.append(ms_sec)
            if cnf.num_vars <= 150:  # the pure-Python CDCL is too slow on SR(200)
                speed_cfg = CDCLConfig(
                    vsids=True, proof=False, restarts=True, max_conflicts=speed_conflicts
                )
                t0 = time.perf_counter()
                r = solve_cdcl(cnf, None, speed_cfg)
                sec = time.perf_counter() - t0
                if r.status is Status.SATISFIABLE:
                    _check_sat(cnf, r.model, "CDCL/VSIDS")
                speed_ours.append((r.propagations, sec))
                speed_minisat.append((stats.get("propagations", 0), ms_sec))
        cad_rows.append(
            [
                set_name,
                len(instances),
                _median(alone_d),
                _median(guided_d),
                _median(look_d),
                _median(jw_d),
                _median(ms_d),
                _median(alone_t) * 1e3,
                _median(guided_t) * 1e3,
                _median(ms_t) * 1e3,
            ]
        )
        setting = f"{len(instances)} instances, {opt.guided} guided decisions"
        bench.figure(
            f"CaDiCaL median decisions, {set_name}, hybrid-guided",
            _median(guided_d),
            "decisions",
            peer="CaDiCaL alone",
            peer_value=_median(alone_d),
            higher_is_better=False,
            setting=setting,
        )
        bench.figure(
            f"CaDiCaL median wall time, {set_name}, hybrid-guided",
            _median(guided_t) * 1e3,
            "ms",
            peer="CaDiCaL alone",
            peer_value=_median(alone_t) * 1e3,
            higher_is_better=False,
            setting=setting,
        )
    bench.table(
        "Experiment 3: CaDiCaL alone vs guided by the hybrid (medians), MiniSat alongside",
        [
            "set",
            "instances",
            "dec. alone",
            "dec. guided",
            f"dec. {look_name}-guided",
            "dec. JW-OS-guided",
            "dec. MiniSat",
            "ms alone",
            "ms guided",
            "ms MiniSat",
        ],
        cad_rows,
    )

    bench.note(f"Experiments 3 and 4 took {time.perf_counter() - t_exp:.0f} s.")

    # -- Experiment 4: propagation speed ---------------------------------------------------
    ours = sum(p for p, _ in speed_ours) / max(sum(s for _, s in speed_ours), 1e-9)
    theirs = sum(p for p, _ in speed_minisat) / max(sum(s for _, s in speed_minisat), 1e-9)
    bench.figure(
        "CDCL propagations/s",
        ours,
        "prop/s",
        peer="MiniSat 2.2",
        peer_value=theirs,
        setting=f"{len(speed_ours)} instances of experiment 3 with n <= 150, VSIDS, Luby "
        f"restarts, at most {speed_conflicts} conflicts",
    )
    bench.data["speed"] = {"ours": speed_ours, "minisat": speed_minisat}
