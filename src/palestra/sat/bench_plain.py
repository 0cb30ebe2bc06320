"""``palestra bench sat -o parts=plain``: plain solving, the default ``sat solve`` against
python-sat's solvers, and the compiled CDCL against MiniSat and against its Python reference.

``plain_solving(bench, ...)`` measures, in one run on the same instances (a seeded sample of
each SATLIB family: uf/uuf 50 to 225 variables, flat graph colouring 30 to 75 vertices):

1. **Wall time** of ``palestra sat solve FILE`` as the CLI runs it (``solve.solve``: read the
   file, CaDiCaL 1.9.5 with a proof trace, check the model or the DRUP proof, print), against
   MiniSat 2.2 and CaDiCaL 1.9.5 through python-sat directly (clauses handed over from memory,
   solve; no proof, no check, no file reading): median and max per family, and the ratio of
   the medians, default / CaDiCaL. Alongside, python-sat reading the file itself and then
   CaDiCaL (what a python-sat user runs on a file). The answers must agree.
2. **Propagations per second** of the compiled CDCL (VSIDS, Luby restarts, no proof, a
   conflict cap) against MiniSat's own count over its ``solve()`` call alone, summed over the
   instances of at most ``speed_max_vars`` variables. Our time includes handing the clauses
   to C; MiniSat's does not. The default JW-OS heuristic (a full scan of the formula per
   decision) is reported alongside.
3. **Compiled against Python CDCL**: the time ratio on the instances of at most
   ``reference_max_vars`` variables, where the reference finishes in seconds; the counts and
   learnt clauses must be identical (else the bench stops).

Every model is checked and every UNSAT answer of the default DRUP-checked (by the command
itself); a disagreement between solvers stops the bench. What it does not do: one run per
instance and solver (no repeats), so on a shared machine the timings carry its load; the CDCL
here never deletes learnt clauses, so on long runs its propagations get slower than MiniSat's
by design, not only by implementation.
"""

from __future__ import annotations

import io
import statistics
import time
from pathlib import Path

import numpy as np

from palestra.core.bench import Bench
from palestra.sat.cnf import CNF, Status

__all__ = ["FAMILIES", "plain_solving"]

FAMILIES = (
    *(f"{kind}{n}" for n in (50, 75, 100, 125, 150, 175, 200, 225) for kind in ("uf", "uuf")),
    "flat30-60",
    "flat50-115",
    "flat75-180",
)


def _sample(folder: Path, k: int, rng: np.random.Generator) -> list[tuple[Path, CNF]]:
    """``k`` seeded-random files of ``folder`` that parse (flat30-1.cnf has no header)."""
    from palestra.sat.dimacs import DimacsError, read_dimacs

    files = sorted(folder.glob("*.cnf"))
    out: list[tuple[Path, CNF]] = []
    for i in rng.permutation(len(files)):
        if len(out) >= k:
            break
        try:
            out.append((files[i], read_dimacs(files[i])))
        except DimacsError:
            continue
    return out


def _from_file(path: Path) -> tuple[bool, float]:
    """python-sat reading the file itself (``pysat.formula.CNF``), then CaDiCaL: what a user
    of python-sat alone runs on a file; no proof, no check."""
    from pysat.formula import CNF as PysatCNF
    from pysat.solvers import Cadical195

    t0 = time.perf_counter()
    formula = PysatCNF(from_file=str(path))
    with Cadical195(bootstrap_with=formula.clauses) as s:
        ok = bool(s.solve())
    return ok, time.perf_counter() - t0


def _direct(name: str, cnf: CNF) -> tuple[bool, float, dict[str, int], float]:
    """python-sat's ``name`` on ``cnf``: (answer, seconds to build and solve, stats, seconds of
    ``solve()`` alone); a model is checked after the clock stops."""
    from pysat.solvers import Cadical195, Minisat22

    kind = {"minisat": Minisat22, "cadical": Cadical195}[name]
    t0 = time.perf_counter()
    with kind(bootstrap_with=cnf.clauses) as s:
        t1 = time.perf_counter()
        ok = bool(s.solve())
        t2 = time.perf_counter()
        stats = s.accum_stats()
        model = s.get_model() if ok else None
    if ok:
        true = set(model or [])
        full = [v if v in true else -v for v in range(1, cnf.num_vars + 1)]
        if not cnf.check_model(full):
            raise RuntimeError(f"{name}: returned a model that falsifies the formula")
    return ok, t2 - t0, stats, t2 - t1


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def plain_solving(
    bench: Bench,
    satlib: Path,
    per_family: int | None = None,
    speed_max_vars: int = 150,
    speed_max_conflicts: int = 20000,
    reference_max_vars: int = 75,
) -> None:
    """Record the plain-solving part of ``palestra bench sat`` (see the module docstring):
    ``per_family`` instances per SATLIB family (default 5 quick, 20 full)."""
    from palestra.sat.cdcl import CDCLConfig, solve_cdcl
    from palestra.sat.config import SatSolveConfig
    from palestra.sat.solve import solve

    if not satlib.is_dir():
        bench.note(f"plain solving: SATLIB not found at {satlib}; not run.")
        return
    k = per_family or (5 if bench.quick else 20)
    t_part = time.perf_counter()
    rows = []
    records = []
    ratios: dict[str, float] = {}
    speed = {"ours": [0, 0.0], "ours_jw": [0, 0.0], "minisat": [0, 0.0]}
    speedups: list[float] = []
    vsids = CDCLConfig(vsids=True, restarts=True, proof=False, max_conflicts=speed_max_conflicts)
    jw = CDCLConfig(proof=False, max_conflicts=speed_max_conflicts)
    for family in FAMILIES:
        folder = satlib / family
        if not folder.is_dir():
            continue
        rng = np.random.default_rng([bench.seed, 29, len(family), int(family[-2:])])
        instances = _sample(folder, k, rng)
        wall: dict[str, list[float]] = {"default": [], "cadical": [], "minisat": [], "file": []}
        for path, cnf in instances:
            t0 = time.perf_counter()
            r = solve(SatSolveConfig(file=path, json=True), out=io.StringIO())
            wall["default"].append(time.perf_counter() - t0)
            ok_c, sec_c, _, _ = _direct("cadical", cnf)
            ok_m, sec_m, stats_m, solve_m = _direct("minisat", cnf)
            ok_f, sec_f = _from_file(path)
            wall["cadical"].append(sec_c)
            wall["minisat"].append(sec_m)
            wall["file"].append(sec_f)
            if not r.checked or {ok_c, ok_m, ok_f} != {r.status is Status.SATISFIABLE}:
                raise RuntimeError(f"{path.name}: default {r.status.value}, checked "
                                   f"{r.checked}; CaDiCaL {ok_c}; MiniSat {ok_m}")  # fmt: skip
            record = {
                "family": family,
                "file": path.name,
                "status": r.status.value,
                "default_s": wall["default"][-1],
                "cadical_s": sec_c,
                "minisat_s": sec_m,
                "cadical_from_file_s": sec_f,
            }
            if cnf.num_vars <= speed_max_vars:
                for key, cfg in (("ours", vsids), ("ours_jw", jw)):
                    c = solve_cdcl(cnf, None, cfg, engine="c")
                    if c.status is Status.SATISFIABLE and not cnf.check_model(c.model or []):
                        raise RuntimeError(f"{path.name}: compiled CDCL model falsifies it")
                    speed[key][0] += c.propagations or 0
                    speed[key][1] += c.seconds
                speed["minisat"][0] += stats_m.get("propagations", 0)
                speed["minisat"][1] += solve_m
            if cnf.num_vars <= reference_max_vars:
                ref = solve_cdcl(cnf, None, vsids, engine="python")
                fast = solve_cdcl(cnf, None, vsids, engine="c")
                same = ("decisions", "conflicts", "propagations", "learned", "restarts")
                if any(getattr(ref, f) != getattr(fast, f) for f in same):
                    raise RuntimeError(f"{path.name}: compiled and Python CDCL differ")
                speedups.append(ref.seconds / max(fast.seconds, 1e-9))
                record["python_cdcl_s"], record["c_cdcl_s"] = ref.seconds, fast.seconds
            records.append(record)
        med = {key: _median(v) for key, v in wall.items()}
        ratios[family] = med["default"] / med["cadical"]
        rows.append([family, len(instances),
                     *(round(med[s] * 1e3, 2) for s in ("default", "cadical", "minisat")),
                     *(round(max(wall[s]) * 1e3, 2) for s in ("default", "cadical", "minisat")),
                     round(ratios[family], 2), round(med["file"] * 1e3, 2),
                     round(med["default"] / med["file"], 2)])  # fmt: skip
        bench.figure(
            f"sat solve default median wall, {family}",
            med["default"] * 1e3,
            "ms",
            peer="CaDiCaL 1.9.5 direct",
            peer_value=med["cadical"] * 1e3,
            higher_is_better=False,
            setting=f"{len(instances)} instances; default = read + solve + check + print",
        )
    if not rows:
        bench.note(f"plain solving: no SATLIB family under {satlib}; not run.")
        return
    bench.table(
        "Plain solving: wall time (ms) of `palestra sat solve` (default, with its checks) vs "
        "python-sat directly",
        ["family", "instances", "median default", "median CaDiCaL", "median MiniSat",
         "max default", "max CaDiCaL", "max MiniSat", "default / CaDiCaL (medians)",
         "median pysat file + CaDiCaL", "default / that"],
        rows,
    )  # fmt: skip
    worst = max(ratios, key=ratios.__getitem__)
    bench.figure(
        "sat solve default / CaDiCaL median wall, worst family",
        ratios[worst],
        "x",
        higher_is_better=False,
        setting=f"{worst}; target <= 2 (every answer checked)",
    )
    rates = {key: p / max(s, 1e-9) for key, (p, s) in speed.items()}
    bench.figure(
        "compiled CDCL propagations/s (VSIDS, Luby)",
        rates["ours"],
        "prop/s",
        peer="MiniSat 2.2",
        peer_value=rates["minisat"],
        setting=f"instances of <= {speed_max_vars} variables above, no proof, at most "
        f"{speed_max_conflicts} conflicts; target >= 1/3 of MiniSat's",
    )
    bench.figure(
        "compiled CDCL propagations/s (JW-OS, the default heuristic)",
        rates["ours_jw"],
        "prop/s",
        peer="MiniSat 2.2",
        peer_value=rates["minisat"],
        setting="same instances; JW-OS scans the formula at every decision",
    )
    bench.figure(
        "compiled CDCL speedup over the Python reference (median)",
        _median(speedups),
        "x",
        setting=f"{len(speedups)} instances of <= {reference_max_vars} variables, VSIDS, "
        "Luby; identical counts",
    )
    bench.data["plain"] = {"instances": records, "ratios": ratios, "speed": speed}
    with bench.plot("plain_wall", "Median wall time per family", ylabel="ms") as ax:
        x = np.arange(len(rows))
        for i, (label, col) in enumerate((("default (checked)", 2), ("CaDiCaL", 3),
                                          ("MiniSat", 4))):  # fmt: skip
            ax.bar(x + (i - 1) * 0.27, [row[col] for row in rows], 0.27, label=label)
        ax.set_xticks(x, [row[0] for row in rows], rotation=60, fontsize=7)
        ax.set_yscale("log")
    bench.note(
        f"Plain solving: {len(records)} instances, {k} per family (seeded sample); took "
        f"{time.perf_counter() - t_part:.0f} s. Default = `palestra sat solve FILE` in "
        "process: read the DIMACS file, CaDiCaL 1.9.5 with a binary DRAT trace, model check or "
        "compiled backward DRUP check, print. CaDiCaL/MiniSat direct: python-sat with the "
        "clauses in memory, no proof, no check. 'pysat file + CaDiCaL': python-sat reading "
        "the file itself (pysat.formula.CNF), then CaDiCaL, no proof, no check."
    )
