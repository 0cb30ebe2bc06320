"""``palestra bench prover``: the connection prover on M2k, with E 2.6 run side by side.

Figures (issue 3):

- problems proved at 200,000 inferences with leanCoP's first strategy ``[cut,comp(7)]``, and
  with the complete search ``[conj,nodef]``;
- problems proved at T seconds per problem with Palestra's schedule, next to E 2.6
  (``eprover --auto-schedule --tptp3-in --cpu-limit=T``) on the same problems in the same run,
  with the same number of problems in parallel;
- inferences per second of the search (the median over the problems whose 200k-inference
  attempt hit the limit, so that every measured run is a full 200,001-inference search).

Every proof is re-checked by the independent checker before it counts. ``--quick`` uses a
seeded sample of M2k (``quick_sample`` problems); the full mode runs all 2,003.
Reference points measured on this machine (not in the same run): leanCoP 2.1 with
``[cut,comp(7)]`` at 200k inferences proved 52.5% of a 400-problem M2k sample and ran at about
350,000 inferences/s; at 10 s, leanCoP's schedule proved 25 of a 40-problem sample and E 36.

``measure_speed`` times the C core beside the Python reference core on leanCoP's golden rows
(inferences per second of each, and the speed-up); the suite does not report it.
"""

from __future__ import annotations

import random
import shutil
import statistics
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palestra.core.bench import Bench, register_suite
from palestra.core.config import arg
from palestra.core.errors import PalestraError
from palestra.core.progress import progress_bar
from palestra.prove.calculus import python_core
from palestra.prove.ccore import CCore
from palestra.prove.compiled import Options, compile_matrix
from palestra.prove.golden import GoldenRow, matrix_path, read_matrix
from palestra.prove.run import prove_paths

__all__ = ["ProverBenchOptions", "measure_speed", "run_eprover"]

_SHARED_M2K = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "tptp" / "m2k"
_GOLDEN = Path(__file__).resolve().parents[3].parent / "shared/data/tptp/leancop21_golden"


@dataclass
class ProverBenchOptions:
    problems: Path = arg(_SHARED_M2K, "Folder of M2k problems (*.p).")
    quick_sample: int = arg(40, "Quick mode: size of the seeded sample.")
    sample: int = arg(0, "Full mode: size of a seeded sample (0 = every problem).")
    inference_limit: int = arg(200_000, "Inference limit of the fixed-strategy runs.")
    time_limit: float = arg(
        10.0, "Seconds per problem for the schedule and for E (0 skips that comparison)."
    )
    jobs: int = arg(2, "Problems in parallel (the same for Palestra and E).")
    eprover: str = arg("eprover", "The E executable.")


def run_eprover(exe: str, path: Path, seconds: float) -> dict[str, Any]:
    """Run E on one problem; its SZS status and wall time."""
    t0 = time.perf_counter()
    try:
        out = subprocess.run(
            [exe, "--auto-schedule", "--tptp3-in", f"--cpu-limit={seconds:g}", "-s", str(path)],
            capture_output=True,
            text=True,
            timeout=seconds * 3 + 10,
        )
        text = out.stdout
    except subprocess.TimeoutExpired:
        text = ""
    status = "Timeout"
    for line in text.splitlines():
        if line.startswith("# SZS status "):
            status = line.split()[3]
    return {"problem": path.stem, "status": status, "seconds": time.perf_counter() - t0}


def _proved(results: list[dict[str, Any]]) -> int:
    bad = [r["problem"] for r in results if r["status"] == "Theorem" and not r["checked"]]
    if bad:
        raise PalestraError(f"bench prover: proofs rejected by the checker: {bad}")
    return sum(r["status"] == "Theorem" for r in results)


@register_suite("prover", config=ProverBenchOptions)
def run(bench: Bench) -> None:
    opts: ProverBenchOptions = bench.options
    files = sorted(Path(opts.problems).glob("*.p"))
    if not files:
        raise PalestraError(f"{opts.problems}: no M2k problems found (*.p)")
    size = opts.quick_sample if bench.quick else opts.sample
    if size and size < len(files):
        files = sorted(random.Random(bench.seed).sample(files, size))
    n = len(files)
    setting = f"{n} M2k problems" + (f" (seeded sample, seed {bench.seed})" if size else "")

    by_strategy: dict[str, list[dict[str, Any]]] = {}
    for strategy in ("[cut,comp(7)]", "[conj,nodef]"):
        with progress_bar(f"prover {strategy} at {opts.inference_limit:,} inferences", n) as tick:
            by_strategy[strategy] = prove_paths(
                files,
                strategy=strategy,
                time_limit=600.0,
                inference_limit=opts.inference_limit,
                jobs=opts.jobs,
                on_result=lambda _: tick(),
            )
        proved = _proved(by_strategy[strategy])
        bench.figure(
            f"proved at {opts.inference_limit // 1000}k inferences, {strategy}",
            100.0 * proved / n,
            "% of problems",
            setting=f"{setting}; {proved} proved",
        )

    rates = [
        a["inferences"] / a["search_seconds"]
        for rs in by_strategy.values()
        for r in rs
        for a in r["attempts"]
        if a["status"] == "InfLimit" and a.get("search_seconds")
    ]
    if rates:
        bench.figure(
            "inferences per second (median over limit-hit searches)",
            statistics.median(rates),
            "inferences/s",
            peer="leanCoP 2.1 reference (this machine, not this run)",
            peer_value=350_000,
            setting=f"{len(rates)} searches of {opts.inference_limit + 1:,} inferences",
        )

    if opts.time_limit > 0:
        _timed_comparison(bench, opts, files, setting, by_strategy)
    else:
        bench.note("The timed comparison with E was skipped (time_limit=0).")
    bench.note(
        "Reference points measured on this machine, not in this run: leanCoP 2.1 [cut,comp(7)] "
        "at 200k inferences proved 52.5% of a 400-problem M2k sample; at 10 s leanCoP's "
        "schedule proved 25 of a 40-problem sample and E 36."
    )
    bench.data["results"] = by_strategy
    for results in by_strategy.values():
        for r in results:
            r.pop("proof", None)
            r.pop("proof_text", None)


def _timed_comparison(
    bench: Bench,
    opts: ProverBenchOptions,
    files: list[Path],
    setting: str,
    by_strategy: dict[str, list[dict[str, Any]]],
) -> None:
    """The schedule at ``time_limit`` seconds per problem, and E on the same problems."""
    n = len(files)
    exe = shutil.which(opts.eprover)
    with progress_bar(f"prover schedule at {opts.time_limit:g} s", n) as tick:
        ours = prove_paths(
            files,
            strategy="schedule",
            time_limit=opts.time_limit,
            jobs=opts.jobs,
            on_result=lambda _: tick(),
        )
    ours_proved = _proved(ours)
    e_results: list[dict[str, Any]] = []
    if exe is None:
        bench.note(f"E was not found ({opts.eprover}); install Debian's eprover for the peer.")
    else:
        with (
            progress_bar(f"E 2.6 at {opts.time_limit:g} s", n) as tick,
            ThreadPoolExecutor(opts.jobs) as pool,
        ):

            def one(path: Path) -> dict[str, Any]:
                result = run_eprover(exe, path, opts.time_limit)
                tick()
                return result

            e_results = list(pool.map(one, files))
        version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
        bench.note(f"Peer: {version.strip()} ({exe}), run in this same bench.")
    e_proved = sum(r["status"] == "Theorem" for r in e_results) if e_results else None
    bench.figure(
        f"proved at {opts.time_limit:g} s per problem (schedule)",
        100.0 * ours_proved / n,
        "% of problems",
        peer="E 2.6 --auto-schedule" if e_results else None,
        peer_value=100.0 * e_proved / n if e_proved is not None else None,
        setting=f"{setting}; {opts.jobs} in parallel; {ours_proved} vs {e_proved} proved",
    )

    with bench.plot(
        "cactus",
        f"Problems proved within a time (M2k, {n} problems)",
        xlabel="seconds",
        ylabel="problems proved",
    ) as ax:
        for label, results in (("Palestra schedule", ours), ("E 2.6", e_results)):
            times = sorted(r["seconds"] for r in results if r["status"] == "Theorem")
            if times:
                ax.step(times, range(1, len(times) + 1), where="post", label=label)
    rows = []
    e_by_name = {r["problem"]: r for r in e_results}
    for i, path in enumerate(files):
        cut = by_strategy["[cut,comp(7)]"][i]
        complete = by_strategy["[conj,nodef]"][i]
        e = e_by_name.get(path.stem, {})
        rows.append(
            [
                path.stem,
                cut["status"],
                cut["inferences"],
                complete["status"],
                ours[i]["status"],
                ours[i]["strategy"] or "",
                e.get("status", "–"),
            ]
        )
    bench.table(
        "Per problem",
        ["problem", "[cut,comp(7)]", "inferences", "[conj,nodef]", "schedule", "by", "E 2.6"],
        rows,
    )
    by_strategy["schedule"] = ours
    by_strategy["eprover"] = e_results


def measure_speed(
    rows: Sequence[GoldenRow], golden_dir: str | Path = _GOLDEN, python: bool = True
) -> dict[str, Any]:
    """Inferences per second of the C core (and the Python core) on golden rows.

    Each row's matrix is read and compiled once (not timed); then each core is timed on it
    from the ``CompiledMatrix`` to its ``CoreResult`` (for the C core: flattening, search and
    reading the proof back). Pass the rows that hit the inference limit for a measure over
    full 200,001-inference searches. Returns the per-row figures and their medians.
    """
    per_row: list[dict[str, Any]] = []
    for row in rows:
        options = Options.from_leancop(row.settings)
        cm = compile_matrix(read_matrix(matrix_path(golden_dir, row)), options.reo)
        entry: dict[str, Any] = {"problem": row.problem, "settings": row.settings}
        cores: list[tuple[str, Any]] = [("c", CCore())]
        if python:
            cores.append(("python", python_core))
        for name, core in cores:
            t0 = time.perf_counter()
            result = core(cm, options)
            seconds = time.perf_counter() - t0
            entry[f"{name}_status"] = result.status
            entry[f"{name}_inferences"] = result.inferences
            entry[f"{name}_seconds"] = round(seconds, 6)
            entry[f"{name}_ips"] = result.inferences / seconds if seconds > 0 else float("inf")
        entry["golden_inferences"] = row.inferences
        per_row.append(entry)
    out: dict[str, Any] = {"rows": per_row, "n": len(per_row)}
    for name in ("c", "python") if python else ("c",):
        ips = [r[f"{name}_ips"] for r in per_row]
        out[f"{name}_median_ips"] = statistics.median(ips) if ips else None
    if python and per_row:
        out["median_speedup"] = statistics.median(r["c_ips"] / r["python_ips"] for r in per_row)
    return out
