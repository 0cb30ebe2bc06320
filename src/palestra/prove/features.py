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
(_DEPTH, _OPEN, _NACT, _INF) = range(4)  # state columns
(_KIND, _CLEN, _GROUND) = range(3)  # action columns, from dim/2 on
_ACTION_PARTS = ("ac", "ar", "ap")


def feature_index(feature: str, dim: int = DIM) -> int:
    """The column of a feature string: crc32, stable across processes and Python versions.

    State parts (``g|...``, ``p|...``) land in ``[N_DENSE, dim/2)``, action parts (``ac``,
    ``ar``, ``ap``) in ``[dim/2 + N_DENSE, dim)``.
    """
    half = dim // 2
    col = N_DENSE + zlib.crc32(feature.encode("utf-8")) % (half - N_DENSE)
    return col + half if feature.split("|", 1)[0] in _ACTION_PARTS else col


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


def _is_ground(t: Any) -> bool:
    """Whether a resolved term or literal has no variable (``int``) in it."""
    stack = [t]
    while stack:
        t = stack.pop()
        if type(t) is int:
            return False
        stack.extend(t[1:])
    return True


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
        if dim < 4 * N_DENSE:
            raise ValueError(f"feature dimension must be at least {4 * N_DENSE}, got {dim}")
        self.dim = dim
        self.half = dim // 2
        self._problem: object = None
        self._entries: dict[int, dict[int, float]] = {}
        self._entry_arrays: dict[int, tuple[Any, Any]] = {}
        self._paths: dict[int, tuple[tuple, dict[int, float]]] = {}
        self._lits: dict[tuple, tuple[dict[int, float], bool]] = {}

    def _lit(self, lit: Any, part: str) -> tuple[dict[int, float], bool]:
        """Hashed features of one resolved literal and whether it is ground, memoised (paths
        repeat across states)."""
        key = (part, lit)
        got = self._lits.get(key)
        if got is None:
            if len(self._lits) > _CACHE_MAX:
                self._lits.clear()
            f = literal_features(lit, part)
            ground = _is_ground(lit)
            got = self._lits[key] = (_hashed(f, self.dim, {}), ground)
        return got

    def _path(self, state: ConnectionState) -> dict[int, float]:
        """The summed features of the current goal's path literals.

        A path is a persistent linked list shared by many states; the sum from a node to the
        root is cached on the node once every literal on it is ground (bindings can only
        instantiate a literal further, and a ground one no longer changes).
        """
        if self._problem is not state.problem:
            self._reset(state.problem)
        f = state.frames
        p = f[3] if f is not None else None
        todo = []
        row: dict[int, float] = {}
        ground = True
        while p is not None:
            hit = self._paths.get(id(p))
            if hit is not None and hit[0] is p:
                row = hit[1]
                break
            todo.append(p)
            p = p[3]
        for p in reversed(todo):
            lit_row, lit_ground = self._lit(state.resolve_lit(p[0], p[1]), "p")
            row = dict(row)
            for k, v in lit_row.items():
                row[k] = row.get(k, 0.0) + v
            ground = ground and lit_ground
            if ground:
                if len(self._paths) > _CACHE_MAX:
                    self._paths.clear()
                self._paths[id(p)] = (p, row)  # the node itself is kept: its id stays valid
        return row

    def _reset(self, problem: object) -> None:
        self._problem = problem
        self._entries = {}
        self._entry_arrays = {}
        self._paths = {}

    def state(self, state: ConnectionState) -> dict[int, float]:
        """Goal, path and a few numbers: the value model's input."""
        goal = state.goal()
        if goal is not None:
            row = dict(self._path(state))
            for k, v in self._lit(state.resolve_lit(goal[0], goal[1]), "g")[0].items():
                row[k] = row.get(k, 0.0) + v
        else:
            row = {}
        row[_DEPTH] = float(state.depth())
        row[_OPEN] = float(state.open_goals())
        row[_NACT] = float(len(state.legal_actions()))
        row[_INF] = math.log1p(state.inferences)
        return row

    def action(self, state: ConnectionState, action: Action) -> dict[int, float]:
        """Features of what ``action`` connects to (without the state's)."""
        half = self.half
        if action.kind == "ext":
            if self._problem is not state.problem:
                self._reset(state.problem)
            cached = self._entries.get(action.ref)
            if cached is None:
                lits = state.action_lits(action)
                f = literal_features(lits[0], "ac")
                for lit in lits[1:]:
                    literal_features(lit, "ar", f)
                cached = _hashed(f, self.dim, {})  # a fresh dict: callers copy before adding
                cached[half + _KIND] = 1.0
                cached[half + _CLEN] = float(len(lits))
                cached[half + _GROUND] = float(state.problem.entry[action.ref][2])
                self._entries[action.ref] = cached
            return cached
        lits = state.action_lits(action)
        row = dict(self._lit(lits[0], "ap")[0]) if lits else {}
        row[half + _KIND] = 0.0
        row[half + _CLEN] = 0.0
        row[half + _GROUND] = 0.0
        return row

    def policy_rows(
        self, state: ConnectionState, actions: list[Action] | None = None
    ) -> list[dict[int, float]]:
        """One row per action: the state's features followed by the action's."""
        base = self.state(state)
        return [
            {**base, **self.action(state, a)}
            for a in (state.legal_actions() if actions is None else actions)
        ]

    # -- the fast path: sorted (indices, values) arrays --------------------------------
    def state_arrays(self, row: dict[int, float]) -> tuple[Any, Any]:
        """A state row (:meth:`state`) as sorted ``int32`` indices and ``float64`` values."""
        return _arrays(row)

    def action_arrays(self, state: ConnectionState, action: Action) -> tuple[Any, Any]:
        """:meth:`action` as sorted arrays (an extension's are computed once per entry)."""
        if action.kind == "ext":
            row = self.action(state, action)  # also resets the caches for a new problem
            got = self._entry_arrays.get(action.ref)
            if got is None:
                got = self._entry_arrays[action.ref] = _arrays(row)
            return got
        return _arrays(self.action(state, action))


def _arrays(row: dict[int, float]) -> tuple[Any, Any]:
    import numpy as np

    keys = sorted(row)
    return (
        np.fromiter(keys, dtype=np.int32, count=len(keys)),
        np.fromiter((row[k] for k in keys), dtype=np.float64, count=len(keys)),
    )


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
