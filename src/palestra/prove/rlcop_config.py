"""Options of ``palestra train rlcop`` (a light module: the CLI imports it at start-up)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from palestra.core.config import Config, arg

__all__ = ["RlcopConfig"]


@dataclass
class RlcopConfig(Config):
    """rlCoP: MCTS over the connection calculus, guided by gradient-boosted trees learned
    from its own proof attempts (Kaliszyk, Urban, Michalewski, Olšák 2018).

    Iteration 0 searches unguided (uniform priors, random rollouts); iteration i trains a
    policy and a value model on the data of all earlier iterations and searches guided.
    """

    problems: Path | None = arg(None, "Folder of TPTP problems (*.p); default: data set m2k.")
    iterations: int = arg(3, "Iterations: 0 is unguided, 1.. are guided.", min=1)
    sample: int = arg(0, "Use a seeded sample of this many problems (0 = all).", min=0)
    inference_limit: int = arg(200_000, "Inferences per proof attempt (leanCoP's count).", min=1)
    playouts_per_step: int = arg(2000, "Playouts between two committed big steps.", min=1)
    cp_unguided: float = arg(1.0, "UCT exploration constant without guidance.", min=0)
    cp_guided: float = arg(2.0, "UCT exploration constant with guidance.", min=0)
    max_depth: int = arg(10, "Path-length bound for extensions into non-ground clauses.", min=0)
    fpu_guided: float = arg(
        0.0,
        "Guided: score of an unvisited child before its exploration term (first-play urgency; "
        "negative: unvisited children first, as unguided).",
    )
    rollout_depth: int = arg(
        50, "Unguided: actions per random rollout (counted inferences).", min=0
    )
    settings: str = arg("[conj]", "leanCoP clausal-form options for the matrix.")
    temperature: float = arg(1.0, "Softmax temperature over the policy's logits.", above=0)
    discount: float = arg(
        0.99, "Value target: discount per step to the closed tableau.", above=0, max=1
    )
    policy_target: str = arg(
        "proof",
        "Policy targets: 'proof' (1 for the found proof's action, 0 for the others, at every "
        "proof state) or 'visits' (rlCoP's relative visit counts at the committed nodes).",
    )
    negatives: int = arg(4, "Value 0 for up to this many off-proof children per proof step.", min=0)
    backtrack: bool = arg(True, "Return to the previous root when a big step's subtree is lost.")
    rounds: int = arg(100, "LightGBM boosting rounds per model.", min=1)
    num_leaves: int = arg(31, "LightGBM leaves per tree.", min=2)
    learning_rate: float = arg(0.1, "LightGBM learning rate.", above=0)
    dim: int = arg(2**16, "Hashed feature dimension.", min=1)
    jobs: int = arg(1, "Proof attempts in parallel (local processes).", min=1)
    ray: str | None = arg(
        None,
        "Run the proof attempts as Ray tasks: 'local' starts a cluster in this process, or "
        "the address of a running one ('auto', HOST:6379, ray://HOST:10001); its nodes need "
        "palestra installed and the problem files at the same paths.",
    )
    seed: int = arg(0, "Seed of the sample and of every search.")
    runs: Path = arg(Path("runs"), "Root folder of run directories.")
    resume: bool = arg(False, "Continue the newest rlcop run with this config.", recorded=False)
    progress: bool = arg(True, "Show a progress bar.", recorded=False)

    @property
    def guided_fpu(self) -> float | None:
        """``fpu_guided`` as the search takes it: None (unvisited children first) if negative."""
        return self.fpu_guided if self.fpu_guided >= 0 else None

    def __post_init__(self) -> None:
        super().__post_init__()  # the fields' bounds
        if self.policy_target not in ("proof", "visits"):
            raise ValueError(
                f"policy_target must be 'proof' or 'visits', got {self.policy_target!r}"
            )
