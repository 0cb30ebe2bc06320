"""BA3C: synchronous batched advantage actor-critic on Atari, from the screen, RAM or both.

    palestra play train --algo ba3c --game breakout --obs ram --total-steps 2000000
    palestra play train --algo ba3c --obs ram --workers 4 --ray local      # Ray rollout actors

A3C (Mnih et al. 2016) made fast on CPUs by batching (GA3C, Babaeizadeh et al. 2017; BA3C,
Adamski et al. 2018, "Distributed Deep Reinforcement Learning: learn how to play Atari games
in 21 minutes"): ``num_envs`` envs step in lock step, all their actions picked in one batched
forward pass, and after ``rollout`` steps the learner makes one Adam update on the whole
``num_envs x rollout`` batch. Per update::

    R_t      = r_t + gamma (1 - done_t) R_{t+1},   R_T = V(s_T)         (n-step returns)
    A_t      = R_t - V(s_t)                                            (no gradient)
    loss     = -E[log pi(a_t|s_t) A_t] + vf_coef 1/2 E[(R_t - V(s_t))^2] - ent_coef H[pi]

with rewards clipped to their sign, Adam, gradient-norm clipping, and the learning rate
annealed linearly to 0. The config is :class:`palestra.play.config.PlayTrainConfig`.

**Expert-augmented** (``--expert DATA``; Garmulewicz, Michalewski & Miłoś 2018): each update
also draws ``expert_batch`` transitions ``(s_e, a_e, R_e)`` of an expert trajectory
(:mod:`palestra.play.expert`; ``R_e`` its discounted clipped return to the end) and adds::

    loss_E   = -expert_coef E_e[log pi(a_e|s_e) A_e],   A_e = max(0, R_e - V(s_e))   (no gradient)

(``expert_adv=reward``: ``A_e = R_e``; ``one``: behaviour cloning). The clip keeps the expert
term from pulling the policy back once its own value estimate exceeds the expert's return,
which lets the agent surpass the expert. Expert transitions are not environment frames: both
arms of a comparison see the same number of frames.

The rollouts come from one of two sources; the update (:func:`ba3c_update`) is the same:

* :class:`InProcessRollouts` (``workers=0``): the learner steps every env itself;
* :class:`RayRollouts` (``workers=K``): ``K`` Ray actors (:class:`RolloutWorker`, Adamski et
  al.'s workers) each own a slice of the envs and a copy of the policy. Per update the learner
  puts the weights into Ray's object store once, every actor rolls its envs out with batched
  inference on them, and the learner concatenates the slices in actor order. Game ``i`` is
  seeded ``seed + i`` as in process; each actor samples its actions from its own RNG, seeded
  from the run seed and its index, so a run is deterministic given ``seed`` and ``workers``.

Resuming is exact on Palestra's env backend (a checkpoint holds the weights, Adam, the RNG
states and every emulator, in the actors too: they are recreated and restored); on ALE's
native vector env the episodes restart.
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

from palestra.core.cluster import ray_connect
from palestra.core.errors import PalestraError
from palestra.core.progress import step_bar
from palestra.core.runs import Run, rng_state, set_rng_state
from palestra.play.atari import AtariVecEnv, NativeScreenVecEnv, make_vec_env
from palestra.play.common import (
    checkpoint_state,
    make_model,
    make_train_env,
    nstep_returns,
    obs_tensors,
    restore_or_reset,
    save_policy,
    settings_for,
    train_starts,
)
from palestra.play.config import PlayTrainConfig
from palestra.play.expert import ExpertBuffer, load_expert

__all__ = [
    "InProcessRollouts",
    "PlayTrainConfig",
    "RayRollouts",
    "Rollout",
    "RolloutWorker",
    "ba3c_update",
    "collect",
    "train",
]

# Seconds to wait for the Ray actors to start (a cluster without free CPUs would hang).
START_TIMEOUT_S = 300.0


# ----------------------------------------------------------------------------- rollouts
@dataclass
class Rollout:
    """``T`` agent steps of ``N`` envs under the current policy (rewards raw, unclipped)."""

    obs: dict[str, torch.Tensor]  # [T, N, ...] uint8: s_t
    actions: torch.Tensor  # [T, N] long
    rewards: torch.Tensor  # [T, N]
    dones: torch.Tensor  # [T, N] 1.0 where transition t ended its training episode
    next_obs: dict[str, torch.Tensor]  # [N, ...]: s_T, bootstrapped from
    episodes: list[tuple[int, float, int]]  # real episodes ended: (env, return, length)


def collect(
    model: torch.nn.Module,
    env: AtariVecEnv | NativeScreenVecEnv,
    obs: dict[str, torch.Tensor],
    steps: int,
) -> Rollout:
    """Step ``env`` ``steps`` times from ``obs``, the actions of all its envs sampled from one
    batched forward pass per step (GA3C's batching)."""
    T, N = steps, env.num_envs
    obs_buf = {k: torch.zeros((T, N, *v.shape[1:]), dtype=v.dtype) for k, v in obs.items()}
    actions = torch.zeros((T, N), dtype=torch.long)
    rewards = torch.zeros((T, N))
    dones = torch.zeros((T, N))
    episodes: list[tuple[int, float, int]] = []
    for t in range(T):
        for k, v in obs.items():
            obs_buf[k][t] = v
        with torch.no_grad():
            logits, _ = model(obs)  # [N, A]
        action = Categorical(logits=logits).sample()  # [N]
        actions[t] = action
        result = env.step(action.numpy())
        rewards[t] = torch.from_numpy(result.reward)
        dones[t] = torch.from_numpy(result.terminated | result.truncated).float()
        obs = obs_tensors(result.obs)
        episodes.extend(result.episodes)
    return Rollout(obs_buf, actions, rewards, dones, obs, episodes)


class InProcessRollouts:
    """A vector env and its current observation; :meth:`collect` steps it with ``model``.

    The learner's rollout source when ``workers=0``, and the inside of each Ray actor.
    ``reset / get_state / set_state`` are the env's, so a checkpoint treats it as the env.
    """

    def __init__(self, env: AtariVecEnv | NativeScreenVecEnv, steps: int) -> None:
        self.env = env
        self.steps = steps
        self.n_actions = env.n_actions
        self._obs: dict[str, torch.Tensor] = {}

    def reset(self) -> dict[str, np.ndarray]:
        obs = self.env.reset()
        self._obs = obs_tensors(obs)
        return obs

    def get_state(self) -> Any:
        return self.env.get_state()

    def set_state(self, state: Any) -> dict[str, np.ndarray]:
        obs = self.env.set_state(state)
        self._obs = obs_tensors(obs)
        return obs

    def collect(self, model: torch.nn.Module) -> Rollout:
        rollout = collect(model, self.env, self._obs, self.steps)
        self._obs = rollout.next_obs
        return rollout

    def close(self) -> None:
        self.env.close()


class RolloutWorker:
    """A Ray actor: envs ``first_env .. first_env + num_envs - 1`` of the run and a copy of
    the policy, on one CPU.

    Its envs are the ones the learner would step in process (same preprocessing, game ``i``
    seeded ``cfg.seed + i``); ``seed`` seeds this process's RNGs, which sample its actions.
    A plain class: :class:`RayRollouts` makes it remote, so importing needs no Ray.
    """

    def __init__(self, cfg: PlayTrainConfig, first_env: int, num_envs: int, seed: int) -> None:
        torch.set_num_threads(1)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        self.first_env = first_env
        settings = settings_for(cfg)
        env = make_vec_env(
            settings,
            num_envs,
            cfg.seed + first_env,
            backend=cfg.env_backend,
            threads=1,
            starts=train_starts(cfg, settings),
        )
        assert cfg.rollout is not None
        self.rollouts = InProcessRollouts(env, cfg.rollout)
        self.model = make_model(cfg, env.n_actions)

    def n_actions(self) -> int:
        return self.rollouts.n_actions

    def reset(self) -> dict[str, np.ndarray]:
        return self.rollouts.reset()

    def get_state(self) -> dict[str, Any]:
        """The envs' state (None on ALE's native env) and this process's RNGs."""
        return {"env": self.rollouts.get_state(), "rng": rng_state()}

    def set_state(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
        set_rng_state(state["rng"])
        if state["env"] is None:
            return self.rollouts.reset()
        return self.rollouts.set_state(state["env"])

    def collect(self, weights: dict[str, torch.Tensor]) -> Rollout:
        """Load the learner's weights and roll out; episodes carry the run's env index."""
        self.model.load_state_dict(weights)
        rollout = self.rollouts.collect(self.model)
        rollout.episodes = [(self.first_env + i, r, n) for i, r, n in rollout.episodes]
        return rollout


def _cat_obs(parts: list[dict[str, Any]], dim: int) -> dict[str, Any]:
    """Observation dicts of env slices side by side (numpy or torch) along ``dim``."""
    first = parts[0]
    if isinstance(next(iter(first.values())), np.ndarray):
        return {k: np.concatenate([p[k] for p in parts], dim) for k in first}
    return {k: torch.cat([p[k] for p in parts], dim) for k in first}


def _cat_rollouts(parts: list[Rollout]) -> Rollout:
    """Rollouts of env slices, in actor order, as one: ``[T, n_k] -> [T, N]``."""
    return Rollout(
        obs=_cat_obs([p.obs for p in parts], 1),
        actions=torch.cat([p.actions for p in parts], 1),
        rewards=torch.cat([p.rewards for p in parts], 1),
        dones=torch.cat([p.dones for p in parts], 1),
        next_obs=_cat_obs([p.next_obs for p in parts], 0),
        episodes=[e for p in parts for e in p.episodes],
    )


class RayRollouts:
    """``cfg.workers`` :class:`RolloutWorker` actors on a Ray cluster, one CPU each, the envs
    split between them in order (as :class:`AtariVecEnv` splits them between processes).

    The face of :class:`InProcessRollouts`: ``n_actions``, ``reset``, ``get_state``,
    ``set_state``, ``collect(model)``, ``close`` (which kills the actors, and shuts down Ray
    if it started it).
    """

    def __init__(self, cfg: PlayTrainConfig) -> None:
        import ray

        assert cfg.num_envs is not None
        self._started_ray = ray_connect(cfg.ray, cfg.workers)
        self.actors: list[Any] = []
        try:
            remote = ray.remote(num_cpus=1)(RolloutWorker)
            slices = np.array_split(np.arange(cfg.num_envs), cfg.workers)
            seeds = np.random.SeedSequence(cfg.seed).spawn(cfg.workers)
            for envs, seed in zip(slices, seeds, strict=True):
                actor_seed = int(seed.generate_state(1)[0])
                self.actors.append(remote.remote(cfg, int(envs[0]), len(envs), actor_seed))
            try:
                n_actions = ray.get(
                    [a.n_actions.remote() for a in self.actors], timeout=START_TIMEOUT_S
                )
            except ray.exceptions.GetTimeoutError:
                raise PalestraError(
                    f"{cfg.workers} Ray rollout actors (1 CPU each) did not start in "
                    f"{START_TIMEOUT_S:.0f} s; cluster resources: {ray.cluster_resources()}"
                ) from None
            self.n_actions = int(n_actions[0])
        except BaseException:
            self.close()
            raise

    def _all(self, method: str, *per_actor: list[Any]) -> list[Any]:
        """Call ``method`` on every actor at once (``per_actor`` arguments), in actor order."""
        import ray

        return ray.get(
            [
                getattr(actor, method).remote(*(arg[k] for arg in per_actor))
                for k, actor in enumerate(self.actors)
            ]
        )

    def reset(self) -> dict[str, np.ndarray]:
        return _cat_obs(self._all("reset"), 0)

    def get_state(self) -> list[dict[str, Any]] | None:
        """Every actor's envs and RNGs; None when the envs cannot be saved (ALE's native)."""
        states = self._all("get_state")
        return None if any(s["env"] is None for s in states) else states

    def set_state(self, states: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        if len(states) != len(self.actors):
            raise PalestraError(f"checkpoint of {len(states)} actors for {len(self.actors)}")
        return _cat_obs(self._all("set_state", states), 0)

    def collect(self, model: torch.nn.Module) -> Rollout:
        """Every actor rolls out with the current weights, put into Ray once for all."""
        import ray

        weights = ray.put(model.state_dict())
        return _cat_rollouts(self._all("collect", [weights] * len(self.actors)))

    def close(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False


# ----------------------------------------------------------------------------- the update
def ba3c_update(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    cfg: PlayTrainConfig,
    expert: ExpertBuffer | None = None,
) -> dict[str, float]:
    """One Adam step on the whole ``[T, N]`` rollout (the loss of the module docstring), plus
    the expert term on a batch of ``expert``; returns the losses, the entropy and the gradient
    norm before clipping."""
    T, N = rollout.actions.shape
    B = T * N
    rewards = torch.sign(rollout.rewards) if cfg.clip_rewards else rollout.rewards
    with torch.no_grad():
        next_value = model.value(rollout.next_obs)  # [N]
    returns = nstep_returns(rewards, rollout.dones, next_value, cfg.gamma).reshape(B)
    logits, value = model({k: v.reshape(B, *v.shape[2:]) for k, v in rollout.obs.items()})
    dist = Categorical(logits=logits)  # [B, A]
    advantages = returns - value.detach()  # [B]
    policy_loss = -(dist.log_prob(rollout.actions.reshape(B)) * advantages).mean()
    value_loss = 0.5 * ((returns - value) ** 2).mean()
    entropy = dist.entropy().mean()
    loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
    extra: dict[str, float] = {}
    if expert is not None:
        e_obs, e_actions, e_returns = expert.sample(cfg.expert_batch)
        e_logits, e_value = model(e_obs)  # [E, A], [E]
        if cfg.expert_adv == "critic":
            e_adv = (e_returns - e_value.detach()).clamp(min=0.0)
        elif cfg.expert_adv == "reward":
            e_adv = e_returns
        else:
            e_adv = torch.ones_like(e_returns)
        e_dist = Categorical(logits=e_logits)
        expert_loss = -(e_dist.log_prob(e_actions) * e_adv).mean()
        loss = loss + cfg.expert_coef * expert_loss
        extra = {
            "expert_loss": expert_loss.item(),
            "expert_adv": e_adv.mean().item(),
            "expert_accuracy": (e_logits.argmax(-1) == e_actions).float().mean().item(),
        }
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(
        model.parameters(),
        cfg.max_grad_norm if cfg.max_grad_norm > 0 else float("inf"),
    )
    optimizer.step()
    return {
        "policy_loss": policy_loss.item(),
        "value_loss": value_loss.item(),
        "entropy": entropy.item(),
        "grad_norm": grad_norm.item(),
        **extra,
    }


# ----------------------------------------------------------------------------- the loop
def train(cfg: PlayTrainConfig) -> Path:
    """Train (or, with ``cfg.resume``, continue training) with BA3C; return the run directory."""
    if cfg.algo != "ba3c":
        raise PalestraError(f"palestra.play.ba3c trains algo 'ba3c', not {cfg.algo!r}")
    assert cfg.num_envs is not None and cfg.rollout is not None and cfg.lr is not None
    torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    B = cfg.batch_size
    num_updates = cfg.num_updates
    console = Console(stderr=True)

    expert = None
    if cfg.expert is not None:
        data = load_expert(cfg.expert)
        if data.game != cfg.game:
            raise PalestraError(f"{cfg.expert}: an expert of {data.game!r}, not {cfg.game!r}")
        expert = ExpertBuffer(data, cfg.obs, cfg.ram_stack, cfg.gamma, cfg.clip_rewards)
    rollouts: InProcessRollouts | RayRollouts = (
        RayRollouts(cfg) if cfg.workers else InProcessRollouts(make_train_env(cfg), cfg.rollout)
    )
    try:
        model = make_model(cfg, rollouts.n_actions)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)
        with Run.open(
            cfg.run_name, cfg, seed=cfg.seed, root=cfg.runs_root, resume=cfg.resume
        ) as run:
            # pending: real episodes not yet logged; the rollout source keeps the observations
            start, global_step, pending, _ = restore_or_reset(
                run, model, optimizer, rollouts, console
            )
            with step_bar(
                f"ba3c {cfg.game}/{cfg.obs}",
                num_updates,
                completed=start,
                console=console,
                enabled=cfg.progress,
            ) as update_bar:
                for update in range(start + 1, num_updates + 1):
                    t0 = time.perf_counter()
                    lr = cfg.lr * (1.0 - (update - 1) / num_updates) if cfg.anneal_lr else cfg.lr
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    rollout = rollouts.collect(model)
                    pending.extend(rollout.episodes)
                    global_step += B
                    t_rollout = time.perf_counter() - t0
                    losses = ba3c_update(model, optimizer, rollout, cfg, expert)
                    seconds = time.perf_counter() - t0

                    if update % cfg.log_every == 0 or update == num_updates:
                        metrics: dict[str, Any] = {
                            **losses,
                            "lr": lr,
                            "steps_per_s": B / seconds,
                            "frames_per_s": 4 * B / seconds,
                            "rollout_steps_per_s": B / t_rollout,
                        }
                        if pending:
                            metrics["episodic_return"] = float(np.mean([r for _, r, _ in pending]))
                            metrics["episodic_length"] = float(np.mean([n for _, _, n in pending]))
                            metrics["episodes"] = len(pending)
                            pending = []
                        run.log(global_step, **metrics)
                    if update % cfg.checkpoint_every == 0 or update == num_updates:
                        run.save_checkpoint(
                            global_step,
                            checkpoint_state(model, optimizer, rollouts, update, pending),
                        )
                    update_bar(update)

            save_policy(run.dir / "model.pt", model, cfg, rollouts.n_actions)
            history = run.metrics()
            returns_logged = [r["episodic_return"] for r in history if "episodic_return" in r]
            run.write_json(
                "summary.json",
                {
                    "algo": "ba3c",
                    "workers": cfg.workers,
                    "agent_steps": global_step,
                    "frames": 4 * global_step,
                    "updates": num_updates,
                    "last_episodic_return": returns_logged[-1] if returns_logged else None,
                    "final": history[-1] if history else {},
                },
            )
    finally:
        rollouts.close()
    return run.dir
