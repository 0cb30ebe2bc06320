"""The compiled search core: leanCoP 2.1's calculus in C, behind the ``ProverCore`` hook.

``CCore`` runs the search of ``calculus._PythonCore`` in the C extension ``_leancop``: the
same order, the same inference counts, the same proof steps and the same substitution (it
makes the same bindings in the same order), about 50 times faster. ``prove()`` uses it by
default when the extension is built (``calculus.default_core``); ``python_core`` remains the
reference and the fallback.

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

import statistics
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from palestra.core.errors import PalestraError
from palestra.logic.syntax import Fn, Term, Var
from palestra.prove.calculus import (
    CompiledMatrix,
    CoreResult,
    Options,
    Status,
    compile_matrix,
    instance_var,
    python_core,
)
from palestra.prove.golden import GoldenRow, matrix_path, read_matrix

__all__ = ["CCore", "FlatMatrix", "available", "flatten", "measure_speed"]

_STATUS: tuple[Status, ...] = ("Theorem", "InfLimit", "CounterSatisfiable", "GaveUp", "Timeout")
_UNBOUND = -(2**31)
_EXT = 0
_GOLDEN = Path(__file__).resolve().parents[3].parent / "shared/data/tptp/leancop21_golden"


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


def flatten(cm: CompiledMatrix) -> FlatMatrix:
    """Flatten ``cm`` into int32 arrays, each distinct term object once, children first."""
    cells = array("i")
    memo: dict[int, int] = {}  # id(term) -> cell index; cm keeps the terms alive

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
    return FlatMatrix(cells, litlist, index, cands, neg_start)


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
        sub = _substitution(cm, flat.cells, steps, bind_t, bind_o)
        return CoreResult("Theorem", inferences, path_limit, steps, sub)


def _substitution(
    cm: CompiledMatrix, cells: array, steps: list[tuple[int, int, int]], bind_t: array,
    bind_o: array,
) -> dict[str, Term]:  # fmt: skip
    """The final bindings of every instance variable (as ``_PythonCore.substitution``)."""
    names: dict[int, Var] = {}
    for s, (rule, ref, off) in enumerate(steps):
        if rule == _EXT:
            c = cm.entries[ref][0]
            for k in range(cm.nvars[c]):
                names[off + k] = Var(instance_var(cm, c, k, s))
    functions = cm.functions
    sub: dict[str, Term] = {}
    for g, var in names.items():
        # resolve slot g without recursion: a variable is -1 - k at an offset
        out: list[Term] = []
        stack: list[tuple[int, int, bool]] = [(-1 - g, 0, False)]
        while stack:
            t, o, built = stack.pop()
            while t < 0:
                x = bind_t[o - 1 - t]
                if x == _UNBOUND:
                    break
                t, o = x, bind_o[o - 1 - t]
            if t < 0:
                out.append(names[o - 1 - t])
            elif built:
                n = cells[t + 1]
                args = tuple(out[len(out) - n :]) if n else ()
                del out[len(out) - n :]
                out.append(Fn(functions[cells[t]][0], args))
            else:
                stack.append((t, o, True))
                stack.extend((cells[t + 3 + i], o, False) for i in reversed(range(cells[t + 1])))
        if out[0] is not var:
            sub[var.name] = out[0]
    return sub


def measure_speed(
    rows: Sequence[GoldenRow], golden_dir: str | Path = _GOLDEN, python: bool = True
) -> dict[str, Any]:
    """Inferences per second of the C core (and the Python core) on golden rows.

    Each row's matrix is read and compiled once (not timed); then each core is timed on it
    from the ``CompiledMatrix`` to its ``CoreResult`` (for the C core: flattening, search and
    reading the proof back). Pass the rows that hit the inference limit for a measure over
    full 200,001-inference searches. Returns the per-row figures and their medians.
    """
    per_row: list[dict[str, Any]] = []
    for row in rows:
        options = Options.from_leancop(row.settings)
        cm = compile_matrix(read_matrix(matrix_path(golden_dir, row)), options.reo)
        entry: dict[str, Any] = {"problem": row.problem, "settings": row.settings}
        cores: list[tuple[str, Any]] = [("c", CCore())]
        if python:
            cores.append(("python", python_core))
        for name, core in cores:
            t0 = time.perf_counter()
            result = core(cm, options)
            seconds = time.perf_counter() - t0
            entry[f"{name}_status"] = result.status
            entry[f"{name}_inferences"] = result.inferences
            entry[f"{name}_seconds"] = round(seconds, 6)
            entry[f"{name}_ips"] = result.inferences / seconds if seconds > 0 else float("inf")
        entry["golden_inferences"] = row.inferences
        per_row.append(entry)
    out: dict[str, Any] = {"rows": per_row, "n": len(per_row)}
    for name in ("c", "python") if python else ("c",):
        ips = [r[f"{name}_ips"] for r in per_row]
        out[f"{name}_median_ips"] = statistics.median(ips) if ips else None
    if python and per_row:
        out["median_speedup"] = statistics.median(r["c_ips"] / r["python_ips"] for r in per_row)
    return out
