"""Evaluate an Atari agent with the standard protocol, and the random-policy baseline.

    palestra play eval runs/play/20260101-120000 --episodes 30 --frames breakout

The protocol (Mnih et al. 2015; Machado et al. 2018): full episodes (game over, or 108,000
emulator frames = 30 minutes), scores unclipped, no episodic life, 1..30 no-op frames after
each reset, actions sampled from the policy (or greedy). Each episode runs in its own env
(seeded ``seed + i``), all stepped as one batch, so short episodes do not crowd out long
ones. Episodes run on Palestra's in-process vector env whatever the training backend was
(its screens equal ALE's native ones up to rounding). Results go to ``RUN_DIR/eval.json``;
``frames=PATH`` also writes the first episode as ``PATH.gif`` and a strip of eight evenly
spaced frames as ``PATH.png``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from palestra.core.runs import atomic_write_bytes
from palestra.play.atari import AtariSettings, AtariVecEnv
from palestra.play.common import load_policy, obs_tensors, settings_for
from palestra.play.config import PlayEvalConfig
from palestra.play.doom import DoomSettings, is_doom

__all__ = ["evaluate", "play_episodes", "random_scores", "run_eval", "write_frames"]

Policy = Callable[[dict[str, np.ndarray]], np.ndarray]


def play_episodes(
    settings: AtariSettings | DoomSettings,
    policy: Policy | None,
    episodes: int,
    seed: int = 1000,
    *,
    record: bool = False,
) -> tuple[list[float], list[int], list[np.ndarray]]:
    """Scores and lengths (agent steps) of ``episodes`` full episodes, one per env.

    ``policy`` maps a batched observation to actions (None: uniform random actions);
    ``record`` keeps the RGB frames ``[210, 160, 3]`` of the first episode.
    """
    rng = np.random.default_rng(seed)
    scores: list[float] = [0.0] * episodes
    lengths: list[int] = [0] * episodes
    frames: list[np.ndarray] = []
    with AtariVecEnv(settings, episodes, seed) as env:
        obs = env.reset()
        active = np.ones(episodes, bool)
        while active.any():
            actions = rng.integers(0, env.n_actions, episodes) if policy is None else policy(obs)
            if record and active[0]:
                frames.append(env.games[0].rgb())
            result = env.step(actions)
            for i, score, length in result.episodes:
                if active[i]:
                    scores[i], lengths[i] = score, length
                    active[i] = False
            obs = result.obs
    return scores, lengths, frames


def write_frames(frames: list[np.ndarray], path: str | Path, *, max_gif_frames: int = 3000) -> None:
    """``PATH.gif`` (every frame, up to ``max_gif_frames``) and ``PATH.png`` (eight frames
    evenly spaced over the episode, side by side)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not frames:
        return
    images = [Image.fromarray(f) for f in frames[:max_gif_frames]]
    images[0].save(
        path.with_suffix(".gif"), save_all=True, append_images=images[1:], duration=33, loop=0
    )
    picks = np.linspace(0, len(frames) - 1, num=min(8, len(frames))).round().astype(int)
    strip = np.concatenate([frames[i] for i in picks], axis=1)  # [210, 160 k, 3]
    Image.fromarray(strip).save(path.with_suffix(".png"))


def evaluate(
    run_dir: str | Path,
    episodes: int = 10,
    *,
    greedy: bool = False,
    noop_max: int = 30,
    sticky: float | None = None,
    max_frames: int = 108_000,
    frames: str | Path | None = None,
    seed: int = 1000,
    threads: int = 1,
) -> dict[str, Any]:
    """Evaluate the policy of ``run_dir`` (its ``model.pt``, else its newest checkpoint);
    write and return ``eval.json``: scores, mean, std, min, max, lengths, protocol."""
    torch.set_num_threads(threads)
    model, cfg = load_policy(run_dir)
    settings = replace(
        settings_for(cfg, training=False),
        noop_max=noop_max,
        max_frames=max_frames,
        sticky=cfg.sticky if sticky is None else sticky,
    )
    generator = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def policy(obs: dict[str, np.ndarray]) -> np.ndarray:
        logits, _ = model(obs_tensors(obs))  # [N, A]
        if greedy:
            return logits.argmax(-1).numpy()
        probs = torch.softmax(logits, -1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1).numpy()

    scores, lengths, recorded = play_episodes(
        settings, policy, episodes, seed, record=frames is not None
    )
    if frames is not None:
        write_frames(recorded, frames)
    result = {
        "game": cfg.game,
        "obs": cfg.obs,
        "algo": cfg.algo,
        "episodes": episodes,
        "mean": float(np.mean(scores)),
        "std": float(np.std(scores)),
        "min": float(np.min(scores)),
        "max": float(np.max(scores)),
        "scores": scores,
        "lengths": lengths,
        "protocol": {
            "greedy": greedy,
            "noop_max": noop_max,
            "sticky": settings.sticky,
            "max_frames": max_frames,
            "clipped": False,
            "episodic_life": False,
            "seed": seed,
        },
    }
    atomic_write_bytes(Path(run_dir) / "eval.json", json.dumps(result, indent=2).encode())
    return result


def run_eval(cfg: PlayEvalConfig) -> dict[str, Any]:
    """:func:`evaluate` from the CLI's config; prints the scores' summary."""
    result = evaluate(
        cfg.run_dir,
        cfg.episodes,
        greedy=cfg.greedy,
        noop_max=cfg.noop_max,
        sticky=cfg.sticky,
        max_frames=cfg.max_frames,
        frames=cfg.frames,
        seed=cfg.seed,
        threads=cfg.threads,
    )
    print(
        f"{result['game']} ({result['obs']}, {result['algo']}): mean {result['mean']:g} +- "
        f"{result['std']:g} over {cfg.episodes} episodes (min {result['min']:g}, max "
        f"{result['max']:g}); written {Path(cfg.run_dir) / 'eval.json'}"
    )
    return result


def random_scores(
    game: str, episodes: int = 10, *, seed: int = 1000, max_frames: int = 108_000
) -> list[float]:
    """Scores of the uniform random policy under the same protocol."""
    if is_doom(game):
        return play_episodes(DoomSettings(game=game), None, episodes, seed)[0]
    settings = AtariSettings(game=game, obs="ram", ram_stack=1, max_frames=max_frames)
    return play_episodes(settings, None, episodes, seed)[0]
