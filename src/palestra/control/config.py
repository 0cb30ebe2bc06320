"""The configs of ``palestra control train`` and ``palestra control eval``.

One config for the three algorithms; fields a given algorithm does not read are listed under
its heading in the help. Defaults that differ by algorithm are None here and filled from
:data:`ALGO_DEFAULTS` (the saved config holds the values used):

* SAC: Stable-Baselines3's defaults (lr 3e-4, batch 256, tau 0.005, automatic entropy,
  one gradient step per environment step), with ``learning_starts`` 5000 random steps as in
  the RL Zoo's MuJoCo settings.
* PPO: cleanrl's ``ppo_continuous_action`` settings (2048 interactions per rollout, 10
  epochs of 32 minibatches, lr 3e-4 annealed, clip 0.2, GAE lambda 0.95, gradient norm 0.5,
  observation and reward normalisation, a state-independent learned std).
* QWR: the settings of the QWR paper's runs (trax's ``light_mujoco.gin`` at c0beb392,
  2020-09-29): 1000 interactions per epoch, 3000 critic and 3000 policy steps per epoch at
  batch 256, critic lr 5e-4 (30 target syncs per epoch), policy lr 1e-4, beta 1, w_max 20,
  TD(lambda=0.95) over 3 steps, a replay of the last 50 epochs, a Gaussian policy of fixed
  std 0.4, observation normalisation, 8 sampled actions aggregated by log-sum-exp at
  temperature 1 on the raw Q-values. On Hopper these learn far faster than trax's later
  ``light_mujoco.gin`` (results/NOTES.md).
* AWR: trax's later ``light_mujoco.gin`` (the values in :data:`BASE_DEFAULTS`): 1000 critic
  and 1000 policy steps per epoch, critic lr 1e-3, 20 syncs, a replay of 100 epochs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from palestra.core.config import Config, RunOptions, arg, with_defaults

__all__ = ["ALGO_DEFAULTS", "BASE_DEFAULTS", "ControlEvalConfig", "ControlTrainConfig"]

# the values of the fields that are None by default, unless ALGO_DEFAULTS says otherwise
BASE_DEFAULTS: dict[str, Any] = {
    "epoch_steps": 1000,
    "replay_size": 100_000,
    "value_lr": 1e-3,
    "value_steps": 1000,
    "policy_steps": 1000,
    "target_syncs": 20,
    "q_samples": 4,
    "q_temperature": 0.3,
    "q_normalization": "abs",
}
ALGO_DEFAULTS: dict[str, dict[str, Any]] = {
    "sac": {"lr": 3e-4, "learning_starts": 5000, "normalize_obs": False},
    "awr": {"lr": 1e-4, "learning_starts": 0, "normalize_obs": True},
    # QWR as the paper ran it (trax at c0beb392, 2020-09-29); trax's later light_mujoco.gin
    # (1000 + 1000 steps, 4 samples, T = 0.3 on abs-normalised Q, value lr 1e-3, 100 epochs
    # of replay, 20 syncs) is BASE_DEFAULTS, the bench's qwr-head arm
    "qwr": {
        "lr": 1e-4,
        "learning_starts": 0,
        "normalize_obs": True,
        "value_steps": 3000,
        "policy_steps": 3000,
        "value_lr": 5e-4,
        "target_syncs": 30,
        "replay_size": 50_000,
        "q_samples": 8,
        "q_temperature": 1.0,
        "q_normalization": "none",
    },
    "ppo": {"lr": 3e-4, "learning_starts": 0, "normalize_obs": True, "epoch_steps": 2048},
    # offline only (palestra control offline): behaviour cloning and IQL (its paper's lr)
    "bc": {"lr": 3e-4, "learning_starts": 0, "normalize_obs": True},
    "iql": {"lr": 3e-4, "learning_starts": 0, "normalize_obs": False},
}


@dataclass
@with_defaults(run_name="control", checkpoint_every=10)
class ControlTrainConfig(RunOptions):
    """Train SAC, AWR or QWR on a gymnasium environment with a continuous action space.

    An iteration of the loop (``--checkpoint-every`` counts them) is an epoch of
    ``--epoch-steps`` interactions.
    """

    # --- world
    env: str = arg("Hopper-v5", "gymnasium environment id (a flat Box action space).")
    num_envs: int = arg(1, "Parallel copies of the environment.", min=1)
    env_mode: Literal["sync", "async"] = arg(
        "sync", "Step the copies in this process (sync) or one subprocess each (async)."
    )
    # --- budget and schedule
    algo: Literal["sac", "awr", "qwr", "ppo"] = arg("qwr", "sac, awr, qwr or ppo.")
    total_steps: int = arg(100_000, "Environment interactions in all (all copies).", min=1)
    epoch_steps: int | None = arg(
        None,
        "Interactions per epoch: AWR/QWR train after each, PPO's rollout (default 1000, ppo 2048).",
        min=1,
    )
    learning_starts: int | None = arg(
        None, "Uniform random actions for this many first interactions (default sac 5000).", min=0
    )
    eval_every: int = arg(5, "Evaluate every this many epochs (and at the end).", min=1)
    eval_episodes: int = arg(5, "Deterministic evaluation episodes.", min=1)
    tricks: str = arg(
        "",
        "Learning to Run tricks as wrappers, e.g. 'skip4,shape0.5,fall10,bins3': frame skip, "
        "forward-velocity shaping weight, falling penalty, action levels (evaluation keeps "
        "the skip and levels, not the shaping).",
    )
    symmetry: bool = arg(
        False, "Store each transition's left-right mirror too (envs in tricks.MIRRORS)."
    )
    # --- shared learning settings
    gamma: float = arg(0.99, "Discount.", min=0, max=1)
    batch_size: int = arg(256, "Minibatch size.", min=1)
    hidden: int = arg(256, "Width of the two hidden layers of every network.", min=1)
    lr: float | None = arg(None, "Policy learning rate (default sac 3e-4, awr/qwr 1e-4).", above=0)
    normalize_obs: bool | None = arg(
        None, "Running observation normalisation in the networks (default awr/qwr on, sac off)."
    )
    replay_size: int | None = arg(
        None, "Replay capacity in interactions (default 100k; qwr 50k: its last 50 epochs).", min=2
    )
    # --- SAC
    critic_lr: float = arg(3e-4, "SAC: critic and entropy learning rate.", above=0)
    tau: float = arg(0.005, "SAC: target network soft update.", min=0, max=1)
    gradient_steps: int = arg(1, "SAC: gradient steps per interaction.", min=1)
    # --- AWR / QWR
    value_lr: float | None = arg(
        None, "AWR/QWR: critic learning rate (default 1e-3; qwr 5e-4).", above=0
    )
    value_steps: int | None = arg(
        None, "AWR/QWR: critic steps per epoch (default 1000; qwr 3000).", min=0
    )
    policy_steps: int | None = arg(
        None,
        "AWR/QWR: policy steps per epoch; BC, IQL: per iteration (default 1000; qwr 3000).",
        min=0,
    )
    target_syncs: int | None = arg(
        None,
        "AWR/QWR: the critic's targets are recomputed with weights synced this many "
        "times per epoch (default 20; qwr 30).",
        min=1,
    )
    beta: float = arg(1.0, "AWR/QWR: temperature of the weights exp(A / beta).", above=0)
    w_max: float = arg(20.0, "AWR/QWR: weight clip.", above=0)
    lam: float = arg(
        0.95, "AWR/QWR: TD(lambda) of the critic's targets; PPO: GAE lambda.", min=0, max=1
    )
    margin: int = arg(3, "AWR/QWR: steps of each TD(lambda) target.", min=1)
    policy_std: float = arg(0.4, "AWR/QWR: the Gaussian policy's fixed std.", above=0)
    q_samples: int | None = arg(
        None, "QWR: actions sampled per state for V(s) and the advantages (default 8).", min=1
    )
    q_aggregate: Literal["logsumexp", "max", "mean"] = arg(
        "logsumexp", "QWR: how V(s) aggregates the sampled actions' Q-values."
    )
    q_temperature: float | None = arg(None, "QWR: log-sum-exp temperature (default 1).", above=0)
    q_normalization: Literal["abs", "none"] | None = arg(
        None,
        "QWR: 'abs' divides the sampled Q-values by their mean absolute deviation before "
        "aggregating (trax's later configs, with T = 0.3); default 'none', the paper's.",
    )
    target_dtype: Literal["float32", "bfloat16"] = arg(
        "float32",
        "QWR: precision of the target critic, which values the sampled actions (bfloat16: "
        "2x faster epochs on CPUs with AMX or AVX512-BF16; the trained critic stays float32).",
    )
    grad_clip: float = arg(50.0, "AWR/QWR: clip the gradient's global norm (0: off).", min=0)
    # --- PPO
    ppo_epochs: int = arg(10, "PPO: passes over each rollout.", min=1)
    minibatches: int = arg(32, "PPO: minibatches per pass.", min=1)
    clip_coef: float = arg(0.2, "PPO: ratio clip.", min=0)
    ent_coef: float = arg(0.0, "PPO: entropy bonus.", min=0)
    vf_coef: float = arg(0.5, "PPO: value loss weight.", min=0)
    max_grad_norm: float = arg(0.5, "PPO: clip the gradient's global norm.", min=0)
    normalize_reward: bool = arg(True, "PPO: scale rewards by the std of discounted returns.")
    # --- machinery
    log_every: int = arg(1, "Log metrics every this many epochs.", min=1)
    progress: bool = arg(True, "Show a progress bar on stderr.", recorded=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, value in {**BASE_DEFAULTS, **ALGO_DEFAULTS[self.algo]}.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.epoch_steps % self.num_envs:
            raise ValueError(
                f"epoch_steps={self.epoch_steps} is not a multiple of num_envs={self.num_envs}"
            )
        if self.algo == "ppo" and self.epoch_steps // self.minibatches < 8:
            raise ValueError(
                f"PPO minibatches of {self.epoch_steps // self.minibatches} interactions "
                f"(epoch_steps={self.epoch_steps} / minibatches={self.minibatches}) are too "
                "small to normalise advantages: use at least 8"
            )
        if self.symmetry and self.algo == "ppo":
            raise ValueError("symmetry augments a replay buffer: not for on-policy PPO")
        if self.replay_size < self.num_envs * 2:
            raise ValueError(f"replay_size={self.replay_size} < 2 steps of {self.num_envs} envs")

    @property
    def epochs(self) -> int:
        return max(1, self.total_steps // self.epoch_steps)


@dataclass
class ControlEvalConfig(Config):
    """Evaluate a trained continuous-control agent (deterministic actions, full episodes)."""

    run_dir: Path = arg(
        ..., "A run directory written by `palestra control train`.", positional=True
    )
    episodes: int = arg(10, "Episodes.", min=1)
    blend: tuple[Path, ...] = arg(
        (), "Other run directories whose agents act with this one: the mean action (blending)."
    )
    seed: int = arg(1000, "Seed of the evaluation env (apart from training seeds).", min=0)
    threads: int = arg(1, "torch intra-op threads.", min=1)
