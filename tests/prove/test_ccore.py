"""The C prover core against leanCoP 2.1's golden counts and against the Python core.

The C core must give leanCoP's status and inference count on every golden row (all 160 run
here: the whole set takes a few seconds in C), every proof it finds must pass the independent
checker, and on the golden rows and the small and random matrices it must agree with
``python_core`` step for step (status, count, path limit, proof steps, substitution). Since
``prove()`` defaults to the C core, the Python core's golden runs are here: the rows above
20,000 inferences take 0.5-4 s each in Python and are marked ``slow``. Malformed arrays must
raise, never crash; deep terms, the deadline, Ctrl-C, out-of-memory and memory use are
checked too.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from palestra.core.data import expected as dataset_path
from palestra.logic.syntax import START, Fn, Lit, Matrix, Term, Var
from palestra.prove.bench import measure_speed
from palestra.prove.calculus import default_core, prove, python_core
from palestra.prove.ccore import CCore, available, flatten
from palestra.prove.checker import check
from palestra.prove.compiled import CoreResult, Options, compile_matrix
from palestra.prove.golden import GoldenRow, matrix_path, read_golden, read_matrix

pytestmark = pytest.mark.skipif(not available(), reason="C extension not built")

GOLDEN = dataset_path("leancop21-golden")  # PALESTRA_DATA or ../shared/data
ROWS = read_golden(GOLDEN / "golden.tsv") if (GOLDEN / "golden.tsv").is_file() else []
FAST = 20_000  # inferences: the Python core's runs of rows above this are marked slow


def _id(row: GoldenRow) -> str:
    return f"{row.problem}-{row.settings}"


def _same(cm_matrix: Matrix, options: Options) -> tuple[CoreResult, CoreResult]:
    cm = compile_matrix(cm_matrix, options.reo)
    return CCore()(cm, options), python_core(cm, options)


# ---- golden rows -------------------------------------------------------------------------


@pytest.mark.parametrize("row", ROWS, ids=_id)
def test_golden_row_c_core(row: GoldenRow) -> None:
    matrix = read_matrix(matrix_path(GOLDEN, row))
    result = prove(matrix, Options.from_leancop(row.settings), core=CCore())
    assert (result.status, result.inferences) == (row.result, row.inferences)
    if result.status == "Theorem":
        assert result.proof is not None
        verdict = check(matrix, result.proof)
        assert verdict.accepted, verdict.reason


def _param(row: GoldenRow) -> object:
    # prove() now defaults to the C core, so the Python core's own golden runs live here
    marks = [pytest.mark.slow] if row.inferences > FAST else []
    return pytest.param(row, id=_id(row), marks=marks)


@pytest.mark.parametrize("row", [_param(r) for r in ROWS])
def test_golden_row_cores_agree(row: GoldenRow) -> None:
    c, py = _same(read_matrix(matrix_path(GOLDEN, row)), Options.from_leancop(row.settings))
    assert (py.status, py.inferences) == (row.result, row.inferences)
    assert c == py


def test_default_core_is_the_c_core() -> None:
    assert isinstance(default_core(), CCore)


# ---- small matrices, as in test_calculus --------------------------------------------------

a, b = Fn("a"), Fn("b")
X, Y, Z = Var("X"), Var("Y"), Var("Z")


def lit(s: str, *args: Term) -> Lit:
    return Lit(not s.startswith("-"), Fn(s.lstrip("-"), tuple(args)))


def f(*args: Term) -> Fn:
    return Fn("f", tuple(args))


EXAMPLE = [(lit("q", a),), (lit("-p"),), (lit("p"), lit("-q", X))]
REDUCTION = [
    (lit("p"), lit("q")),
    (lit("-p"), lit("q")),
    (lit("p"), lit("-q")),
    (lit("-p"), lit("-q")),
]
LEMMA = [(lit("a"), lit("b")), (lit("-a"),), (lit("-b"), lit("a"))]
OCCURS = [(lit("p", X, f(X)),), (lit("-p", Y, Y),)]
CONJ = [(lit("q", a),), (Lit(False, START),), (Lit(True, START), lit("-q", X))]
SCUT = [(lit("r"),), *EXAMPLE]
TRANSITIVE = [
    (lit("-r", X, Y), lit("-r", Y, Z), lit("r", X, Z)),
    (lit("r", a, f(a)),),
    (lit("r", f(a), b),),
    (lit("-r", a, b),),
]
SETTINGS = [
    Options(),
    Options(cut=False, comp=None),
    Options(cut=True, comp=None),
    Options(scut=True, comp=None),
    Options(cut=True, scut=True, comp=3),
    Options(reo=2),
    Options(inference_limit=3),
    Options(inference_limit=None, cut=False, comp=None),
]


@pytest.mark.parametrize("name", ["EXAMPLE", "REDUCTION", "LEMMA", "OCCURS", "SCUT", "TRANSITIVE"])
@pytest.mark.parametrize("options", SETTINGS, ids=str)
def test_small_matrices_agree(name: str, options: Options) -> None:
    matrix = globals()[name]
    c, py = _same(matrix, options)
    assert c == py
    if c.status == "Theorem":
        result = prove(matrix, options, core=CCore())
        assert result.proof is not None and check(matrix, result.proof).accepted


def test_conj_matrix_agrees() -> None:
    c, py = _same(CONJ, Options(conj=True, cut=False, comp=None))
    assert c == py and c.status == "Theorem"


def test_empty_start_clause_with_scut() -> None:
    # the start clause [#] alone closes the tableau at once (the Python core raises here)
    result = prove([()], Options(scut=True, comp=None), core=CCore())
    assert (result.status, result.inferences) == ("Theorem", 0)
    assert result.proof is not None and check([()], result.proof).accepted


def _random_term(rng: random.Random, depth: int) -> Term:
    if depth == 0 or rng.random() < 0.4:
        return rng.choice([X, Y, Z, a, b])
    if rng.random() < 0.6:
        return Fn("f", (_random_term(rng, depth - 1),))
    return Fn("g", (_random_term(rng, depth - 1), _random_term(rng, depth - 1)))


def _random_matrix(rng: random.Random) -> Matrix:
    preds = [("p", 1), ("q", 2), ("r", 0), ("s", 1)]
    matrix = []
    for _ in range(rng.randint(2, 7)):
        clause = []
        for _ in range(rng.randint(1, 3)):
            name, arity = rng.choice(preds)
            atom = Fn(name, tuple(_random_term(rng, 3) for _ in range(arity)))
            clause.append(Lit(rng.random() < 0.5, atom))
        matrix.append(tuple(clause))
    return matrix


def test_random_matrices_agree() -> None:
    rng = random.Random(2008)
    proved = 0
    for _ in range(300):
        matrix = _random_matrix(rng)
        options = rng.choice(SETTINGS[:6])
        options = dataclasses.replace(options, inference_limit=3000)
        c, py = _same(matrix, options)
        assert c == py, matrix
        if c.status == "Theorem":
            proved += 1
            result = prove(matrix, options, core=CCore())
            assert result.proof is not None and check(matrix, result.proof).accepted
    assert proved > 30  # the sample exercises proofs, not only failures


# ---- deep terms, deadline, memory ---------------------------------------------------------


def _nest(name: str, inner: Term, depth: int) -> Term:
    t = inner
    for _ in range(depth):
        t = Fn(name, (t,))
    return t


def test_deep_terms() -> None:
    depth = 10_000
    # unify f^N(X) with f^N(f(Y)) (X := f(Y)), then q(Y) with q(f(f(f(a))))
    matrix = [
        (lit("p", _nest("f", X, depth)),),
        (lit("-p", _nest("f", f(Y), depth)), lit("q", Y)),
        (lit("-q", _nest("f", a, 3)),),
    ]
    result = prove(matrix, Options(), core=CCore())
    assert result.status == "Theorem"
    assert result.proof is not None and check(matrix, result.proof).accepted
    # the occurs check must walk bindings through a deep term and fail
    cyclic = [(lit("p", X, _nest("f", X, depth)),), (lit("-p", Y, Y),)]
    assert prove(cyclic, Options(cut=False, comp=None), core=CCore()).status == (
        "CounterSatisfiable"
    )


@pytest.mark.skipif(not ROWS, reason="golden data not found")
def test_deadline_stops_the_search() -> None:
    row = next(r for r in ROWS if r.result == "InfLimit")
    matrix = read_matrix(matrix_path(GOLDEN, row))
    options = Options.from_leancop(row.settings, inference_limit=None)
    t0 = time.perf_counter()
    result = prove(matrix, options, core=CCore(time_limit_s=0.2))
    elapsed = time.perf_counter() - t0
    assert result.status == "Timeout" and result.proof is None
    assert result.inferences > 0
    assert elapsed < 10  # loose: the deadline is checked every few thousand steps


@pytest.mark.skipif(not ROWS, reason="golden data not found")
def test_ctrl_c_interrupts_the_search() -> None:
    row = next(r for r in ROWS if r.result == "InfLimit")
    matrix = read_matrix(matrix_path(GOLDEN, row))
    options = Options.from_leancop(row.settings, inference_limit=None)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    try:
        timer.start()  # the search releases the GIL, so the timer thread runs
        with pytest.raises(KeyboardInterrupt):
            prove(matrix, options, core=CCore(time_limit_s=30))
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")
@pytest.mark.skipif(not ROWS, reason="golden data not found")
def test_memory_is_freed() -> None:
    limit_row = next(r for r in ROWS if r.result == "InfLimit")
    proof_row = max((r for r in ROWS if r.result == "Theorem"), key=lambda r: r.inferences)
    jobs = []
    for row in (limit_row, proof_row):
        options = Options.from_leancop(row.settings)
        jobs.append((compile_matrix(read_matrix(matrix_path(GOLDEN, row)), options.reo), options))
    core = CCore()

    def burn(n: int) -> None:
        for _ in range(n):
            for cm, options in jobs:
                core(cm, options)

    burn(3)
    before = _rss_bytes()
    burn(25)
    assert _rss_bytes() - before < 64 * 2**20


_OUT_OF_MEMORY = """
import resource
from array import array
resource.setrlimit(resource.RLIMIT_AS, (600 * 2**20, 600 * 2**20))
from palestra.prove import _leancop
N = 2**24 - 1  # variables per clause: every extension takes N binding slots
# literal ids: # 0, -# 1, p 2, -p 3; terms: -# @0, # @3, p(X) @6, -p(X) @10, p(Y) @14
cells = array("i", [1, 0, 0, 0, 0, 0, 2, 1, 0, -1, 3, 1, 0, -1, 2, 1, 0, -2])
# clauses [#, p(X)] and [-p(X), p(Y)]: an endless chain of extensions
litlist = array("i", [6, 3, 14])
cands = array("i", [3, 0, 1, N, 0, 6, 1, 1, N, 1, 10, 2, 1, N, 2])
index = array("i", [0, 1, 1, 2, 3])
try:
    _leancop.search(cells, litlist, index, cands, 0, 0, False, False, 0, -1, 60.0)
except MemoryError:
    print("MemoryError")
"""


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux rlimits")
def test_allocation_failure_is_memory_error() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _OUT_OF_MEMORY], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "MemoryError"


# ---- malformed input ----------------------------------------------------------------------


def _flat_args() -> dict:
    cm = compile_matrix(TRANSITIVE)
    flat = flatten(cm)
    return {
        "cells": flat.cells.tobytes(),
        "litlist": flat.litlist.tobytes(),
        "index": flat.index.tobytes(),
        "cands": flat.cands.tobytes(),
        "neg_start": flat.neg_start,
        "start_id": cm.start_id,
        "cut": True,
        "scut": False,
        "comp": 7,
        "limit": 1000,
        "time_limit": 1.0,
    }


def _search(**kw: object) -> tuple:
    from palestra.prove import _leancop

    return _leancop.search(**kw)


def test_valid_arrays_search() -> None:
    status, inferences, _pathlim, steps, bind_t, bind_o = _search(**_flat_args())
    assert status == 0 and inferences > 0 and len(steps) % 12 == 0
    assert len(bind_t) == len(bind_o)


@pytest.mark.parametrize(
    "change",
    [
        {"cells": b"\x01\x00\x00"},  # not whole int32s
        {"cells": (7).to_bytes(4, "little") + (5).to_bytes(4, "little")},  # cut-off term
        {"index": b""},
        {"cands": b"\x00" * 12},  # not a multiple of 5 ints
        {"neg_start": 10**6},
        {"neg_start": -3},
    ],
)
def test_malformed_arrays_raise(change: dict) -> None:
    kw = _flat_args()
    kw.update(change)
    with pytest.raises(ValueError):
        _search(**kw)


def test_random_corruption_never_crashes() -> None:
    rng = random.Random(7)
    base = _flat_args()
    raised = 0
    for _ in range(2000):
        kw = dict(base)
        key = rng.choice(["cells", "litlist", "index", "cands"])
        data = bytearray(kw[key])
        if not data:
            continue
        k = rng.randrange(len(data) // 4)
        value = rng.choice([-1, -2, 0, 1, 2, 5, 40, 2**31 - 1, -(2**31), rng.randint(-99, 99)])
        data[4 * k : 4 * k + 4] = value.to_bytes(4, "little", signed=True)
        kw[key] = bytes(data)
        kw["time_limit"] = 0.05
        try:
            result = _search(**kw)
        except ValueError:
            raised += 1
        else:
            assert 0 <= result[0] <= 4
    assert raised > 0


# ---- speed figures (no timing is asserted) ------------------------------------------------


@pytest.mark.skipif(not ROWS, reason="golden data not found")
def test_measure_speed_reports_both_cores() -> None:
    rows = [r for r in ROWS if r.inferences <= 100][:2]
    out = measure_speed(rows, GOLDEN)
    assert out["n"] == 2 and out["c_median_ips"] > 0 and out["python_median_ips"] > 0
    for r in out["rows"]:
        assert r["c_inferences"] == r["python_inferences"] == r["golden_inferences"]
