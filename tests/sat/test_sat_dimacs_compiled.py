"""The compiled DIMACS reader, model check and clause packing (``_dimacs.c``) against their
Python references.

The reader's property, for every input and both modes: ``_dimacs.parse`` returns exactly the
formula the Python reader (``dimacs._parse_python``) returns, or None (it defers); where the
Python reader raises, it defers; and ``parse_dimacs`` (compiled first) gives the same formula
or the same error message as the Python reader alone. The inputs are those of
test_sat_dimacs_fuzz.py (mutated SATLIB files, line edits, byte and token soups, written
formulas; marker ``fuzz``), plus every file of the shared SATLIB folder, which must be read in
C (none deferred) and identically. The model check and the packing are fuzzed against
``CNF.unsatisfied_clauses`` and an ``array`` packing.
"""

from __future__ import annotations

from array import array
from pathlib import Path

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from palestra.sat import _dimacs, dimacs
from palestra.sat.cnf import CNF
from palestra.sat.dimacs import DimacsError, format_dimacs, parse_dimacs

from .test_sat_dimacs_fuzz import (
    edit_lines,
    edits,
    headers,
    line_edits,
    mutate,
    seeds,
    separators,
    tokens,
)


def note(kind: str) -> None:
    """Record ``kind`` in hypothesis's statistics (inside a hypothesis test only)."""
    if currently_in_test_context():
        event(kind)


def python_result(data: bytes | str, strict: bool) -> CNF | str:
    """The Python reader's formula, or its error message."""
    try:
        return dimacs._parse_python(data, "<string>", strict)
    except DimacsError as e:
        return str(e)


def same(data: bytes | str) -> None:
    """The property of the module docstring, for one input, strict and lenient."""
    for strict in (True, False):
        expected = python_result(data, strict)
        raw = data
        if isinstance(data, str):
            text = data.removeprefix("\ufeff")
            raw = text.encode("ascii") if text.isascii() else None  # type: ignore[assignment]
        read = None if raw is None else c_parse(raw, strict)
        if read is None:
            note(f"deferred ({'strict' if strict else 'lenient'})")
        else:
            note(f"read in C ({'strict' if strict else 'lenient'})")
            assert isinstance(expected, CNF), (data, expected)
            assert CNF(*read) == expected
        try:
            got: CNF | str = parse_dimacs(data, strict=strict)
        except DimacsError as e:
            got = str(e)
        assert got == expected


def c_parse(data: bytes, strict: bool = True) -> tuple[int, list[list[int]]] | None:
    """``_dimacs.parse`` under the Python reader's limits."""
    limits = (dimacs.MAX_VARIABLES, dimacs.MAX_CLAUSES, dimacs.MAX_NUMBER_LENGTH)
    return _dimacs.parse(data, strict, *limits)


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("p cnf 3 2\n1 -3 0\n2 3 -1 0\n", (3, [[1, -3], [2, 3, -1]])),
        ("c x\r\n\r\np cnf 3 2\r\n1 -3 0\r\n+2 003\n-1 0\n%\n0\n", (3, [[1, -3], [2, 3, -1]])),
        ("\ufeffp\tcnf 2  1 \n\v1 -0\f", (2, [[1]])),
        ("p cnf 2 2\n0 1 0 c\n", None),  # a token 'c' mid-line
        ("p cnf 2 2\n1 0 2 0 1 0\n", None),  # a surplus clause (strict)
        ("p cnf 2 1\n1 2\n", None),  # unterminated (strict)
        ("1 0\np cnf 1 1\n", None),  # clauses before the header
        ("p cnf 2 1\n3 0\n", None),  # beyond the variables
        ("p cnf 2 1\nc é\n1 0\n", None),  # not ASCII: the Python reader's business
        ("p cnf 2 1\n1 0\n\0", None),
        ("p cnf 1 1\n" + "0" * 20 + "1 0\n", None),  # a number too long
    ],
)
def test_examples(text: str, read: tuple[int, list[list[int]]] | None) -> None:
    got = c_parse(text.encode("utf-8"), True)
    assert got == read
    same(text)
    same(text.encode("utf-8"))


def test_lenient_unterminated_last_clause() -> None:
    assert c_parse(b"p cnf 3 7\n1 0 2 -3", False) == (3, [[1], [2, -3]])
    same(b"p cnf 3 7\n1 0 2 -3")


def test_many_variables() -> None:
    """Above 256 variables: ints Python does not cache."""
    n = 1000
    clauses = [[v, -((v % n) + 1), 300] for v in range(1, n + 1)]
    text = format_dimacs(CNF(n, clauses))
    assert c_parse(text.encode(), True) == (n, clauses)
    same(text)


def test_limits_are_the_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    text = b"p cnf 3 3\n1 0 2 0 333 0\n"
    assert _dimacs.parse(text, False, 3, 3, 20) is None  # 333 is beyond the 3 variables
    text = b"p cnf 400 3\n1 0 2 0 333 0\n"
    assert _dimacs.parse(text, False, 400, 3, 3) == (400, [[1], [2], [333]])
    assert _dimacs.parse(text, False, 400, 2, 3) is None  # more clauses than the limit
    assert _dimacs.parse(text, False, 400, 3, 2) is None  # "333" is too long
    assert _dimacs.parse(text, False, 10**18, 3, 20) is None  # limits it does not hold to
    monkeypatch.setattr(dimacs, "MAX_NUMBER_LENGTH", 2)
    with pytest.raises(DimacsError, match="number of variables too long"):
        parse_dimacs(text)


def test_every_satlib_file_is_read_in_c_identically(satlib: object) -> None:
    from .conftest import SATLIB

    files = sorted(SATLIB.glob("*/*.cnf"))
    assert len(files) > 100
    deferred = []
    for path in files:
        data = path.read_bytes()
        read = c_parse(data, True)
        expected = python_result(data, True)
        if read is None:
            deferred.append(path.name)
            assert isinstance(expected, str), path  # only a faulty file is deferred
        else:
            assert CNF(*read) == expected, path
    assert deferred == ["flat30-1.cnf"]  # the headerless copy


@pytest.mark.fuzz
@given(seed=st.integers(min_value=0), ops=st.lists(edits, min_size=1, max_size=6))
@example(seed=0, ops=[("insert", 0.5, b"\r")])
def test_mutated_satlib_files(seed: int, ops: list[tuple[str, float, object]]) -> None:
    files = seeds()
    same(mutate(files[seed % len(files)], ops))


def test_seed_files() -> None:
    for data in seeds():
        same(data)
        same(data.decode("utf-8"))


@pytest.mark.fuzz
@given(
    seed=st.integers(min_value=0),
    ops=st.lists(line_edits, min_size=1, max_size=8),
    fix_header=st.booleans(),
)
def test_edited_satlib_lines(
    seed: int, ops: list[tuple[str, float, object]], fix_header: bool
) -> None:
    files = seeds()
    lines = edit_lines(files[seed % len(files)].decode("utf-8").split("\n"), ops)
    if fix_header:
        body = [line for line in lines if not line.strip().startswith("p")]
        numbers = [int(t) for line in body if line.strip()[:1] not in "c%" for t in line.split()]
        variables = max(map(abs, numbers), default=0)
        lines = [f"p cnf {variables} {numbers.count(0)}", *body]  # right unless a % cuts it
    text = "\n".join(lines)
    same(text)
    same(text.encode("utf-8"))


@pytest.mark.fuzz
@given(st.binary(max_size=512))
@example(b"p cnf 1 1\n1 0\n")
@example(b"\xef\xbb\xbfp cnf 1 1\n1 0")
@example(b"p cnf 1 1\n1 0 % 0\n")
def test_byte_soup(data: bytes) -> None:
    same(data)


@pytest.mark.fuzz
@given(header=headers, body=st.lists(st.tuples(tokens, separators), max_size=60))
@example(header="p cnf 3 2\n", body=[("1", " "), ("-3", " 0\n"), ("2", " 0\n")])
def test_token_soup(header: str, body: list[tuple[str, str]]) -> None:
    text = header + "".join(token + sep for token, sep in body)
    same(text)
    same(text.encode("utf-8", errors="surrogatepass"))


@pytest.mark.fuzz
@given(
    num_vars=st.integers(min_value=0, max_value=300),
    data=st.data(),
    layout=st.sampled_from(["\n", " ", "\r\n", "\n\n", " \t"]),
)
def test_written_formulas(num_vars: int, data: st.DataObject, layout: str) -> None:
    """Formulas laid out in various ways, always valid: read in C and identically."""
    literal = st.integers(min_value=1, max_value=max(num_vars, 1)).flatmap(
        lambda v: st.sampled_from([v, -v])
    )
    clauses = data.draw(st.lists(st.lists(literal, max_size=6), max_size=30)) if num_vars else []
    body = layout.join(" ".join(map(str, [*c, 0])) for c in clauses)
    text = f"c written\np cnf {num_vars} {len(clauses)}\n{body}\n%\n0\n"
    assert c_parse(text.encode(), True) == (num_vars, clauses)
    same(text)


# --- the model check -----------------------------------------------------------------------

literals = st.one_of(
    st.integers(min_value=-6, max_value=6),
    st.sampled_from([True, False, 2**70, -(2**70), 2**31, 1.0]),
)


def python_first(cnf: CNF, model: list[object]) -> int | str:
    try:
        unsatisfied = cnf.unsatisfied_clauses(model)  # type: ignore[arg-type]
    except (ValueError, TypeError) as e:
        return type(e).__name__
    return unsatisfied[0] if unsatisfied else -1


@pytest.mark.fuzz
@given(
    num_vars=st.integers(min_value=0, max_value=6),
    clauses=st.lists(st.lists(literals, max_size=4), max_size=8),
    model=st.lists(literals, max_size=8),
    as_tuple=st.booleans(),
)
@example(num_vars=2, clauses=[[1, 2], [-1]], model=[1, -2], as_tuple=False)
@example(num_vars=2, clauses=[[1]], model=[1, -1], as_tuple=False)
def test_first_unsatisfied_agrees(
    num_vars: int, clauses: list[list[object]], model: list[object], as_tuple: bool
) -> None:
    cnf = CNF(num_vars, clauses)  # type: ignore[arg-type]
    expected = python_first(cnf, model)
    got = _dimacs.first_unsatisfied(clauses, num_vars, tuple(model) if as_tuple else model)
    if got == -2:
        event("deferred")
    else:
        event("checked in C")
        assert got == expected
    try:
        verdict = cnf.check_model(iter(model))  # type: ignore[arg-type]
    except (ValueError, TypeError) as e:
        assert expected == type(e).__name__
        return
    assert bool(verdict) == (expected == -1)
    assert verdict.evidence.clause == (None if expected == -1 else expected)


@pytest.mark.fuzz
@given(clauses=st.lists(st.lists(literals, max_size=4), max_size=8))
def test_pack_agrees(clauses: list[list[object]]) -> None:
    packed = dimacs.pack_clauses(clauses)  # type: ignore[arg-type]
    valid = all(type(lit) is int and lit != 0 and abs(lit) < 2**31 for c in clauses for lit in c)
    if not valid:
        assert packed is None
        return
    flat = array("i")
    for clause in clauses:
        flat.extend(clause)  # type: ignore[arg-type]
        flat.append(0)
    assert packed == flat.tobytes()


# --- handing clauses to CaDiCaL ------------------------------------------------------------


def test_clauses_reach_cadical_either_way() -> None:
    """python-sat's per-clause call driven by ``map``, and ``append_formula`` where the solver
    has no handle: the same formula, the same answers."""
    from pysat.solvers import Cadical195

    from palestra.sat.plain import _add_clauses

    class Wrapped:  # a solver without the ``cadical`` handle: append_formula is used
        def __init__(self, solver: Cadical195) -> None:
            self.solver = solver

        def append_formula(self, clauses: list[list[int]]) -> None:
            self.solver.append_formula(clauses)

    cnf = parse_dimacs(seeds()[0])
    for wrap in (False, True):
        with Cadical195() as solver:
            _add_clauses(Wrapped(solver) if wrap else solver, cnf.clauses)
            assert solver.solve() is True
            assert cnf.check_model(solver.get_model() or [])
            assert solver.solve(assumptions=[1, -1]) is False
        with Cadical195() as solver:
            _add_clauses(solver, [*cnf.clauses, [1], [-1]])
            assert solver.solve() is False


def test_feed_calls_cadicals_own_add() -> None:
    """``_dimacs.feed`` (CaDiCaL's ``Solver::add`` called from C) is the path taken on the
    pinned python-sat, gives the answers python-sat's own path gives on random formulas at
    the threshold, and adds nothing (returns None) when any clause is malformed."""
    import random

    from pysat.solvers import Cadical195

    from palestra.sat import _dimacs
    from palestra.sat.plain import _cadical_add

    address = _cadical_add()
    assert address, "python-sat's Solver::add not found: the fast path is never taken"
    rng = random.Random(3)
    answers = set()
    for _ in range(60):
        n = rng.randint(5, 30)
        clauses = [[rng.choice((1, -1)) * v for v in rng.sample(range(1, n + 1), 3)]
                   for _ in range(round(4.26 * n))]  # fmt: skip
        with Cadical195() as fed, Cadical195(bootstrap_with=clauses) as reference:
            assert _dimacs.feed(address, fed.cadical, clauses) is True
            answer = fed.solve()
            assert answer == reference.solve()
            if answer:
                assert CNF(n, clauses).check_model(fed.get_model() or [])
            answers.add(answer)
    assert answers == {True, False}
    for bad in ([[1], [-1], [0]], [[1], [-1], (2,)], [[1], [-1], [2**31]], [[1], [-1], ["2"]]):
        with Cadical195() as solver:
            assert _dimacs.feed(address, solver.cadical, bad) is None
            assert solver.solve() is True  # nothing of [1], [-1] was added


def test_planted_large_file_row(tmp_path: Path) -> None:
    """The bench's large file, small: seeded, 3 distinct variables a clause, satisfiable, and
    read in C; its row records both sides' times."""
    from palestra.core.bench import Bench
    from palestra.sat.bench_plain import large_file, planted_3sat

    path = tmp_path / "planted.cnf"
    planted_3sat(path, 300, 1000, seed=1)
    data = path.read_bytes()
    planted_3sat(tmp_path / "again.cnf", 300, 1000, seed=1)
    assert (tmp_path / "again.cnf").read_bytes() == data
    read = c_parse(data)
    assert read is not None and read[0] == 300 and len(read[1]) == 1000
    assert all(len({abs(lit) for lit in clause}) == 3 for clause in read[1])
    bench = Bench("sat", quick=True, out_dir=tmp_path / "bench")
    large_file(bench, 3000)
    row = bench.data["large_file"]
    assert row["num_clauses"] == 3000 and row["num_vars"] == 1000
    assert row["default_s"] > 0 and row["pysat_file_s"] > 0
