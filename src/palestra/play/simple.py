"""SimPLe (Kaiser et al. 2019): learn a model of the game, then learn to play inside it.

    palestra play simple --game pong                   # 15 iterations, 100k interactions
    palestra play simple --game pong --resume          # after a crash: from the last iteration
    palestra play eval runs/simple/<stamp>             # the policy, under the usual protocol

The loop, ``iterations`` times (15 in the paper)::

    1. collect   real_steps / iterations interactions in the real game with the current
                 policy (the first iteration: uniform random actions); append to the data D
    2. model     train the world model on D (the first iteration ``first_model_factor``x
                 as long, as the paper's 45k then 15k steps)
    3. policy    PPO inside the model: ``model_envs`` imagined games start at RAM states
                 drawn from D, step with the world model, and end at a predicted episode
                 end or after ``horizon`` steps (the paper's 50); ``imagined_steps`` steps
                 of PPO per iteration (the paper's video model: 800k)
    4. evaluate  the policy in the real game (not counted as interactions)

Interactions are agent steps (4 frames each): 100k interactions are 400k frames, the paper's
"100k" budget, about two hours of play.

The world model is :class:`palestra.models.world_model.RamWorldModel` (the console's RAM:
the cheap variant of the paper's video model, Sygnowski and Michalewski 2016's observation);
the policy is Palestra's RAM actor-critic (:class:`~palestra.models.atari_nets.AtariActorCritic`)
and its PPO update is :func:`palestra.play.ppo.ppo_update`, the model-free baseline's own.
Imagined episodes cut at the horizon are truncated, not terminated: their last reward gets
``gamma V(s_H)`` added, so the value does not learn that the game ends every 50 steps.

Rewards are the sign of the score change (the learner's clipped reward) and the model
predicts them as three classes; an episode ends at a lost life (episodic life) in the data
and in the model alike. The real envs' episodes carry on across iterations.

A run checkpoints after every iteration (world model, policy, both optimisers, RNGs, the
real emulators) and keeps each iteration's data as ``data/NN.npz``, so ``--resume`` repeats
the run that never stopped from the last finished iteration.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from torch.distributions import Categorical

from palestra.core.config import config_to_dict
from palestra.core.progress import step_bar
from palestra.core.runs import Run, atomic_write_bytes, rng_state, set_rng_state
from palestra.models.world_model import RamWorldModel
from palestra.play.atari import AtariVecEnv
from palestra.play.common import gae, make_model, save_policy
from palestra.play.config import PlayTrainConfig, SimpleConfig
from palestra.play.evaluate import play_episodes
from palestra.play.ppo import ppo_update

__all__ = [
    "ImaginedGames",
    "RealData",
    "SimpleConfig",
    "collect",
    "horizon_error",
    "load_world_model",
    "run_simple",
    "save_world_model",
    "train_simple",
]


# ----------------------------------------------------------------------------- real data
@dataclass
class RealData:
    """Real transitions, time-major per env: ``ram [T, N, K, 128]`` uint8 (the stack before
    the step), ``next_ram [T, N, 128]`` (the RAM after it), ``action [T, N]``, ``reward
    [T, N]`` raw, ``done [T, N]`` (the episode ended: game over or a lost life), ``reset
    [T, N]`` (the game was reset after the step, so ``next_ram`` is not this step's)."""

    ram: np.ndarray
    next_ram: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    done: np.ndarray
    reset: np.ndarray

    def save(self, path: Path) -> None:
        import io

        buffer = io.BytesIO()
        np.savez_compressed(buffer, **self.__dict__)
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> RealData:
        with np.load(path) as f:
            return cls(**{k: f[k] for k in cls.__dataclass_fields__})

    @staticmethod
    def cat(parts: list[RealData]) -> RealData:
        """Concatenated along time (all parts have the same envs)."""
        return RealData(
            *(np.concatenate([getattr(p, k) for p in parts]) for k in RealData.__dataclass_fields__)
        )

    def flat(self) -> dict[str, torch.Tensor]:
        """Every transition as one batch of tensors (``[T*N, ...]``)."""
        return {
            k: torch.from_numpy(np.ascontiguousarray(v.reshape(-1, *v.shape[2:])))
            for k, v in self.__dict__.items()
        }


def collect(
    env: AtariVecEnv,
    obs: dict[str, np.ndarray],
    steps: int,
    policy: torch.nn.Module | None,
    rng: np.random.Generator,
) -> tuple[RealData, dict[str, np.ndarray], list[tuple[int, float, int]]]:
    """``steps`` steps of every env of ``env`` from ``obs`` with ``policy`` (None: uniform
    random); returns the data, the envs' next observation and the real episodes that ended."""
    n = env.num_envs
    ram = np.zeros((steps, n, *obs["ram"].shape[1:]), np.uint8)
    next_ram = np.zeros((steps, n, obs["ram"].shape[-1]), np.uint8)
    action = np.zeros((steps, n), np.int64)
    reward = np.zeros((steps, n), np.float32)
    done = np.zeros((steps, n), bool)
    reset = np.zeros((steps, n), bool)
    episodes = []
    for t in range(steps):
        ram[t] = obs["ram"]
        if policy is None:
            a = rng.integers(0, env.n_actions, n)
        else:
            with torch.no_grad():
                logits, _ = policy({"ram": torch.from_numpy(obs["ram"])})
            a = Categorical(logits=logits).sample().numpy()
        result = env.step(a)
        action[t], reward[t] = a, result.reward
        done[t] = result.terminated
        next_ram[t] = result.obs["ram"][:, -1]
        for i, _, _ in result.episodes:  # game over or time limit: the game was reset
            reset[t, i] = True
        episodes.extend(result.episodes)
        obs = result.obs
    return RealData(ram, next_ram, action, reward, done, reset), obs, episodes


# ----------------------------------------------------------------------------- the model's games
class ImaginedGames:
    """``n`` games played inside the world model, each from a RAM stack drawn from ``starts``
    ``[M, K, 128]``; a game ends where the model predicts an episode end (terminated) or
    after ``horizon`` steps (truncated). Start times are staggered at first so that the
    truncations do not all fall on the same step."""

    def __init__(
        self,
        model: RamWorldModel,
        starts: torch.Tensor,
        n: int,
        horizon: int,
        temperature: float,
        generator: torch.Generator,
    ) -> None:
        self.model, self.starts, self.horizon = model, starts, horizon
        self.temperature, self.generator = temperature, generator
        self.stack = starts[self._draw(n)].clone()  # [n, K, 128]
        self.t = torch.randint(0, horizon, (n,), generator=generator)

    def _draw(self, k: int) -> torch.Tensor:
        return torch.randint(0, len(self.starts), (k,), generator=self.generator)

    def obs(self) -> dict[str, torch.Tensor]:
        return {"ram": self.stack}

    def step(
        self, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """``(reward [n] in {-1, 0, 1}, terminated [n], truncated [n], final obs)``; the
        games that ended start again from new real states (``final`` is the state each game
        reached before that, for bootstrapping the truncated ones)."""
        next_ram, reward, done = self.model.step(
            self.stack, action, temperature=self.temperature, generator=self.generator
        )
        self.stack = torch.cat([self.stack[:, 1:], next_ram[:, None]], 1)
        self.t += 1
        truncated = (self.t >= self.horizon) & ~done
        final = {"ram": self.stack.clone()}
        ended = done | truncated
        if ended.any():
            index = ended.nonzero().squeeze(-1)
            self.stack[index] = self.starts[self._draw(len(index))]
            self.t[index] = 0
        return reward, done, truncated, final


# ----------------------------------------------------------------------------- the three trainings
def train_world_model(
    model: RamWorldModel,
    optimizer: torch.optim.Optimizer,
    data: dict[str, torch.Tensor],
    steps: int,
    batch: int,
    generator: torch.Generator,
) -> dict[str, float]:
    """``steps`` Adam steps on minibatches drawn uniformly from ``data`` (:meth:`RealData.flat`);
    the byte loss skips transitions followed by a reset. Returns the last step's parts."""
    n = len(data["action"])
    stats: dict[str, float] = {}
    for _ in range(steps):
        i = torch.randint(0, n, (batch,), generator=generator)
        loss, stats = model.loss(
            data["ram"][i],
            data["action"][i],
            data["next_ram"][i],
            data["reward"][i],
            data["done"][i],
            byte_mask=~data["reset"][i],
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return stats


@torch.no_grad()
def one_step_accuracy(model: RamWorldModel, data: dict[str, torch.Tensor]) -> dict[str, float]:
    """The model's one-step predictions on ``data`` (held out: not yet trained on): the share
    of transitions with every byte right, of changed bytes right, of clipped rewards right,
    and of the real nonzero rewards predicted with their sign (most steps have none, so the
    plain reward share says little about them)."""
    keep = ~data["reset"]
    ram, action, target = data["ram"][keep], data["action"][keep], data["next_ram"][keep]
    predicted, reward, _ = model.step(ram, action)
    changed = target != ram[:, -1]
    right = predicted == target
    real = torch.sign(data["reward"][keep])
    events = real != 0
    out = {
        "wm_exact_ram": right.all(-1).float().mean().item(),
        "wm_changed_bytes": right[changed].float().mean().item() if changed.any() else 1.0,
        "wm_reward": (reward == real).float().mean().item(),
    }
    if events.any():  # else left out (no NaN in the records)
        out["wm_reward_events"] = (reward[events] == real[events]).float().mean().item()
    return out


@torch.no_grad()
def horizon_error(
    model: RamWorldModel, data: RealData, horizon: int, segments: int, seed: int = 0
) -> dict[str, list[float]]:
    """Open-loop prediction along real trajectories: from ``segments`` real states with no
    episode end in the next ``horizon`` steps, the model imagines the steps under the real
    actions; returns per step ``k = 1..horizon`` the share of RAM bytes right, of states with
    every byte right, and of clipped rewards right; and, as the floor to beat, the share of
    bytes right by copying the start state's RAM (``copy``)."""
    T, N = data.action.shape
    ended = data.done | data.reset  # [T, N]
    rng = np.random.default_rng(seed)
    chosen = []
    for _ in range(segments * 20):
        t, i = int(rng.integers(0, T - horizon + 1)), int(rng.integers(0, N))
        if not ended[t : t + horizon, i].any():
            chosen.append((t, i))
        if len(chosen) == segments:
            break
    out: dict[str, list[float]] = {"bytes": [], "exact": [], "reward": [], "copy": []}
    if not chosen:
        return out
    ts, envs = np.array(chosen).T
    stack = torch.from_numpy(data.ram[ts, envs])  # [S, K, 128]
    start = stack[:, -1]
    for k in range(horizon):
        action = torch.from_numpy(data.action[ts + k, envs])
        target = torch.from_numpy(data.next_ram[ts + k, envs])  # [S, 128]
        predicted, reward, _ = model.step(stack, action)
        out["bytes"].append((predicted == target).float().mean().item())
        out["exact"].append((predicted == target).all(-1).float().mean().item())
        real_reward = torch.sign(torch.from_numpy(data.reward[ts + k, envs]))
        out["reward"].append((reward == real_reward).float().mean().item())
        out["copy"].append((start == target).float().mean().item())
        stack = torch.cat([stack[:, 1:], predicted[:, None]], 1)
    return out


def train_policy_in_model(
    policy: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    games: ImaginedGames,
    cfg: SimpleConfig,
    policy_cfg: PlayTrainConfig,
) -> dict[str, float]:
    """``cfg.imagined_steps`` steps of PPO in ``games``; returns the last update's statistics
    with the mean imagined reward per step."""
    T, N = cfg.rollout, cfg.model_envs
    B = T * N
    obs_buf = torch.zeros((T, *games.stack.shape), dtype=torch.uint8)
    actions = torch.zeros((T, N), dtype=torch.long)
    logprobs, rewards = torch.zeros((T, N)), torch.zeros((T, N))
    dones, values = torch.zeros((T, N)), torch.zeros((T, N))
    stats: dict[str, float] = {}
    total_reward, ends = 0.0, 0
    for _update in range(max(1, cfg.imagined_steps // B)):
        for t in range(T):
            obs_buf[t] = games.stack
            with torch.no_grad():
                logits, value = policy(games.obs())
            dist = Categorical(logits=logits)
            action = dist.sample()
            actions[t], logprobs[t], values[t] = action, dist.log_prob(action), value
            reward, terminated, truncated, final = games.step(action)
            total_reward += reward.sum().item()
            ends += int(terminated.sum())
            if truncated.any():  # bootstrap the cut games: r + gamma V(s_H)
                with torch.no_grad():
                    cut = policy.value({"ram": final["ram"][truncated]})
                reward = reward.clone()
                reward[truncated] += cfg.gamma * cut
            rewards[t] = reward
            dones[t] = (terminated | truncated).float()
        with torch.no_grad():
            next_value = policy.value(games.obs())
        advantages, returns = gae(rewards, values, dones, next_value, cfg.gamma, cfg.gae_lambda)
        stats, explained = ppo_update(
            policy,
            optimizer,
            policy_cfg,
            {"ram": obs_buf.reshape(B, *obs_buf.shape[2:])},
            actions.reshape(B),
            logprobs.reshape(B),
            advantages.reshape(B),
            returns.reshape(B),
            values.reshape(B),
        )
        stats["explained_variance"] = explained
    steps = max(1, cfg.imagined_steps // B) * B
    return {
        **stats,
        "imagined_reward_per_step": total_reward / steps,
        "imagined_ends_per_1k": 1000 * ends / steps,
    }


def evaluate_policy(
    policy: torch.nn.Module, cfg: SimpleConfig, episodes: int, seed: int = 1000
) -> list[float]:
    """Scores of ``episodes`` full real episodes (no episodic life, no-op starts, sampled
    actions, unclipped): the protocol of ``palestra play eval``."""
    generator = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def act(obs: dict[str, np.ndarray]) -> np.ndarray:
        logits, _ = policy({"ram": torch.from_numpy(obs["ram"])})
        return torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)[:, 0].numpy()

    return play_episodes(cfg.settings(training=False), act, episodes, seed)[0]


# ----------------------------------------------------------------------------- the loop
def train_simple(cfg: SimpleConfig) -> Path:
    """Run (or, with ``cfg.resume``, continue) SimPLe; return the run directory."""
    torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    console = Console(stderr=True)
    policy_cfg = cfg.policy_config()
    rng = np.random.default_rng(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    env = AtariVecEnv(cfg.settings(), cfg.real_envs, cfg.seed)
    try:
        n_actions = env.n_actions
        world = RamWorldModel(n_actions, cfg.ram_stack, cfg.model_hidden)
        world_opt = torch.optim.Adam(world.parameters(), lr=cfg.model_lr)
        policy = make_model(policy_cfg, n_actions)
        policy_opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr, eps=1e-5)
        with Run.open(
            cfg.run_name, cfg, seed=cfg.seed, root=cfg.runs_root, resume=cfg.resume
        ) as run:
            data_dir = run.dir / "data"
            data_dir.mkdir(exist_ok=True)
            start, interactions, seconds = 0, 0, {"collect": 0.0, "model": 0.0, "policy": 0.0}
            seconds["eval"] = 0.0
            checkpoint = run.load_checkpoint() if run.resumed else None
            if checkpoint is None:
                obs = env.reset()
            else:
                interactions, state = checkpoint
                world.load_state_dict(state["world_model"])
                world_opt.load_state_dict(state["world_optimizer"])
                policy.load_state_dict(state["model"])
                policy_opt.load_state_dict(state["optimizer"])
                set_rng_state(state["rng"])
                rng.bit_generator.state = state["numpy_generator"]
                generator.set_state(state["generator"])
                obs = env.set_state(state["env"])
                start, seconds = state["iteration"], state["seconds"]
            parts = [RealData.load(data_dir / f"{i:02d}.npz") for i in range(1, start + 1)]

            with step_bar(
                f"simple {cfg.game}",
                cfg.iterations,
                completed=start,
                console=console,
                enabled=cfg.progress,
            ) as bar:
                for it in range(start + 1, cfg.iterations + 1):
                    # ------------------------------------------------ 1. collect
                    t0 = time.perf_counter()
                    new, obs, episodes = collect(
                        env, obs, cfg.steps_per_iteration, policy if it > 1 else None, rng
                    )
                    new.save(data_dir / f"{it:02d}.npz")
                    parts.append(new)
                    interactions += new.action.size
                    t1 = time.perf_counter()
                    # ------------------------------------------------ 2. world model
                    held_out = one_step_accuracy(world, new.flat()) if it > 1 else {}
                    data = RealData.cat(parts).flat()
                    factor = cfg.first_model_factor if it == 1 else 1
                    world.train()
                    wm_stats = train_world_model(
                        world, world_opt, data, factor * cfg.model_steps, cfg.model_batch, generator
                    )
                    world.eval()
                    t2 = time.perf_counter()
                    # ------------------------------------------------ 3. policy in the model
                    games = ImaginedGames(
                        world, data["ram"], cfg.model_envs, cfg.horizon, cfg.temperature, generator
                    )
                    ppo_stats = train_policy_in_model(policy, policy_opt, games, cfg, policy_cfg)
                    t3 = time.perf_counter()
                    # ------------------------------------------------ 4. evaluate
                    metrics: dict[str, Any] = {
                        "iteration": it,
                        **{f"wm_train_{k}": v for k, v in wm_stats.items()},
                        **held_out,
                        **ppo_stats,
                    }
                    if episodes:
                        metrics["episodic_return"] = float(np.mean([r for _, r, _ in episodes]))
                        metrics["episodes"] = len(episodes)
                    if cfg.eval_episodes and (it % cfg.eval_every == 0 or it == cfg.iterations):
                        scores = evaluate_policy(policy, cfg, cfg.eval_episodes)
                        metrics["eval_return"] = float(np.mean(scores))
                    t4 = time.perf_counter()
                    for part, dt in zip(seconds, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                        seconds[part] += dt
                    run.log(interactions, **metrics)
                    if it % cfg.checkpoint_every == 0 or it == cfg.iterations:
                        run.save_checkpoint(
                            interactions,
                            {
                                "world_model": world.state_dict(),
                                "world_optimizer": world_opt.state_dict(),
                                "model": policy.state_dict(),
                                "optimizer": policy_opt.state_dict(),
                                "rng": rng_state(),
                                "numpy_generator": rng.bit_generator.state,
                                "generator": generator.get_state(),
                                "env": env.get_state(),
                                "iteration": it,
                                "seconds": seconds,
                                "n_actions": n_actions,
                                "config": config_to_dict(policy_cfg, recorded_only=True),
                            },
                        )
                    bar(it)

            save_policy(run.dir / "model.pt", policy, policy_cfg, n_actions)
            save_world_model(run.dir / "world_model.pt", world)
            history = run.metrics()
            evals = [r["eval_return"] for r in history if "eval_return" in r]
            run.write_json(
                "summary.json",
                {
                    "algo": "simple-ram",
                    "interactions": interactions,
                    "frames": 4 * interactions,
                    "iterations": cfg.iterations,
                    "final_eval_return": evals[-1] if evals else None,
                    "seconds": seconds,
                },
            )
    finally:
        env.close()
    return run.dir


def save_world_model(path: Path, model: RamWorldModel) -> None:
    """Atomically write the world model with its shape (:func:`load_world_model` reads it)."""
    import io

    buffer = io.BytesIO()
    shape = {
        "n_actions": model.n_actions,
        "ram_stack": model.ram_stack,
        "hidden": model.hidden,
        "byte_dim": model.byte_dim,
    }
    torch.save({"model": model.state_dict(), **shape}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_world_model(path: str | Path) -> RamWorldModel:
    """The world model of a finished SimPLe run (its ``world_model.pt``)."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = RamWorldModel(blob["n_actions"], blob["ram_stack"], blob["hidden"], blob["byte_dim"])
    model.load_state_dict(blob["model"])
    return model.eval()


def run_simple(cfg: SimpleConfig) -> None:
    """``palestra play simple``: train, then print the run and its final evaluation."""
    import json

    run_dir = train_simple(cfg)
    summary = json.loads((run_dir / "summary.json").read_text())
    print(f"run: {run_dir}")
    print(
        f"{cfg.game}: {summary['interactions']:,} real interactions, final evaluation "
        f"{summary['final_eval_return']} (mean of {cfg.eval_episodes} episodes)"
    )
