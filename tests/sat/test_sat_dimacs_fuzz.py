"""Fuzz tests of the DIMACS reader (marker ``fuzz``; examples per test come from the
hypothesis profile in tests/conftest.py: ``ci`` by default, ``HYPOTHESIS_PROFILE=fuzz
PALESTRA_FUZZ_EXAMPLES=N`` for long runs).

The property, for every input: ``parse_dimacs`` returns a formula or raises ``DimacsError``,
never anything else. A formula it returns is valid (every literal within its variables, the
counts within the limits), reads back the same through the writer, is what lenient mode reads
too, and is the same from the text and from its UTF-8 bytes. An error is one printable line
``<string>:LINE[:COL]: message`` of bounded length, its position inside the input.

Inputs: real SATLIB files (the in-repo uf20-01, a few from the shared SATLIB folder where it is
found, one with SATLIB's ``%`` trailer, one with CRLF lines) put through random byte edits, and
through line edits that keep the tokens well-formed (then, with the header's counts made right,
the reader must give what a by-the-book reference reader gives); random byte soups; random
token soups, with or without a header; formulas the writer writes.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from palestra.sat.cnf import CNF
from palestra.sat.dimacs import (
    MAX_CLAUSES,
    MAX_VARIABLES,
    DimacsError,
    format_dimacs,
    parse_dimacs,
)

from .conftest import SATLIB

pytestmark = pytest.mark.fuzz

IN_REPO = Path(__file__).parents[1] / "data" / "sat" / "uf20-01.cnf"
SATLIB_SAMPLE = [
    "uf20/uf20-02.cnf",
    "uuf50/uuf50-01.cnf",
    "flat30-60/flat30-2.cnf",  # CRLF lines
    "flat30-60/flat30-1.cnf",  # the headerless copy: an invalid seed
]


@cache
def seeds() -> tuple[bytes, ...]:
    """The real files the mutations start from (the SATLIB ones where they are found)."""
    uf20 = IN_REPO.read_bytes()
    found = [(SATLIB / name).read_bytes() for name in SATLIB_SAMPLE if (SATLIB / name).exists()]
    trailer = uf20 + b"%\n0\n\n"  # as SATLIB's uf* files end
    crlf = uf20.replace(b"\n", b"\r\n")
    return (uf20, trailer, crlf, *found)


# Pieces that reach the reader's corners: signs, zeros, limits, the trailer, header parts,
# whitespace it takes and whitespace it refuses, NUL, bytes that are not UTF-8, a BOM.
PIECES = [
    b"0", b"-0", b"+0", b"00", b"1", b"-1", b"+1", b"21", b"-21", b"007", b"--1", b"+-1",
    b"-", b"+", b"1-2", b"1_0", b"2.5", b"1e3", b"0x1", b"c", b"p", b"%", b"p cnf",
    b"p cnf 20 91", b"p cnf 0 0", b"p cnf 3 1", b"p cnf 100000000 1", b"p cnf 100000001 1",
    b"p cnf 1 100000000", b"p cnf 1000000000000 1", b"p dnf 3 1", b"9" * 21, b"0" * 25 + b"1",
    b"1" * 4400, b" ", b"\t", b"\n", b"\r\n", b"\r", b"\v", b"\f", b"\x1c", b"\x85",
    b"\xc2\xa0", b"\xe2\x80\x83", b"\xd9\xa1", b"\x00", b"\xff", b"\xe9", b"\xc3", b"\xed\xa0\x80",
    b"\xef\xbb\xbf", b"c comment\n", b"\n%\n0\n",
]  # fmt: skip

positions = st.floats(min_value=0.0, max_value=1.0)  # where in the file, as a fraction
text_bytes = st.text(alphabet="0123456789-+ \n", min_size=1, max_size=8).map(str.encode)
edits = st.one_of(
    st.tuples(st.just("insert"), positions, st.sampled_from(PIECES)),
    st.tuples(st.just("insert"), positions, text_bytes),
    st.tuples(st.just("replace"), positions, text_bytes),
    st.tuples(st.just("replace"), positions, st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("delete"), positions, st.integers(min_value=1, max_value=64)),
    st.tuples(st.just("duplicate"), positions, st.integers(min_value=1, max_value=256)),
    st.tuples(st.just("truncate"), positions, st.just(0)),
)


def mutate(data: bytes, ops: list[tuple[str, float, object]]) -> bytes:
    """``data`` with each edit applied in turn, at its fraction of the current length."""
    for kind, where, arg in ops:
        i = int(where * len(data))
        if kind == "insert":
            data = data[:i] + arg + data[i:]  # type: ignore[operator]
        elif kind == "replace":
            data = data[:i] + arg + data[i + len(arg) :]  # type: ignore[operator, arg-type]
        elif kind == "delete":
            data = data[:i] + data[i + arg :]  # type: ignore[operator]
        elif kind == "duplicate":
            data = data[:i] + data[i : i + arg] + data[i:]  # type: ignore[operator]
        else:
            data = data[:i]
    return data


def check(data: bytes | str) -> None:
    """The property of the module docstring, for one input."""
    lines = data.count(b"\n" if isinstance(data, bytes) else "\n") + 1  # type: ignore[arg-type]
    try:
        cnf = parse_dimacs(data)
    except DimacsError as e:
        message = str(e)
        assert message.startswith(f"<string>:{e.line}"), message
        assert message.isprintable() and len(message) < 200, message
        assert 1 <= e.line <= lines, message
        assert e.column is None or e.column >= 1, message
        kind = re.split(r" [('\"]", e.message)[0]
        event(re.sub(r"\d+", "N", kind)[:48])  # the kinds of fault met (statistics)
        return
    assert isinstance(cnf, CNF)
    event("read")
    cnf.validate()
    assert 0 <= cnf.num_vars <= MAX_VARIABLES and cnf.num_clauses <= MAX_CLAUSES
    assert parse_dimacs(data, strict=False) == cnf  # lenient reads what strict reads
    written = format_dimacs(cnf, comments=["round trip"])
    assert parse_dimacs(written) == cnf
    assert parse_dimacs(written.encode()) == cnf
    if isinstance(data, str) and not any("\ud800" <= c <= "\udfff" for c in data):
        assert parse_dimacs(data.encode("utf-8")) == cnf  # the same from its UTF-8 bytes


def check_lenient(data: bytes | str) -> None:
    """Lenient mode: a formula (valid, round-tripping) or a ``DimacsError``."""
    try:
        cnf = parse_dimacs(data, strict=False)
    except DimacsError as e:
        assert str(e).isprintable() and len(str(e)) < 200
        return
    event("read (lenient)")
    cnf.validate()
    assert parse_dimacs(format_dimacs(cnf)) == cnf


@given(seed=st.integers(min_value=0), ops=st.lists(edits, min_size=1, max_size=6))
@example(seed=0, ops=[("insert", 0.5, b"\x00")])
@example(seed=1, ops=[("truncate", 0.999, 0)])
def test_mutated_satlib_files(seed: int, ops: list[tuple[str, float, object]]) -> None:
    files = seeds()
    data = mutate(files[seed % len(files)], ops)
    check(data)
    check_lenient(data)


line_positions = st.floats(min_value=0.0, max_value=1.0)
line_edits = st.one_of(
    st.tuples(st.just("drop"), line_positions, st.just(0)),
    st.tuples(st.just("duplicate"), line_positions, st.just(0)),
    st.tuples(st.just("swap"), line_positions, line_positions),
    st.tuples(
        st.just("comment"),
        line_positions,
        st.text(max_size=12).map(lambda t: t.replace("\n", " ").replace("\0", " ")),
    ),
    st.tuples(st.just("blank"), line_positions, st.sampled_from(["", " ", "\t", "\r"])),
    st.tuples(st.just("negate"), line_positions, st.integers(min_value=0, max_value=5)),
    st.tuples(st.just("split"), line_positions, st.integers(min_value=0, max_value=5)),
    st.tuples(st.just("join"), line_positions, st.just(0)),
    st.tuples(st.just("space"), line_positions, st.sampled_from(["  ", "\t", " \t ", "\v", "\f"])),
    st.tuples(st.just("trailer"), line_positions, st.sampled_from(["%", "%\n0", "%\r\n0\r"])),
)


def edit_lines(lines: list[str], ops: list[tuple[str, float, object]]) -> list[str]:
    """``lines`` with each line edit applied in turn. Every edit keeps DIMACS well-formed
    tokens; only the header's count and the last clause's 0 may go wrong."""
    lines = list(lines)
    for kind, where, arg in ops:
        i = min(int(where * len(lines)), max(len(lines) - 1, 0))
        if not lines:
            break
        tokens = lines[i].split()
        is_clause = _is_clause_line(lines[i])
        if kind == "drop":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "swap":
            j = min(int(arg * len(lines)), len(lines) - 1)  # type: ignore[operator]
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "comment":
            lines.insert(i, f"c{arg}")
        elif kind in ("blank", "trailer"):
            lines.insert(i, str(arg))
        elif kind == "negate" and is_clause:
            k = arg % len(tokens)  # type: ignore[operator]
            tokens[k] = str(-int(tokens[k]))
            lines[i] = " ".join(tokens)
        elif kind == "split" and is_clause:
            k = arg % len(tokens)  # type: ignore[operator]
            lines[i : i + 1] = [" ".join(tokens[:k]), " ".join(tokens[k:])]
        elif kind == "join" and is_clause and i + 1 < len(lines) and _is_clause_line(lines[i + 1]):
            lines[i : i + 2] = [lines[i].rstrip("\r") + " " + lines[i + 1]]
        elif kind == "space" and is_clause:
            lines[i] = lines[i].replace(" ", str(arg))
    return lines


def _is_clause_line(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and stripped[0] not in "cp%"


def reference(lines: list[str]) -> tuple[int, list[list[int]]] | None:
    """The variables (largest literal) and clauses of well-formed DIMACS lines, by the book;
    None if the last clause has no 0."""
    clauses: list[list[int]] = []
    clause: list[int] = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("%"):
            break
        if not stripped or stripped[0] in "cp":
            continue
        for token in stripped.split():
            if int(token) == 0:
                clauses.append(clause)
                clause = []
            else:
                clause.append(int(token))
    if clause:
        return None
    return max((abs(lit) for c in clauses for lit in c), default=0), clauses


@given(
    seed=st.integers(min_value=0),
    ops=st.lists(line_edits, min_size=1, max_size=8),
    fix_header=st.booleans(),
)
@example(seed=5, ops=[("swap", 0.0, 0.5), ("join", 0.0, 0)], fix_header=True)  # found by fuzzing
def test_edited_satlib_lines(
    seed: int, ops: list[tuple[str, float, object]], fix_header: bool
) -> None:
    """Line edits of real files that keep the tokens well-formed; with the header's counts
    made right, the reader must give exactly what DIMACS says (``reference``)."""
    files = seeds()
    lines = edit_lines(files[seed % len(files)].decode("utf-8").split("\n"), ops)
    expected = None
    if fix_header:
        lines = [line for line in lines if not line.strip().startswith("p")]
        expected = reference(lines)
        if expected is not None:
            lines.insert(0, f"p cnf {expected[0]} {len(expected[1])}")
    text = "\n".join(lines)
    check(text)
    check_lenient(text)
    if expected is not None:
        assert parse_dimacs(text) == CNF(*expected)


@given(st.binary(max_size=512))
@example(b"")
@example(b"p cnf 1 1\n1 0\n")
@example(b"\xef\xbb\xbfp cnf 1 1\n1 0")
def test_byte_soup(data: bytes) -> None:
    check(data)
    check_lenient(data)


tokens = st.one_of(
    st.sampled_from([p.decode("utf-8", errors="replace") for p in PIECES]),
    st.integers(min_value=-30, max_value=30).map(str),
    st.text(max_size=4),
)
separators = st.sampled_from([" ", "  ", "\t", "\n", "\r\n", " 0\n", "\n%\n", "\nc x\n"])
headers = st.one_of(
    st.just(""),
    st.builds(
        "p cnf {} {}\n".format,
        st.integers(min_value=0, max_value=40),
        st.integers(min_value=0, max_value=12),
    ),
)


@given(header=headers, body=st.lists(st.tuples(tokens, separators), max_size=60))
@example(header="p cnf 3 2\n", body=[("1", " "), ("-3", " 0\n"), ("2", " 0\n")])
def test_token_soup(header: str, body: list[tuple[str, str]]) -> None:
    text = header + "".join(token + sep for token, sep in body)
    check(text)
    check_lenient(text.encode("utf-8", errors="surrogatepass"))


@given(
    num_vars=st.integers(min_value=0, max_value=30),
    data=st.data(),
)
def test_written_formulas_read_back(num_vars: int, data: st.DataObject) -> None:
    """Every formula the writer writes reads back the same (and strict, the count agrees)."""
    literal = st.integers(min_value=1, max_value=max(num_vars, 1)).flatmap(
        lambda v: st.sampled_from([v, -v])
    )
    clauses = data.draw(st.lists(st.lists(literal, max_size=6), max_size=30)) if num_vars else []
    cnf = CNF(num_vars, clauses)
    assert parse_dimacs(format_dimacs(cnf, comments=["a", "b\nc"])) == cnf
    check(format_dimacs(cnf))
