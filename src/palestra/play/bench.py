"""``palestra bench atari``: training throughput vs Stable-Baselines3, and RAM vs screen.

Two parts (``-o parts=throughput,learning``):

* **throughput**: agent steps/s (and frames/s = 4x) of whole training iterations (rollout +
  update) of Palestra's PPO and BA3C and of Stable-Baselines3's PPO, measured one after the
  other in this process on the same game, with the same env count, network (Nature CNN, one
  shared torso), rollout length, minibatch size and epochs, and the same torch thread count.
  SB3 steps the very same vector env (ALE's native one, through a small ``VecEnv`` adapter),
  so the figure compares the learners, not the emulators. The first iteration of each is
  warm-up and not counted. RAM figures (Palestra only: SB3 has no RAM preprocessing) follow.
* **learning**: PPO scores at a fixed frame budget from the RAM, the screen and both, under
  the standard evaluation protocol (:mod:`palestra.play.evaluate`), with the random policy's
  scores alongside, plotted. Quick mode: Breakout, a small budget, one seed. Full mode: Pong
  and Breakout from the screen, then Breakout, Seaquest and Bowling from RAM vs screen vs
  both, several seeds, 10M frames each (hours on a CPU: ``-o runs=DIR`` keeps the runs with
  their checkpoints, and the same command run again resumes them). ``-o
  learn_nets=palestra,paper`` adds the 2016 paper's RAM network (2 x 128 units, one RAM
  snapshot) beside Palestra's (2 x 256, four snapshots) for the RAM and mixed agents.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from palestra.core.bench import Bench, register_suite
from palestra.core.config import Config, arg
from palestra.core.runs import read_metrics
from palestra.play.config import auto_precision

__all__ = ["AtariBenchOptions", "run"]


# RAM networks of the learning part (PlayTrainConfig fields)
NETS: dict[str, dict[str, int]] = {
    "palestra": {"hidden": 256, "ram_stack": 4},
    "paper": {"hidden": 128, "ram_stack": 1},
}


@dataclass
class AtariBenchOptions(Config):
    """Options of ``palestra bench atari``."""

    parts: tuple[str, ...] = arg(("throughput", "learning"), "Which parts to run.")
    game: str = arg("breakout", "Game of the throughput part.")
    num_envs: int = arg(8, "Throughput: envs (the same for every trainer).", min=1)
    rollout: int = arg(128, "Throughput: agent steps per env per PPO iteration.", min=1)
    minibatches: int = arg(4, "Throughput: PPO minibatches per epoch.", min=1)
    epochs: int = arg(4, "Throughput: PPO epochs.", min=1)
    ba3c_rollout: int = arg(32, "Throughput: BA3C steps per env per update.", min=1)
    iterations: int | None = arg(
        None, "Throughput: iterations each (default quick 3, full 10).", min=2
    )
    threads: int = arg(2, "torch threads for every trainer.", min=1)
    peer: bool = arg(True, "Measure Stable-Baselines3's PPO (needs stable-baselines3).")
    learn_games: tuple[str, ...] | None = arg(
        None, "Learning: games (default quick: breakout; full: breakout, seaquest, bowling)."
    )
    screen_games: tuple[str, ...] | None = arg(
        None, "Learning: games trained from the screen only (default full: pong)."
    )
    learn_obs: tuple[str, ...] = arg(
        ("ram", "screen", "both"), "Learning: observation modes trained on each learn_games game."
    )
    learn_nets: tuple[str, ...] = arg(
        ("palestra",),
        "Learning: RAM networks: palestra (2 x 256 units, 4 RAM snapshots) and/or paper "
        "(Sygnowski & Michalewski 2016: 2 x 128 units, one snapshot); screens use the Nature "
        "CNN in both.",
    )
    frames: int | None = arg(
        None, "Learning: frame budget per run (default quick 200k, full 10M).", min=1
    )
    seeds: int | None = arg(None, "Learning: seeds per setting (default quick 1, full 3).", min=1)
    eval_episodes: int | None = arg(
        None, "Learning: evaluation episodes (quick 5, full 30).", min=1
    )
    precision: str = arg(
        "auto", "Learning: arithmetic of the screen network (auto, fp32, bf16), as in play train."
    )
    runs: Path | None = arg(
        None,
        "Learning: keep the training runs in this folder, checkpointed, and resume them when "
        "the same command runs again (a budget of hours can stop and continue); default: a "
        "temporary folder.",
    )

    def __post_init__(self) -> None:
        super().__post_init__()  # the fields' bounds
        unknown = set(self.learn_obs) - {"ram", "screen", "both"}
        if unknown:  # checked here, so a typo fails before the throughput part has run
            raise ValueError(f"unknown learn_obs {sorted(unknown)}; known: ram, screen, both")
        unknown = set(self.learn_nets) - set(NETS)
        if unknown:
            raise ValueError(f"unknown learn_nets {sorted(unknown)}; known: palestra, paper")


# ----------------------------------------------------------------------------- throughput
def _palestra_throughput(
    opts: AtariBenchOptions,
    algo: str,
    obs: str,
    iterations: int,
    root: Path,
    backend: str = "auto",
    precision: str = "auto",
) -> float:
    """Agent steps/s over iterations 2..N of a Palestra training run."""
    from palestra.play.config import PlayTrainConfig
    from palestra.play.train import train

    rollout = opts.rollout if algo == "ppo" else opts.ba3c_rollout
    cfg = PlayTrainConfig(
        game=opts.game,
        obs=obs,  # type: ignore[arg-type]
        algo=algo,  # type: ignore[arg-type]
        num_envs=opts.num_envs,
        rollout=rollout,
        minibatches=opts.minibatches,
        epochs=opts.epochs,
        total_steps=iterations * opts.num_envs * rollout,
        threads=opts.threads,
        env_backend=backend,  # type: ignore[arg-type]
        precision=precision,  # type: ignore[arg-type]
        checkpoint_every=10**9,
        run_name=f"{algo}-{obs}-{backend}-{precision}",
        runs_root=root,
        progress=False,
    )
    records = read_metrics(train(cfg))
    first, last = records[0], records[-1]
    return (last["step"] - first["step"]) / (last["time"] - first["time"])


def _sb3_throughput(opts: AtariBenchOptions, iterations: int) -> float:
    """Agent steps/s over iterations 2..N of SB3's PPO on ALE's native vector env."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import VecEnv

    from palestra.play.atari import AtariSettings, NativeScreenVecEnv

    class AleVecEnv(VecEnv):
        """ALE's native vector env as an SB3 VecEnv (clipped rewards, episodic life)."""

        def __init__(self) -> None:
            self.render_mode = None
            settings = AtariSettings(game=opts.game, obs="screen", episodic_life=True)
            self.env = NativeScreenVecEnv(settings, opts.num_envs, seed=0)
            obs_space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
            super().__init__(opts.num_envs, obs_space, gym.spaces.Discrete(self.env.n_actions))

        def reset(self) -> Any:
            return self.env.reset()["screen"]

        def step_async(self, actions: np.ndarray) -> None:
            self._actions = actions

        def step_wait(self) -> Any:
            r = self.env.step(self._actions)
            infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
            for i, ret, length in r.episodes:
                infos[i]["episode"] = {"r": ret, "l": length}
            return r.obs["screen"], np.sign(r.reward), r.terminated | r.truncated, infos

        def close(self) -> None:
            self.env.close()

        def get_attr(self, name: str, indices: Any = None) -> list[Any]:
            return [getattr(self, name)] * self.num_envs

        def set_attr(self, name: str, value: Any, indices: Any = None) -> None:
            setattr(self, name, value)

        def env_method(self, name: str, *args: Any, indices: Any = None, **kw: Any) -> list:
            return []

        def env_is_wrapped(self, wrapper: Any, indices: Any = None) -> list[bool]:
            return [False] * self.num_envs

    class Clock(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.starts: list[float] = []

        def _on_rollout_start(self) -> None:
            self.starts.append(time.perf_counter())

        def _on_step(self) -> bool:
            return True

    torch.set_num_threads(opts.threads)
    env = AleVecEnv()
    batch = opts.num_envs * opts.rollout
    model = PPO(
        "CnnPolicy",
        env,
        n_steps=opts.rollout,
        batch_size=batch // opts.minibatches,
        n_epochs=opts.epochs,
        learning_rate=2.5e-4,
        clip_range=0.1,
        ent_coef=0.01,
        vf_coef=0.5,
        max_grad_norm=0.5,
        device="cpu",
        seed=0,
        verbose=0,
    )
    clock = Clock()
    model.learn(total_timesteps=iterations * batch, callback=clock)
    end = time.perf_counter()
    env.close()
    return (iterations - 1) * batch / (end - clock.starts[1])


def _env_throughput(opts: AtariBenchOptions, steps: int) -> list[list[Any]]:
    """Agent steps/s of the vector envs alone (random actions, 16 envs, after 20 warm-up
    steps): RAM in process vs in two worker processes, screens on ALE's vs Palestra's."""
    from palestra.play.atari import AtariSettings, AtariVecEnv, NativeScreenVecEnv

    num_envs = 16
    actions = np.random.default_rng(0).integers(0, 4, (steps + 20, num_envs))
    ram = AtariSettings(game=opts.game, obs="ram", episodic_life=True)
    screen = AtariSettings(game=opts.game, obs="screen", episodic_life=True)
    makers = [
        ("RAM, in process", lambda: AtariVecEnv(ram, num_envs)),
        ("RAM, 2 worker processes", lambda: AtariVecEnv(ram, num_envs, workers=2)),
        ("screen, ALE's native vector env", lambda: NativeScreenVecEnv(screen, num_envs)),
        ("screen, Palestra's in process", lambda: AtariVecEnv(screen, num_envs)),
    ]
    rows = []
    for name, make in makers:
        env = make()
        try:
            env.reset()
            n_actions = env.n_actions
            for row in actions[:20]:
                env.step(row % n_actions)
            start = time.perf_counter()
            for row in actions[20:]:
                env.step(row % n_actions)
            rows.append([name, num_envs * steps / (time.perf_counter() - start)])
        finally:
            env.close()
    return rows


def _throughput(bench: Bench, opts: AtariBenchOptions) -> None:
    iterations = opts.iterations or (3 if bench.quick else 10)
    if iterations < 2:
        raise ValueError("iterations must be at least 2 (the first is warm-up)")
    setting = (
        f"{opts.game}, {opts.num_envs} envs, rollout {opts.rollout}, "
        f"{opts.minibatches} minibatches x {opts.epochs} epochs, {opts.threads} threads"
    )
    rows = []
    precision = auto_precision()  # what the default rows run in
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        peer = _sb3_throughput(opts, iterations) if opts.peer else None
        ppo = _palestra_throughput(opts, "ppo", "screen", iterations, root)
        ppo_fp32 = _palestra_throughput(opts, "ppo", "screen", iterations, root, precision="fp32")
        ba3c = _palestra_throughput(opts, "ba3c", "screen", iterations, root)
        ppo_own_env = _palestra_throughput(opts, "ppo", "screen", iterations, root, "palestra")
        bench.figure(
            "PPO screen training",
            ppo,
            "agent steps/s",
            peer="SB3 2.9 PPO",
            peer_value=peer,
            setting=setting,
        )
        bench.figure(
            "PPO screen training, fp32",
            ppo_fp32,
            "agent steps/s",
            peer="SB3 2.9 PPO",
            peer_value=peer,
            setting="as PPO screen, with the screen network in float32 throughout",
        )
        bench.figure(
            "BA3C screen training",
            ba3c,
            "agent steps/s",
            peer="SB3 2.9 PPO",
            peer_value=peer,
            setting=f"{opts.game}, {opts.num_envs} envs, rollout {opts.ba3c_rollout}",
        )
        bench.figure(
            "PPO screen training, Palestra's env",
            ppo_own_env,
            "agent steps/s",
            peer="SB3 2.9 PPO",
            peer_value=peer,
            setting="as PPO screen, on Palestra's in-process vector env instead of ALE's",
        )
        rows += [
            ["Palestra PPO", f"screen (ALE vector env, {precision})", ppo, 4 * ppo],
            ["Palestra PPO", "screen (ALE vector env, fp32)", ppo_fp32, 4 * ppo_fp32],
            ["Palestra PPO", "screen (Palestra vector env)", ppo_own_env, 4 * ppo_own_env],
            ["Palestra BA3C", "screen (ALE vector env)", ba3c, 4 * ba3c],
        ]
        if peer is not None:
            rows.append(["SB3 PPO", "screen (ALE vector env)", peer, 4 * peer])
        for algo in ("ppo", "ba3c"):
            for obs in ("ram", "both"):
                value = _palestra_throughput(opts, algo, obs, iterations, root)
                rows.append([f"Palestra {algo.upper()}", obs, value, 4 * value])
                bench.figure(f"{algo.upper()} {obs} training", value, "agent steps/s")
    bench.table("Training throughput", ["trainer", "obs", "agent steps/s", "frames/s"], rows)
    bench.data["throughput"] = rows
    env_rows = _env_throughput(opts, 100 if bench.quick else 500)
    bench.table("Vector envs alone (16 envs, random actions)", ["env", "agent steps/s"], env_rows)
    bench.data["env_throughput"] = env_rows
    bench.note(
        f"Throughput: {iterations} iterations each, the first not counted; rollout and update "
        "together. SB3 steps ALE's native vector env through an adapter, as Palestra's PPO "
        "does for screens; RAM and both run on Palestra's in-process vector env."
    )
    bench.note(
        f"Precision: Palestra's rows use its default, `precision=auto`, which is {precision} "
        "on this CPU (bf16 where the CPU has native bfloat16 dot products: the screen "
        "network's convolutions and dense layer run in bfloat16 autocast, weights, heads, "
        "losses and Adam in float32). The fp32 row is the same trainer in float32 "
        "throughout, as SB3 runs."
    )


# ----------------------------------------------------------------------------- learning
def _learning(bench: Bench, opts: AtariBenchOptions) -> None:
    from palestra.play.config import PlayTrainConfig
    from palestra.play.evaluate import evaluate, random_scores
    from palestra.play.train import train

    quick = bench.quick
    games = opts.learn_games or (("breakout",) if quick else ("breakout", "seaquest", "bowling"))
    screen_games = opts.screen_games or (() if quick else ("pong",))
    frames = opts.frames or (200_000 if quick else 10_000_000)
    seeds = opts.seeds or (1 if quick else 3)
    episodes = opts.eval_episodes or (5 if quick else 30)
    # a RAM network matters only where the RAM is seen: screen runs are trained once
    settings = [
        (g, o, n)
        for g in games
        for o in opts.learn_obs
        for n in (opts.learn_nets if o != "screen" else opts.learn_nets[:1])
    ]
    settings += [(g, "screen", opts.learn_nets[0]) for g in screen_games if g not in games]
    rows, curves, hours, protocol = [], {}, [], {}
    randoms = {g: float(np.mean(random_scores(g, episodes))) for g, _, _ in settings}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) if opts.runs is None else opts.runs
        for game, obs, net in settings:
            label = obs if net == "palestra" or obs == "screen" else f"{obs}/{net}"
            scores = []
            for seed in range(seeds):
                cfg = PlayTrainConfig(
                    game=game,
                    obs=obs,  # type: ignore[arg-type]
                    algo="ppo",
                    total_steps=frames // 4,
                    seed=bench.seed + seed,
                    threads=opts.threads,
                    precision=opts.precision,  # type: ignore[arg-type]
                    checkpoint_every=10**9 if opts.runs is None else 50,
                    run_name=f"{game}-{obs}-{seed}" + ("" if net == "palestra" else f"-{net}"),
                    **(NETS[net] if obs != "screen" else {}),  # type: ignore[arg-type]
                    runs_root=root,
                    resume=opts.runs is not None,  # a kept run continues from its checkpoint
                    progress=opts.runs is not None,
                )
                run_dir = train(cfg)
                result = evaluate(run_dir, episodes)
                scores.append(result["mean"])
                protocol = result["protocol"]
                records = read_metrics(run_dir)
                curves[f"{game}/{label}/{seed}"] = [
                    (4 * r["step"], r["episodic_return"]) for r in records if "episodic_return" in r
                ]
                hours.append(f"{game}/{label}/{seed} {cfg.precision} {_hours(records):.2f} h")
            rows.append([game, label, float(np.mean(scores)), float(np.std(scores)), randoms[game]])
            bench.figure(
                f"{game} {label} score",
                float(np.mean(scores)),
                "points",
                peer="random policy",
                peer_value=randoms[game],
                setting=f"PPO, {frames:,} frames, {seeds} seed(s)",
            )
    bench.table(
        f"Scores after {frames:,} frames (PPO, {episodes} eval episodes)",
        ["game", "obs", "mean score", "std over seeds", "random"],
        rows,
    )
    bench.data["learning"] = {"rows": rows, "curves": curves}
    if protocol:  # at least one run was evaluated
        bench.note(
            f"Learning: PPO with its defaults, {frames:,} frames ({frames // 4:,} agent steps) per "
            f"run; evaluation: {episodes} full episodes per run (game over or "
            f"{protocol['max_frames']:,} frames), up to {protocol['noop_max']} no-op starts, "
            f"actions {'greedy' if protocol['greedy'] else 'sampled from the policy'}, unclipped "
            f"scores. Training wall "
            f"time (logged span) per run and precision: {'; '.join(hours)}."
            + (f" Runs kept in `{opts.runs}`." if opts.runs is not None else "")
        )
    with bench.plot(
        "learning", "Training episode return vs frames", xlabel="frames", ylabel="return"
    ) as ax:
        for name, points in curves.items():
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, label=name)
        for game, value in randoms.items():
            ax.axhline(value, linestyle=":", color="grey", label=f"{game} random")
    with bench.plot("scores", f"Scores at {frames:,} frames", ylabel="points") as ax:
        labels = [f"{g}\n{o}" for g, o, *_ in rows]
        ax.bar(labels, [r[2] for r in rows], yerr=[r[3] for r in rows], label="PPO")
        ax.scatter(labels, [r[4] for r in rows], color="black", marker="_", s=400, label="random")


def _hours(records: list[dict[str, Any]]) -> float:
    """The span of a run's metric records in hours (a resumed run's pauses included)."""
    return (records[-1]["time"] - records[0]["time"]) / 3600 if records else 0.0


@register_suite("atari", config=AtariBenchOptions)
def run(bench: Bench) -> None:
    """Throughput vs SB3, then learning from RAM vs screen vs both."""
    opts: AtariBenchOptions = bench.options or AtariBenchOptions()
    unknown = set(opts.parts) - {"throughput", "learning"}
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; known: throughput, learning")
    if "throughput" in opts.parts:
        _throughput(bench, opts)
    if "learning" in opts.parts:
        _learning(bench, opts)
