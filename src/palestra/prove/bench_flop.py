"""``palestra bench flop``: FLoP from one training proof on Robinson arithmetic, beside peers.

FLoP (Zombori et al. 2019) trained on the proof of 1*1 = 1 and proved all of RA-1, 991 of
RA-2 and 672 of RA-3, with much longer proofs than rlCoP's. This suite measures, on seeded
samples of the three sets (all of them in full mode; the training problem is never in them):

- problems solved by the trained FLoP agent (:func:`palestra.prove.flop.evaluate`: a greedy
  attempt, then sampled ones, ``time_limit`` seconds per problem), with the proof lengths
  (steps of the closed tableau: max and mean);
- the peers in the same run at the same time per problem: Palestra's schedule
  (``palestra prove``) and, when ``eprover`` is installed, E 2.6 ``--auto-schedule``;
- solved against training steps: the snapshots the run kept (``models/step_N.pt``), each
  tried greedily (one attempt, ``curve_time`` seconds) on the RA-1 and RA-2 samples.

Every proof of Palestra's counts only after the independent checker accepted it (E's status
line is taken as E reports it). ``-o runs=DIR`` keeps the training run there and resumes it
when the same command runs again; with a larger ``steps`` it continues the same run further
(``steps`` is not part of a run's recorded config), so a long training spans sessions.

``-o arms=proof,no-proof`` adds FLoP trained on the same problem with no proof (episodes from
the root: the paper's "no curriculum" baseline) at the same budget, its run kept beside the
first (``RUNS/no-proof``), each figure of it against the one-proof arm.

Not here yet (issue 25): rlCoP-style training at the same budget, the LCL sets.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palestra.core.bench import Bench, register_suite
from palestra.core.config import Config, arg
from palestra.core.data import locate, problem_files
from palestra.core.errors import PalestraError
from palestra.core.progress import progress_bar
from palestra.prove.attempt import ProofAttempt, count_proved
from palestra.prove.flop_config import FlopConfig

__all__ = ["SETS", "FlopBenchOptions", "proof_steps"]

# (name, folder under the flop-robinson data set)
SETS: tuple[tuple[str, str], ...] = (
    ("RA-1", "simple/final"),
    ("RA-2", "left_random/final"),
    ("RA-3", "random/final2"),
)


@dataclass
class FlopBenchOptions(Config):
    problems: Path | None = arg(None, "The Robinson folder; default: data set flop-robinson.")
    quick_sample: int = arg(10, "Quick mode: seeded sample of each set.", min=1)
    sample: int = arg(0, "Full mode: seeded sample of each set (0 = all).", min=0)
    train: str = arg("robinson_1m1__1", "The training problem (in RA-1), never evaluated.")
    steps: int = arg(2_000_000, "Full mode: training steps.", min=1)
    quick_steps: int = arg(30_000, "Quick mode: training steps.", min=1)
    snapshot_every: int = arg(10_000, "Keep (and plot) the model every this many steps.", min=1)
    lr: float = arg(3e-4, "Adam learning rate of the training (FLoP's: 1e-4).", above=0)
    entropy: float = arg(0.01, "Entropy bonus weight of the training.", min=0)
    time_limit: float = arg(10.0, "Seconds per problem for FLoP, the schedule and E.", above=0)
    curve_time: float = arg(2.0, "Seconds of the greedy attempt per problem per snapshot.", above=0)
    jobs: int = arg(1, "Problems in parallel (the same for every prover).", min=1)
    eprover: str = arg("eprover", "The E executable (skipped when not found).")
    runs: Path | None = arg(
        None,
        "Keep the training run in this folder and resume it when the same command runs again "
        "(more steps continue it); default: a temporary folder.",
    )
    arms: tuple[str, ...] = arg(
        ("proof",),
        "FLoP arms, each trained at the same budget: proof (from one training proof, with the "
        "curriculum), no-proof (the same training problem, episodes from the root).",
    )


def proof_steps(result: ProofAttempt) -> int | None:
    """Steps (extensions and reductions) of a found proof: from FLoP's record, else from the
    proof's text (its first line reads ``connection proof, N steps``)."""
    if not result.proved:
        return None
    if result.big_steps is not None and result.guided:
        return result.big_steps
    if result.proof is not None:
        from palestra.prove.proof import ConnectionProof

        return len(ConnectionProof.from_dict(result.proof).steps())
    text = (result.proof_text or "").split("\n", 1)[0].split()
    return int(text[2]) if len(text) > 2 and text[2].isdigit() else None


def _lengths(results: list[ProofAttempt]) -> tuple[int | None, float | None]:
    got = [n for n in map(proof_steps, results) if n is not None]
    return (max(got), statistics.mean(got)) if got else (None, None)


def _record(r: ProofAttempt) -> dict[str, Any]:
    return {
        "problem": r.problem,
        "status": r.status,
        "seconds": r.seconds,
        "proof_steps": proof_steps(r),
    }


def _eprover(exe: str, files: list[Path], seconds: float, jobs: int) -> list[dict[str, Any]]:
    from palestra.core.jobs import run_jobs
    from palestra.prove.bench import run_eprover

    runs = run_jobs(
        functools.partial(run_eprover, exe, seconds=seconds),
        files,
        workers=jobs,
        deadline_s=seconds + 30.0,
        progress=f"E at {seconds:g} s",
    )
    by_key = {r.key: r for r in runs}
    return [
        by_key[i].value
        if by_key[i].ok
        else {"problem": f.stem, "status": "Error", "seconds": by_key[i].seconds}
        for i, f in enumerate(files)
    ]


def select_agent(run_dir: Path, snapshots: list[Path], min_success: float = 0.5) -> Path:
    """``run_dir`` (its final model) when the training success rate at the end of the run is
    at least ``min_success``; else the last snapshot whose nearest earlier metrics row had
    that rate; else ``run_dir``. Reads only the run's own ``metrics.jsonl``."""
    rows = []
    metrics = run_dir / "metrics.jsonl"
    if metrics.is_file():
        for line in metrics.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                row = json.loads(line)
                if "success" in row:
                    rows.append((int(row["step"]), float(row["success"])))
    if not rows or rows[-1][1] >= min_success:
        return run_dir

    def success_at(step: int) -> float:
        before = [s for at, s in rows if at <= step]
        return before[-1] if before else 0.0

    good = [p for p in snapshots if success_at(int(p.stem.split("_")[1])) >= min_success]
    return good[-1] if good else run_dir


ARMS = ("proof", "no-proof")


def _train_arm(
    bench: Bench,
    opts: FlopBenchOptions,
    arm: str,
    train_file: Path,
    steps: int,
    runs_root: Path,
    sets: dict[str, list[Path]],
    evaluate: Any,
    train: Any,
) -> tuple[Path, dict[str, list[tuple[int, int]]], dict[str, list[ProofAttempt]]]:
    """Train one arm (resuming its run), draw its greedy curve, evaluate its agent."""
    cfg = FlopConfig(
        train=(train_file,),
        proof="auto" if arm == "proof" else "none",
        steps=steps,
        snapshot_every=opts.snapshot_every,
        lr=opts.lr,
        entropy=opts.entropy,
        seed=bench.seed,
        runs=runs_root if arm == "proof" else runs_root / arm,  # type: ignore[arg-type]
        resume=opts.runs is not None,
        progress=True,
    )
    t0 = time.perf_counter()
    run_dir = train(cfg)
    train_seconds = time.perf_counter() - t0
    summary = _read_json(run_dir / "summary.json")
    bench.note(
        f"Training ({arm}): {summary.get('steps', 0):,} steps, {summary.get('episodes', 0):,} "
        f"episodes, {train_seconds:.0f} s wall in this call (1 thread); curriculum start "
        f"at the end: {[c['start'] for c in summary.get('curricula', [])]} (0 = the root); "
        f"proofs of the training problem found from the root: "
        f"{summary.get('root_proofs', 0)}."
        + (f" Run kept in `{run_dir}`." if opts.runs is not None else "")
    )
    # -- solved vs training steps (greedy, short) --------------------------------------
    snapshots = sorted((run_dir / "models").glob("step_*.pt"))
    curve: dict[str, list[tuple[int, int]]] = {"RA-1": [], "RA-2": []}
    for snap in snapshots:
        at = int(snap.stem.split("_")[1])
        for name in curve:
            rs = evaluate(sets[name], snap, time_limit=opts.curve_time, jobs=opts.jobs,
                          seed=bench.seed, greedy_only=True)  # fmt: skip
            curve[name].append((at, count_proved(rs, "bench flop")))
    # -- the agent (the last snapshot that still proves the training problem): PPO on a
    # near-deterministic policy can collapse late in a run (its episodes then end at the
    # known proof's length without reward, and nothing recovers them); the choice looks at
    # training metrics only, never at the evaluated problems
    agent = select_agent(run_dir, snapshots)
    if agent != run_dir:
        bench.note(
            f"{arm}: the final policy no longer proves the training problem; evaluated the "
            f"last snapshot that did, `{agent.name}` (chosen on training success only)."
        )
    results = {
        name: evaluate(
            files,
            agent,
            time_limit=opts.time_limit,
            jobs=opts.jobs,
            seed=bench.seed,
            progress=f"FLoP ({arm}) on {name}",
        )
        for name, files in sets.items()
    }
    return run_dir, curve, results


@register_suite("flop", config=FlopBenchOptions)
def run(bench: Bench) -> None:
    from palestra.prove.flop import evaluate, train
    from palestra.prove.run import prove_paths

    opts: FlopBenchOptions = bench.options
    root = locate("flop-robinson", opts.problems)
    train_file = root / "simple" / "final" / f"{opts.train}.p"
    size = opts.quick_sample if bench.quick else opts.sample
    sets: dict[str, list[Path]] = {}
    for name, sub in SETS:
        every = [f for f in problem_files("flop-robinson", root / sub) if f.stem != opts.train]
        if 0 < size < len(every):
            import random

            every = sorted(random.Random(bench.seed).sample(every, size))
        sets[name] = every
    steps = opts.quick_steps if bench.quick else opts.steps
    setting = (
        f"{'seeded samples of ' + str(size) if size else 'all problems'} per set (seed "
        f"{bench.seed}); FLoP trained on {opts.train} only, {steps:,} environment steps; "
        f"{opts.time_limit:g} s per problem, {opts.jobs} in parallel"
    )
    bench.note(f"Setting of every figure: {setting}.")

    # -- training, per arm ---------------------------------------------------------------
    unknown = [a for a in opts.arms if a not in ARMS]
    if unknown or not opts.arms:
        raise PalestraError(f"unknown FLoP arms {unknown}; known: {', '.join(ARMS)}")
    tmp = None
    if opts.runs is None:
        tmp = tempfile.TemporaryDirectory(prefix="palestra-flop-")
    runs_root = Path(tmp.name) if tmp is not None else opts.runs
    arm_results: dict[str, dict[str, list[ProofAttempt]]] = {}
    curves: dict[str, dict[str, list[tuple[int, int]]]] = {}
    run_dirs: dict[str, Path] = {}
    try:
        for arm in opts.arms:
            run_dirs[arm], curves[arm], arm_results[arm] = _train_arm(
                bench, opts, arm, train_file, steps, runs_root, sets, evaluate, train
            )
    finally:
        if tmp is not None:
            tmp.cleanup()
    main_arm = opts.arms[0]
    ours, curve, run_dir = arm_results[main_arm], curves[main_arm], run_dirs[main_arm]
    schedule: dict[str, list[ProofAttempt]] = {}
    for name, files in sets.items():
        with progress_bar(f"schedule on {name}", len(files)) as tick:
            schedule[name] = prove_paths(
                files, time_limit=opts.time_limit, jobs=opts.jobs, on_result=lambda _: tick()
            )
    exe = shutil.which(opts.eprover)
    e_results: dict[str, list[dict[str, Any]]] = {}
    if exe is None:
        bench.note(f"E was not found ({opts.eprover}); install Debian's eprover for the peer.")
    else:
        for name, files in sets.items():
            e_results[name] = _eprover(exe, files, opts.time_limit, opts.jobs)
        version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
        bench.note(f"Peer: {version.strip()} ({exe}), run in this same bench.")

    rows = []
    for name, files in sets.items():
        n = len(files)
        got = count_proved(ours[name], "bench flop")
        base = count_proved(schedule[name], "bench flop, schedule")
        e = sum(r["status"] == "Theorem" for r in e_results[name]) if name in e_results else None
        bench.figure(
            f"{name}: solved by FLoP (one training proof)",
            got,
            "problems",
            peer="Palestra's schedule",
            peer_value=base,
            setting=f"{setting}; of {n}",
        )
        if e is not None:
            bench.figure(
                f"{name}: solved by FLoP vs E",
                got,
                "problems",
                peer="E --auto-schedule",
                peer_value=e,
                setting=f"{setting}; of {n}",
            )
        fmax, fmean = _lengths(ours[name])
        smax, smean = _lengths(schedule[name])
        bench.figure(
            f"{name}: longest proof found by FLoP",
            fmax,
            "steps",
            peer="Palestra's schedule",
            peer_value=smax,
            setting=setting,
        )
        bench.figure(
            f"{name}: mean proof length, FLoP",
            fmean,
            "steps",
            peer="Palestra's schedule",
            peer_value=smean,
            setting=f"{setting}; over the problems each proved",
        )
        rows.append([name, n, "FLoP", got, fmax, fmean])
        for arm in opts.arms[1:]:
            other = arm_results[arm][name]
            got_arm = count_proved(other, f"bench flop, {arm}")
            amax, amean = _lengths(other)
            bench.figure(
                f"{name}: solved by FLoP ({arm}) vs FLoP ({main_arm})",
                got_arm,
                "problems",
                peer=f"FLoP ({main_arm}), same budget",
                peer_value=got,
                setting=f"{setting}; of {n}",
            )
            rows.append([name, n, f"FLoP ({arm})", got_arm, amax, amean])
        rows.append([name, n, "schedule", base, smax, smean])
        if e is not None:
            rows.append([name, n, "E", e, None, None])
    bench.table(
        "Solved and proof lengths (steps of the closed tableau)",
        ["set", "problems", "prover", "solved", "longest proof", "mean proof"],
        rows,
    )
    with bench.plot(
        "solved_vs_steps",
        "FLoP: solved by the greedy policy against training steps",
        xlabel="training steps",
        ylabel="problems solved",
    ) as ax:
        for name, points in curve.items():
            if points:
                ax.plot(
                    [p[0] for p in points],
                    [p[1] for p in points],
                    "o-",
                    label=f"{name} ({len(sets[name])} problems, {opts.curve_time:g} s greedy)",
                )
    with bench.plot(
        "proof_lengths",
        "Proof lengths of the problems solved",
        xlabel="proof length (steps)",
        ylabel="problems",
    ) as ax:
        data, labels = [], []
        for name in sets:
            for who, rs in (("FLoP", ours[name]), ("schedule", schedule[name])):
                got = [n for n in map(proof_steps, rs) if n is not None]
                if got:
                    data.append(got)
                    labels.append(f"{who} {name}")
        if data:
            ax.hist(data, bins=20, label=labels)
    bench.note(
        "Reference (FLoP paper, 2019, not this run): trained on 1*1 = 1, FLoP solved RA-1 "
        "1,800/1,800 (longest/mean proof 2,640/367 steps), RA-2 991/1,000 (86,131/2,082), "
        "RA-3 672/1,000; rlCoP 1,539, 741 and 405. Issue 25 measured here at 10 s on 10 "
        "problems of each: leanCoP's schedule 1, 0, 0; E 7, 7, 8."
    )
    bench.data["run_dir"] = str(run_dir) if opts.runs is not None else None
    bench.data["curve"] = curve
    bench.data["arms"] = {
        arm: {
            "run_dir": str(run_dirs[arm]) if opts.runs is not None else None,
            "curve": curves[arm],
            "results": {n: [_record(r) for r in rs] for n, rs in arm_results[arm].items()},
        }
        for arm in opts.arms
    }
    bench.data["results"] = {
        name: {
            "flop": [_record(r) for r in ours[name]],
            "schedule": [_record(r) for r in schedule[name]],
            "eprover": e_results.get(name, []),
        }
        for name in sets
    }


def _read_json(path: Path) -> dict[str, Any]:
    import json

    return json.loads(path.read_text()) if path.exists() else {}
