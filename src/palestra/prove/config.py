"""Options of ``palestra prove`` (a light module: the CLI imports it at start-up)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from palestra.core.config import Config, arg

__all__ = ["ProveConfig"]


@dataclass
class ProveConfig(Config):
    """Prove a TPTP problem (or every problem in a folder) with the connection calculus.

    Prints SZS status lines (or JSON with --json); a proof is reported only after the
    independent proof checker has accepted it.
    """

    path: Path = arg(..., "A TPTP file, or a folder of them (proved in parallel).", positional=True)
    time_limit: float = arg(
        10.0, "Seconds per problem (shared by the strategies of a schedule).", above=0
    )
    inference_limit: int | None = arg(
        None, "Inferences per strategy attempt (leanCoP's count); unset = no limit.", min=1
    )
    strategy: str = arg(
        "schedule",
        "'schedule' (leancop.sh-style option sets with time slices) or one leanCoP option "
        "list such as '[cut,comp(7)]' or '[conj,nodef]'.",
    )
    guided: str | None = arg(
        None,
        "rlCoP: prove by Monte-Carlo tree search guided by this model folder (or 'default'; "
        "'none' = unguided MCTS) instead of the iterative-deepening prover; single files only.",
    )
    json: bool = arg(False, "Print one JSON object per problem instead of SZS lines.")
    proof: bool = arg(True, "Print the connection proof of a theorem (SZS output).")
    jobs: int = arg(os.cpu_count() or 1, "Problems proved in parallel (folder mode).", min=1)
    out: Path | None = arg(None, "Folder mode: also write every result to this JSONL file.")
    progress: bool = arg(True, "Folder mode: show a progress bar.", recorded=False)
