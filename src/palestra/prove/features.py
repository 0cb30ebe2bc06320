"""ENIGMA-style hashed features of a connection-tableau state and of its actions.

rlCoP (Kaliszyk et al. 2018) describes a state by features of the current goal, of the
active path and (for the policy) of the candidate the action connects to, as ENIGMA (Jakubův
and Urban 2017) does for clauses: the symbols of a literal and its *term walks*, the
sequences of symbols met on a vertical path through the term tree from a node to a
descendant, here of length 2 and 3. Walks are taken twice: with every variable collapsed to
``*``, and with variables named by first occurrence in the literal (``X0``, ``X1``, ...) so
that sharing (``p(X,X)`` against ``p(X,Y)``) shows. Skolem functions and definitional
predicates (``^N``, named per problem by the clausifier) are all ``^``; a negative
predicate is ``~p``.

A feature is a string ``part|kind|text`` (parts: ``g`` the goal, ``p`` the path, ``ac`` the
literal of the clause copy connected to, ``ar`` the rest of that clause, ``ap`` the path
literal a reduction closes with); it is hashed by ``zlib.crc32`` (stable across processes
and runs, unlike ``hash()``) to a column in ``[N_DENSE, dim)`` and counted. Columns below
``N_DENSE`` hold a few numbers: path depth, open goals, legal actions, inferences made (log),
action kind, clause length, clause groundness.

Vectors are ``dict[int, float]`` (column -> value); :func:`to_csr` stacks them into a
``scipy.sparse.csr_matrix`` for LightGBM.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from typing import Any

from palestra.prove.world import Action, ConnectionState

__all__ = [
    "DIM",
    "N_DENSE",
    "Featurizer",
    "feature_index",
    "literal_features",
    "to_csr",
]

DIM = 2**16
N_DENSE = 16
(_DEPTH, _OPEN, _NACT, _INF, _KIND, _CLEN, _GROUND) = range(7)


def feature_index(feature: str, dim: int = DIM) -> int:
    """The column of a feature string: crc32, stable across processes and Python versions."""
    return N_DENSE + zlib.crc32(feature.encode("utf-8")) % (dim - N_DENSE)


_CACHE_MAX = 200_000


def _sym(name: str) -> str:
    if name.startswith("^"):
        return "^"
    if name.startswith("~^"):
        return "~^"
    return name


def literal_features(lit: Any, part: str, out: Counter[str] | None = None) -> Counter[str]:
    """Features of one resolved literal (``ConnectionState.resolve_lit`` form), counted.

    Symbols (``part|s|f``) and walks of length 2 and 3 (``part|w|f/g``, ``part|w|f/g/h``),
    collapsed (``*`` for every variable) and named (``part|v|...``, variables ``X0``, ...).
    """
    out = Counter() if out is None else out
    names: dict[int, str] = {}
    # iterative walk: (term, chain of the last two ancestor symbols)
    stack: list[tuple[Any, tuple[str, ...]]] = [(lit, ())]
    while stack:
        t, up = stack.pop()
        if type(t) is int:
            named = names.setdefault(t, f"X{len(names)}")
            for label, kind in (("*", "w"), (named, "v")):
                if up:
                    out[f"{part}|{kind}|{up[-1]}/{label}"] += 1
                if len(up) == 2:
                    out[f"{part}|{kind}|{up[0]}/{up[1]}/{label}"] += 1
            continue
        s = _sym(t[0])
        out[f"{part}|s|{s}"] += 1
        if up:
            out[f"{part}|w|{up[-1]}/{s}"] += 1
            out[f"{part}|v|{up[-1]}/{s}"] += 1
        if len(up) == 2:
            out[f"{part}|w|{up[0]}/{up[1]}/{s}"] += 1
            out[f"{part}|v|{up[0]}/{up[1]}/{s}"] += 1
        chain = (*up[-1:], s)
        stack.extend((a, chain) for a in t[1:])
    return out


def _hashed(features: Counter[str], dim: int, into: dict[int, float]) -> dict[int, float]:
    for f, c in features.items():
        k = feature_index(f, dim)
        into[k] = into.get(k, 0.0) + float(c)
    return into


class Featurizer:
    """Feature vectors of states and (state, action) pairs; caches per clause entry.

    The features of an extension's clause copy do not depend on the state, so they are
    computed once per matrix entry (the cache belongs to one problem; a state of another
    problem clears it).
    """

    def __init__(self, dim: int = DIM) -> None:
        self.dim = dim
        self._problem: object = None
        self._entries: dict[int, dict[int, float]] = {}
        self._lits: dict[tuple, dict[int, float]] = {}

    def _lit(self, lit: Any, part: str) -> dict[int, float]:
        """Hashed features of one resolved literal, memoised (paths repeat across states)."""
        key = (part, lit)
        row = self._lits.get(key)
        if row is None:
            if len(self._lits) > _CACHE_MAX:
                self._lits.clear()
            row = _hashed(literal_features(lit, part), self.dim, {})
            self._lits[key] = row
        return row

    def state(self, state: ConnectionState) -> dict[int, float]:
        """Goal, path and a few numbers: the value model's input."""
        row: dict[int, float] = {}
        goal = state.goal()
        if goal is not None:
            parts = [self._lit(state.resolve_lit(goal[0], goal[1]), "g")]
            parts.extend(self._lit(lit, "p") for lit in state.path_lits())
            for part in parts:
                for k, v in part.items():
                    row[k] = row.get(k, 0.0) + v
        row[_DEPTH] = float(state.depth())
        row[_OPEN] = float(state.open_goals())
        row[_NACT] = float(len(state.legal_actions()))
        row[_INF] = math.log1p(state.inferences)
        return row

    def action(self, state: ConnectionState, action: Action) -> dict[int, float]:
        """Features of what ``action`` connects to (without the state's)."""
        if action.kind == "ext":
            if self._problem is not state.problem:
                self._problem = state.problem
                self._entries = {}
            cached = self._entries.get(action.ref)
            if cached is None:
                lits = state.action_lits(action)
                f = literal_features(lits[0], "ac")
                for lit in lits[1:]:
                    literal_features(lit, "ar", f)
                cached = _hashed(f, self.dim, {})  # a fresh dict: callers copy before adding
                cached[_KIND] = 1.0
                cached[_CLEN] = float(len(lits))
                cached[_GROUND] = float(state.problem.entry[action.ref][2])
                self._entries[action.ref] = cached
            return cached
        lits = state.action_lits(action)
        row = dict(self._lit(lits[0], "ap")) if lits else {}
        row[_KIND] = 0.0
        row[_CLEN] = 0.0
        row[_GROUND] = 0.0
        return row

    def policy_rows(
        self, state: ConnectionState, actions: list[Action] | None = None
    ) -> list[dict[int, float]]:
        """One row per action: the state's features merged with the action's."""
        base = self.state(state)
        rows = []
        for a in state.legal_actions() if actions is None else actions:
            row = dict(base)
            for k, v in self.action(state, a).items():
                row[k] = row.get(k, 0.0) + v
            rows.append(row)
        return rows


def to_csr(rows: list[dict[int, float]], dim: int = DIM) -> Any:
    """Stack sparse rows into a ``scipy.sparse.csr_matrix`` of shape ``[len(rows), dim]``."""
    import numpy as np
    from scipy.sparse import csr_matrix

    indptr = [0]
    indices: list[int] = []
    data: list[float] = []
    for row in rows:
        for k in sorted(row):
            indices.append(k)
            data.append(row[k])
        indptr.append(len(indices))
    return csr_matrix(
        (np.asarray(data, dtype=np.float64), np.asarray(indices, dtype=np.int32), indptr),
        shape=(len(rows), dim),
    )
