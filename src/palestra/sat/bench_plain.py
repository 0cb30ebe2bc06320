"""``palestra bench sat -o parts=plain``: plain solving, the default ``sat solve`` against
python-sat's solvers, and the compiled CDCL against MiniSat and against its Python reference.

``plain_solving(bench, ...)`` measures, in one run on the same instances (a seeded sample of
each SATLIB family: uf/uuf 50 to 225 variables, flat graph colouring 30 to 75 vertices; on an
instance whose default run takes under 50 ms, every solver is timed three times, in turn, and
its best time kept, so that sub-millisecond timings carry less of the machine's noise):

1. **Wall time** of ``palestra sat solve FILE`` as the CLI runs it (``solve.solve``: read the
   file, CaDiCaL 1.9.5 with an LRAT trace, check the model or the LRAT proof, print), against
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

4. **A large file**: a planted random 3-SAT formula (1M clauses over 333,333 variables, full
   mode; 200,000 quick), satisfiable by construction, generated seeded into a temporary folder
   (``planted_3sat``): ``palestra sat solve`` on it against python-sat reading the same file
   and then CaDiCaL, one run each, with the time of reading the file on either side.

Every model is checked and every UNSAT answer of the default LRAT-checked (by the command
itself); a disagreement between solvers stops the bench. What it does not do: one run per
instance and solver above 50 ms, so on a shared machine the timings carry its load; the CDCL
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

__all__ = ["FAMILIES", "large_file", "plain_solving", "planted_3sat"]

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


def planted_3sat(path: Path, num_vars: int, num_clauses: int, seed: int) -> None:
    """Write to ``path`` a planted random 3-SAT formula, satisfiable by construction: each
    clause is drawn uniformly among the clauses of 3 distinct variables that a hidden random
    assignment satisfies (draw the variables and signs, redraw those that repeat a variable or
    that the assignment falsifies)."""
    rng = np.random.default_rng([seed, num_vars, num_clauses])
    hidden = rng.integers(0, 2, num_vars + 1).astype(bool)  # [n + 1], index 0 unused
    variables = rng.integers(1, num_vars + 1, (num_clauses, 3))  # [m, 3]
    while True:
        v = variables
        repeat = (v[:, 0] == v[:, 1]) | (v[:, 0] == v[:, 2]) | (v[:, 1] == v[:, 2])
        if not repeat.any():
            break
        variables[repeat] = rng.integers(1, num_vars + 1, (int(repeat.sum()), 3))
    negative = rng.integers(0, 2, (num_clauses, 3)).astype(bool)  # [m, 3]
    while True:  # a literal is true iff its variable's hidden value differs from its sign
        falsified = ~(hidden[variables] != negative).any(axis=1)
        if not falsified.any():
            break
        negative[falsified] = rng.integers(0, 2, (int(falsified.sum()), 3)).astype(bool)
    literals = np.where(negative, -variables, variables).tolist()
    with open(path, "w", encoding="ascii") as f:
        f.write(f"c planted 3-SAT, seed {seed}\np cnf {num_vars} {num_clauses}\n")
        f.write("".join(f"{a} {b} {c} 0\n" for a, b, c in literals))


def large_file(bench: Bench, num_clauses: int, ratio: float = 3.0) -> None:
    """The large-file row: a planted 3-SAT formula of ``num_clauses`` clauses at ``ratio``
    clauses per variable (written to a temporary folder, seeded), solved once each by
    ``palestra sat solve`` (default, with its model check) and by python-sat reading the file
    itself then CaDiCaL; with the times of their parts."""
    import tempfile

    from palestra.sat.config import SatSolveConfig
    from palestra.sat.dimacs import read_dimacs
    from palestra.sat.solve import solve

    num_vars = round(num_clauses / ratio)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"planted-{num_vars}-{num_clauses}.cnf"
        planted_3sat(path, num_vars, num_clauses, bench.seed)
        size = path.stat().st_size
        t0 = time.perf_counter()
        cnf = read_dimacs(path)
        read_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        r = solve(SatSolveConfig(file=path, json=True), out=io.StringIO())
        default_s = time.perf_counter() - t0
        del cnf
        t0 = time.perf_counter()
        from pysat.formula import CNF as PysatCNF

        formula = PysatCNF(from_file=str(path))
        pysat_read_s = time.perf_counter() - t0
        del formula
        ok_f, file_s = _from_file(path)
    if r.status is not Status.SATISFIABLE or not r.checked or not ok_f:
        raise RuntimeError(f"{path.name}: default {r.status.value} (checked {r.checked}), "
                           f"python-sat {ok_f}; it is satisfiable by construction")  # fmt: skip
    setting = (f"planted 3-SAT, {num_vars} variables, {num_clauses} clauses "
               f"({size / 2**20:.0f} MiB), seed {bench.seed}; one run each")  # fmt: skip
    bench.figure(
        "sat solve default wall, large file",
        default_s,
        "s",
        peer="python-sat reading the file, then CaDiCaL 1.9.5",
        peer_value=file_s,
        higher_is_better=False,
        setting=setting,
    )
    bench.table(
        "Large file: wall time (s) of its parts",
        ["what", "seconds"],
        [["`palestra sat solve` (read, CaDiCaL with proof trace, model check, print)",
          round(default_s, 2)],
         ["  of which reading the DIMACS file (palestra, compiled reader)", round(read_s, 2)],
         ["  of which CaDiCaL (clauses handed over, solve, model)", round(r.seconds, 2)],
         ["python-sat reading the file, then CaDiCaL (no proof, no check)", round(file_s, 2)],
         ["  of which python-sat reading the file (pysat.formula.CNF)", round(pysat_read_s, 2)]],
    )  # fmt: skip
    bench.data["large_file"] = {
        "num_vars": num_vars, "num_clauses": num_clauses, "bytes": size,
        "default_s": default_s, "read_s": read_s, "solver_s": r.seconds,
        "pysat_file_s": file_s, "pysat_read_s": pysat_read_s,
    }  # fmt: skip


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def plain_solving(
    bench: Bench,
    satlib: Path,
    per_family: int | None = None,
    speed_max_vars: int = 150,
    speed_max_conflicts: int = 20000,
    reference_max_vars: int = 75,
    repeats: int = 3,
    repeat_below: float = 0.05,
    large_clauses: int | None = None,
) -> None:
    """Record the plain-solving part of ``palestra bench sat`` (see the module docstring):
    ``per_family`` instances per SATLIB family (default 5 quick, 20 full), each solver timed
    ``repeats`` times (best kept) on instances whose default run is under ``repeat_below``
    seconds; then the large file of ``large_clauses`` clauses (default 200,000 quick,
    1,000,000 full; 0: none)."""
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
            best = dict.fromkeys(wall, float("inf"))
            for round_ in range(repeats):
                t0 = time.perf_counter()
                r = solve(SatSolveConfig(file=path, json=True), out=io.StringIO())
                sec_d = time.perf_counter() - t0
                ok_c, sec_c, _, _ = _direct("cadical", cnf)
                ok_m, sec_m, stats_m, solve_m = _direct("minisat", cnf)
                ok_f, sec_f = _from_file(path)
                for key, sec in zip(best, (sec_d, sec_c, sec_m, sec_f), strict=True):
                    best[key] = min(best[key], sec)
                if round_ == 0 and sec_d > repeat_below:
                    break  # one run is enough where the run is long
            for key, sec in best.items():
                wall[key].append(sec)
            sec_c, sec_m, sec_f = best["cadical"], best["minisat"], best["file"]
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
    large = (200_000 if bench.quick else 1_000_000) if large_clauses is None else large_clauses
    if large:
        large_file(bench, large)
    bench.note(
        f"Plain solving: {len(records)} instances, {k} per family (seeded sample), each "
        f"solver timed {repeats} times (best kept) where the default run took under "
        f"{repeat_below * 1e3:.0f} ms, once otherwise; took "
        f"{time.perf_counter() - t_part:.0f} s. Default = `palestra sat solve FILE` in "
        "process: read the DIMACS file, CaDiCaL 1.9.5 with a binary LRAT trace, model check or "
        "compiled LRAT check, print. CaDiCaL/MiniSat direct: python-sat with the "
        "clauses in memory, no proof, no check. 'pysat file + CaDiCaL': python-sat reading "
        "the file itself (pysat.formula.CNF), then CaDiCaL, no proof, no check."
    )
