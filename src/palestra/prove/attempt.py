"""One problem's outcome, as every first-order prover of Palestra reports it.

``palestra prove`` (the strategy schedule), rlCoP's MCTS (``attempt``, ``prove_guided``), the
benches and the demo all produce and read :class:`ProofAttempt`. ``status`` is an SZS name
(``Theorem``, ``Unsatisfiable``, ``CounterSatisfiable``, ``Satisfiable``, ``GaveUp``,
``InfLimit``, ``Timeout``, ``InputError``, ``Error``); a problem counts as **proved** only when
the status says so *and* the independent checker accepted the proof (:attr:`proved`).
:func:`count_proved` is the one way the benches count, and refuses a result whose proof the
checker rejected, so a checker failure can never pass as a lost problem.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from palestra.core.errors import PalestraError

__all__ = ["PROVED", "ProofAttempt", "count_proved"]

PROVED = frozenset({"Theorem", "Unsatisfiable"})
_REJECTED = "proof rejected by the checker"


@dataclass(frozen=True)
class ProofAttempt:
    """A prover's result on one problem.

    ``inferences`` counts leanCoP's inferences (the proving strategy's, else all strategies'
    together); ``seconds`` is wall time. The schedule fills ``strategy`` (the one that proved
    it) and ``attempts`` (each strategy's status, inferences and seconds); MCTS fills
    ``playouts``, ``big_steps`` and ``guided``. Fields a prover does not have stay None and
    are left out of :meth:`to_json`.
    """

    problem: str
    file: str
    status: str
    inferences: int = 0
    seconds: float = 0.0
    checked: bool = False  # the checker accepted ``proof``
    proof: dict[str, Any] | None = None  # Proof.to_dict()
    proof_text: str | None = field(default=None, repr=False)
    error: str | None = None
    strategy: str | None = None
    attempts: tuple[dict[str, Any], ...] | None = None
    playouts: int | None = None
    big_steps: int | None = None
    guided: bool | None = None

    @property
    def proved(self) -> bool:
        return self.status in PROVED and self.checked

    def rejected(self) -> ProofAttempt:
        """This result with its unchecked proof turned into an error (never reported found)."""
        reason = f"{_REJECTED}: {self.error}" if self.error else _REJECTED
        return replace(self, status="Error", error=reason)

    def to_json(self, *, proof_text: bool = False) -> dict[str, Any]:
        """The JSON record (``palestra prove --json``, results files); ``proof_text`` only
        when asked. The schedule's records always carry ``strategy`` and ``attempts``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "proof_text" and not proof_text:
                continue
            if f.name == "strategy" and self.attempts is not None:
                out[f.name] = value
            elif f.name == "attempts" and value is not None:
                out[f.name] = [dict(a) for a in value]
            elif value is not None or f.name in ("proof",):
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> ProofAttempt:
        """Read back a :meth:`to_json` record (unknown keys are ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in record.items() if k in known}
        if values.get("attempts") is not None:
            values["attempts"] = tuple(values["attempts"])
        return cls(**values)


def count_proved(results: Iterable[ProofAttempt], who: str) -> int:
    """How many of ``results`` are proved; :class:`PalestraError` naming ``who`` if a proof
    was found and the checker rejected it (that is a bug to see, not a lost problem)."""
    results = list(results)
    bad = [
        r.problem
        for r in results
        if (r.status in PROVED and not r.checked) or (r.error or "").startswith(_REJECTED)
    ]
    if bad:
        raise PalestraError(f"{who}: proofs rejected by the checker: {bad}")
    return sum(r.proved for r in results)
