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

import functools
import shutil
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palestra.core.bench import Bench, register_suite
from palestra.core.config import Config, arg
from palestra.core.data import locate, problem_files
from palestra.core.jobs import run_jobs
from palestra.core.progress import progress_bar
from palestra.prove.attempt import ProofAttempt, count_proved
from palestra.prove.calculus import python_core
from palestra.prove.ccore import CCore
from palestra.prove.compiled import Options, compile_matrix
from palestra.prove.golden import GoldenRow, matrix_path, read_matrix
from palestra.prove.run import prove_paths

__all__ = ["ProverBenchOptions", "measure_speed", "run_eprover"]


@dataclass
class ProverBenchOptions(Config):
    problems: Path | None = arg(None, "Folder of M2k problems (*.p); default: data set m2k.")
    quick_sample: int = arg(40, "Quick mode: size of the seeded sample.", min=0)
    sample: int = arg(0, "Full mode: size of a seeded sample (0 = every problem).", min=0)
    inference_limit: int = arg(200_000, "Inference limit of the fixed-strategy runs.", min=1)
    time_limit: float = arg(
        10.0, "Seconds per problem for the schedule and for E (0 skips that comparison).", min=0
    )
    jobs: int = arg(2, "Problems in parallel (the same for Palestra and E).", min=1)
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


def _proved(results: list[ProofAttempt]) -> int:
    return count_proved(results, "bench prover")


def _record(r: ProofAttempt) -> dict[str, Any]:
    """A result as the bench's JSON keeps it (no proof)."""
    return {k: v for k, v in r.to_json().items() if k != "proof"}


@register_suite("prover", config=ProverBenchOptions)
def run(bench: Bench) -> None:
    opts: ProverBenchOptions = bench.options
    size = opts.quick_sample if bench.quick else opts.sample
    files = problem_files("m2k", opts.problems, sample=size, seed=bench.seed)
    n = len(files)
    setting = f"{n} M2k problems" + (f" (seeded sample, seed {bench.seed})" if size else "")

    by_strategy: dict[str, list[ProofAttempt]] = {}
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
        for a in r.attempts or ()
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

    records = {k: [_record(r) for r in rs] for k, rs in by_strategy.items()}
    if opts.time_limit > 0:
        records |= _timed_comparison(bench, opts, files, setting, by_strategy)
    else:
        bench.note("The timed comparison with E was skipped (time_limit=0).")
    bench.note(
        "Reference points measured on this machine, not in this run: leanCoP 2.1 [cut,comp(7)] "
        "at 200k inferences proved 52.5% of a 400-problem M2k sample; at 10 s leanCoP's "
        "schedule proved 25 of a 40-problem sample and E 36."
    )
    bench.data["results"] = records


def _timed_comparison(
    bench: Bench,
    opts: ProverBenchOptions,
    files: list[Path],
    setting: str,
    by_strategy: dict[str, list[ProofAttempt]],
) -> dict[str, list[dict[str, Any]]]:
    """The schedule at ``time_limit`` seconds per problem, and E on the same problems; their
    per-problem records."""
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
        e_runs = run_jobs(
            functools.partial(run_eprover, exe, seconds=opts.time_limit),
            files,
            workers=opts.jobs,
            deadline_s=opts.time_limit + 30.0,  # E stops itself at its CPU limit
            progress=f"E 2.6 at {opts.time_limit:g} s",
        )
        by_index = {r.key: r for r in e_runs}
        e_results = [
            by_index[i].value
            if by_index[i].ok
            else {"problem": f.stem, "status": "Error", "seconds": by_index[i].seconds}
            for i, f in enumerate(files)
        ]
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
        ours_times = [r.seconds for r in ours if r.proved]
        e_times = [r["seconds"] for r in e_results if r["status"] == "Theorem"]
        for label, times in (("Palestra schedule", ours_times), ("E 2.6", e_times)):
            times = sorted(times)
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
                cut.status,
                cut.inferences,
                complete.status,
                ours[i].status,
                ours[i].strategy or "",
                e.get("status", "–"),
            ]
        )
    bench.table(
        "Per problem",
        ["problem", "[cut,comp(7)]", "inferences", "[conj,nodef]", "schedule", "by", "E 2.6"],
        rows,
    )
    return {"schedule": [_record(r) for r in ours], "eprover": e_results}


def measure_speed(
    rows: Sequence[GoldenRow], golden_dir: str | Path | None = None, python: bool = True
) -> dict[str, Any]:
    """Inferences per second of the C core (and the Python core) on golden rows.

    Each row's matrix is read and compiled once (not timed); then each core is timed on it
    from the ``CompiledMatrix`` to its ``CoreResult`` (for the C core: flattening, search and
    reading the proof back). Pass the rows that hit the inference limit for a measure over
    full 200,001-inference searches. ``golden_dir`` defaults to the leancop21-golden data
    set. Returns the per-row figures and their medians.
    """
    golden_dir = locate("leancop21-golden", golden_dir)
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
