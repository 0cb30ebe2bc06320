"""One problem's outcome, as every first-order prover of Palestra reports it.

``palestra prove`` (the strategy schedule), rlCoP's MCTS (``attempt``, ``prove_guided``), the
benches and the demo all produce and read :class:`ProofAttempt`. ``status`` is an SZS name
(``Theorem``, ``Unsatisfiable``, ``CounterSatisfiable``, ``Satisfiable``, ``GaveUp``,
``InfLimit``, ``Timeout``, ``InputError``, ``Error``); a problem counts as **proved** only when
the status says so *and* the independent checker accepted the proof (:attr:`proved`).
:func:`count_proved` is the one way the benches count, and refuses a result whose proof the
checker rejected, so a checker failure can never pass as a lost problem.

A proof's terms nest as deep as the problem's (Peano numerals thousands deep), deeper than
``json.dumps`` can recurse: :func:`json_dumps` writes the same text without recursion, and
:meth:`ProofAttempt.to_json_line` is the record as one line of it. (Reading such a line
back with ``json.loads`` needs a raised ``sys.setrecursionlimit``.) :func:`room_to_pickle`
lets the job that found such a proof pickle it back to its parent.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from palestra.core.errors import PalestraError

__all__ = ["PROVED", "ProofAttempt", "count_proved", "json_dumps", "nesting", "room_to_pickle"]

# Nesting a job may send back: pickling recurses in C, two recursion levels per level of
# nesting, and the C stack (8 MB) holds some 30,000 levels of it.
MAX_PICKLED_NESTING = 25_000

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

    def to_json_line(self) -> str:
        """:meth:`to_json` as one line of JSON, however deep the proof's terms nest."""
        return json_dumps(self.to_json())

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


class _Text:
    """On :func:`json_dumps`'s stack: text to write as it is; ``container`` is the id of the
    container it closes, if it closes one."""

    __slots__ = ("container", "text")

    def __init__(self, text: str, container: int | None = None) -> None:
        self.text = text
        self.container = container


def _json_scalar(o: Any) -> str:
    if isinstance(o, str):
        return json.encoder.encode_basestring_ascii(o)  # type: ignore[attr-defined]
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    if isinstance(o, int):
        return int.__repr__(o)
    if isinstance(o, float):
        if math.isnan(o):
            return "NaN"
        if math.isinf(o):
            return "Infinity" if o > 0 else "-Infinity"
        return float.__repr__(o)
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def _json_key(k: Any) -> str:
    if isinstance(k, str):
        return json.encoder.encode_basestring_ascii(k)  # type: ignore[attr-defined]
    if k is None or isinstance(k, int | float):
        scalar = _json_scalar(k)
        return f'"{scalar}"'
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(k).__name__}")


def json_dumps(obj: Any) -> str:
    """``json.dumps(obj)`` (the same text: ASCII, ``", "`` and ``": "``), written with an
    explicit stack, so nesting is limited by memory only. Dicts, lists, tuples, strings,
    numbers, booleans and None; a container inside itself is a ``ValueError`` as in
    ``json.dumps``."""
    parts: list[str] = []
    todo: list[Any] = [obj]  # objects still to write, and _Text in between
    open_: set[int] = set()  # containers being written (cycle check)
    while todo:
        o = todo.pop()
        if type(o) is _Text:
            parts.append(o.text)
            if o.container is not None:
                open_.discard(o.container)
            continue
        if isinstance(o, dict | list | tuple):
            if not o:
                parts.append("{}" if isinstance(o, dict) else "[]")
                continue
            if id(o) in open_:
                raise ValueError("Circular reference detected")
            open_.add(id(o))
            if isinstance(o, dict):
                parts.append("{")
                todo.append(_Text("}", id(o)))
                items = list(o.items())
                for i in range(len(items) - 1, -1, -1):
                    k, v = items[i]
                    todo.append(v)
                    todo.append(_Text(f"{', ' if i else ''}{_json_key(k)}: "))
            else:
                parts.append("[")
                todo.append(_Text("]", id(o)))
                for i in range(len(o) - 1, 0, -1):
                    todo.append(o[i])
                    todo.append(_Text(", "))
                todo.append(o[0])
            continue
        parts.append(_json_scalar(o))
    return "".join(parts)


def nesting(obj: Any) -> int:
    """How deep dicts, lists and tuples nest in ``obj`` (0 for a scalar); no recursion."""
    deepest = 0
    todo: list[tuple[Any, int]] = [(obj, 0)]
    while todo:
        o, depth = todo.pop()
        if isinstance(o, dict):
            o = o.values()
        elif not isinstance(o, list | tuple):
            continue
        depth += 1
        deepest = max(deepest, depth)
        todo.extend((x, depth) for x in o)
    return deepest


def room_to_pickle(obj: Any) -> bool:
    """Raise the recursion limit so that ``obj`` (a proof's dict, in a job about to send it
    to its parent) can be pickled; False, and nothing changed, where it nests deeper than
    :data:`MAX_PICKLED_NESTING`, which would take the C stack with it."""
    depth = nesting(obj)
    if depth > MAX_PICKLED_NESTING:
        return False
    need = 2 * depth + 1_000
    if sys.getrecursionlimit() < need:
        sys.setrecursionlimit(need)
    return True
