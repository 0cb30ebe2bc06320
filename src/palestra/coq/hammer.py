"""CoqHammer's ``hammer`` (Czajka and Kaliszyk, 2018): a stage with its own time budget.

One ``hammer.`` in a session runs CoqHammer's whole pipeline on the focused goal::

    premises   = select(goal, library)          # its own k-NN and naive Bayes, 32..1024 lemmas
    problem    = translate(goal, premises)      # first-order logic, TPTP
    deps       = ATP(problem)                   # E 2.6 (eprover) and CVC4, in parallel
    tactic     = reconstruct(goal, deps)        # sauto / hauto / scongruence ... use: deps

and prints ``Replace the hammer tactic with: <tactic>``. The proof kept is that reconstruction
(``scongruence use: app_length, Nat.add_comm``): :func:`run_hammer` re-runs it in the session
and the search records it in place of ``hammer``, so safe verify's ``coqc`` never calls an
external prover and a proof does not depend on an ATP's timing.

The ATPs are the ones Debian packages (``Makefile``'s DEBS): E (``eprover``) and CVC4
(``cvc4``). Vampire is not packaged; Z3 is, but without the TPTP front end (``z3_tptp``)
CoqHammer calls, so CoqHammer reports it missing. :func:`available_atps` says which are found.

In the agent (:func:`palestra.coq.agent.prove_problem`, ``--hammer SECONDS``) hammer is a
stage of the schedule with its own share of the problem's budget: the search runs first for
``budget - hammer`` seconds (it finds its proofs in a few seconds or not at all), then
``hammer`` runs once at the root with what is left. A ``hammer.`` written by any proposer
(a language model's proof) is run and replaced the same way by the search's cursor.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

from palestra.coq.coqc import coq_env
from palestra.coq.idetop import CoqError, CoqSession

__all__ = [
    "HAMMER_IMPORT",
    "HammerOptions",
    "available_atps",
    "hammer_preamble",
    "is_hammer",
    "reconstruction",
    "run_hammer",
]

HAMMER_IMPORT = "From Hammer Require Import Hammer."
# the executables CoqHammer 1.3 looks for, by the name it reports
_ATPS = {"E": "eprover", "CVC4": "cvc4", "Vampire": "vampire", "Z3": "z3_tptp"}
_REPLACE = re.compile(r"Replace the hammer tactic with:\s*(.+?)\s*$", re.S)
_HAMMER = re.compile(r"^\s*hammer\s*\.?\s*$")


def available_atps() -> list[str]:
    """The ATPs CoqHammer will find on this machine (``E``, ``CVC4``, ...)."""
    path = coq_env()["PATH"]
    return [name for name, exe in _ATPS.items() if shutil.which(exe, path=path)]


@dataclass(frozen=True)
class HammerOptions:
    """``budget`` seconds for hammer on one problem (CoqHammer's selection, ATPs and
    reconstruction take about 9 s on this machine even when an ATP answers at once)."""

    budget: float = 12.0
    gs_mode: int = 2  # strategies run in parallel (CoqHammer's default 8 is for 8 cores)
    reconstruction_limit: int = 2  # seconds per reconstruction tactic

    @property
    def atp_limit(self) -> int:
        """CoqHammer's ATP limit: what is left after selection and reconstruction."""
        return max(1, math.floor(self.budget - self.reconstruction_limit - 1))


def hammer_preamble(opts: HammerOptions) -> str:
    """The sentences a session loads before using ``hammer`` with ``opts``."""
    return (
        f"{HAMMER_IMPORT}\nSet Hammer ATPLimit {opts.atp_limit}.\n"
        f"Set Hammer GSMode {opts.gs_mode}.\n"
        f"Set Hammer ReconstrLimit {opts.reconstruction_limit}."
    )


def is_hammer(tactic: str) -> bool:
    """Is this sentence CoqHammer's ``hammer`` (which :func:`run_hammer` must replace)?"""
    return bool(_HAMMER.match(tactic))


def reconstruction(messages: Sequence[str]) -> str | None:
    """The tactic CoqHammer found, from what ``hammer`` printed (None when it printed none)."""
    for text in reversed(messages):
        m = _REPLACE.search(text)
        if m:
            tactic = " ".join(m.group(1).split())
            return tactic[:-1] if tactic.endswith(".") else tactic
    return None


def run_hammer(coq: CoqSession, timeout: float, replay_timeout: float) -> str:
    """``hammer`` at the tip, then its reconstruction in its place; return the reconstruction.

    On success the tip is after the reconstruction (which closed the goal ``hammer`` closed);
    on failure the tip is unchanged and :class:`CoqError` (or ``CoqTimeout``) is raised.
    """
    tip = coq.tip
    coq.add("hammer.", timeout=timeout)
    tactic = reconstruction(coq.messages)
    coq.edit_at(tip)
    if tactic is None:
        raise CoqError("hammer closed the goal but printed no reconstruction", None, "hammer.")
    coq.add(tactic + ".", timeout=replay_timeout)
    return tactic
