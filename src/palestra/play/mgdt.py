"""Multi-Game Decision Transformers (Lee et al. 2022): datasets from Palestra's agents, one
model for every game, return-conditioned play.

    palestra play mgdt-data --game breakout --source runs/ppo-breakout/<stamp>:0.0 \\
        --source random --out data/mgdt        # one game's trajectories, several skill levels
    palestra play mgdt --data data/mgdt --steps 4000        # one model for all the games in it
    palestra play mgdt --data data/mgdt --no-returns        # behaviour cloning, same network

**Data.** DQN-Replay is not reachable here, so the trajectories come from agents Palestra
trains: each *source* is a run directory (its policy, acting on whatever it was trained on)
with an epsilon (the share of uniformly random actions, which spreads the skill levels), or
``random``. Each step keeps the newest 84x84 frame, the action as an index of ALE's full
action set of 18 (the one output layer every game shares), and the raw reward. A game's
data is ``frames.npy`` ``[T, 84, 84]`` uint8 (memory-mapped when read: data sets larger than
memory train the same way), ``actions.npy``, ``rewards.npy`` and ``episodes.json`` (start,
length, score, source of every episode), under ``OUT/GAME/``.

**Training** draws windows of ``context`` consecutive timesteps from all games (each game
equally often), four stacked frames per timestep (padded with the episode's first frame),
returns to go of the clipped rewards (the paper's), and minimises
:meth:`palestra.models.mgdt.MGDT.loss` with AdamW.

**Playing**: every game under the usual protocol (full episodes, 1-30 no-op starts, unclipped
scores); at each step the model draws an expert return (``kappa``) and samples an action
among the game's legal ones. The baseline without returns samples its action directly.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from palestra.core.errors import PalestraError
from palestra.core.runs import Run, atomic_write_bytes, rng_state, set_rng_state
from palestra.models.mgdt import MGDT, N_ACTIONS, MGDTConfig, return_bins
from palestra.play.atari import AtariSettings, AtariVecEnv
from palestra.play.config import MGDTDataConfig, MGDTTrainConfig

__all__ = [
    "GameData",
    "MGDTDataConfig",
    "MGDTTrainConfig",
    "load_mgdt",
    "play_mgdt",
    "record_game",
    "sample_windows",
    "train_mgdt",
]


# ----------------------------------------------------------------------------- recording
def _source_policy(source: str) -> tuple[Any, float, str, int]:
    """``RUN_DIR[:EPSILON]`` or ``random`` -> (policy or None, epsilon, the observation it
    needs, its RAM stack)."""
    if source == "random":
        return None, 1.0, "screen", 4
    path, _, eps = source.rpartition(":")
    if not path or not _is_number(eps):
        path, eps = source, "0"
    from palestra.play.common import load_policy

    model, cfg = load_policy(path)
    epsilon = float(eps)
    if not 0 <= epsilon <= 1:
        raise PalestraError(f"source {source!r}: epsilon must be in [0, 1]")
    return model, epsilon, cfg.obs, cfg.ram_stack


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def record_game(cfg: MGDTDataConfig) -> Path:
    """Record ``cfg.steps`` steps of each source on ``cfg.game``; write ``OUT/GAME/``."""
    out = cfg.out / cfg.game
    out.mkdir(parents=True, exist_ok=True)
    frames, actions, rewards, episodes = [], [], [], []
    total = 0  # steps kept so far (the next episode's start)
    n = cfg.envs
    for k, source in enumerate(cfg.sources):
        policy, epsilon, obs, ram_stack = _source_policy(source)
        settings = AtariSettings(game=cfg.game, obs="both", ram_stack=ram_stack)
        rng = np.random.default_rng(cfg.seed + k)
        generator = torch.Generator().manual_seed(cfg.seed + k)
        with AtariVecEnv(settings, n, cfg.seed + 1000 * k) as env:
            full = full_actions(env)  # [A]
            o = env.reset()
            per_env: list[list[tuple[np.ndarray, int, float]]] = [[] for _ in range(n)]
            recorded = 0
            while recorded < cfg.steps:
                a = rng.integers(0, env.n_actions, n)
                if policy is not None:
                    with torch.no_grad():
                        wanted = {key: torch.from_numpy(o[key]) for key in _keys(obs)}
                        logits, _ = policy(wanted)
                    greedy = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)
                    a = np.where(rng.random(n) < epsilon, a, greedy.squeeze(-1).numpy())
                result = env.step(a)
                for i in range(n):
                    per_env[i].append((o["screen"][i, -1], int(full[a[i]]), result.reward[i]))
                for i, score, length in result.episodes:
                    steps = per_env[i]
                    per_env[i] = []
                    frames.append(np.stack([s[0] for s in steps]))
                    actions.append(np.array([s[1] for s in steps], np.int16))
                    rewards.append(np.array([s[2] for s in steps], np.float32))
                    episodes.append(
                        {"start": total, "length": len(steps), "score": score, "source": source}
                    )
                    total += len(steps)
                    recorded += length
                    if recorded >= cfg.steps:
                        break
                o = result.obs
    if not episodes:
        raise PalestraError(f"{cfg.game}: no episode finished within the recording budget")
    for name, parts in (("frames", frames), ("actions", actions), ("rewards", rewards)):
        _save_npy(out / f"{name}.npy", np.concatenate(parts))
    meta = {
        "game": cfg.game,
        "sources": list(cfg.sources),
        "steps": cfg.steps,
        "seed": cfg.seed,
        "episodes": episodes,
    }
    atomic_write_bytes(out / "episodes.json", json.dumps(meta, indent=1).encode())
    return out


def full_actions(env: AtariVecEnv) -> np.ndarray:
    """The game's (minimal) actions as indices of ALE's full set of 18, in the game's order;
    every game of a vector env plays the same game."""
    return np.array([int(a.value) for a in env.games[0].actions])


def _keys(obs: str) -> list[str]:
    return ["screen", "ram"] if obs == "both" else [obs]


def _save_npy(path: Path, array: np.ndarray) -> None:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    atomic_write_bytes(path, buffer.getvalue())


# ----------------------------------------------------------------------------- reading
@dataclass
class GameData:
    """One game's trajectories (frames memory-mapped) and the indices windows are drawn from."""

    game: str
    frames: np.ndarray  # [T, 84, 84] uint8, memory-mapped
    actions: np.ndarray  # [T] full-set indices
    rewards: np.ndarray  # [T] raw
    returns: np.ndarray  # [T] return to go of the clipped rewards
    start: np.ndarray  # [T] index of each step's episode start
    episodes: list[dict[str, Any]]

    @classmethod
    def load(cls, folder: Path) -> GameData:
        meta_path = folder / "episodes.json"
        if not meta_path.exists():
            raise PalestraError(f"{folder}: not an MGDT game folder (no episodes.json)")
        meta = json.loads(meta_path.read_text())
        frames = np.load(folder / "frames.npy", mmap_mode="r")
        actions = np.load(folder / "actions.npy").astype(np.int64)
        rewards = np.load(folder / "rewards.npy")
        if not len(frames) == len(actions) == len(rewards):
            raise PalestraError(f"{folder}: frames, actions and rewards differ in length")
        returns = np.zeros(len(rewards), np.float32)
        start = np.zeros(len(rewards), np.int64)
        for e in meta["episodes"]:
            s, n = e["start"], e["length"]
            clipped = np.sign(rewards[s : s + n])
            returns[s : s + n] = np.cumsum(clipped[::-1])[::-1]
            start[s : s + n] = s
        return cls(meta["game"], frames, actions, rewards, returns, start, meta["episodes"])


def games_in(folder: Path, games: tuple[str, ...] = ()) -> list[Path]:
    """The game folders of a data set (each holding ``episodes.json``); only ``games`` if
    given (each must be there)."""
    found = sorted(p.parent for p in Path(folder).glob("*/episodes.json"))
    if not found:
        raise PalestraError(f"{folder}: no game data (no */episodes.json); see play mgdt-data")
    if games:
        missing = set(games) - {p.name for p in found}
        if missing:
            raise PalestraError(f"{folder}: no data for {', '.join(sorted(missing))}")
        found = [p for p in found if p.name in games]
    return found


def _stack(data: GameData, index: np.ndarray, frames: int) -> np.ndarray:
    """Frames ``index-frames+1 .. index`` of each index, clamped at the episode's start:
    ``[len(index), frames, 84, 84]``."""
    offsets = np.arange(-frames + 1, 1)
    rows = np.maximum(index[:, None] + offsets, data.start[index][:, None])
    return data.frames[rows.reshape(-1)].reshape(len(index), frames, 84, 84)


def sample_windows(
    data: list[GameData], batch: int, context: int, frames: int, rng: np.random.Generator
) -> dict[str, torch.Tensor]:
    """``batch`` windows of ``context`` timesteps ending at uniformly drawn steps, each game
    equally often; a window reaching before its episode's start is padded in front with the
    episode's first frame and zero return bin, action and reward (``mask`` False there),
    as :func:`play_mgdt` pads its first steps."""
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("frames", "returns", "actions")}
    out.update(rewards=[], mask=[])
    games = rng.integers(0, len(data), batch)
    for g in range(len(data)):
        k = int((games == g).sum())
        if not k:
            continue
        d = data[g]
        end = rng.integers(0, len(d.actions), k)
        steps = end[:, None] + np.arange(-context + 1, 1)  # [k, K]
        mask = steps >= d.start[end][:, None]
        steps = np.where(mask, steps, d.start[end][:, None])
        flat = steps.reshape(-1)
        out["frames"].append(_stack(d, flat, frames).reshape(k, context, frames, 84, 84))
        out["returns"].append(np.where(mask, d.returns[flat].reshape(k, context), -np.inf))
        out["actions"].append(np.where(mask, d.actions[flat].reshape(k, context), 0))
        out["rewards"].append(np.where(mask, d.rewards[flat].reshape(k, context), 0.0))
        out["mask"].append(mask)
    cat = {k: np.concatenate(v) for k, v in out.items()}
    return {
        "frames": torch.from_numpy(cat["frames"]),
        "returns": return_bins(torch.from_numpy(cat["returns"]).clamp(min=-1e6)),  # pads: 0
        "actions": torch.from_numpy(cat["actions"]),
        "rewards": torch.from_numpy(np.sign(cat["rewards"]).astype(np.float32)),
        "mask": torch.from_numpy(cat["mask"]),
    }


# ----------------------------------------------------------------------------- training
def train_mgdt(cfg: MGDTTrainConfig) -> Path:
    """Train (or, with ``cfg.resume``, continue) one model on every game of ``cfg.data``;
    evaluate it on each game; return the run directory."""
    torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    data = [GameData.load(p) for p in games_in(cfg.data, cfg.games)]
    model_cfg = cfg.model_config()
    model = MGDT(model_cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.1)
    rng = np.random.default_rng(cfg.seed)
    with Run.open(cfg.run_name, cfg, seed=cfg.seed, root=cfg.runs_root, resume=cfg.resume) as run:
        start = 0
        checkpoint = run.load_checkpoint() if run.resumed else None
        if checkpoint is not None:
            start, state = checkpoint
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            set_rng_state(state["rng"])
            rng.bit_generator.state = state["numpy_generator"]
        from palestra.core.progress import step_bar

        t0 = time.perf_counter()
        with step_bar("mgdt", cfg.steps, completed=start, enabled=cfg.progress) as bar:
            for step in range(start + 1, cfg.steps + 1):
                lr = cfg.lr * min(1.0, step / cfg.warmup)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                b = sample_windows(data, cfg.batch, model_cfg.context, model_cfg.frames, rng)
                model.train()
                with torch.autocast("cpu", torch.bfloat16, enabled=cfg.precision == "bf16"):
                    loss, stats = model.loss(
                        b["frames"], b["returns"], b["actions"], b["rewards"], b["mask"]
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                if step % cfg.log_every == 0 or step == cfg.steps:
                    run.log(step, **stats, lr=lr, seconds=time.perf_counter() - t0)
                if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                    run.save_checkpoint(
                        step,
                        {
                            "model": model.state_dict(),
                            "optimizer": optimizer.state_dict(),
                            "rng": rng_state(),
                            "numpy_generator": rng.bit_generator.state,
                            "model_config": model_cfg.__dict__,
                        },
                    )
                bar(step)
        save_mgdt(run.dir / "model.pt", model)
        scores = {}
        if cfg.eval_episodes:
            model.eval()
            for d in data:
                scores[d.game] = play_mgdt(
                    model, d.game, cfg.eval_episodes, seed=1000, kappa=cfg.kappa
                )
        run.write_json(
            "summary.json",
            {
                "params": model.num_params(),
                "steps": cfg.steps,
                "returns": model_cfg.returns,
                "scores": scores,
                "data": {d.game: _data_summary(d) for d in data},
            },
        )
    return run.dir


def _data_summary(d: GameData) -> dict[str, Any]:
    scores = [e["score"] for e in d.episodes]
    by_source: dict[str, list[float]] = {}
    for e in d.episodes:
        by_source.setdefault(e["source"], []).append(e["score"])
    return {
        "steps": len(d.actions),
        "episodes": len(scores),
        "mean": float(np.mean(scores)),
        "best": float(np.max(scores)),
        "sources": {s: float(np.mean(v)) for s, v in by_source.items()},
    }


def save_mgdt(path: Path, model: MGDT) -> None:
    import io

    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "model_config": model.cfg.__dict__}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_mgdt(path: str | Path) -> MGDT:
    """A trained model from its ``model.pt`` (or a run directory holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = MGDT(MGDTConfig(**blob["model_config"]))
    model.load_state_dict(blob["model"])
    return model.eval()


# ----------------------------------------------------------------------------- playing
@torch.no_grad()
def play_mgdt(
    model: MGDT,
    game: str,
    episodes: int,
    *,
    seed: int = 1000,
    kappa: float = 10.0,
    max_frames: int = 108_000,
) -> list[float]:
    """Scores of ``episodes`` full episodes of ``game`` (one per env, no-op starts, episodes
    end at game over, unclipped), the model keeping a window of its last ``context`` steps."""
    cfg = model.cfg
    K = cfg.context
    settings = AtariSettings(game=game, obs="screen", episodic_life=False, max_frames=max_frames)
    generator = torch.Generator().manual_seed(seed)
    scores: list[float] = [0.0] * episodes
    with AtariVecEnv(settings, episodes, seed) as env:
        full = full_actions(env)  # [A]: the game's actions as full-set indices
        legal = torch.zeros(episodes, N_ACTIONS, dtype=torch.bool)
        legal[:, full] = True
        to_index = np.full(N_ACTIONS, -1)  # full-set index -> the game's action index
        to_index[full] = np.arange(len(full))
        obs = env.reset()
        frames = torch.from_numpy(obs["screen"])[:, None].repeat(1, K, 1, 1, 1)  # [N, K, 4, 84, 84]
        returns = torch.zeros(episodes, K, dtype=torch.long)
        actions = torch.zeros(episodes, K, dtype=torch.long)
        rewards = torch.zeros(episodes, K)
        active = np.ones(episodes, bool)
        while active.any():
            # an episode's first steps: the window is padded in front with its first frame
            # and zero tokens, as training pads them
            action, chosen = model.act(
                frames, returns, actions, rewards, legal, kappa=kappa, generator=generator
            )
            returns[:, -1] = chosen
            actions[:, -1] = action
            result = env.step(to_index[action.numpy()])
            rewards[:, -1] = torch.sign(torch.from_numpy(result.reward))
            for i, score, _ in result.episodes:
                if active[i]:
                    scores[i], active[i] = score, False
            # shift the windows; an env whose episode ended starts a fresh window
            new = torch.from_numpy(result.obs["screen"])
            frames = torch.cat([frames[:, 1:], new[:, None]], 1)
            returns, actions = returns.roll(-1, 1), actions.roll(-1, 1)
            rewards = rewards.roll(-1, 1)
            for i, _, _ in result.episodes:
                frames[i] = new[i][None]
                returns[i], actions[i], rewards[i] = 0, 0, 0
    return scores


def run_mgdt_data(cfg: MGDTDataConfig) -> None:
    out = record_game(cfg)
    d = GameData.load(out)
    s = _data_summary(d)
    print(f"{out}: {s['episodes']} episodes, {s['steps']:,} steps, mean score {s['mean']:.1f}")
    for source, mean in s["sources"].items():
        print(f"  {source}: mean score {mean:.1f}")


def run_mgdt(cfg: MGDTTrainConfig) -> None:
    run_dir = train_mgdt(cfg)
    summary = json.loads((run_dir / "summary.json").read_text())
    print(f"run: {run_dir}  ({summary['params']:,} parameters)")
    for game, scores in summary["scores"].items():
        print(f"  {game}: mean score {np.mean(scores):.1f} over {len(scores)} episodes")
