"""Connection proving: leanCoP 2.1's calculus, its proofs, and an independent checker.

    from palestra.prove import Options, check, prove
    result = prove(matrix, Options(cut=True, comp=7))
    if result.status == "Theorem":
        assert check(matrix, result.proof).accepted

Names are loaded on first use, so importing ``palestra.prove.checker`` does not load the
calculus it checks.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ConnectionProof",
    "Options",
    "ProofResult",
    "ProofStep",
    "TableauEvidence",
    "check",
    "prove",
]

_HOME = {
    "Options": "compiled",
    "ProofResult": "calculus",
    "prove": "calculus",
    "check": "checker",
    "TableauEvidence": "checker",
    "ConnectionProof": "proof",
    "ProofStep": "proof",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"palestra.prove.{_HOME[name]}"), name)
    raise AttributeError(f"module 'palestra.prove' has no attribute {name!r}")
