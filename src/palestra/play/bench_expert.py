"""``palestra bench expert``: expert-augmented BA3C vs plain BA3C on a hard-exploration game.

Part ``atari`` (default Montezuma's Revenge):

1. **Expert data** by search (:mod:`palestra.play.expert`, Go-Explore's exploration with
   emulator state restores): ``trajectories`` searches of ``expert_steps`` agent steps, each
   after its own number of no-ops, each replayed from a fresh emulator and its score
   checked. Kept under ``runs`` and reused by the next run of the same settings.
2. **Training**, the same frames and seeds for every arm: ``plain`` BA3C; ``expert``, BA3C with
   the expert-augmented loss (advantage ``max(0, R - V)``, the paper's); ``bc``, BA3C with the
   expert term at advantage 1 (behaviour cloning added to the actor-critic loss), the
   baseline that tells the clipped advantage's share apart.
3. **Evaluation** of each run under the standard protocol (30 no-op starts, full episodes of
   up to 108k frames, unclipped scores, actions sampled from the policy), with the random
   policy's score beside.

Part ``doom`` does the same on a ViZDoom scenario (default ``doom/my_way_home``, the paper's
maze): one expert trajectory per episode seed (each spawns in its own room; the search returns
to a cell by replaying, since ViZDoom's save/load are not exact), BA3C from the screen on raw
rewards (the living reward must not be sign-clipped), frames counted in tics.

Every run is kept and resumed under ``-o runs=DIR`` (default ``runs/expert-bench``): the same
command run again continues unfinished runs from their checkpoints, so hours of training span
sessions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from palestra.core.bench import Bench, register_suite
from palestra.core.config import Config, arg, config_to_dict
from palestra.core.runs import read_metrics

__all__ = ["ExpertBenchOptions", "run"]

# what the trajectory table shows of each searched trajectory, after its start
COLUMNS = ("score", "length", "cells", "search_steps", "seconds")

ARMS = {
    "plain": {},
    "expert": {"expert_adv": "critic"},
    "bc": {"expert_adv": "one"},
}


@dataclass
class ExpertBenchOptions(Config):
    """Options of ``palestra bench expert``."""

    parts: tuple[str, ...] = arg(("atari",), "Which parts to run: atari, doom.")
    game: str = arg("montezuma_revenge", "Atari game (ALE ROM name).")
    obs: str = arg("ram", "Observation of the learners: ram, screen or both.")
    arms: tuple[str, ...] = arg(("plain", "expert", "bc"), "Arms: plain, expert, bc.")
    trajectories: int | None = arg(
        None,
        "Atari part: expert trajectories searched, each after its own no-ops (default quick "
        "2, full 30: one per no-op count of the 1..30 starts).",
        min=1,
    )
    expert_steps: int | None = arg(
        None,
        "Atari part: search steps per trajectory, at most (default quick 20k, full 300k).",
        min=1,
    )
    expert_stop: float | None = arg(
        None, "Atari part: stop a trajectory's search at this score (default quick none, full 400)."
    )
    frames: int | None = arg(None, "Training frames per run (default quick 40k, full 8M).", min=4)
    doom_game: str = arg("doom/my_way_home", "Doom part: the ViZDoom scenario.")
    doom_frames: int | None = arg(
        None, "Doom part: training tics per run (default quick 2,560, full 1M).", min=4
    )
    doom_trajectories: int | None = arg(
        None,
        "Doom part: expert trajectories, one per episode seed (default quick 1, full 8).",
        min=1,
    )
    doom_expert_steps: int | None = arg(
        None, "Doom part: search steps per trajectory (default 30k).", min=1
    )
    seeds: int | None = arg(None, "Seeds per arm (default quick 1, full 3).", min=1)
    expert_coef: float = arg(1.0, "Weight of the expert term.", min=0)
    expert_batch: int = arg(128, "Expert transitions per update.", min=1)
    eval_episodes: int | None = arg(
        None, "Evaluation episodes per run (default quick 2, full 10).", min=1
    )
    threads: int = arg(1, "torch threads per run.", min=1)
    runs: Path = arg(Path("runs/expert-bench"), "Keep (and resume) the data and runs here.")

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = set(self.arms) - set(ARMS)
        if unknown:
            raise ValueError(f"unknown arms {sorted(unknown)}; known: {', '.join(ARMS)}")
        if self.obs not in ("ram", "screen", "both"):
            raise ValueError(f"obs must be ram, screen or both, not {self.obs!r}")


@dataclass
class Part:
    """One game of the bench and its defaults (quick, full)."""

    name: str
    game: str
    obs: str
    clip_rewards: bool
    frames: tuple[int, int]
    trajectories: tuple[int, int]
    expert_steps: tuple[int, int]
    expert_stop: tuple[float | None, float | None]


def _part(name: str, opts: ExpertBenchOptions) -> Part:
    if name == "atari":
        return Part(
            "atari",
            opts.game,
            opts.obs,
            True,
            (40_000, 8_000_000),
            (2, 30),
            (20_000, 300_000),
            (None, 400.0),
        )
    # ViZDoom: screens (the paper's), raw rewards (a living reward of -0.0001 a tic), one
    # trajectory per episode seed (each spawns in its own room)
    return Part(
        "doom",
        opts.doom_game,
        "screen",
        False,
        (2_560, 1_000_000),
        (1, 8),
        (30_000, 30_000),
        (None, None),
    )


def _expert_data(bench: Bench, opts: ExpertBenchOptions, part: Part) -> Path:
    """The expert dataset of these settings: searched once, then reused."""
    from palestra.play.expert import ExpertSearchConfig, find_expert, load_expert

    k = 0 if bench.quick else 1
    atari = part.name == "atari"
    cfg = ExpertSearchConfig(
        game=part.game,
        trajectories=(opts.trajectories if atari else opts.doom_trajectories)
        or part.trajectories[k],
        steps=(opts.expert_steps if atari else opts.doom_expert_steps) or part.expert_steps[k],
        stop_score=(opts.expert_stop if atari else None) or part.expert_stop[k],
        seed=bench.seed,
        out=opts.runs / "expert" / f"{part.game.replace('/', '-')}.npz",
        progress=not bench.quick,
    )
    wanted = config_to_dict(cfg, recorded_only=True)
    meta_path = cfg.out.with_suffix(".json")
    if cfg.out.exists() and meta_path.exists():
        saved = json.loads(meta_path.read_text()).get("config")
        if saved == json.loads(json.dumps(wanted)):
            load_expert(cfg.out)  # readable
            return cfg.out
    find_expert(cfg)
    return cfg.out


def _run_part(bench: Bench, opts: ExpertBenchOptions, part: Part) -> None:
    from palestra.play.config import PlayTrainConfig
    from palestra.play.evaluate import evaluate, random_scores
    from palestra.play.expert import load_expert
    from palestra.play.train import train

    quick = bench.quick
    game, obs = part.game, part.obs
    atari = part.name == "atari"
    frames = (opts.frames if part.name == "atari" else opts.doom_frames) or part.frames[
        0 if quick else 1
    ]
    seeds = opts.seeds or (1 if quick else 3)
    episodes = opts.eval_episodes or (2 if quick else 10)
    path = _expert_data(bench, opts, part)
    data = load_expert(path)
    searched = data.meta["trajectories"]
    rows, curves, scores_by_arm = [], {}, {}
    for arm in opts.arms:
        scores = []
        for seed in range(seeds):
            cfg = PlayTrainConfig(
                game=game,
                obs=obs,  # type: ignore[arg-type]
                algo="ba3c",
                total_steps=frames // 4,
                seed=bench.seed + seed,
                threads=opts.threads,
                clip_rewards=part.clip_rewards,
                expert=None if arm == "plain" else path.resolve(),
                expert_coef=opts.expert_coef,
                expert_batch=opts.expert_batch,
                checkpoint_every=200,
                run_name=f"{game.replace('/', '-')}-{obs}-{arm}-{seed}",
                runs_root=opts.runs,
                resume=True,
                progress=not quick,
                **ARMS[arm],  # type: ignore[arg-type]
            )
            run_dir = train(cfg)
            result = evaluate(run_dir, episodes, threads=opts.threads)
            scores.append(result["mean"])
            curves[f"{arm}/{seed}"] = [
                (4 * r["step"], r["episodic_return"])
                for r in read_metrics(run_dir)
                if "episodic_return" in r
            ]
        scores_by_arm[arm] = scores
        rows.append([arm, float(np.mean(scores)), float(np.std(scores)), max(scores), seeds])
    random = float(np.mean(random_scores(game, episodes)))
    bench.table(
        f"{game}: scores after {frames:,} frames (BA3C from the {obs}, "
        f"{episodes} eval episodes per run)",
        ["arm", "mean score", "std over seeds", "best seed", "seeds"],
        rows,
    )
    bench.table(
        f"{game}: expert trajectories (search, then replay-checked)",
        # Atari trajectories differ by their no-op starts, Doom's by their episode seed
        [
            "trajectory",
            "no-ops" if atari else "episode seed",
            *("score", "agent steps", "cells", "search steps", "seconds"),
        ],
        [
            [i, t["noops"] if atari else t.get("seed", ""), *[t[k] for k in COLUMNS]]
            for i, t in enumerate(searched)
        ],
    )
    plain = float(np.mean(scores_by_arm["plain"])) if "plain" in scores_by_arm else None
    for arm in opts.arms:
        if arm != "plain":
            bench.figure(
                f"{game} {arm} score",
                float(np.mean(scores_by_arm[arm])),
                "points",
                peer="plain BA3C" if plain is not None else None,
                peer_value=plain,
                setting=f"{frames:,} frames, {seeds} seed(s), {obs}",
            )
    bench.figure(f"{game} random policy", random, "points")
    bench.data[part.name] = {
        "rows": rows,
        "scores": scores_by_arm,
        "curves": curves,
        "expert": searched,
        "random": random,
        "frames": frames,
    }
    if part.name == "atari":
        world = (
            "RAM cells (level, room, inventory, position) for Montezuma's Revenge and 11x8x8 "
            "screen cells elsewhere, each trajectory after its own no-ops; each replayed from "
            "a fresh emulator and its score re-checked. Training: episodic life, clipped "
            "rewards, 1-30 no-op starts"
        )
    else:
        world = (
            "position cells (64 map units), one trajectory per episode seed (its own start "
            "room), a cell returned to by replaying its actions (ViZDoom's save/load are not "
            "exact); each replayed and re-checked. Training: screens, raw rewards (frames "
            "are tics)"
        )
    bench.note(
        f"{game}: expert data from {len(searched)} Go-Explore searches of up to "
        f"{max(t['search_steps'] for t in searched):,} agent steps, {world}. BA3C (32 envs x "
        f"5 steps, Adam 7e-4 annealed); the expert arms add {opts.expert_coef:g} x the expert "
        f"term on {opts.expert_batch} expert transitions per update (not counted as frames). "
        f"Evaluation: full episodes, sampled actions, unclipped. Runs kept in `{opts.runs}`."
    )
    with bench.plot(
        f"{part.name}-curves", "Training episode return vs frames", xlabel="frames", ylabel="return"
    ) as ax:
        colours = {"plain": "tab:grey", "expert": "tab:red", "bc": "tab:blue"}
        for name, points in curves.items():
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, _smooth(ys), label=name, color=colours[name.split("/")[0]])
        ax.axhline(random, linestyle=":", color="black", label="random")
    with bench.plot(
        f"{part.name}-search",
        "Expert search: best score vs search steps",
        xlabel="agent steps",
        ylabel="score",
    ) as ax:
        for i, t in enumerate(searched):
            xs, best, _ = zip(*t["curve"], strict=True)
            start = f"{t['noops']} no-ops" if atari else f"seed {t.get('seed', '')}"
            ax.step(xs, best, where="post", label=f"trajectory {i} ({start})")


def _smooth(ys: Any, k: int = 20) -> list[float]:
    """Running mean over the last ``k`` logged returns."""
    ys = np.asarray(ys, float)
    out = np.cumsum(ys)
    out[k:] = out[k:] - out[:-k]
    return (out / np.minimum(np.arange(1, len(ys) + 1), k)).tolist()


@register_suite("expert", config=ExpertBenchOptions)
def run(bench: Bench) -> None:
    """Expert data by search, then BA3C plain vs expert-augmented vs behaviour cloning."""
    opts: ExpertBenchOptions = bench.options or ExpertBenchOptions()
    unknown = set(opts.parts) - {"atari", "doom"}
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; known: atari, doom")
    for name in ("atari", "doom"):
        if name in opts.parts:
            _run_part(bench, opts, _part(name, opts))
