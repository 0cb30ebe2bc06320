"""``palestra bench rlcop``: rlCoP's expert iteration on M2k, next to its baselines.

rlCoP (Kaliszyk et al. 2018) proved over 40% more M2k problems than leanCoP within the same
inference limit. This suite measures the same comparison on a fixed, seeded 90/10
train/test split of M2k:

- problems proved on the training and on the test problems by the MCTS of each iteration
  (iteration 0 unguided: uniform priors and random rollouts; iteration ``i`` guided by models
  trained on iterations ``< i`` of the training problems only);
- the peers, run in the same bench at the same inference limit: iteration 0 (unguided MCTS)
  and the plain iterative-deepening prover (``palestra.prove.calculus.prove`` with
  ``[cut,comp(7)]``);
- wall time per problem and inferences per second with and without guidance;
- a plot of problems proved against the iteration.

Every proof counts only after the independent checker accepted it. ``--quick`` runs a seeded
sample of the split (``quick_train``/``quick_test`` problems) at ``quick_inference_limit``
inferences with ``quick_playouts_per_step``; every figure names its setting.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palestra.core.bench import Bench, register_suite
from palestra.core.config import Config, arg
from palestra.core.data import problem_files
from palestra.core.progress import progress_bar
from palestra.prove.attempt import ProofAttempt, count_proved
from palestra.prove.rlcop_config import RlcopConfig

__all__ = ["RlcopBenchOptions", "split"]


@dataclass
class RlcopBenchOptions(Config):
    problems: Path | None = arg(None, "Folder of M2k problems (*.p); default: data set m2k.")
    test_share: float = arg(0.1, "Share of the problems held out for testing.", above=0, below=1)
    iterations: int = arg(3, "Full mode: rlCoP iterations (0 unguided, then guided).", min=1)
    inference_limit: int = arg(200_000, "Full mode: inferences per proof attempt.", min=1)
    playouts_per_step: int = arg(2000, "Full mode: playouts per big step.", min=1)
    quick_train: int = arg(0, "Quick mode: seeded sample of training problems (0: all).", min=0)
    quick_test: int = arg(0, "Quick mode: seeded sample of test problems (0: all).", min=0)
    quick_iterations: int = arg(3, "Quick mode: iterations.", min=1)
    quick_inference_limit: int = arg(20_000, "Quick mode: inferences per proof attempt.", min=1)
    quick_playouts_per_step: int = arg(200, "Quick mode: playouts per big step.", min=1)
    rounds: int = arg(100, "LightGBM boosting rounds per model.", min=1)
    policy_target: str = arg("proof", "Policy targets: 'proof' or rlCoP's 'visits'.")
    model: str = arg(
        "",
        "Evaluate this trained model ('default': the shipped one) on the test split against "
        "unguided MCTS and leanCoP, instead of training (its search settings, this limit).",
    )
    jobs: int = arg(2, "Proof attempts in parallel.", min=1)
    runs: Path = arg(Path("runs"), "Root of the rlcop run directory the bench trains in.")


def split(files: list[Path], test_share: float, seed: int) -> tuple[list[Path], list[Path]]:
    """A fixed seeded train/test split (sorted lists)."""
    order = sorted(files)
    random.Random(seed).shuffle(order)
    n_test = max(1, round(test_share * len(order)))
    return sorted(order[n_test:]), sorted(order[:n_test])


def _proved(results: list[ProofAttempt]) -> int:
    return count_proved(results, "bench rlcop")


def _rate(results: list[ProofAttempt]) -> float | None:
    seconds = sum(r.seconds for r in results)
    return sum(r.inferences for r in results) / seconds if seconds > 0 else None


def _mean_seconds(results: list[ProofAttempt]) -> float | None:
    return statistics.mean(r.seconds for r in results) if results else None


def _records(results: list[ProofAttempt]) -> list[dict[str, Any]]:
    """Results as the bench's JSON keeps them."""
    return [
        {"problem": r.problem, "status": r.status, "inferences": r.inferences, "seconds": r.seconds}
        for r in results
    ]


def _gain(got: int, base: int) -> str:
    return f"{100 * (got - base) / base:+.0f}%" if base else "n/a"


def _attempt_all(
    title: str, files: list[Path], model_dir: Path | None, s: Any, iteration: int, jobs: int
) -> list[ProofAttempt]:
    """The results of one MCTS attempt per file (no training data), with a progress bar."""
    from palestra.prove.rlcop import run_attempts

    results: list[ProofAttempt] = []
    with progress_bar(title, len(files)) as tick:

        def on_done(r: ProofAttempt, _data: Any) -> None:
            results.append(r)
            tick()

        run_attempts(
            files, model_dir, s, iteration=iteration, jobs=jobs, collect=False, on_done=on_done
        )
    return results


def _leancop(files: list[Path], limit: int, jobs: int, time_limit: float) -> list[ProofAttempt]:
    """leanCoP's ``[cut,comp(7)]`` on ``files`` at ``limit`` inferences, proofs checked."""
    from palestra.prove.run import prove_paths

    with progress_bar(f"leanCoP [cut,comp(7)] at {limit:,} inferences", len(files)) as tick:
        plain = prove_paths(
            files,
            strategy="[cut,comp(7)]",
            time_limit=time_limit,
            inference_limit=limit,
            jobs=jobs,
            on_result=lambda _: tick(),
        )
    count_proved(plain, "bench rlcop, leanCoP")  # refuses a rejected proof
    return plain


def _evaluate_model(
    bench: Bench, model: str, test_files: list[Path], limit: int, jobs: int
) -> None:
    """The ``model`` option: one trained model against unguided MCTS and leanCoP, test split."""
    from palestra.prove.rlcop import model_settings

    resolved, guided, unguided = model_settings(model, limit, bench.seed)
    setting = (
        f"{len(test_files)} held-out M2k problems (seeded split, seed {bench.seed}); "
        f"{limit:,} inferences; model {resolved} (big step every {guided.playouts_per_step} "
        "playouts)"
    )
    bench.note(f"Setting of every figure: {setting}.")
    results = {
        name: _attempt_all(f"rlcop test, {name} MCTS", test_files, m, s, 1, jobs)
        for name, m, s in (("unguided", None, unguided), ("guided", resolved, guided))
    }
    plain = _leancop(test_files, limit, jobs, time_limit=3600.0)
    got, base = _proved(results["guided"]), _proved(results["unguided"])
    bench.figure(
        "guided by the model vs unguided MCTS: proved on test",
        got,
        "problems",
        peer="unguided MCTS",
        peer_value=base,
        setting=f"{setting}; {_gain(got, base)}",
    )
    bench.figure(
        "guided by the model vs leanCoP: proved on test",
        got,
        "problems",
        peer="leanCoP [cut,comp(7)]",
        peer_value=sum(r.proved for r in plain),
        setting=setting,
    )
    bench.figure(
        "inferences per second with guidance",
        _rate(results["guided"]),
        "inferences/s",
        peer="unguided MCTS",
        peer_value=_rate(results["unguided"]),
        setting=setting + "; total inferences / total wall time of the attempts",
    )
    bench.data["results"] = {
        name: _records(rs) for name, rs in {**results, "leancop": plain}.items()
    }


@register_suite("rlcop", config=RlcopBenchOptions)
def run(bench: Bench) -> None:
    from palestra.prove.rlcop import SearchSettings, read_results, train

    opts: RlcopBenchOptions = bench.options
    files = problem_files("m2k", opts.problems)
    folder = files[0].parent
    train_files, test_files = split(files, opts.test_share, bench.seed)
    rng = random.Random(bench.seed + 1)
    sampled = False
    if bench.quick:
        if 0 < opts.quick_train < len(train_files):
            train_files = sorted(rng.sample(train_files, opts.quick_train))
            sampled = True
        if 0 < opts.quick_test < len(test_files):
            test_files = sorted(rng.sample(test_files, opts.quick_test))
            sampled = True
        limit, iterations = opts.quick_inference_limit, opts.quick_iterations
        playouts = opts.quick_playouts_per_step
    else:
        limit, iterations, playouts = opts.inference_limit, opts.iterations, opts.playouts_per_step
    setting = (
        f"{len(train_files)} train / {len(test_files)} test M2k problems "
        f"(seeded {round(100 * (1 - opts.test_share))}/{round(100 * opts.test_share)} split"
        f"{', seeded sample' if sampled else ''}, seed {bench.seed}); {limit:,} inferences; "
        f"big step every {playouts} playouts"
    )
    if opts.model:
        _evaluate_model(bench, opts.model, test_files, limit, opts.jobs)
        return
    bench.note(f"Setting of every figure: {setting}.")

    cfg = RlcopConfig(
        problems=folder,
        iterations=iterations,
        inference_limit=limit,
        playouts_per_step=playouts,
        rounds=opts.rounds,
        policy_target=opts.policy_target,
        jobs=opts.jobs,
        seed=bench.seed,
        runs=opts.runs,
        progress=True,
    )
    run_dir = train(cfg, files=train_files)
    bench.note(f"rlcop run directory (models, data, proofs): {run_dir}")

    per_iter: list[dict[str, Any]] = []
    for i in range(iterations):
        train_results = read_results(run_dir / f"iter_{i}" / "results.jsonl")
        model_dir = None if i == 0 else run_dir / f"iter_{i}" / "model"
        s = SearchSettings.from_config(cfg, guided=i > 0)
        title = f"rlcop test, iteration {i}"
        test_results = _attempt_all(title, test_files, model_dir, s, i, opts.jobs)
        per_iter.append({"train": train_results, "test": test_results})

    plain = _leancop(train_files + test_files, limit, opts.jobs, time_limit=600.0)
    plain_train = [r for r in plain if Path(r.file) in set(train_files)]
    plain_test = [r for r in plain if Path(r.file) in set(test_files)]
    p_train = sum(r.proved for r in plain_train)
    p_test = sum(r.proved for r in plain_test)

    rows = []
    for i, it in enumerate(per_iter):
        tr, te = _proved(it["train"]), _proved(it["test"])
        rows.append(
            [
                i,
                "unguided" if i == 0 else "guided",
                tr,
                te,
                _mean_seconds(it["train"] + it["test"]),
                _rate(it["train"] + it["test"]),
            ]
        )
        bench.figure(
            f"iteration {i}: proved on train",
            tr,
            "problems",
            peer="leanCoP [cut,comp(7)]",
            peer_value=p_train,
            setting=f"{setting}; of {len(train_files)}",
        )
        bench.figure(
            f"iteration {i}: proved on test",
            te,
            "problems",
            peer="leanCoP [cut,comp(7)]",
            peer_value=p_test,
            setting=f"{setting}; of {len(test_files)}",
        )
    last = per_iter[-1]
    first = per_iter[0]
    base = _proved(first["test"])
    for i in range(1, iterations):
        got = _proved(per_iter[i]["test"])
        bench.figure(
            f"iteration {i} (guided) vs iteration 0 (unguided MCTS): proved on test",
            got,
            "problems",
            peer="iteration 0 (unguided MCTS)",
            peer_value=base,
            setting=f"{setting}; {_gain(got, base)} held-out problems at the same inference limit",
        )
    bench.figure(
        "wall time per problem, last iteration",
        _mean_seconds(last["train"] + last["test"]),
        "s",
        peer="iteration 0 (unguided MCTS)",
        peer_value=_mean_seconds(first["train"] + first["test"]),
        higher_is_better=False,
        setting=setting,
    )
    bench.figure(
        "inferences per second with guidance (last iteration)",
        _rate(last["train"] + last["test"]),
        "inferences/s",
        peer="iteration 0 (unguided MCTS)",
        peer_value=_rate(first["train"] + first["test"]),
        setting=setting + "; total inferences / total wall time of the attempts",
    )
    bench.figure(
        "wall time per problem, leanCoP [cut,comp(7)]",
        _mean_seconds(plain),
        "s",
        higher_is_better=False,
        setting=setting + "; in a forked child per problem, incl. clausification",
    )
    bench.table(
        "Per iteration",
        ["iteration", "search", "proved train", "proved test", "s / problem", "inferences/s"],
        [*rows, ["leanCoP", "[cut,comp(7)]", p_train, p_test, _mean_seconds(plain), None]],
    )
    with bench.plot(
        "proved_vs_iteration",
        "M2k problems proved per rlCoP iteration",
        xlabel="iteration (0 = unguided)",
        ylabel="share proved (%)",
    ) as ax:
        xs = list(range(iterations))
        ax.plot(
            xs,
            [100 * r[2] / max(len(train_files), 1) for r in rows],
            "o-",
            label="rlCoP, train",
        )
        ax.plot(xs, [100 * r[3] / max(len(test_files), 1) for r in rows], "s-", label="rlCoP, test")
        ax.axhline(
            100 * p_train / max(len(train_files), 1), ls="--", c="C0", label="leanCoP, train"
        )
        ax.axhline(100 * p_test / max(len(test_files), 1), ls=":", c="C1", label="leanCoP, test")
        ax.set_xticks(xs)
    bench.note(
        "Reference (rlCoP paper, 2018, not this run): on M2k at 200,000 inferences rlCoP's "
        "iterations proved over 40% more problems than leanCoP's [cut,comp(7)] baseline."
    )
    bench.note(
        "Departures from rlCoP (palestra.prove.rlcop): the policy learns each found proof's "
        f"own choices (policy_target={cfg.policy_target!r}; rlCoP: relative visit counts); a "
        f"lost big step is backtracked (backtrack={cfg.backtrack}); guided search gives an "
        f"unvisited child the score {cfg.fpu_guided} before its exploration term and uses "
        f"temperature {cfg.temperature}. Iteration 0 is the same MCTS without a model."
    )
    bench.data["run_dir"] = str(run_dir)
    bench.data["iterations"] = [{part: _records(rs) for part, rs in it.items()} for it in per_iter]
    bench.data["leancop"] = _records(plain)
