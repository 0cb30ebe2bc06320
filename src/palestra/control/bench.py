"""``palestra bench control``: QWR vs AWR vs Palestra SAC vs Stable-Baselines3's SAC on MuJoCo.

Part ``mujoco``: every algorithm on every environment (default Hopper, Walker2d and
HalfCheetah v5) at the same interaction budget (default 100k) and seeds, deterministic
evaluation returns every 5 epochs (5 episodes, the same evaluation seeds for all), training
steps/s of each (interactions per second of wall time, updates included, one torch thread).
Stable-Baselines3's SAC runs with the settings of Palestra's (batch 256, lr 3e-4, tau 0.005,
automatic entropy, 5000 random first steps, one gradient step per interaction, the same
replay size) and is evaluated by the same function.

Every arm is a resumable run under ``-o runs=DIR`` (default ``runs/control-bench``): the same
command run again continues the unfinished arms from their checkpoints and reports all that
exist, so a budget of hours spans sessions. ``-o jobs=N`` trains N arms at a time, one
process and one torch thread each.
"""

from __future__ import annotations

import io
import json
import math
import multiprocessing as mp
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from palestra.core.bench import Bench, register_suite
from palestra.core.config import Config, arg
from palestra.core.runs import atomic_write_bytes

__all__ = ["ControlBenchOptions", "run"]

PALESTRA_ALGOS = ("qwr", "awr", "sac")
ALGOS = (*PALESTRA_ALGOS, "sb3-sac", "qwr-head", "qwr-fp32")
# arms that are an algorithm with other settings: QWR with trax's later light_mujoco.gin
# (1000 critic and 1000 policy steps per epoch, 4 sampled actions, log-sum-exp at T = 0.3 on
# abs-normalised Q-values, critic lr 1e-3, 100 epochs of replay, 20 target syncs), beside the
# settings of the paper's runs that `qwr` uses. Every bench QWR arm (MuJoCo, offline,
# Learning to Run, driving, Atari) values its sampled actions with a bfloat16 target critic,
# 2x faster epochs here; `qwr-fp32` is the same arm in float32 (the first Hopper and Walker2d
# seed-0 runs were float32, kept under that name)
QWR_BENCH = {"target_dtype": "bfloat16"}
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "qwr-fp32": ("qwr", {"target_dtype": "float32"}),
    "qwr-head": (
        "qwr",
        {
            "value_steps": 1000,
            "policy_steps": 1000,
            "q_samples": 4,
            "q_temperature": 0.3,
            "q_normalization": "abs",
            "value_lr": 1e-3,
            "replay_size": 100_000,
            "target_syncs": 20,
        },
    ),
}


@dataclass
class ControlBenchOptions(Config):
    """Options of ``palestra bench control``."""

    parts: tuple[str, ...] = arg(("mujoco",), "Which parts to run: mujoco, offline, l2r, driving.")
    envs: tuple[str, ...] | None = arg(
        None, "Environments (default quick: Pendulum-v1; full: Hopper, Walker2d, HalfCheetah v5)."
    )
    algos: tuple[str, ...] = arg(
        (*PALESTRA_ALGOS, "sb3-sac"),
        "Arms: qwr, awr, sac, sb3-sac, qwr-head (QWR with trax's later settings), qwr-fp32 "
        "(qwr with a float32 target critic).",
    )
    seeds: int | None = arg(None, "Seeds per arm (default quick 1, full 3).", min=1)
    steps: int | None = arg(None, "Interactions per run (default quick 2000, full 100k).", min=1)
    runs: Path = arg(Path("runs/control-bench"), "Keep (and resume) every arm's run here.")
    jobs: int = arg(2, "Arms trained at a time (one process, one torch thread each).", min=1)
    train: bool = arg(True, "Mujoco part: train missing arms (false: report the runs that exist).")
    offline_envs: tuple[str, ...] | None = arg(
        None, "Offline: environments (default quick: Pendulum-v1; full: Hopper-v5)."
    )
    qualities: tuple[str, ...] = arg(
        ("random", "medium", "expert"),
        "Offline: datasets — random (uniform actions), medium (SAC after medium_steps), "
        "expert (SAC after steps, the mujoco part's seed-0 run).",
    )
    offline_algos: tuple[str, ...] = arg(("qwr", "bc", "iql"), "Offline: qwr, bc, iql.")
    medium_steps: int | None = arg(
        None, "Offline: interactions of the medium data agent (default quick 500, full 20k).", min=1
    )
    dataset_steps: int | None = arg(
        None, "Offline: interactions per dataset (default quick 1500, full 100k).", min=1
    )
    iterations: int | None = arg(
        None, "Offline: training iterations (default quick 2, full 50).", min=1
    )
    l2r_env: str = arg("Walker2d-v5", "Learning to Run: the environment of the ablation.")
    driving_algos: tuple[str, ...] = arg(("ppo", "qwr"), "Driving: the agents.")
    atari_games: tuple[str, ...] = arg(("pong", "breakout", "boxing"), "Atari: the games (RAM).")
    atari_steps: int | None = arg(
        None, "Atari: agent steps per run (default quick 400, full 100k = 400k frames).", min=1
    )
    driving_steps: int | None = arg(
        None, "Driving: interactions per run (default quick 600, full 100k).", min=1
    )
    driving_episodes: int | None = arg(
        None, "Driving: evaluation episodes for the success rate (quick 5, full 100).", min=1
    )
    l2r_steps: int | None = arg(
        None,
        "Learning to Run: simulator steps per run (default quick 800, full 100k; a frame skip "
        "of k gives the agent k times fewer decisions).",
        min=1,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = set(self.algos) - set(ALGOS)
        if unknown:
            raise ValueError(f"unknown algos {sorted(unknown)}; known: {', '.join(ALGOS)}")
        parts = {"mujoco", "throughput", "offline", "l2r", "driving", "atari"}
        if set(self.parts) - parts:
            raise ValueError(
                f"unknown parts {sorted(set(self.parts) - parts)}; known: {', '.join(parts)}"
            )
        if set(self.qualities) - {"random", "medium", "expert"}:
            raise ValueError("qualities are random, medium, expert")
        if set(self.offline_algos) - {"qwr", "bc", "iql"}:
            raise ValueError("offline_algos are qwr, bc, iql")


@dataclass(frozen=True)
class Arm:
    env: str
    algo: str
    seed: int
    steps: int
    quick: bool
    root: str
    tag: str = ""  # a second run of the same algorithm with another budget ("-medium")
    settings: tuple[tuple[str, Any], ...] = ()  # config fields of this arm (tricks, ...)

    @property
    def name(self) -> str:
        return f"{self.algo}{self.tag}-seed{self.seed}"

    @property
    def folder(self) -> Path:
        return Path(self.root) / self.env / self.name

    def finished_run(self) -> Path:
        """The run directory of this arm whose training finished (it wrote ``model.pt``)."""
        return max(d for d in self.folder.iterdir() if (d / "model.pt").exists())


def _quick_settings(quick: bool) -> dict[str, Any]:
    """Small epochs and update counts for a smoke run (the full bench uses the defaults)."""
    if not quick:
        return {}
    return {
        "epoch_steps": 250,
        "value_steps": 20,
        "policy_steps": 20,
        "target_syncs": 2,
        "learning_starts": 250,
        "eval_episodes": 2,
        "eval_every": 2,
        "checkpoint_every": 2,
    }


def _train_palestra(arm: Arm) -> dict[str, Any]:
    from palestra.control.config import ControlTrainConfig
    from palestra.control.train import train

    algo, settings = VARIANTS.get(arm.algo, (arm.algo, QWR_BENCH if arm.algo == "qwr" else {}))
    extra = {**settings, **dict(arm.settings), **_quick_settings(arm.quick)}
    if algo != "sac":
        extra.pop("learning_starts", None)
    if algo == "ppo" and arm.quick:
        extra["minibatches"] = 4  # a quick epoch of 250 interactions
    cfg = ControlTrainConfig(
        env=arm.env,
        algo=algo,  # type: ignore[arg-type]
        seed=arm.seed,
        total_steps=arm.steps,
        run_name=arm.name,
        runs_root=Path(arm.root) / arm.env,
        resume=True,
        progress=False,
        **extra,
    )
    return _summary(train(cfg))


def _summary(run_dir: Path) -> dict[str, Any]:
    """A Palestra run's evaluation curve and median interactions/s of its learning epochs
    (those wholly after the random first steps)."""
    from palestra.core.runs import read_metrics

    config = json.loads((run_dir / "config.json").read_text())
    records = read_metrics(run_dir)
    curve = [(r["step"], r["eval/return"]) for r in records if "eval/return" in r]
    learning = [
        r["time/sps"]
        for r in records
        if r["step"] - config["epoch_steps"] >= (config["learning_starts"] or 0)
    ]
    return {"curve": curve, "sps": float(np.median(learning)) if learning else None}


class _SB3Policy:
    """An SB3 model behind the agent interface ``evaluate`` uses."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def act(self, obs: np.ndarray, *, explore: bool) -> tuple[np.ndarray, dict[str, Any]]:
        action, _ = self.model.predict(obs, deterministic=not explore)
        return np.asarray(action), {}


def _train_sb3(arm: Arm) -> dict[str, Any]:
    """Stable-Baselines3's SAC with Palestra SAC's settings, saved and resumed in chunks."""
    from stable_baselines3 import SAC as SB3SAC

    from palestra.control.config import ControlTrainConfig
    from palestra.control.envs import make_env
    from palestra.control.train import evaluate

    cfg = ControlTrainConfig(env=arm.env, algo="sac", seed=arm.seed, **_quick_settings(arm.quick))
    folder = arm.folder
    folder.mkdir(parents=True, exist_ok=True)
    curve_path, model_path = folder / "curve.json", folder / "model.zip"
    replay_path = folder / "replay.pkl"
    state = json.loads(curve_path.read_text()) if curve_path.exists() else {"curve": [], "sps": []}
    env = make_env(arm.env)
    if model_path.exists() and replay_path.exists() and state["curve"]:
        model = SB3SAC.load(model_path, env=env, device="cpu")
        model.load_replay_buffer(replay_path)
    else:
        state = {"curve": [], "sps": []}
        model = SB3SAC(
            "MlpPolicy",
            env,
            learning_rate=cfg.lr,
            buffer_size=cfg.replay_size,
            learning_starts=cfg.learning_starts,
            batch_size=cfg.batch_size,
            tau=cfg.tau,
            gamma=cfg.gamma,
            gradient_steps=cfg.gradient_steps,
            policy_kwargs={"net_arch": [cfg.hidden, cfg.hidden]},
            seed=arm.seed,
            device="cpu",
        )
    chunk = cfg.epoch_steps * cfg.eval_every
    assert cfg.learning_starts is not None
    while model.num_timesteps < arm.steps:
        t0 = time.perf_counter()
        todo = min(chunk, arm.steps - model.num_timesteps)
        model.learn(todo, reset_num_timesteps=False)
        seconds = time.perf_counter() - t0
        returns = evaluate(_SB3Policy(model), arm.env, cfg.eval_episodes, 10_000 + arm.seed)
        state["curve"].append((int(model.num_timesteps), float(np.mean(returns))))
        if model.num_timesteps > cfg.learning_starts + chunk:  # a chunk of learning only
            state["sps"].append(todo / seconds)
        for path, save in ((model_path, model.save), (replay_path, model.save_replay_buffer)):
            blob = io.BytesIO()
            save(blob)
            atomic_write_bytes(path, blob.getvalue())
        atomic_write_bytes(curve_path, json.dumps(state).encode())
    env.close()
    return _sb3_summary(state)


def _sb3_summary(state: dict[str, Any]) -> dict[str, Any]:
    """The SB3 arm's evaluation curve and median interactions/s of its learning chunks."""
    return {
        "curve": state["curve"],
        "sps": float(np.median(state["sps"])) if state["sps"] else None,
    }


def run_arm(arm: Arm) -> dict[str, Any]:
    """Train (or resume, or just read) one arm; one torch thread."""
    import torch

    torch.set_num_threads(1)
    return _train_sb3(arm) if arm.algo == "sb3-sac" else _train_palestra(arm)


def _pool_map(fn: Any, items: list[Any], jobs: int) -> list[Any]:
    """``fn`` over ``items`` in ``jobs`` fresh processes (spawned: no forked torch or MuJoCo
    state), one item per process; with one job, in this process, one after the other (no
    worker, no resource tracker left behind)."""
    if jobs == 1:
        return [fn(item) for item in items]
    with mp.get_context("spawn").Pool(jobs, maxtasksperchild=1) as pool:
        return pool.map(fn, items, chunksize=1)


def _ci95(values: list[float]) -> float:
    """Half-width of the normal-approximation 95% interval of the mean (0 for one value)."""
    return 1.96 * float(np.std(values, ddof=1)) / math.sqrt(len(values)) if len(values) > 1 else 0.0


def _mean_band(curves: list[list[tuple[int, float]]]) -> tuple[list[int], Any, Any]:
    """Steps, mean and 95% half-width over seeds (normal approximation; 0 for one seed)."""
    length = min(len(c) for c in curves)
    steps = [s for s, _ in curves[0][:length]]
    values = np.array([[v for _, v in c[:length]] for c in curves])
    mean = values.mean(0)
    half = 1.96 * values.std(0, ddof=1) / math.sqrt(len(curves)) if len(curves) > 1 else 0 * mean
    return steps, mean, half


def _mujoco(bench: Bench, opts: ControlBenchOptions) -> None:
    quick = bench.quick
    envs = opts.envs or (
        ("Pendulum-v1",) if quick else ("Hopper-v5", "Walker2d-v5", "HalfCheetah-v5")
    )
    seeds = opts.seeds or (1 if quick else 3)
    steps = opts.steps or (2000 if quick else 100_000)
    arms = [
        Arm(env, algo, bench.seed + s, steps, quick, str(opts.runs))
        for env in envs
        for s in range(seeds)
        for algo in opts.algos
    ]
    if opts.train:
        results = _pool_map(run_arm, arms, opts.jobs)
    else:
        results = [_read_arm(arm) for arm in arms]
    table, data = [], {}
    for env in envs:
        per_algo: dict[str, dict[str, Any]] = {}
        for algo in opts.algos:
            got = [r for a, r in zip(arms, results, strict=True) if (a.env, a.algo) == (env, algo)]
            got = [r for r in got if r and r["curve"]]
            if not got:
                continue
            curves = [r["curve"] for r in got]
            final = [c[-1][1] for c in curves]
            sps = [r["sps"] for r in got if r["sps"]]
            mean = float(np.mean(final))
            half = _ci95(final)
            per_algo[algo] = {
                "final": final,
                "mean": mean,
                "ci95": half,
                "sps": float(np.mean(sps)) if sps else None,
                "curves": curves,
                "steps": max(c[-1][0] for c in curves),
            }
            table.append(
                [env, algo, len(got), per_algo[algo]["steps"], mean, half, per_algo[algo]["sps"]]
            )
        data[env] = per_algo
        _figures(bench, env, per_algo)
        with bench.plot(
            f"curves_{env}", f"{env}: evaluation return", xlabel="interactions", ylabel="return"
        ) as ax:
            for algo, got in per_algo.items():
                x, mean, half = _mean_band(got["curves"])
                ax.plot(x, mean, label=f"{algo} ({len(got['curves'])} seeds)")
                ax.fill_between(x, mean - half, mean + half, alpha=0.2)
    bench.table(
        "Deterministic evaluation return at the end of training (mean over seeds, 95% CI half-"
        "width), training interactions/s (updates included, 1 torch thread)",
        ["env", "algo", "seeds", "interactions", "return", "±95%", "steps/s"],
        table,
    )
    bench.data["mujoco"] = data
    bench.note(
        f"Budget {steps:,} interactions per run, {seeds} seed(s), evaluation every "
        f"{'500' if quick else '5,000'} interactions on the same evaluation seeds for all arms. "
        f"QWR with the settings of the QWR paper's runs, AWR and qwr-head with trax's later "
        f"light_mujoco.gin, SAC with SB3's; "
        f"runs kept in `{opts.runs}` (the same command resumes them)."
    )


# (figure name, arm, peer arm, peer's label, measured field, unit)
_FIGURES = [
    (
        "QWR, paper's vs trax's later settings",
        "qwr",
        "qwr-head",
        "QWR, trax's later settings",
        "mean",
        "return",
    ),
    ("QWR return", "qwr", "sac", "Palestra SAC", "mean", "return"),
    ("QWR vs AWR", "qwr", "awr", "AWR", "mean", "return"),
    ("QWR, bf16 vs float32 target", "qwr", "qwr-fp32", "QWR, float32 target", "mean", "return"),
    ("SAC return", "sac", "sb3-sac", "SB3 SAC", "mean", "return"),
    ("SAC training steps/s", "sac", "sb3-sac", "SB3 SAC", "sps", "steps/s"),
]


def _at(got: dict[str, Any], step: int) -> float:
    """An arm's mean (over seeds) of its last evaluation at or before ``step``."""
    return float(np.mean([[v for s, v in c if s <= step][-1] for c in got["curves"]]))


def _figures(bench: Bench, env: str, per_algo: dict[str, dict[str, Any]]) -> None:
    """Each pair at the largest budget both arms have reached (a run still under way is
    compared where it is, not with the other's final return)."""
    for name, arm, peer, label, field, unit in _FIGURES:
        if arm not in per_algo or peer not in per_algo:
            continue
        if field == "sps":
            ours, theirs = per_algo[arm]["sps"], per_algo[peer]["sps"]
            setting = "interactions per wall second while training, 1 torch thread"
        else:
            step = min(
                min(c[-1][0] for c in per_algo[arm]["curves"]),
                min(c[-1][0] for c in per_algo[peer]["curves"]),
            )
            ours, theirs = _at(per_algo[arm], step), _at(per_algo[peer], step)
            setting = f"deterministic return at {step:,} interactions, mean over seeds"
        bench.figure(f"{env} {name}", ours, unit, peer=label, peer_value=theirs, setting=setting)


def _read_arm(arm: Arm) -> dict[str, Any] | None:
    """What an arm's kept run holds, without training."""
    if arm.algo == "sb3-sac":
        path = arm.folder / "curve.json"
        if not path.exists():
            return None
        return _sb3_summary(json.loads(path.read_text()))
    parent = arm.folder
    runs = [d for d in parent.iterdir() if (d / "config.json").exists()] if parent.is_dir() else []
    return _summary(max(runs)) if runs else None


# ----------------------------------------------------------------------------- throughput
def _throughput(bench: Bench, opts: ControlBenchOptions) -> None:
    """SAC training interactions/s (one gradient step each), Palestra's and SB3's, timed one
    after the other in this process on the same env, after the same warm-up."""
    import tempfile

    import torch
    from stable_baselines3 import SAC as SB3SAC

    from palestra.control.config import ControlTrainConfig
    from palestra.control.envs import make_env
    from palestra.control.train import train
    from palestra.core.runs import read_metrics

    torch.set_num_threads(1)
    env_id = (opts.envs or ("Hopper-v5",))[0]
    warm, timed = (200, 400) if bench.quick else (1000, 3000)
    rows = []
    for repeat in range(1 if bench.quick else 2):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = ControlTrainConfig(
                env=env_id,
                algo="sac",
                total_steps=warm + timed,
                epoch_steps=warm,
                learning_starts=warm,
                eval_every=10**6,
                eval_episodes=1,
                runs_root=Path(tmp),
                progress=False,
                seed=bench.seed + repeat,
            )
            records = read_metrics(train(cfg))
        ours = float(np.mean([r["time/sps"] for r in records if r["step"] > warm]))
        env = make_env(env_id)
        model = SB3SAC(
            "MlpPolicy",
            env,
            learning_starts=warm,
            batch_size=256,
            device="cpu",
            seed=bench.seed + repeat,
        )
        model.learn(warm)
        t0 = time.perf_counter()
        model.learn(timed, reset_num_timesteps=False)
        theirs = timed / (time.perf_counter() - t0)
        env.close()
        rows.append([repeat, ours, theirs, ours / theirs])
    bench.table(
        f"SAC training interactions/s on {env_id} (one gradient step of batch 256 each, "
        "1 torch thread), timed after the random warm-up, one after the other",
        ["repeat", "Palestra SAC", "SB3 SAC", "ratio"],
        rows,
    )
    bench.figure(
        f"{env_id} SAC training interactions/s",
        float(np.mean([r[1] for r in rows])),
        "steps/s",
        peer="SB3 SAC",
        peer_value=float(np.mean([r[2] for r in rows])),
        setting=f"{timed:,} timed interactions after {warm:,}, same process, 1 thread",
    )
    bench.data["throughput"] = {"rows": rows}


# ----------------------------------------------------------------------------- offline
@dataclass(frozen=True)
class OfflineArm:
    dataset: str
    env: str
    quality: str
    algo: str
    seed: int
    iterations: int
    quick: bool
    root: str


def run_offline_arm(arm: OfflineArm) -> dict[str, Any]:
    """Train (or resume, or read) one offline arm; one torch thread."""
    import torch

    from palestra.control.offline import ControlOfflineConfig, train_offline
    from palestra.core.runs import read_metrics

    torch.set_num_threads(1)
    quick = {"policy_steps": 20, "value_steps": 20, "target_syncs": 2, "eval_episodes": 2}
    cfg = ControlOfflineConfig(
        dataset=Path(arm.dataset),
        algo=arm.algo,  # type: ignore[arg-type]
        seed=arm.seed,
        iterations=arm.iterations,
        eval_every=max(1, arm.iterations // 10),
        run_name=f"{arm.algo}-seed{arm.seed}",
        runs_root=Path(arm.root) / "offline" / arm.env / arm.quality,
        resume=True,
        progress=False,
        **(quick if arm.quick else {}),
        **(QWR_BENCH if arm.algo == "qwr" else {}),
    )
    records = read_metrics(train_offline(cfg))
    return {"curve": [(r["step"], r["eval/return"]) for r in records if "eval/return" in r]}


def _record_dataset(job: tuple[str, str, str, int, int, str, bool]) -> str:
    """Record one dataset unless it exists: (source run or 'random', env, quality, steps,
    seed, root, quick) -> its folder."""
    from palestra.control.offline import RecordConfig, dataset_path, record

    source, env, quality, steps, seed, root, _quick = job
    out = Path(root) / "datasets"
    path = dataset_path(out, env, f"{quality}-seed{seed}")
    if (path / "data" / "metadata.json").exists():
        return str(path)
    if path.exists():  # a killed recording: start it again
        shutil.rmtree(path)
    return str(
        record(
            RecordConfig(
                source, out=out, name=f"{quality}-seed{seed}", env=env, steps=steps, seed=seed
            )
        )
    )


def _offline(bench: Bench, opts: ControlBenchOptions) -> None:
    from palestra.control.config import ALGO_DEFAULTS, BASE_DEFAULTS
    from palestra.control.offline import load_dataset

    qwr = ALGO_DEFAULTS["qwr"]
    quick = bench.quick
    envs = opts.offline_envs or (("Pendulum-v1",) if quick else ("Hopper-v5",))
    seeds = opts.seeds or (1 if quick else 3)
    steps = opts.steps or (2000 if quick else 100_000)
    medium = opts.medium_steps or (500 if quick else 20_000)
    dataset_steps = opts.dataset_steps or (1500 if quick else 100_000)
    iterations = opts.iterations or (2 if quick else 50)
    root = str(opts.runs)
    # 1. the data agents: SAC at the full budget (the mujoco part's run) and at medium_steps
    agents = {}
    for env in envs:
        if "expert" in opts.qualities:
            agents[(env, "expert")] = Arm(env, "sac", bench.seed, steps, quick, root)
        if "medium" in opts.qualities:
            agents[(env, "medium")] = Arm(env, "sac", bench.seed, medium, quick, root, "-medium")
    _pool_map(run_arm, list(agents.values()), opts.jobs)
    # 2. the datasets, recorded once
    jobs = []
    for env in envs:
        for quality in opts.qualities:
            source = "random"
            if quality != "random":
                arm = agents[(env, quality)]
                source = str(arm.finished_run())
            jobs.append((source, env, quality, dataset_steps, bench.seed, root, quick))
    paths = dict(
        zip([(j[1], j[2]) for j in jobs], _pool_map(_record_dataset, jobs, opts.jobs), strict=True)
    )
    facts = {key: load_dataset(path)[1] for key, path in paths.items()}
    # 3. the offline learners
    arms = [
        OfflineArm(paths[(env, q)], env, q, algo, bench.seed + s, iterations, quick, root)
        for env in envs
        for q in opts.qualities
        for s in range(seeds)
        for algo in opts.offline_algos
    ]
    results = _pool_map(run_offline_arm, arms, opts.jobs)
    rows, data = [], {}
    for env in envs:
        for q in opts.qualities:
            for algo in opts.offline_algos:
                got = [
                    r
                    for a, r in zip(arms, results, strict=True)
                    if (a.env, a.quality, a.algo) == (env, q, algo)
                ]
                final = [r["curve"][-1][1] for r in got if r["curve"]]
                mean = float(np.mean(final))
                half = _ci95(final)
                data[f"{env}/{q}/{algo}"] = {"final": final, "curves": [r["curve"] for r in got]}
                rows.append([env, q, facts[(env, q)]["mean_return"], algo, len(final), mean, half])
            by = {r[3]: r[5] for r in rows if r[:2] == [env, q]}
            for peer, label in (("bc", "behaviour cloning"), ("iql", "IQL")):
                if "qwr" in by and peer in by:
                    bench.figure(
                        f"{env} {q} offline QWR" + ("" if peer == "bc" else " vs IQL"),
                        by["qwr"],
                        "return",
                        peer=label,
                        peer_value=by[peer],
                        setting=f"{iterations} iterations, mean over seeds",
                    )
    bench.table(
        "Offline: deterministic evaluation return after training on each dataset (mean over "
        "seeds, 95% CI half-width); the dataset's own mean episode return beside it",
        ["env", "dataset", "data return", "algo", "seeds", "return", "±95%"],
        rows,
    )
    bench.data["offline"] = data
    bench.note(
        f"Offline: datasets of {dataset_steps:,} interactions recorded here in Minari's format "
        f"(random: uniform actions; medium: SAC after {medium:,} interactions; expert: SAC after "
        f"{steps:,}; the agents' stochastic policies), {iterations} iterations per learner "
        f"(QWR: {qwr['value_steps']} critic + {qwr['policy_steps']} policy steps; BC and IQL: "
        f"{BASE_DEFAULTS['policy_steps']} steps), seeds {seeds}."
    )
    with bench.plot("offline", "Offline return by dataset", ylabel="return") as ax:
        labels = [f"{r[0].split('-')[0]}\n{r[1]}\n{r[3]}" for r in rows]
        ax.bar(labels, [r[5] for r in rows], yerr=[r[6] for r in rows])
        ax.tick_params(axis="x", labelsize=6)


# ----------------------------------------------------------------------------- Learning to Run
# the ablation adds one trick at a time (cumulative), SAC throughout
L2R_ARMS: list[tuple[str, str, bool]] = [
    ("plain", "", False),
    ("+ frame skip 2", "skip2", False),
    ("+ shaping (velocity 0.5, fall 10)", "skip2,shape0.5,fall10", False),
    ("+ symmetry", "skip2,shape0.5,fall10", True),
    ("+ 5 action levels", "skip2,shape0.5,fall10,bins5", True),
]


def _l2r(bench: Bench, opts: ControlBenchOptions) -> None:
    from palestra.control.train import evaluate, load_agent
    from palestra.control.tricks import Blend

    seeds = opts.seeds or (1 if bench.quick else 3)
    budget = opts.l2r_steps or (800 if bench.quick else 100_000)
    arms, labels = [], []
    for i, (label, tricks, symmetry) in enumerate(L2R_ARMS):
        skip = int(tricks.split("skip")[1].split(",")[0]) if "skip" in tricks else 1
        for s in range(seeds):
            settings = (("tricks", tricks), ("symmetry", symmetry))
            arms.append(
                Arm(
                    opts.l2r_env,
                    "sac",
                    bench.seed + s,
                    budget // skip,
                    bench.quick,
                    str(opts.runs),
                    f"-l2r{i}",
                    settings,
                )
            )
            labels.append(label)
    results = _pool_map(run_arm, arms, opts.jobs)
    rows = []
    for label, _tricks, _sym in L2R_ARMS:
        final = [r["curve"][-1][1] for r, lab in zip(results, labels, strict=True) if lab == label]
        half = _ci95(final)
        rows.append([label, len(final), float(np.mean(final)), half])
    # policy blending: the last arm's agents of every seed acting together
    last = [a for a, lab in zip(arms, labels, strict=True) if lab == L2R_ARMS[-1][0]]
    runs = [a.finished_run() for a in last]
    agents = [load_agent(d)[0] for d in runs]
    blended = evaluate(
        Blend(agents), opts.l2r_env, 5 if bench.quick else 10, 20_000, tricks=L2R_ARMS[-1][1]
    )
    rows.append(
        [f"+ blending the {len(agents)} seeds' policies", len(agents), float(np.mean(blended)), 0.0]
    )
    bench.table(
        f"Learning to Run tricks on {opts.l2r_env}, added one at a time (SAC, {budget:,} "
        "simulator steps per run; deterministic evaluation return, unshaped)",
        ["trick", "seeds", "return", "±95%"],
        rows,
    )
    bench.data["l2r"] = {"rows": rows}
    with bench.plot("l2r", f"{opts.l2r_env}: Learning to Run tricks", ylabel="return") as ax:
        ax.barh(
            [r[0] for r in rows][::-1], [r[2] for r in rows][::-1], xerr=[r[3] for r in rows][::-1]
        )


# ----------------------------------------------------------------------------- driving
def driving_success(run_dir: str, episodes: int, seed: int) -> dict[str, float]:
    """Deterministic episodes of a trained driving agent: success rate, collisions, return."""
    from palestra.control.envs import make_env
    from palestra.control.train import load_agent

    agent, cfg = load_agent(run_dir)
    env = make_env(cfg.env)
    wins = crashes = 0
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done, total, info = False, 0.0, {}
        while not done:
            action, _ = agent.act(np.asarray(obs)[None], explore=False)
            obs, reward, terminated, truncated, info = env.step(action[0])
            total += float(reward)
            done = terminated or truncated
        wins += bool(info.get("success"))
        crashes += bool(info.get("collision"))
        returns.append(total)
    env.close()
    return {
        "success": wins / episodes,
        "collision": crashes / episodes,
        "return": float(np.mean(returns)),
    }


def _driving_arm(job: tuple[Arm, int]) -> dict[str, Any]:
    arm, episodes = job
    run_arm(arm)
    run_dir = arm.finished_run()
    return driving_success(str(run_dir), episodes, 50_000 + arm.seed)


def _driving(bench: Bench, opts: ControlBenchOptions) -> None:
    from palestra.control.driving import DRIVING_IDS

    seeds = opts.seeds or (1 if bench.quick else 3)
    steps = opts.driving_steps or (600 if bench.quick else 100_000)
    episodes = opts.driving_episodes or (5 if bench.quick else 100)
    cells = [(o, r, env_id) for (o, r), env_id in DRIVING_IDS.items()]
    jobs = [
        (Arm(env_id, algo, bench.seed + s, steps, bench.quick, str(opts.runs)), episodes)
        for _o, _r, env_id in cells
        for algo in opts.driving_algos
        for s in range(seeds)
    ]
    results = _pool_map(_driving_arm, jobs, opts.jobs)
    rows = []
    for obs, reward, env_id in cells:
        for algo in opts.driving_algos:
            got = [
                r
                for (a, _), r in zip(jobs, results, strict=True)
                if (a.env, a.algo) == (env_id, algo)
            ]
            rate = [g["success"] for g in got]
            rows.append(
                [
                    obs,
                    reward,
                    algo,
                    len(got),
                    float(np.mean(rate)),
                    float(np.std(rate)),
                    float(np.mean([g["collision"] for g in got])),
                ]
            )
    bench.table(
        f"Driving (lane change, merge, overtake mixed): success rate over {episodes} "
        f"deterministic episodes after {steps:,} interactions, mean and std over seeds",
        ["observation", "reward", "agent", "seeds", "success", "std", "collisions"],
        rows,
    )
    bench.data["driving"] = {"rows": rows}
    with bench.plot("driving", "Driving success rate", ylabel="success") as ax:
        ax.bar(
            [f"{r[0]}\n{r[1]}\n{r[2]}" for r in rows],
            [r[4] for r in rows],
            yerr=[r[5] for r in rows],
        )
        ax.tick_params(axis="x", labelsize=7)


# ----------------------------------------------------------------------------- Atari
def _atari_arm(job: tuple[str, str, int, int, bool, str]) -> float:
    """One Atari run (QWR from the control pillar or PPO from the play pillar, both from the
    RAM), trained or resumed, then its mean score over greedy evaluation episodes."""
    algo, game, seed, steps, quick, root = job
    episodes = 2 if quick else 10
    if algo == "qwr":
        from palestra.control.train import evaluate, load_agent

        arm = Arm(f"atari/{game}-ram", "qwr", seed, steps, quick, root)
        run_arm(arm)
        agent, _ = load_agent(arm.finished_run())
        return float(np.mean(evaluate(agent, arm.env, episodes, 30_000 + seed)))
    import torch

    from palestra.play.config import PlayTrainConfig
    from palestra.play.evaluate import evaluate as play_evaluate
    from palestra.play.train import train as play_train

    torch.set_num_threads(1)
    cfg = PlayTrainConfig(
        game=game,
        obs="ram",
        algo="ppo",
        total_steps=steps,
        seed=seed,
        threads=1,
        env_backend="palestra",
        run_name=f"ppo-ram-seed{seed}",
        runs_root=Path(root) / f"atari-{game}",
        resume=True,
        progress=False,
        **({"num_envs": 4, "rollout": 32} if quick else {}),
    )
    result = play_evaluate(play_train(cfg), episodes, greedy=True, seed=30_000 + seed)
    return float(result["mean"])


def _atari(bench: Bench, opts: ControlBenchOptions) -> None:
    seeds = opts.seeds or (1 if bench.quick else 3)
    steps = opts.atari_steps or (400 if bench.quick else 100_000)
    jobs = [
        (algo, game, bench.seed + s, steps, bench.quick, str(opts.runs))
        for game in opts.atari_games
        for algo in ("qwr", "ppo")
        for s in range(seeds)
    ]
    scores = _pool_map(_atari_arm, jobs, opts.jobs)
    rows = []
    for game in opts.atari_games:
        by = {}
        for algo in ("qwr", "ppo"):
            got = [v for j, v in zip(jobs, scores, strict=True) if (j[0], j[1]) == (algo, game)]
            by[algo] = float(np.mean(got))
            rows.append([game, algo, len(got), by[algo], float(np.std(got))])
        bench.figure(
            f"{game} QWR score (RAM)",
            by["qwr"],
            "points",
            peer="Palestra PPO (RAM)",
            peer_value=by["ppo"],
            setting=f"{steps:,} agent steps, mean over seeds",
        )
    bench.table(
        f"Atari from the RAM at {steps:,} agent steps ({4 * steps:,} frames): QWR with its "
        "MuJoCo hyperparameters vs PPO, greedy evaluation (no-op starts, full games)",
        ["game", "agent", "seeds", "score", "std"],
        rows,
    )
    bench.data["atari"] = {"rows": rows}


@register_suite("control", config=ControlBenchOptions)
def run(bench: Bench) -> None:
    """QWR, AWR, SAC and SB3's SAC on MuJoCo, resumable arms."""
    opts: ControlBenchOptions = bench.options or ControlBenchOptions()
    if "mujoco" in opts.parts:
        _mujoco(bench, opts)
    if "throughput" in opts.parts:
        _throughput(bench, opts)
    if "offline" in opts.parts:
        _offline(bench, opts)
    if "l2r" in opts.parts:
        _l2r(bench, opts)
    if "driving" in opts.parts:
        _driving(bench, opts)
    if "atari" in opts.parts:
        _atari(bench, opts)
