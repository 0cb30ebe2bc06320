"""One answer type for every verifier: :class:`Verdict` (accepted, reason, evidence).

Nothing in Palestra counts as solved until a verifier said so, and every verifier says it the
same way: the connection-proof checker (``prove/checker.py``), Coq's safe verify
(``coq/verify.py``), the SAT model check and the DRUP refutation check (``sat/``), and the code
sandbox. A verdict is truthy exactly when it accepts, so ``if check(...):`` reads naturally.

``reason`` is one line: ``"accepted"`` (or a short note on what was accepted), else the first
check that failed. ``evidence`` is the verifier's own frozen dataclass (Coq's axioms and errors,
DRUP's line and counts, ...) or ``None``; :meth:`Verdict.to_json` serialises both.

    >>> v = Verdict.reject("clause 3 is falsified", ModelEvidence(clause=3))
    >>> bool(v), v.reason, v.to_json()["evidence"]
    (False, 'clause 3 is falsified', {'clause': 3})
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["ModelEvidence", "Verdict", "jsonable"]

E = TypeVar("E")


@dataclass(frozen=True)
class Verdict(Generic[E]):
    """A verifier's answer: ``accepted``, a one-line ``reason`` and typed ``evidence``."""

    accepted: bool
    reason: str = "accepted"
    evidence: E | None = None

    def __bool__(self) -> bool:
        return self.accepted

    @classmethod
    def accept(cls, evidence: E | None = None, reason: str = "accepted") -> Verdict[E]:
        return cls(True, reason, evidence)

    @classmethod
    def reject(cls, reason: str, evidence: E | None = None) -> Verdict[E]:
        if not reason:
            raise ValueError("a rejection needs a reason")
        return cls(False, reason, evidence)

    def to_json(self) -> dict[str, Any]:
        """``{"accepted", "reason", "evidence"}`` with the evidence as plain JSON values."""
        evidence = jsonable(self.evidence)
        return {"accepted": self.accepted, "reason": self.reason, "evidence": evidence}


@dataclass(frozen=True)
class ModelEvidence:
    """A model (assignment) check's evidence: the first falsified clause's index, if any."""

    clause: int | None = None


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses as dicts, sequences as lists, the rest as str."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "to_json"):
            return value.to_json()
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
