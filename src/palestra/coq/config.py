"""``ProveCoqConfig`` (``palestra prove-coq FILE.v``) and ``ExtractConfig``
(``palestra extract-tactics``), one flat dataclass each.

Kept free of heavy imports (the CLI imports it at start-up to build its options); the prover
is :func:`palestra.coq.agent.prove_coq`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from palestra.core.config import Config, arg

__all__ = ["TACTIC_INDEX_DIR", "ExtractConfig", "ProveCoqConfig"]

# the learned tactic model's index as shipped (built by `palestra extract-tactics`; its README)
TACTIC_INDEX_DIR = Path(__file__).resolve().parents[1] / "data" / "models" / "coq_tactics"


@dataclass
class ProveCoqConfig(Config):
    """Prove a Coq theorem with proposers, search and checker feedback; safe verify decides."""

    file: Path = arg(
        ..., "A .v statement file (its last Theorem/Lemma is proved).", positional=True
    )
    proposer: Literal["portfolio", "knn", "llm", "learned", "portfolio+learned"] = arg(
        "portfolio",
        "Where tactics come from: fixed portfolio, stdlib kNN over statements, a language "
        "model, the tactic model learned from library proof states (--tactic-index), or the "
        "portfolio and that model together.",
    )
    tactic_index: Path = arg(
        TACTIC_INDEX_DIR,
        "Folder of the learned tactic model's index: the shipped one (built from Debian's "
        "stdlib, Coquelicot and CoqHammer), or one written by `palestra extract-tactics`.",
    )
    learned_weight: float = arg(
        0.5, "Weight of the learned model's scores beside the portfolio's.", above=0
    )
    llm_url: str | None = arg(None, "OpenAI-compatible API root for --proposer llm (…/v1).")
    llm_model: str | None = arg(None, "Model name to ask at --llm-url.")
    llm_mode: Literal["proof", "tactic"] = arg(
        "proof", "Ask the model for a whole proof (continued after each error) or one tactic."
    )
    llm_max_tokens: int = arg(256, "Most tokens the model may write per request.", min=1)
    llm_prompt_chars: int = arg(
        6000, "Longest prompt sent (its end is kept): fit the context.", min=1
    )
    search: Literal["best-first", "episodes"] = arg(
        "best-first",
        "best-first over proof states, or the agent's episodes of edits with lessons.",
    )
    workers: int = arg(
        1, "Worker processes in parallel; the first verified proof stops the rest.", min=1
    )
    ray: str | None = arg(
        None,
        "Run the workers as Ray tasks: 'local' (a Ray instance on this machine) or a cluster "
        "address; default: forked processes here.",
    )
    budget: float = arg(60.0, "Seconds per problem (each worker).", above=0)
    max_calls: int = arg(
        2000, "Checker calls per problem (each worker): adds and safe verifies.", min=1
    )
    tactic_timeout: float = arg(3.0, "Seconds one tactic may run in coqidetop.", above=0)
    sketches: float = arg(
        0.0,
        "Seconds of --budget kept for the evolving population of proof sketches (facts for "
        "nra/nia, goals split), run after the search; 0: not used.",
        min=0,
    )
    lessons: Path | None = arg(
        None,
        "JSON file of the sketches' lessons (closers that worked per goal shape), read and "
        "updated so they carry across problems.",
    )
    hammer: float = arg(
        0.0,
        "Seconds of --budget kept for CoqHammer's hammer (premise selection, the ATPs E and "
        "CVC4, reconstruction), run at the root once the search has had the rest; 0: not used.",
        min=0,
    )
    edits: int = arg(
        8, "Edits per episode before it is given up with a lessons note (episodes).", min=1
    )
    width: int = arg(12, "Proposals tried per proof state.", min=1)
    max_depth: int = arg(10, "Deepest proof (tactics) the search expands.", min=1)
    verify_timeout: float = arg(60.0, "Seconds for each coqc run of safe verify.", above=0)
    allow_axioms: tuple[str, ...] = arg(
        (),
        "Assumptions a proof may use beyond the standard classical/real-number axioms, "
        "comma-separated: the statement file's own Axiom/Parameter/... names (Rfloor_spec), "
        "or a library axiom's full name. Default: none.",
    )
    json: bool = arg(False, "Print the result as JSON.", recorded=False)
    seed: int = arg(0, "Seed of worker 0; worker i uses seed + i.")

    def __post_init__(self) -> None:
        super().__post_init__()  # the fields' bounds
        if self.proposer == "llm" and (not self.llm_url or not self.llm_model):
            raise ValueError("--proposer llm needs --llm-url and --llm-model")


@dataclass
class ExtractConfig(Config):
    """Step library proofs through coqidetop; write (goal, tactic) pairs as JSON lines."""

    out: Path = arg(Path("runs/coq-tactics"), "Output folder (re-running resumes it).")
    libraries: tuple[str, ...] = arg(
        ("stdlib", "coquelicot", "hammer"), "Libraries whose sources are stepped."
    )
    coqlib: Path | None = arg(
        None, "Coq's library folder holding the sources; default: what `coqc -where` says."
    )
    workers: int = arg(1, "Files stepped in parallel.", min=1)
    limit: int = arg(0, "Step at most this many files not yet done (0: all).", min=0)
    sentence_timeout: float = arg(30.0, "Seconds one sentence may run.", above=0)
    file_timeout: float = arg(900.0, "Seconds one file may run; the rest is skipped.", above=0)
    index: bool = arg(
        True,
        "Then index every pair for --proposer learned (OUT/index.npz) and report top-1/top-10 "
        "accuracy on held-out files (one in ten) with an index of the others.",
    )
