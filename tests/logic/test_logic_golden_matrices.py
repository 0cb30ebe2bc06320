"""Our clausal form against the matrices leanCoP 2.1 itself built (shared golden files).

For 80 problems under ``[conj,nodef]`` and ``[cut,comp(7)]`` the matrix must be leanCoP's,
clause by clause in the same order and literal order: the prover's inference counts depend
on both. Variables are compared up to a renaming per clause; Skolem terms and definitional
atoms, ``^(N, [X1, ..., Xk])`` in leanCoP, are ``^N(X1, ..., Xk)`` here with the same
``N`` (so no renaming of symbols is needed).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from palestra.core.data import expected as dataset_path
from palestra.logic.clausify import clausify_settings
from palestra.logic.syntax import Clause, Fn, Lit, Term, Var
from palestra.logic.tptp import read_problem

TPTP_DATA = dataset_path("m2k").parent  # every TPTP set (PALESTRA_DATA or ../shared/data)
GOLDEN = dataset_path("leancop21-golden")
SETTINGS_TAG = {"[conj,nodef]": "conj_nodef", "[cut,comp(7)]": "cut_comp7"}


def _golden_rows() -> list[tuple[str, str]]:
    tsv = GOLDEN / "golden.tsv"
    if not tsv.is_file():
        return []
    rows = [line.split("\t") for line in tsv.read_text().splitlines()[1:] if line.strip()]
    return [(r[0], r[1]) for r in rows]


ROWS = _golden_rows()


@contextmanager
def _deep_recursion() -> Iterator[None]:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 100_000))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


# ---------------------------------------------------------------- golden matrix reader


def _prolog_list(t: list[Any]) -> list[Any]:
    out = []
    while t[0] == "[|]":
        out.append(t[1])
        t = t[2]
    assert t == ["[]"], t
    return out


def _term(t: Any) -> Term:
    """A golden term: ``{"v": N}`` or ``[functor, arg, ...]``; ``^(N, List)`` -> ``^N(...)``."""
    if isinstance(t, dict):
        return Var(f"V{t['v']}")
    if t[0] == "^" and len(t) == 3 and isinstance(t[1], list) and len(t[1]) == 1:
        return Fn(f"^{t[1][0]}", tuple(_term(a) for a in _prolog_list(t[2])))
    return Fn(t[0], tuple(_term(a) for a in t[1:]))


def _literal(lit: Any) -> Lit:
    if len(lit) == 2 and lit[0] == "-" and isinstance(lit[1], list):
        return Lit(False, _term(lit[1]))  # type: ignore[arg-type]
    return Lit(True, _term(lit))  # type: ignore[arg-type]


def read_golden_matrix(path: Path) -> list[Clause]:
    return [tuple(_literal(x) for x in json.loads(line)) for line in path.read_text().splitlines()]


def canonical(clause: Clause) -> Clause:
    """Rename variables to ``_0, _1, ...`` in order of first occurrence."""
    names: dict[str, Var] = {}

    def term(t: Term) -> Term:
        if isinstance(t, Var):
            return names.setdefault(t.name, Var(f"_{len(names)}"))
        return Fn(t.name, tuple(term(a) for a in t.args))

    return tuple(Lit(lit.positive, term(lit.atom)) for lit in clause)  # type: ignore[arg-type]


@cache
def _problem_paths() -> dict[str, Path]:
    return {p.stem: p for p in TPTP_DATA.rglob("*.p")}


# ---------------------------------------------------------------- the test


@pytest.mark.skipif(not ROWS, reason=f"leanCoP golden matrices not found under {GOLDEN}")
@pytest.mark.parametrize(("problem", "settings"), ROWS, ids=[f"{p}-{s}" for p, s in ROWS])
def test_matrix_equals_leancop(problem: str, settings: str) -> None:
    golden_file = GOLDEN / "matrix" / f"{problem}.{SETTINGS_TAG[settings]}.jsonl"
    problem_file = _problem_paths().get(problem)
    assert problem_file is not None, f"{problem}.p not found under {TPTP_DATA}"
    with _deep_recursion():
        expected = [canonical(c) for c in read_golden_matrix(golden_file)]
        got = [canonical(c) for c in clausify_settings(read_problem(problem_file), settings)]
        for i, (g, e) in enumerate(zip(got, expected, strict=False)):
            assert g == e, (
                f"clause {i}: ours {' '.join(map(str, g))}  leanCoP {' '.join(map(str, e))}"
            )
        assert len(got) == len(expected)


def test_golden_reader_decodes_skolem_terms_and_lists() -> None:
    line = '[["-",["p",["^",["3"],["[|]",{"v":0},["[]"]]],{"v":1}]],["#"]]'
    clause = tuple(_literal(x) for x in json.loads(line))
    assert clause == (
        Lit(False, Fn("p", (Fn("^3", (Var("V0"),)), Var("V1")))),
        Lit(True, Fn("#")),
    )
