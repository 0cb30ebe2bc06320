"""``palestra bench mgdt``: one decision transformer for several Atari games, by model size,
against behaviour cloning with the same network.

1. **Agents**: Palestra's PPO on the RAM, one per game (``agent_frames``); runs kept.
2. **Data** (:func:`palestra.play.mgdt.record_game`): per game, whole episodes from the
   random policy and from the agent taking a random action with probability 0.5, 0.25 and 0
   (four skill levels), ``steps`` agent steps each; kept and reused while the settings match.
3. **Models**: for each size ``DxL`` (width x blocks), the decision transformer
   (return tokens, expert-return sampling with kappa 10) and behaviour cloning (the same
   network without return tokens), the same steps and batches, trained on all games at once;
   and (arm ``single``) one decision transformer per game trained on that game alone, at
   ``single_size``, the same steps: the multi-game model's peer in the paper.
4. **Play**: each model plays each game (full episodes, no-op starts, unclipped).

Scores are reported raw and normalised per game as ``(score - random) / (best source -
random)``: 1 is the best agent that made the data, 0 the random policy (the paper normalises
by human and by DQN-Replay scores; neither is reachable here). The figure is the mean over
games, by parameters, for both arms: the paper's trend is the decision transformer above
behaviour cloning and rising with size.

Every training resumes under ``-o runs=DIR`` (default ``runs/mgdt-bench``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from palestra.core.bench import Bench, register_suite
from palestra.core.config import Config, arg

__all__ = ["MGDTBenchOptions", "run"]

EPSILONS = (0.5, 0.25, 0.0)  # the agent's skill levels besides random play


@dataclass
class MGDTBenchOptions(Config):
    """Options of ``palestra bench mgdt``."""

    games: tuple[str, ...] = arg(("breakout", "boxing", "freeway", "seaquest"), "ALE games.")
    sizes: tuple[str, ...] = arg(
        ("64x2", "128x3", "192x4"), "Model sizes as WIDTHxBLOCKS (quick: the first only)."
    )
    arms: tuple[str, ...] = arg(
        ("dt", "bc", "single"),
        "dt (returns), bc (no returns), single (one DT per game, at single_size).",
    )
    single_size: str = arg("128x3", "Size of the single-game DTs.")
    agent_frames: int | None = arg(
        None, "Frames of each game's PPO agent (default quick 128, full 2M).", min=4
    )
    steps_per_source: int | None = arg(
        None, "Agent steps recorded per skill level (default quick 100, full 15k).", min=1
    )
    train_steps: int | None = arg(
        None, "Gradient steps per model (default quick 4, full 3,000).", min=1
    )
    batch: int = arg(32, "Windows per gradient step.", min=1)
    eval_episodes: int | None = arg(
        None, "Episodes per game and model (default quick 1, full 8).", min=1
    )
    jobs: int = arg(2, "Trainings at a time (one process, one torch thread each).", min=1)
    runs: Path = arg(Path("runs/mgdt-bench"), "Keep (and resume) agents, data and models here.")

    def __post_init__(self) -> None:
        super().__post_init__()
        for size in (*self.sizes, self.single_size):
            _size(size)
        unknown = set(self.arms) - {"dt", "bc", "single"}
        if unknown:
            raise ValueError(f"unknown arms {sorted(unknown)}; known: dt, bc, single")


def _size(text: str) -> tuple[int, int]:
    width, _, blocks = text.partition("x")
    if not (width.isdigit() and blocks.isdigit()) or int(width) % 4:
        raise ValueError(f"size {text!r}: want WIDTHxBLOCKS with WIDTH a multiple of 4 (128x3)")
    return int(width), int(blocks)


def _agent(job: tuple[str, int, Path, bool]) -> str:
    import torch

    from palestra.play.config import PlayTrainConfig
    from palestra.play.train import train

    game, frames, runs, quick = job
    torch.set_num_threads(1)
    cfg = PlayTrainConfig(
        game=game,
        obs="ram",
        algo="ppo",
        total_steps=frames // 4,
        num_envs=2 if quick else 8,
        rollout=16 if quick else 128,
        checkpoint_every=20,
        run_name=f"agent-{game}",
        runs_root=runs / "agents",
        resume=True,
        progress=False,
    )
    return str(train(cfg))


def _data(job: tuple[str, str, int, Path, int]) -> str:
    import torch

    from palestra.play.config import MGDTDataConfig
    from palestra.play.mgdt import record_game

    game, agent, steps, out, seed = job
    torch.set_num_threads(1)
    sources = ("random", *(f"{agent}:{e}" for e in EPSILONS))
    meta = out / game / "episodes.json"
    wanted = {"sources": list(sources), "steps": steps, "seed": seed}
    if meta.exists():
        saved = json.loads(meta.read_text())
        if {k: saved.get(k) for k in wanted} == wanted:
            return str(out / game)
    return str(record_game(MGDTDataConfig(game=game, sources=sources, steps=steps, out=out)))


def _model(job: tuple[str, str, str, Path, int, int, int, Path, bool]) -> dict[str, Any]:
    from palestra.core.runs import read_metrics
    from palestra.play.config import MGDTTrainConfig
    from palestra.play.mgdt import train_mgdt

    arm, size, game, data, steps, batch, episodes, runs, quick = job
    width, blocks = _size(size)
    cfg = MGDTTrainConfig(
        data=data,
        games=(game,) if game else (),
        d_model=width,
        n_layer=blocks,
        n_head=4,
        returns=arm != "bc",
        steps=steps,
        batch=batch,
        warmup=min(200, max(1, steps // 10)),
        eval_episodes=episodes,
        log_every=1 if quick else 50,
        run_name=f"{arm}-{size}" + (f"-{game}" if game else ""),
        runs_root=runs / "models",
        resume=True,
        progress=False,
    )
    run_dir = train_mgdt(cfg)
    summary = json.loads((run_dir / "summary.json").read_text())
    curve = [(r["step"], r["action_loss"]) for r in read_metrics(run_dir)]
    return {**summary, "curve": curve, "run": str(run_dir), "size": size}


@register_suite("mgdt", config=MGDTBenchOptions)
def run(bench: Bench) -> None:
    """PPO agents -> data at four skill levels -> one DT and one BC model per size -> play."""
    from palestra.core.jobs import run_jobs

    opts: MGDTBenchOptions = bench.options or MGDTBenchOptions()
    quick = bench.quick
    games = opts.games[:2] if quick and opts.games == MGDTBenchOptions.games else opts.games
    sizes = opts.sizes[:1] if quick else opts.sizes
    frames = opts.agent_frames or (128 if quick else 2_000_000)
    steps = opts.steps_per_source or (100 if quick else 15_000)
    train_steps = opts.train_steps or (4 if quick else 3_000)
    episodes = opts.eval_episodes or (1 if quick else 8)

    def each(fn: Any, jobs: list[Any], title: str) -> list[Any]:
        out: list[Any] = [None] * len(jobs)
        for r in run_jobs(fn, jobs, workers=opts.jobs, progress=None if quick else title):
            out[r.key] = r.unwrap()
        return out

    agents = each(_agent, [(g, frames, opts.runs, quick) for g in games], "agents")
    data_dir = opts.runs / "data"
    each(
        _data,
        [(g, a, steps, data_dir, 0) for g, a in zip(games, agents, strict=True)],
        "recording",
    )
    jobs = [
        (arm, size, "", data_dir, train_steps, opts.batch, episodes, opts.runs, quick)
        for size in sizes
        for arm in opts.arms
        if arm != "single"
    ]
    if "single" in opts.arms:
        single = sizes[0] if quick else opts.single_size
        jobs += [
            ("single", single, g, data_dir, train_steps, opts.batch, episodes, opts.runs, quick)
            for g in games
        ]
    done = each(_model, jobs, "models")
    models = {(j[0], j[1]): m for j, m in zip(jobs, done, strict=True) if j[0] != "single"}
    singles = {j[2]: m for j, m in zip(jobs, done, strict=True) if j[0] == "single"}
    multi_arms = [a for a in opts.arms if a != "single"]

    sources = {g: next(m for m in done if g in m["data"])["data"][g]["sources"] for g in games}
    random = {g: sources[g]["random"] for g in games}
    best = {g: max(sources[g].values()) for g in games}

    def normalised(game: str, score: float) -> float:
        span = best[game] - random[game]
        return (score - random[game]) / span if span > 0 else float("nan")

    multi = [(arm, s, models[(arm, s)]) for s in sizes for arm in multi_arms]
    header = ["game", "random", *(f"agent eps {e:g}" for e in EPSILONS)]
    header += [f"{arm} {s}" for arm, s, _ in multi]
    if singles:
        header += [f"single-game DT {next(iter(singles.values()))['size']}"]
    rows = []
    for g in games:
        row: list[Any] = [g, f"{random[g]:.1f}"]
        row += [f"{v:.1f}" for k, v in sources[g].items() if k != "random"]
        row += [f"{np.mean(m['scores'][g]):.1f}" for _, _, m in multi]
        if singles:
            row += [f"{np.mean(singles[g]['scores'][g]):.1f}"]
        rows.append(row)
    bench.table(
        f"Scores per game ({episodes} episodes each; the data's skill levels: random play and "
        f"the PPO agent with a random action at probability 0.5, 0.25, 0)",
        header,
        rows,
    )
    summary_rows, points = [], {}
    arms_by_size = list(multi)
    if singles:  # the single-game DTs together: each plays its own game
        size = next(iter(singles.values()))["size"]
        scores = {g: singles[g]["scores"][g] for g in games}
        params = next(iter(singles.values()))["params"]
        arms_by_size.append(("single", size, {"scores": scores, "params": params}))
    for arm, s, m in arms_by_size:
        norm = [normalised(g, float(np.mean(m["scores"][g]))) for g in games]
        norm = [v for v in norm if v == v]  # games whose agents beat random play
        mean = float(np.mean(norm)) if norm else float("nan")
        median = float(np.median(norm)) if norm else float("nan")
        points.setdefault(arm, []).append((m["params"], mean))
        summary_rows.append([arm, s, f"{m['params']:,}", f"{mean:.3f}", f"{median:.3f}"])
        bench.figure(
            f"{arm} {s} normalised score",
            mean,
            "best data agent = 1",
            setting=f"{len(games)} games, {train_steps:,} steps",
        )
    bench.table(
        "Mean and median normalised score over games ((score - random) / (best data agent - "
        "random); games where no agent beat random play are left out)",
        ["arm", "size", "parameters", "mean", "median"],
        summary_rows,
    )
    with bench.plot(
        "mgdt-scaling", "Normalised score by model size", xlabel="parameters", ylabel="score"
    ) as ax:
        for arm, pts in points.items():
            xs, ys = zip(*pts, strict=True)
            label = {"dt": "multi-game DT", "bc": "multi-game BC", "single": "single-game DTs"}
            ax.plot(xs, ys, marker="o", label=label[arm])
        ax.set_xscale("log")
    with bench.plot(
        "mgdt-loss", "Training action loss", xlabel="step", ylabel="cross-entropy"
    ) as ax:
        for (arm, s), m in models.items():
            if m["curve"]:
                xs, ys = zip(*m["curve"], strict=True)
                ax.plot(xs, ys, label=f"{arm} {s}")
    bench.data.update(
        {
            "games": list(games),
            "sources": sources,
            "models": {f"{a} {s}": m for (a, s), m in models.items()},
            "single": singles,
            "agents": dict(zip(games, agents, strict=True)),
        }
    )
    bench.note(
        f"Agents: Palestra PPO on the RAM, {frames:,} frames per game. Data: {steps:,} agent "
        f"steps per skill level and game (whole episodes). Models: patches of 21x21 pixels of "
        f"4 stacked frames, windows of 4 timesteps, AdamW 3e-4, batch {opts.batch}, "
        f"{train_steps:,} steps; one set of weights for all games, ALE's full action set of "
        f"18 masked to each game's legal actions when playing. Runs kept in `{opts.runs}`."
    )
