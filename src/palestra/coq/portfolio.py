"""A tactic portfolio: the first, simplest proposer for Coq theorems.

For a statement file (preamble, definitions, ``Theorem name : T.``, ``Proof.``, ...) it opens a
pooled :class:`~palestra.coq.idetop.CoqSession` at the state after ``Proof.`` and tries each
closing tactic of :data:`DEFAULT_TACTICS` (then :data:`HAMMER_TACTICS`, CoqHammer's
reconstruction tactics ``sauto``/``hauto``, which run offline — ``hammer`` itself needs external
ATPs and is not used) once, each with its own timeout::

    for tactic in tactics:
        add(tactic)                    # error or timeout -> next tactic
        goals left?  -> next           # `auto` may succeed without closing the goal
        add("Qed.")  -> rejected?  -> next
        safe_verify(original, original up to the statement + "Proof. tactic. Qed.")
        accepted -> return it
        edit_at(after "Proof.")

A proof is reported only once :func:`~palestra.coq.verify.safe_verify` (a separate ``coqc``
run) accepted the candidate file; the session's word alone is not enough.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from palestra.coq.idetop import CoqError, SessionPool
from palestra.coq.script import split_preamble, split_theorem
from palestra.coq.verify import Verdict, safe_verify
from palestra.core.config import Config, arg
from palestra.core.errors import PalestraError

__all__ = [
    "DEFAULT_TACTICS",
    "HAMMER_REQUIRE",
    "HAMMER_TACTICS",
    "SUPPORT_REQUIRE",
    "Attempt",
    "PortfolioConfig",
    "PortfolioResult",
    "prove_with_portfolio",
]

DEFAULT_TACTICS: tuple[str, ...] = (
    "lia",
    "lra",
    "nia",
    "nra",
    "ring",
    "field",
    "auto",
    "intuition",
    "tauto",
    "easy",
    "intros; lia",
    "intros; lra",
    "intros; nia",
    "intros; nra",
    "intros; field",
    "intros; subst; lia",
    "intros; subst; lra",
    "intros; simpl; lia",
    "intros; split; lra",
    "intros; compute; lra",
)
HAMMER_TACTICS: tuple[str, ...] = ("sauto", "hauto")
HAMMER_REQUIRE = "From Hammer Require Import Tactics."
# the tactics above need these; a statement file usually has only its own Requires.
# ZifyNat/ZifyN teach lia's preprocessing (zify) nat's and N's mod and div: without them
# ``n mod 8 = 7 -> n mod 4 = 3`` is out of lia's reach, with them it is one call
_SUPPORT = "Require Import Lia Lra Psatz Ring Field ZifyNat ZifyN."
SUPPORT_REQUIRE = _SUPPORT


@dataclass
class PortfolioConfig(Config):
    """Options of the tactic portfolio."""

    tactic_timeout: float = arg(3.0, "seconds each tactic may run", above=0)
    hammer: bool = arg(True, "also try CoqHammer's sauto/hauto (libcoq-hammer)")
    verify: bool = arg(True, "run safe verify (coqc) on a closed proof before accepting it")
    verify_timeout: float = arg(60.0, "seconds for each coqc run of safe verify", above=0)
    allow_axioms: tuple[str, ...] = arg(
        (), "assumptions safe verify may accept beyond the standard axioms (see safe_verify)"
    )


@dataclass(frozen=True)
class Attempt:
    """One tactic tried: ``outcome`` is proved, open (goals left), error, timeout or rejected."""

    tactic: str
    outcome: str
    seconds: float
    detail: str = ""


@dataclass(frozen=True)
class PortfolioResult:
    """The first accepted proof, if any, with every attempt made."""

    theorem: str
    proved: bool
    tactic: str | None
    proof: str | None  # the whole candidate file that safe verify accepted
    verdict: Verdict | None
    attempts: list[Attempt] = field(default_factory=list)
    seconds: float = 0.0


def _candidate(source: str, statement_end: int, tactic: str, hammer: bool) -> str:
    """The support Requires, the original up to its statement, then the proof."""
    requires = _SUPPORT + ("\n" + HAMMER_REQUIRE if hammer else "")
    return f"{requires}\n{source[:statement_end]}\nProof.\n  {tactic}.\nQed.\n"


def prove_with_portfolio(
    source: str,
    *,
    pool: SessionPool | None = None,
    config: PortfolioConfig | None = None,
    tactics: tuple[str, ...] | None = None,
) -> PortfolioResult:
    """Try each tactic on the (last) theorem of ``source``; return the first accepted proof.

    ``pool`` keeps warm sessions between calls (one is made and closed here when None).
    """
    cfg = config or PortfolioConfig()
    start = time.perf_counter()
    split = split_theorem(source)
    if split is None:
        raise PalestraError("no Theorem/Lemma statement in the source")
    statement_end = split.statement.start + len(split.statement.text)
    preamble, _ = split_preamble(source[: split.statement.start])
    # the support Requires go first: importing Lra after the file's ``Open Scope C_scope``
    # would reopen R_scope and change what the statement means
    session_preamble = _SUPPORT + ("\n" + HAMMER_REQUIRE if cfg.hammer else "") + "\n" + preamble
    between = source[len(preamble) : statement_end]
    plan = list(tactics if tactics is not None else DEFAULT_TACTICS)
    if tactics is None and cfg.hammer:
        plan += HAMMER_TACTICS
    own_pool = pool is None
    pool = pool or SessionPool(max_idle=1)
    attempts: list[Attempt] = []

    def done(tactic: str | None, proof: str | None, verdict: Verdict | None) -> PortfolioResult:
        return PortfolioResult(
            split.name,  # type: ignore[union-attr]
            tactic is not None,
            tactic,
            proof,
            verdict,
            attempts,
            time.perf_counter() - start,
        )

    try:
        with pool.session(session_preamble) as coq:
            coq.exec(between, timeout=max(cfg.tactic_timeout, 30.0))
            base = coq.add("Proof.")
            for tactic in plan:
                t0 = time.perf_counter()
                outcome, detail = "error", ""
                try:
                    coq.add(tactic + ".", timeout=cfg.tactic_timeout)
                    if not coq.proof_state().complete:
                        outcome = "open"
                    else:
                        coq.add("Qed.", timeout=max(cfg.tactic_timeout, 10.0))
                        outcome = "proved"
                except CoqError as e:
                    outcome = "timeout" if "timed out" in e.message else "error"
                    detail = " ".join(e.message.split())[:200]
                finally:
                    coq.edit_at(base)
                verdict = None
                if outcome == "proved" and cfg.verify:
                    candidate = _candidate(
                        source, statement_end, tactic, tactic in HAMMER_TACTICS and cfg.hammer
                    )
                    verdict = safe_verify(
                        source,
                        candidate,
                        timeout=cfg.verify_timeout,
                        allow_axioms=cfg.allow_axioms,
                    )
                    if not verdict.accepted:
                        outcome, detail = "rejected", verdict.reason
                attempts.append(Attempt(tactic, outcome, time.perf_counter() - t0, detail))
                if outcome == "proved":
                    proof = _candidate(
                        source, statement_end, tactic, tactic in HAMMER_TACTICS and cfg.hammer
                    )
                    return done(tactic, proof, verdict)
    finally:
        if own_pool:
            pool.close()
    return done(None, None, None)
