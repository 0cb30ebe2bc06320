"""leanCoP 2.1 reference figures: the golden table and the clause matrices leanCoP built.

The data lives in ``shared/data/tptp/leancop21_golden`` (see its README):

- ``golden.tsv``: ``problem, settings, result, inferences, cpu_s``, one row per run of
  leanCoP 2.1 on a problem under an option set such as ``[conj,nodef]``;
- ``matrix/PROBLEM.SETTINGS.jsonl``: the matrix of that run, one clause per line, where a
  clause is a JSON list of literals, a literal is a term or ``["-", term]``, a term is
  ``[functor, arg, ...]`` and a variable is ``{"v": N}`` (numbered per clause). ``SETTINGS``
  is the option set without brackets and parentheses, commas made underscores
  (``[cut,comp(7)]`` -> ``cut_comp7``).

Variables ``{"v": N}`` become ``Var(f"_{N}")``; ``["#"]`` is leanCoP's start marker ``START``.
A malformed line raises a ``GoldenFormatError`` naming ``file:line``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from palestra.core.errors import PalestraError
from palestra.logic.syntax import Clause, Fn, Lit, Matrix, Term, Var

__all__ = [
    "GoldenFormatError",
    "GoldenRow",
    "matrix_path",
    "read_golden",
    "read_matrix",
    "settings_key",
]


class GoldenFormatError(PalestraError):
    """A golden table or matrix file that does not have the documented shape."""


@dataclass(frozen=True, slots=True)
class GoldenRow:
    """One leanCoP 2.1 run: ``result`` is ``Theorem`` or ``InfLimit``."""

    problem: str
    settings: str  # leanCoP's option list as written, e.g. "[cut,comp(7)]"
    result: str
    inferences: int
    cpu_s: float


_COLUMNS = ["problem", "settings", "result", "inferences", "cpu_s"]


def read_golden(path: str | Path) -> list[GoldenRow]:
    """Read ``golden.tsv`` (a header line, then one tab-separated row per run)."""
    path = Path(path)
    rows: list[GoldenRow] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.rstrip("\n").split("\t")
            if lineno == 1:
                if fields != _COLUMNS:
                    header = "\t".join(_COLUMNS)
                    raise GoldenFormatError(f"{path}:{lineno}: expected header {header!r}")
                continue
            if not line.strip():
                continue
            if len(fields) != len(_COLUMNS):
                raise GoldenFormatError(
                    f"{path}:{lineno}: expected {len(_COLUMNS)} tab-separated fields, "
                    f"got {len(fields)}"
                )
            problem, settings, result, inferences, cpu_s = fields
            try:
                rows.append(GoldenRow(problem, settings, result, int(inferences), float(cpu_s)))
            except ValueError as e:
                raise GoldenFormatError(f"{path}:{lineno}: {e}") from None
    return rows


def settings_key(settings: str) -> str:
    """The file-name form of an option list: ``[cut,comp(7)]`` -> ``cut_comp7``."""
    inner = settings.strip().removeprefix("[").removesuffix("]")
    return inner.replace("(", "").replace(")", "").replace(",", "_").replace(" ", "")


def matrix_path(golden_dir: str | Path, row: GoldenRow) -> Path:
    """Where the matrix of ``row`` lives under the golden folder."""
    return Path(golden_dir) / "matrix" / f"{row.problem}.{settings_key(row.settings)}.jsonl"


def read_matrix(path: str | Path) -> Matrix:
    """Read a matrix file, one JSON clause per line, in leanCoP's clause order."""
    path = Path(path)
    matrix: Matrix = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                matrix.append(_clause(json.loads(line)))
            except (ValueError, TypeError) as e:
                raise GoldenFormatError(f"{path}:{lineno}: {e}") from None
            except RecursionError:
                raise GoldenFormatError(f"{path}:{lineno}: nesting too deep to read") from None
    return matrix


def _clause(obj: object) -> Clause:
    if not isinstance(obj, list):
        raise ValueError(f"a clause must be a JSON list, got {type(obj).__name__}")
    return tuple(_literal(lit) for lit in obj)


def _literal(obj: object) -> Lit:
    if isinstance(obj, list) and len(obj) == 2 and obj[0] == "-":
        return Lit(False, _atom(obj[1]))
    return Lit(True, _atom(obj))


def _atom(obj: object) -> Fn:
    atom = _term(obj)
    if not isinstance(atom, Fn):
        raise ValueError("a literal must be an atom, not a variable")
    return atom


def _term(obj: object) -> Term:
    # iterative: Robinson-arithmetic numerals nest hundreds deep
    out: list[Term] = []
    stack: list[tuple[object, bool]] = [(obj, False)]
    while stack:
        o, built = stack.pop()
        if built:
            assert isinstance(o, list)
            n = len(o) - 1
            args = tuple(out[len(out) - n :]) if n else ()
            del out[len(out) - n :]
            out.append(Fn(o[0], args))
        elif isinstance(o, dict):
            n = o.get("v")
            if set(o) != {"v"} or not isinstance(n, int) or isinstance(n, bool):
                raise ValueError(f"a variable must be {{'v': int}}, got {o!r}")
            out.append(Var(f"_{n}"))
        elif isinstance(o, list) and o and isinstance(o[0], str):
            stack.append((o, True))
            stack.extend((a, False) for a in reversed(o[1:]))
        else:
            raise ValueError(f"a term must be [functor, arg, ...] or {{'v': N}}, got {o!r}")
    return out[0]
