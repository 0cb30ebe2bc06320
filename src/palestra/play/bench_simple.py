"""``palestra bench simple``: SimPLe on the RAM vs model-free PPO at the same real interactions.

For each game (default Pong, Freeway, Boxing, Breakout) and seed, at ``interactions`` real
agent steps (full: 100k, the paper's budget, 400k frames):

- ``simple``: :mod:`palestra.play.simple`, 15 iterations of collect / world model / PPO in
  the model; its evaluation after every iteration gives the curve over interactions;
- ``ppo``: Palestra's PPO on the RAM (cleanrl's Atari settings: 8 envs x 128 steps, Adam
  2.5e-4 annealed, 4 epochs) with the same network and the same interactions, the model-free
  baseline the paper compares with at 100k;
- ``random``: the uniform random policy.

Every policy is evaluated under the same protocol (full episodes, 1-30 no-op starts, sampled
actions, unclipped scores). The world model's open-loop error over the imagined horizon is
measured on fresh real trajectories of the final policy (never trained on): the share of RAM
bytes, of whole RAM states and of clipped rewards it predicts right ``k`` steps ahead under
the real actions. The wall time of each part of SimPLe (collecting, the world model, PPO in
the model, evaluation) is reported beside PPO's.

Runs are kept and resumed under ``-o runs=DIR`` (default ``runs/simple-bench``); ``-o jobs=N``
trains N runs at a time (one process and one torch thread each).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from palestra.core.bench import Bench, register_suite
from palestra.core.config import Config, arg

__all__ = ["SimpleBenchOptions", "run"]

# SimPLe's scores at 100k interactions (Kaiser et al. 2019, Table 1; mean over 5 runs)
PAPER_SIMPLE = {"pong": 12.8, "breakout": 16.4, "freeway": 16.7, "boxing": 7.8}


@dataclass
class SimpleBenchOptions(Config):
    """Options of ``palestra bench simple``."""

    games: tuple[str, ...] = arg(("pong", "freeway", "boxing", "breakout"), "ALE games.")
    arms: tuple[str, ...] = arg(("simple", "ppo"), "Arms: simple, ppo (random is always run).")
    seeds: int | None = arg(None, "Seeds per arm (default quick 1, full 3).", min=1)
    interactions: int | None = arg(
        None, "Real agent steps per run (default quick 640, full 100k).", min=1
    )
    iterations: int | None = arg(None, "SimPLe iterations (default quick 2, full 15).", min=1)
    model_steps: int | None = arg(
        None, "World-model steps per iteration (default quick 5, full 2,000).", min=1
    )
    imagined_steps: int | None = arg(
        None, "Imagined PPO steps per iteration (default quick 400, full 100k).", min=1
    )
    eval_episodes: int | None = arg(
        None, "Evaluation episodes per run (default quick 1, full 8).", min=1
    )
    horizon_segments: int = arg(100, "Real segments the open-loop error is measured on.", min=1)
    jobs: int = arg(2, "Runs trained at a time (one process, one torch thread each).", min=1)
    runs: Path = arg(Path("runs/simple-bench"), "Keep (and resume) the runs here.")

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = set(self.arms) - {"simple", "ppo"}
        if unknown:
            raise ValueError(f"unknown arms {sorted(unknown)}; known: simple, ppo")


@dataclass(frozen=True)
class Arm:
    """One training run of the bench."""

    arm: str
    game: str
    seed: int
    interactions: int
    iterations: int
    model_steps: int
    imagined_steps: int
    eval_episodes: int
    horizon_segments: int
    runs: Path
    quick: bool


def run_arm(a: Arm) -> dict[str, Any]:
    """Train (or resume) one run, evaluate it; returns scores, curve, timings, error."""
    import torch

    from palestra.core.runs import read_metrics
    from palestra.play.config import PlayTrainConfig, SimpleConfig
    from palestra.play.evaluate import evaluate

    torch.set_num_threads(1)
    name = f"{a.game}-{a.arm}-{a.seed}"
    if a.arm == "ppo":
        cfg = PlayTrainConfig(
            game=a.game,
            obs="ram",
            algo="ppo",
            total_steps=a.interactions,
            num_envs=2 if a.quick else 8,
            rollout=16 if a.quick else 128,
            seed=a.seed,
            checkpoint_every=20,
            run_name=name,
            runs_root=a.runs,
            resume=True,
            progress=False,
        )
        from palestra.play.train import train

        run_dir = train(cfg)
        result = evaluate(run_dir, a.eval_episodes)
        return {
            "scores": result["scores"],
            "mean": result["mean"],
            "seconds": {"train": _wall(read_metrics(run_dir))},
            "curve": [],
        }
    from palestra.play.simple import collect, horizon_error, load_world_model, train_simple

    scfg = SimpleConfig(
        game=a.game,
        seed=a.seed,
        real_steps=a.interactions,
        iterations=a.iterations,
        real_envs=2 if a.quick else 8,
        model_steps=a.model_steps,
        imagined_steps=a.imagined_steps,
        model_hidden=32 if a.quick else 512,
        model_envs=4 if a.quick else 16,
        rollout=10 if a.quick else 50,
        minibatches=2 if a.quick else 4,
        eval_episodes=1 if a.quick else 4,  # the curve; the final figure has its own episodes
        run_name=name,
        runs_root=a.runs,
        resume=True,
        progress=False,
    )
    run_dir = train_simple(scfg)
    result = evaluate(run_dir, a.eval_episodes)
    history = read_metrics(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    # the open-loop error on fresh real play of the final policy (never trained on)
    from palestra.play.atari import AtariVecEnv
    from palestra.play.common import load_policy

    policy, _ = load_policy(run_dir)
    world = load_world_model(run_dir / "world_model.pt")
    steps = 60 if a.quick else 400
    with AtariVecEnv(scfg.settings(), 4, 10_000 + a.seed) as env:
        data, _, _ = collect(env, env.reset(), steps, policy, np.random.default_rng(a.seed))
    error = horizon_error(world, data, 5 if a.quick else 50, a.horizon_segments, seed=a.seed)
    return {
        "scores": result["scores"],
        "mean": result["mean"],
        "seconds": summary["seconds"],
        "curve": [(r["step"], r["eval_return"]) for r in history if "eval_return" in r],
        "model": [
            {k: r[k] for k in ("step", "wm_exact_ram", "wm_changed_bytes", "wm_reward")}
            for r in history
            if "wm_exact_ram" in r
        ],
        "horizon": error,
    }


def _wall(history: list[dict[str, Any]]) -> float:
    """A run's training seconds from its records (the step rate of each logged update)."""
    steps = [r["step"] for r in history]
    rates = [r["steps_per_s"] for r in history]
    previous = [0, *steps[:-1]]
    return float(sum((s - p) / r for s, p, r in zip(steps, previous, rates, strict=True) if r))


@register_suite("simple", config=SimpleBenchOptions)
def run(bench: Bench) -> None:
    """SimPLe (RAM world model) vs PPO vs random at the same real interactions."""
    from palestra.core.jobs import run_jobs
    from palestra.play.evaluate import random_scores

    opts: SimpleBenchOptions = bench.options or SimpleBenchOptions()
    quick = bench.quick
    seeds = opts.seeds or (1 if quick else 3)
    interactions = opts.interactions or (640 if quick else 100_000)
    iterations = opts.iterations or (2 if quick else 15)
    episodes = opts.eval_episodes or (1 if quick else 8)
    games = opts.games[:1] if quick and opts.games == SimpleBenchOptions.games else opts.games
    arms = [
        Arm(
            arm,
            game,
            bench.seed + s,
            interactions,
            iterations,
            opts.model_steps or (5 if quick else 2_000),
            opts.imagined_steps or (400 if quick else 100_000),
            episodes,
            opts.horizon_segments,
            opts.runs,
            quick,
        )
        for game in games
        for arm in opts.arms
        for s in range(seeds)
    ]
    results: dict[Arm, dict[str, Any]] = {}
    for r in run_jobs(run_arm, arms, workers=opts.jobs, progress=None if quick else "runs"):
        results[arms[r.key]] = r.unwrap()

    rows, data = [], {}
    for game in games:
        random = float(np.mean(random_scores(game, episodes)))
        row: list[Any] = [game]
        data[game] = {"random": random}
        for arm in opts.arms:
            means = [results[a]["mean"] for a in arms if a.game == game and a.arm == arm]
            row += [f"{np.mean(means):.1f} ± {np.std(means):.1f}"]
            runs = [results[a] for a in arms if a.game == game and a.arm == arm]
            data[game][arm] = {"means": means, "runs": runs}
            bench.figure(
                f"{game} {arm} score",
                float(np.mean(means)),
                "points",
                peer="random" if arm == "simple" else None,
                peer_value=random if arm == "simple" else None,
                setting=f"{interactions:,} interactions, {len(means)} seed(s)",
            )
        row += [f"{random:.1f}", PAPER_SIMPLE.get(game, "")]
        rows.append(row)
    bench.table(
        f"Scores after {interactions:,} real interactions ({4 * interactions:,} frames), mean ± "
        f"std over {seeds} seed(s) of each run's {episodes}-episode mean",
        ["game", *opts.arms, "random", "paper SimPLe (video model)"],
        rows,
    )
    if "simple" in opts.arms:
        _simple_tables(bench, arms, results, games)
    bench.data["games"] = data
    bench.data["interactions"] = interactions
    a0 = arms[0]
    bench.note(
        f"SimPLe here is the RAM variant: a world model of the console's 128-byte RAM "
        f"(`models/world_model.py`) in place of the paper's video model; {iterations} "
        f"iterations, the world model trained {a0.model_steps:,} steps per iteration (3x the "
        f"first), PPO on {a0.imagined_steps:,} imagined steps per iteration in games of at "
        f"most 50 steps started at real states. PPO: Palestra's RAM PPO at the same "
        f"interactions. Evaluation: full episodes, 1-30 no-op starts, sampled actions, "
        f"unclipped. Runs kept in `{opts.runs}`."
    )


def _simple_tables(
    bench: Bench, arms: list[Arm], results: dict[Arm, dict[str, Any]], games: tuple[str, ...]
) -> None:
    simple = [a for a in arms if a.arm == "simple"]
    rows = []
    for a in simple:
        s = results[a]["seconds"]
        ppo = next((results[b] for b in arms if b.arm == "ppo" and b.game == a.game), None)
        rows.append(
            [
                a.game,
                a.seed,
                *(round(s[k]) for k in ("collect", "model", "policy", "eval")),
                round(sum(s.values())),
                round(ppo["seconds"]["train"]) if ppo else "",
            ]
        )
    bench.table(
        "Wall time of each part of a run (seconds, one core)",
        ["game", "seed", "collect", "world model", "PPO in model", "eval", "SimPLe total", "PPO"],
        rows,
    )
    with bench.plot(
        "simple-curves",
        "SimPLe: evaluation score after each iteration",
        xlabel="real interactions",
        ylabel="score",
    ) as ax:
        for a in simple:
            curve = results[a]["curve"]
            if curve:
                xs, ys = zip(*curve, strict=True)
                ax.plot(xs, ys, marker=".", label=f"{a.game} seed {a.seed}")
    with bench.plot(
        "simple-horizon",
        "World model, open loop on fresh real play: RAM bytes right k steps ahead "
        "(dotted: copying the start state)",
        xlabel="steps ahead",
        ylabel="share of bytes right",
    ) as ax:
        for game in games:
            curves = [results[a]["horizon"]["bytes"] for a in simple if a.game == game]
            curves = [c for c in curves if c]
            if curves:
                k = min(len(c) for c in curves)
                (line,) = ax.plot(range(1, k + 1), np.mean([c[:k] for c in curves], 0), label=game)
                copies = [results[a]["horizon"]["copy"][:k] for a in simple if a.game == game]
                ax.plot(range(1, k + 1), np.mean(copies, 0), ":", color=line.get_color())
    rows = []
    horizon = min((len(results[a]["horizon"]["bytes"]) for a in simple), default=0)
    picks = [k for k in (1, 5, 10, 25, 50) if k <= horizon]
    for a in simple:
        h = results[a]["horizon"]
        rows.append(
            [a.game, a.seed]
            + [
                f"{h['bytes'][k - 1]:.3f} / {h['exact'][k - 1]:.2f} (copy {h['copy'][k - 1]:.3f})"
                for k in picks
            ]
            + [f"{np.mean(h['reward'][:horizon]):.3f}"]
        )
    if picks:
        bench.table(
            "World model open loop on fresh real play of the final policy: share of RAM bytes "
            "right / of whole RAM states right, k steps ahead (copy: bytes right by copying the "
            f"start state), and of clipped rewards right over the {horizon} steps",
            ["game", "seed", *(f"k={k}" for k in picks), "rewards"],
            rows,
        )
