"""The compiled search core: leanCoP 2.1's calculus in C, behind the ``ProverCore`` hook.

``CCore`` runs the search of ``calculus._PythonCore`` in the C extension ``_leancop``: the
same order, the same inference counts, the same proof steps and the same substitution (it
makes the same bindings in the same order; they are read back, like the Python core's, by
``compiled.substitution``), about 50 times faster. ``prove()`` uses it by default when the
extension is built (``calculus.default_core``); ``python_core`` remains the reference and
the fallback.

The ``CompiledMatrix`` is flattened once per call into four int32 arrays (``flatten``):

- ``cells``: every distinct term and literal as ``[functor, arity, 0, arg_1 .. arg_n]``
  (a literal's functor is its literal id); an argument is the cell index of an earlier term,
  or ``-1 - k`` for variable ``k`` of its clause. Terms are keyed by identity, so interned
  ground terms share one index and stay "equal iff identical";
- ``litlist``: the literal indices of every entry's rest of clause;
- ``index``: CSR offsets by literal id into ``cands``;
- ``cands``: ``[literal, rest start, rest length, number of variables, entry id]`` per entry.

The C side checks every index before it searches (malformed arrays raise ``ValueError``,
never crash), grows all its stacks on demand (``MemoryError`` when memory runs out), uses
explicit stacks for unification, ``==`` and the occurs check (deep terms are safe), releases
the GIL while searching, and stops with status ``Timeout`` at ``time_limit_s`` (checked
every few thousand steps) or with ``KeyboardInterrupt`` on Ctrl-C.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from types import ModuleType

from palestra.core.errors import PalestraError
from palestra.prove.compiled import CompiledMatrix, CoreResult, Options, Status, substitution

__all__ = ["CCore", "FlatMatrix", "available", "flatten"]

_STATUS: tuple[Status, ...] = ("Theorem", "InfLimit", "CounterSatisfiable", "GaveUp", "Timeout")
_UNBOUND = -(2**31)


def _extension() -> ModuleType | None:
    if array("i").itemsize != 4:
        return None
    try:
        from palestra.prove import _leancop
    except ImportError:
        return None
    return _leancop


def available() -> bool:
    """Whether the C extension is built (``pip install -e .`` builds it)."""
    return _extension() is not None


@dataclass(frozen=True, slots=True)
class FlatMatrix:
    """A ``CompiledMatrix`` as the C core reads it (see the module docstring)."""

    cells: array  # int32
    litlist: array  # int32
    index: array  # int32, one more than the number of literal ids
    cands: array  # int32, 5 per entry
    neg_start: int  # cell index of the root goal -#
    terms: dict[int, tuple]  # cell index -> the term of the ``CompiledMatrix`` it holds


def flatten(cm: CompiledMatrix) -> FlatMatrix:
    """Flatten ``cm`` into int32 arrays, each distinct term object once, children first."""
    cells = array("i")
    memo: dict[int, int] = {}  # id(term) -> cell index; cm keeps the terms alive
    terms: dict[int, tuple] = {}

    def emit(t: tuple) -> int:
        ref = memo.get(id(t))
        if ref is not None:
            return ref
        stack: list[tuple[tuple, bool]] = [(t, False)]
        while stack:
            s, built = stack.pop()
            if id(s) in memo:
                continue
            if not built:
                stack.append((s, True))
                stack.extend((a, False) for a in s[1:] if type(a) is not int)
            else:
                memo[id(s)] = len(cells)
                terms[len(cells)] = s
                cells.extend((s[0], len(s) - 1, 0))
                cells.extend([-1 - a if type(a) is int else memo[id(a)] for a in s[1:]])
        return memo[id(t)]

    neg_start_lit = (cm.start_id ^ 1,)
    neg_start = emit(neg_start_lit)
    nids = 2 * len(cm.predicates)
    if cm.index and (min(cm.index) < 0 or max(cm.index) >= nids):
        raise PalestraError("compiled matrix: a literal id outside the predicate table")
    litlist = array("i")
    index = array("i", [0])
    cands = array("i")
    for f in range(nids):
        for lit, rest, _ground, nv, eid in cm.index.get(f, ()):
            cands.extend((emit(lit), len(litlist), len(rest), nv, eid))
            litlist.extend([emit(x) for x in rest])
        index.append(len(cands) // 5)
    return FlatMatrix(cells, litlist, index, cands, neg_start, terms)


class CCore:
    """The ``ProverCore`` in C: same status, count, proof and substitution as ``python_core``.

    ``time_limit_s``: wall-clock seconds for one call, after which the search stops with
    status ``Timeout`` (``inferences`` then counts what was done); ``None``: no limit.
    """

    def __init__(self, time_limit_s: float | None = None) -> None:
        if time_limit_s is not None and not time_limit_s > 0:
            raise PalestraError(f"time_limit_s must be > 0, got {time_limit_s}")
        self.time_limit_s = time_limit_s

    def __call__(self, cm: CompiledMatrix, options: Options) -> CoreResult:
        ext = _extension()
        if ext is None:
            raise PalestraError("the C prover core is not built (run `pip install -e .`)")
        flat = flatten(cm)
        limit = options.inference_limit
        status, inferences, path_limit, steps_b, bind_t_b, bind_o_b = ext.search(
            flat.cells,
            flat.litlist,
            flat.index,
            flat.cands,
            flat.neg_start,
            cm.start_id,
            options.cut,
            options.scut,
            options.comp or 0,
            -1 if limit is None else limit,
            self.time_limit_s or 0.0,
        )
        if status != 0:
            return CoreResult(_STATUS[status], inferences, path_limit)
        packed = array("i")
        packed.frombytes(steps_b)
        steps = [(packed[k], packed[k + 1], packed[k + 2]) for k in range(0, len(packed), 3)]
        bind_t, bind_o = array("i"), array("i")
        bind_t.frombytes(bind_t_b)
        bind_o.frombytes(bind_o_b)
        # the C bindings in the Python core's form: a cell becomes its term, -1 - k variable k
        terms = flat.terms
        bind = [
            None if t == _UNBOUND else (-1 - t if t < 0 else terms[t], o)
            for t, o in zip(bind_t, bind_o, strict=True)
        ]
        sub = substitution(cm, steps, bind)
        return CoreResult("Theorem", inferences, path_limit, steps, sub)
