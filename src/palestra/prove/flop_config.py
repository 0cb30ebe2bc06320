"""Options of ``palestra train flop`` and ``palestra prove-flop`` (light: the CLI imports them
at start-up)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from palestra.core.config import Config, arg

__all__ = ["FlopConfig", "FlopEvalConfig"]


@dataclass
class FlopConfig(Config):
    """FLoP: PPO on the connection calculus from one training proof, with a curriculum that
    starts episodes near the proof's end and moves the start back as the agent succeeds
    (Zombori, Csiszárik, Michalewski, Kaliszyk, Urban 2019)."""

    train: tuple[Path, ...] = arg(
        (),
        "Training problems (TPTP files); default: robinson_1m1__1 (1*1 = 1) of data set "
        "flop-robinson.",
    )
    proof: str = arg(
        "auto",
        "Where the training proofs come from: 'auto' (Palestra's prover with the world's "
        "clausal form, within proof_seconds), 'none' (no proof: episodes from the root), or "
        "a folder of <problem>.json files (ProofAttempt or ConnectionProof JSON).",
    )
    proof_seconds: float = arg(10.0, "'auto': seconds for Palestra's prover per problem.", above=0)
    steps: int = arg(
        20_000,
        "Environment steps of training (not recorded: --resume continues a run to more).",
        min=1,
        recorded=False,
    )
    batch_steps: int = arg(512, "Environment steps per PPO update (whole episodes).", min=1)
    epochs: int = arg(4, "PPO epochs per update.", min=1)
    minibatch: int = arg(64, "PPO minibatch size (steps).", min=1)
    lr: float = arg(3e-4, "Adam learning rate.", above=0)
    gamma: float = arg(0.95, "Discount per step.", above=0, max=1)
    lam: float = arg(0.95, "GAE lambda.", min=0, max=1)
    clip: float = arg(0.2, "PPO clipping range.", above=0)
    entropy: float = arg(0.01, "Entropy bonus weight.", min=0)
    value_coef: float = arg(0.5, "Value loss weight.", min=0)
    hidden: int = arg(64, "Width of the network's hidden layers.", min=1)
    dim: int = arg(256, "Hashed feature columns per part (goal, path, open goals, action).", min=8)
    max_steps: int = arg(
        40, "Steps per training episode (FLoP's max_exploration), besides the proof bound.", min=1
    )
    proof_slack: int = arg(
        0,
        "Curriculum episodes end once the proof so far is this many steps longer than the "
        "training proof (FLoP's known_proof_max_exploration).",
        min=0,
    )
    success_decay: float = arg(
        0.6, "Curriculum: decay of the success-rate moving average.", min=0, below=1
    )
    advance_at: float = arg(
        0.9, "Curriculum: move the start one step back once the success rate exceeds this.", min=0
    )
    stage_episodes: int = arg(
        20_000, "Curriculum: move the start back after this many episodes anyway.", min=1
    )
    max_depth: int = arg(
        1_000_000, "Path-length bound for extensions into non-ground clauses (large: none).", min=0
    )
    settings: str = arg("[conj]", "leanCoP clausal-form options for the matrix.")
    snapshot_every: int = arg(
        5_000, "Keep the model every this many environment steps (models/step_N.pt).", min=1
    )
    checkpoint_every: int = arg(1, "Checkpoint every this many PPO updates.", min=1)
    seed: int = arg(0, "Seed of the network, the episodes and the updates.")
    runs: Path = arg(Path("runs"), "Root folder of run directories.")
    resume: bool = arg(False, "Continue the newest flop run with this config.", recorded=False)
    progress: bool = arg(True, "Show a progress bar.", recorded=False)


@dataclass
class FlopEvalConfig(Config):
    """Prove TPTP problems with a trained FLoP agent: one greedy attempt, then sampled
    attempts until the time limit; every proof is re-checked by the checker."""

    model: Path = arg(
        ..., "A flop run directory (its final model) or a model .pt file.", positional=True
    )
    problems: Path = arg(..., "A TPTP file or a folder of them.", positional=True)
    sample: int = arg(0, "A seeded sample of this many problems (0 = all).", min=0)
    time_limit: float = arg(10.0, "Seconds per problem.", above=0)
    max_steps: int = arg(100_000, "Steps per attempt.", min=1)
    jobs: int = arg(1, "Problems in parallel.", min=1)
    seed: int = arg(0, "Seed of the sample and the sampled attempts.")
    out: Path | None = arg(None, "Also write every result to this JSONL file.")
    json: bool = arg(False, "Print one JSON object per problem.")
