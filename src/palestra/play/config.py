"""``PlayTrainConfig`` and ``PlayEvalConfig``: the settings of ``palestra play train`` and
``palestra play eval``, flat dataclasses.

Kept free of torch and ale-py (the CLI imports it at start-up to build its options); the
trainers are :mod:`palestra.play.ppo` and :mod:`palestra.play.ba3c`, the evaluation is
:mod:`palestra.play.evaluate`. Fields left at ``None`` take the algorithm's default in
``__post_init__`` (so the saved config shows the values used).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from palestra.core.config import Config, RunOptions, arg, with_defaults

__all__ = [
    "ALGO_DEFAULTS",
    "MGDTDataConfig",
    "MGDTTrainConfig",
    "PlayEvalConfig",
    "PlayTrainConfig",
    "SimpleConfig",
    "auto_precision",
    "cpu_has_bf16",
]

# Per-algorithm defaults: PPO as cleanrl's ppo_atari (Huang et al. 2022's "37 details");
# BA3C as Adamski et al. 2018 scaled to one machine: short n-step rollouts, many envs, Adam.
ALGO_DEFAULTS: dict[str, dict[str, float | int]] = {
    "ppo": {"num_envs": 8, "rollout": 128, "lr": 2.5e-4},
    "ba3c": {"num_envs": 32, "rollout": 5, "lr": 7e-4},
}


def cpu_has_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU computes bfloat16 dot products natively (the ``avx512_bf16`` or
    ``amx_bf16`` flag in Linux's cpuinfo); False where that file is missing."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False


def auto_precision() -> str:
    """What ``precision="auto"`` means on this machine: bf16 where the CPU has it natively."""
    return "bf16" if cpu_has_bf16() else "fp32"


@dataclass
@with_defaults(run_name="play", checkpoint_every=50)
class PlayTrainConfig(RunOptions):
    """Train an Atari agent from the screen, the RAM, or both, with PPO or BA3C.

    ``--seed``, ``--run-name``, ``--resume``, ... are the fields of
    :class:`~palestra.core.config.RunOptions`; an iteration of its loop is an update.
    """

    # --- world
    game: str = arg(
        "breakout",
        "ALE game (ROM) name, e.g. breakout, pong, seaquest, bowling; or a ViZDoom scenario, "
        "doom/NAME (e.g. doom/my_way_home; needs the doom extra).",
    )
    obs: Literal["screen", "ram", "both"] = arg(
        "screen", "Observation: 4x84x84 screens, the 128-byte RAM, or both."
    )
    ram_stack: int = arg(4, "RAM snapshots stacked (last agent steps); 1 = the latest only.", min=1)
    sticky: float = arg(
        0.0, "Sticky-action probability (Machado et al. 2018 use 0.25).", min=0, below=1
    )
    episodic_life: bool = arg(True, "A lost life ends the training episode (not the game).")
    clip_rewards: bool = arg(True, "Train on sign(reward); returns are logged unclipped.")
    # --- algorithm
    algo: Literal["ppo", "ba3c"] = arg("ppo", "PPO (clipped) or BA3C (batched actor-critic).")
    total_steps: int = arg(1_000_000, "Agent steps in all envs (frames = 4x this).", min=1)
    num_envs: int | None = arg(None, "Parallel envs (default: ppo 8, ba3c 32).", min=1)
    rollout: int | None = arg(
        None, "Agent steps per env per update (default: ppo 128, ba3c 5).", min=1
    )
    lr: float | None = arg(None, "Adam learning rate (default: ppo 2.5e-4, ba3c 7e-4).", above=0)
    anneal_lr: bool = arg(True, "Anneal the learning rate linearly to 0.")
    gamma: float = arg(0.99, "Discount.", min=0, max=1)
    gae_lambda: float = arg(0.95, "PPO: GAE lambda.", min=0, max=1)
    minibatches: int = arg(4, "PPO: minibatches per epoch.", min=1)
    epochs: int = arg(4, "PPO: passes over each rollout.", min=1)
    clip_coef: float = arg(0.1, "PPO: ratio clip.", min=0)
    clip_vloss: bool = arg(True, "PPO: clip the value loss too.")
    norm_adv: bool = arg(True, "PPO: normalise advantages per minibatch.")
    ent_coef: float = arg(0.01, "Entropy bonus.", min=0)
    vf_coef: float = arg(0.5, "Value loss weight.", min=0)
    max_grad_norm: float = arg(0.5, "Clip the gradient's global norm (0: off).", min=0)
    hidden: int = arg(256, "RAM MLP width.", min=1)
    # --- expert-augmented actor-critic (BA3C)
    expert: Path | None = arg(
        None,
        "BA3C: an expert dataset (`palestra play expert`); adds the expert-augmented loss "
        "(Garmulewicz et al. 2018) on a batch of expert transitions per update.",
    )
    expert_coef: float = arg(1.0, "BA3C: weight of the expert loss.", min=0)
    expert_batch: int = arg(128, "BA3C: expert transitions per update.", min=1)
    expert_starts: float = arg(
        0.0,
        "BA3C with --expert: probability that a training episode starts at a random state "
        "of the expert trajectories instead of the reset (the paper code's random state "
        "reset); such episodes are not logged, evaluation always starts at the reset.",
        min=0,
        max=1,
    )
    expert_adv: Literal["critic", "reward", "one"] = arg(
        "critic",
        "BA3C: the expert transitions' advantage: critic = max(0, R - V(s)) (the paper's), "
        "reward = R (the expert's discounted return), one = 1 (behaviour cloning).",
    )
    precision: Literal["auto", "fp32", "bf16"] = arg(
        "auto",
        "Arithmetic of the screen network (convolutions and dense layer): bf16 runs them in "
        "bfloat16 autocast (weights, heads, losses and Adam stay float32), about 1.7x faster "
        "on CPUs with native bf16 (AVX512-BF16, AMX); auto: bf16 on such a CPU, else fp32. "
        "The saved config holds the value used.",
    )
    # --- machinery
    env_backend: Literal["auto", "ale", "palestra"] = arg(
        "auto",
        "auto: ALE's native vector env for screens, Palestra's for ram/both. Only Palestra's "
        "can be checkpointed, so only it resumes exactly.",
    )
    env_workers: int = arg(0, "Palestra backend: worker processes (0: step in process).", min=0)
    env_threads: int = arg(0, "ALE backend: C++ threads (0: one per core).", min=0)
    workers: int = arg(
        0,
        "BA3C: Ray actors that roll out, each stepping its slice of the envs with a copy of "
        "the policy (0: the learner steps every env itself, no Ray).",
        min=0,
    )
    ray: str | None = arg(
        None,
        "Ray cluster of the workers: 'local' (or unset) starts one in this process, else an "
        "address ('auto', HOST:6379, ray://HOST:10001). Needs --workers.",
        recorded=False,
    )
    log_every: int = arg(1, "Log metrics every this many updates.", min=1)
    progress: bool = arg(True, "Show a progress bar on stderr.", recorded=False)

    def __post_init__(self) -> None:
        super().__post_init__()  # the fields' bounds
        for name, value in ALGO_DEFAULTS[self.algo].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.precision == "auto":
            self.precision = auto_precision()
        elif self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be auto, fp32 or bf16, not {self.precision!r}")
        if self.algo == "ppo" and self.batch_size % self.minibatches:
            raise ValueError(
                f"num_envs * rollout = {self.batch_size} is not a multiple of "
                f"minibatches={self.minibatches}"
            )
        if self.env_backend == "ale" and self.obs != "screen":
            raise ValueError("ALE's native vector env has screens only: use env_backend palestra")
        self._check_workers()
        if self.expert is not None and self.algo != "ba3c":
            raise ValueError("expert (the expert-augmented loss) is for algo ba3c")
        if self.game.startswith("doom/"):  # ViZDoom: screens, a living reward
            if self.obs != "screen":
                raise ValueError("ViZDoom scenarios are seen from the screen: obs screen")
            if self.clip_rewards:
                raise ValueError(
                    "ViZDoom's living reward (-0.0001 a tic) becomes -1 a step when "
                    "sign-clipped: pass --no-clip-rewards"
                )
            if self.env_backend == "ale":
                raise ValueError("ViZDoom scenarios run on env_backend palestra")
        if self.expert_starts > 0 and self.expert is None:
            raise ValueError("expert_starts needs an expert dataset (expert)")
        if self.expert_starts > 0 and self.env_backend == "ale":
            raise ValueError("expert_starts needs env_backend palestra (ALE's cannot restore)")
        if self.expert_adv not in ("critic", "reward", "one"):
            raise ValueError(f"expert_adv must be critic, reward or one, not {self.expert_adv!r}")

    def _check_workers(self) -> None:
        """Ray rollout workers are BA3C's, each owns at least one env and steps it in its own
        process (so ``env_workers`` has no meaning there)."""
        assert self.num_envs is not None
        if self.ray is not None and self.workers == 0:
            raise ValueError("ray needs workers: the number of Ray rollout actors (>= 1)")
        if self.workers == 0:
            return
        if self.algo != "ba3c":
            raise ValueError("Ray rollout workers are for algo ba3c")
        if self.workers > self.num_envs:
            raise ValueError(f"workers={self.workers} > num_envs={self.num_envs}")
        if self.env_workers:
            raise ValueError("env_workers is for in-process rollouts; Ray workers step their envs")

    @property
    def batch_size(self) -> int:
        """Agent steps per update (all envs)."""
        assert self.num_envs is not None and self.rollout is not None
        return self.num_envs * self.rollout

    @property
    def num_updates(self) -> int:
        return max(1, self.total_steps // self.batch_size)


@dataclass
class PlayEvalConfig(Config):
    """Evaluate a trained Atari agent with the standard protocol."""

    run_dir: Path = arg(..., "A run directory written by `palestra play train`.", positional=True)
    episodes: int = arg(10, "Full episodes (game over or 108k frames), one per env.", min=1)
    greedy: bool = arg(False, "Take the most probable action (else sample the policy).")
    noop_max: int = arg(30, "No-op starts: 1..noop_max NOOP frames after each reset.", min=0)
    sticky: float | None = arg(
        None, "Sticky-action probability (default: the training one).", min=0, below=1
    )
    max_frames: int = arg(108_000, "Emulator frames before an episode is cut (30 min).", min=1)
    frames: Path | None = arg(None, "Write the first episode as FRAMES.gif and FRAMES.png.")
    seed: int = arg(1000, "Seed of the evaluation envs (keep it apart from training seeds).", min=0)
    threads: int = arg(1, "torch intra-op threads.", min=1)


@dataclass
@with_defaults(run_name="simple", checkpoint_every=1)
class SimpleConfig(RunOptions):
    """SimPLe on the console's RAM: a world model of the game and PPO inside it."""

    game: str = arg("pong", "ALE game (ROM) name, e.g. pong, freeway, boxing, breakout.")
    ram_stack: int = arg(4, "RAM snapshots the model and the policy see.", min=1)
    iterations: int = arg(15, "Collect / model / policy iterations (the paper's 15).", min=1)
    real_steps: int = arg(
        100_000, "Real interactions (agent steps) in all, split evenly over iterations.", min=1
    )
    real_envs: int = arg(8, "Real games collecting data in parallel.", min=1)
    # --- world model
    model_hidden: int = arg(512, "World model width.", min=1)
    model_steps: int = arg(2_000, "World-model gradient steps per iteration.", min=1)
    first_model_factor: int = arg(
        3, "The first iteration trains the world model this many times longer.", min=1
    )
    model_batch: int = arg(64, "World-model batch (transitions).", min=1)
    model_lr: float = arg(1e-3, "World-model Adam learning rate.", above=0)
    temperature: float = arg(
        0.0,
        "Sampling temperature of imagined bytes and rewards (0: the most probable; the "
        "console is deterministic given its RAM, so the argmax is the default).",
        min=0,
    )
    # --- policy inside the model
    imagined_steps: int = arg(100_000, "Imagined agent steps of PPO per iteration.", min=1)
    model_envs: int = arg(16, "Imagined games in parallel (the paper's 16).", min=1)
    horizon: int = arg(50, "Imagined episodes are cut after this many steps.", min=1)
    rollout: int = arg(50, "PPO rollout per imagined game per update.", min=1)
    lr: float = arg(2.5e-4, "PPO Adam learning rate (constant across iterations).", above=0)
    gamma: float = arg(0.99, "Discount.", min=0, max=1)
    gae_lambda: float = arg(0.95, "GAE lambda.", min=0, max=1)
    epochs: int = arg(4, "PPO passes over each rollout.", min=1)
    minibatches: int = arg(4, "PPO minibatches per pass.", min=1)
    ent_coef: float = arg(0.01, "Entropy bonus.", min=0)
    hidden: int = arg(256, "Policy MLP width.", min=1)
    # --- evaluation
    eval_episodes: int = arg(8, "Real evaluation episodes after each iteration.", min=0)
    eval_every: int = arg(1, "Evaluate after every this many iterations (and the last).", min=1)
    progress: bool = arg(True, "Show a progress bar on stderr.", recorded=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.model_envs * self.rollout) % self.minibatches:
            raise ValueError(
                f"model_envs * rollout = {self.model_envs * self.rollout} is not a multiple "
                f"of minibatches={self.minibatches}"
            )
        if self.real_steps < self.iterations * self.real_envs:
            raise ValueError(
                f"real_steps={self.real_steps} gives less than one step per real env per "
                f"iteration ({self.iterations} iterations x {self.real_envs} envs)"
            )

    @property
    def steps_per_iteration(self) -> int:
        """Real steps per env per iteration."""
        return self.real_steps // (self.iterations * self.real_envs)

    def policy_config(self) -> PlayTrainConfig:
        """The policy's settings as a ``palestra play train`` config (what ``play eval``
        reads back from the saved policy)."""
        return PlayTrainConfig(
            game=self.game,
            obs="ram",
            ram_stack=self.ram_stack,
            algo="ppo",
            total_steps=self.real_steps,
            num_envs=self.model_envs,
            rollout=self.rollout,
            lr=self.lr,
            anneal_lr=False,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
            epochs=self.epochs,
            minibatches=self.minibatches,
            ent_coef=self.ent_coef,
            hidden=self.hidden,
            seed=self.seed,
            run_name=self.run_name,
            progress=False,
        )

    def settings(self, *, training: bool = True) -> Any:
        """The real game's :class:`~palestra.play.atari.AtariSettings` (RAM, episodic life
        only while training)."""
        from palestra.play.atari import AtariSettings

        return AtariSettings(
            game=self.game, obs="ram", ram_stack=self.ram_stack, episodic_life=training
        )


@dataclass
class MGDTDataConfig(Config):
    """Record one game's trajectories from Palestra's agents for Multi-Game Decision
    Transformers: each source a skill level."""

    game: str = arg("breakout", "ALE game (ROM) name.")
    sources: tuple[str, ...] = arg(
        ("random",),
        "Who plays: RUN_DIR[:EPSILON] (a trained agent's run, taking a uniformly random "
        "action with probability EPSILON, default 0) or random. Repeat for several skill "
        "levels.",
    )
    steps: int = arg(20_000, "Agent steps recorded per source (whole episodes).", min=1)
    envs: int = arg(8, "Games played in parallel.", min=1)
    seed: int = arg(0, "Seed of the games and the sampling.", min=0)
    out: Path = arg(Path("data/mgdt"), "Data set folder; the game goes to OUT/GAME/.")


@dataclass
@with_defaults(run_name="mgdt", checkpoint_every=500)
class MGDTTrainConfig(RunOptions):
    """Train one decision transformer on every game of a data set, then play each game."""

    data: Path = arg(..., "Data set folder (written by play mgdt-data).")
    games: tuple[str, ...] = arg(
        (), "Train on these games of the data set only (default: all; one: a single-game DT)."
    )
    d_model: int = arg(128, "Width.", min=8)
    n_layer: int = arg(3, "Transformer blocks.", min=1)
    n_head: int = arg(4, "Attention heads.", min=1)
    context: int = arg(4, "Timesteps per window.", min=1)
    patch: int = arg(
        21,
        "Patch side in pixels (84 / patch per side): 21 gives 16 patches (the paper: 14).",
        min=1,
    )
    returns: bool = arg(
        True, "Return tokens and expert-return sampling (no: behaviour cloning, same network)."
    )
    dropout: float = arg(0.1, "Dropout.", min=0, below=1)
    steps: int = arg(4_000, "Gradient steps.", min=1)
    batch: int = arg(32, "Windows per step.", min=1)
    lr: float = arg(3e-4, "Peak AdamW learning rate (weight decay 0.1).", above=0)
    warmup: int = arg(200, "Linear warm-up steps.", min=1)
    kappa: float = arg(
        10.0, "Expert-return sampling's inverse temperature (the paper's 10).", min=0
    )
    eval_episodes: int = arg(4, "Episodes played per game after training (0: none).", min=0)
    precision: Literal["auto", "fp32", "bf16"] = arg(
        "auto", "bf16 autocast for training (auto: where the CPU has native bf16)."
    )
    log_every: int = arg(50, "Log every this many steps.", min=1)
    progress: bool = arg(True, "Show a progress bar on stderr.", recorded=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.precision == "auto":
            self.precision = auto_precision()
        if 84 % self.patch:
            raise ValueError(f"patch {self.patch} does not divide the 84-pixel frame")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} is not a multiple of n_head={self.n_head}")

    def model_config(self) -> Any:
        """The network's :class:`~palestra.models.mgdt.MGDTConfig`."""
        from palestra.models.mgdt import MGDTConfig

        return MGDTConfig(
            d_model=self.d_model,
            n_layer=self.n_layer,
            n_head=self.n_head,
            context=self.context,
            patch=self.patch,
            returns=self.returns,
            dropout=self.dropout,
        )
