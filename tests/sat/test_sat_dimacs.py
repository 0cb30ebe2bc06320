"""DIMACS reading and writing: round trips, SATLIB quirks, and every malformed case.

The CLI side (one line, exit 2) is in test_sat_cli_input.py, the fuzz tests in
test_sat_dimacs_fuzz.py."""

from __future__ import annotations

import io
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

from palestra.core.errors import PalestraError
from palestra.sat import dimacs
from palestra.sat.cnf import CNF
from palestra.sat.dimacs import DimacsError, format_dimacs, parse_dimacs, read_dimacs, write_dimacs


def test_parse_comments_spanning_and_packed_clauses() -> None:
    text = "c hello\nc\np cnf 4 3\n1 -2\n  3 0 -4\n0 c not a comment here?\n"
    with pytest.raises(DimacsError, match="bad token 'c'"):
        parse_dimacs(text)
    text = "c hello\nc\np cnf 4 3\n1 -2\n  3 0 -4\n0 2 0\nc trailing comment\n"
    assert parse_dimacs(text) == CNF(4, [[1, -2, 3], [-4], [2]])


def test_satlib_trailer_crlf_and_empty_clause() -> None:
    body = "p cnf 3 2\r\n1 -3 0\r\n2 3 -1 0\r\n"
    expected = CNF(3, [[1, -3], [2, 3, -1]])
    assert parse_dimacs(body) == expected
    assert parse_dimacs(body + "%\r\n0\r\n\r\n") == expected
    assert parse_dimacs(body + "%\n0\n") == expected
    assert parse_dimacs("p cnf 2 2\n1 2 0\n0\n") == CNF(2, [[1, 2], []])


def test_round_trip_random_formulas(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for trial in range(30):
        n = int(rng.integers(1, 30))
        clauses = [
            [int(v) * (1 if rng.random() < 0.5 else -1) for v in rng.integers(1, n + 1, size=k)]
            for k in rng.integers(0, 6, size=int(rng.integers(0, 40)))
        ]
        cnf = CNF(n, clauses)
        assert parse_dimacs(format_dimacs(cnf, comments=["round trip", "two\nlines"])) == cnf
        path = tmp_path / f"f{trial}.cnf"
        write_dimacs(cnf, path)
        assert read_dimacs(path) == cnf
        buf = io.StringIO()
        write_dimacs(cnf, buf)
        assert parse_dimacs(buf.getvalue()) == cnf


def test_satlib_files(satlib: Path) -> None:
    cnf = read_dimacs(satlib / "uf20" / "uf20-01.cnf")
    assert (cnf.num_vars, cnf.num_clauses) == (20, 91)
    assert cnf.clauses[0] == [4, -18, 19]
    for folder in ("uf20", "uuf50", "uf100", "flat30-60", "flat75-180", "uuf225"):
        for path in sorted((satlib / folder).glob("*.cnf"))[:25]:
            if path.name == "flat30-1.cnf":
                continue
            cnf = read_dimacs(path)
            cnf.validate()
            assert cnf.num_clauses > 0


def test_headerless_satlib_file_is_rejected(satlib: Path) -> None:
    path = satlib / "flat30-60" / "flat30-1.cnf"
    if not path.exists() or path.read_text().lstrip().startswith(("c", "p")):
        pytest.skip("flat30-1.cnf is not the headerless copy")
    with pytest.raises(DimacsError, match=r"flat30-1\.cnf:1: missing header"):
        read_dimacs(path)


# (text, FILE:... position, message): LINE:COL for a token's or a character's fault, LINE for
# a whole line's or the file's.
MALFORMED = [
    ("p cnf 3 1\n1 x2 0\n", "2:3", "bad token 'x2'"),
    ("p cnf 3 1\n1 2.5 0\n", "2:3", "bad token '2.5'"),
    ("p cnf 3 1\n1 -4 0\n", "2:3", "literal -4 beyond the 3 declared variables"),
    ("p cnf 3 1\n\t 1  -4 0\n", "2:6", "literal -4 beyond the 3 declared variables"),
    ("p cnf 3 1\n1 1-2 0\n", "2:3", "bad token '1-2'"),
    ("p cnf 3 1\n--1 0\n", "2:1", "bad token '--1'"),
    ("p cnf 3 1\n1 + 0\n", "2:3", "bad token '+'"),
    ("p cnf 20 1\n1_0 0\n", "2:1", "bad token '1_0'"),
    ("p cnf 3 1\n1 \u0661 0\n", "2:3", "bad token '\\u0661'"),
    ("p cnf 3 1\n1 2\u20033 0\n", "2:3", "bad token '2\\u20033'"),
    ("p cnf 3 1\n1 2\x1c3 0\n", "2:3", "bad token '2\\x1c3'"),
    ("p cnf 3 1\n1 2 0 c comment\n", "2:7", "bad token 'c'"),
    ("p cnf 3 1\n1 " + "1" * 5000 + " 0\n", "2:3", "number too long (5000 characters)"),
    ("p cnf 3 1\n-" + "0" * 30 + "1 0\n", "2:1", "number too long (32 characters)"),
    ("p cnf 3 1\n1 \x00 0\n", "2:3", "NUL byte"),
    ("c \x00\np cnf 3 1\n1 0\n", "1:3", "NUL byte"),
    ("c no header\n1 2 0\n", "2", "missing header"),
    ("c only a comment\n", "1", "missing header 'p cnf VARS CLAUSES'"),
    ("", "1", "missing header 'p cnf VARS CLAUSES' (the file is empty)"),
    ("\n  \r\n", "2", "missing header 'p cnf VARS CLAUSES' (the file is empty)"),
    ("p cnf 3 1\nc\np cnf 3 1\n1 0\n", "3", "duplicate header (first on line 1)"),
    ("p cnf 3\n1 0\n", "1", "bad header"),
    ("p dnf 3 1\n1 0\n", "1", "bad header"),
    ("p cnf -3 1\n1 0\n", "1", "bad header"),
    ("p cnf three 1\n1 0\n", "1", "bad header"),
    ("p cnf 3 1 1\n1 0\n", "1", "bad header"),
    ("p cnf +3 1\n1 0\n", "1", "bad header"),
    ("p cnf \u0663 1\n1 0\n", "1", "bad header 'p cnf \\u0663 1'"),
    ("p cnf " + "9" * 5000 + " 1\n1 0\n", "1:7", "number of variables too long (5000 digits)"),
    ("p cnf 1000000000000 1\n1 0\n", "1", "header declares 1000000000000 variables, more than"),
    ("p cnf 3 1000000000000\n1 0\n", "1", "header declares 1000000000000 clauses, more than"),
    ("p cnf 3 100\n1 0\n", "1", "header declares 100 clauses, more than the rest of the file"),
    ("p cnf 3 2\n1 0\n", "1", "header declares 2 clauses, found 1"),
    ("p cnf 3 1\n1 0\n2 0\n", "1", "header declares 1 clauses, found 2"),
    ("p cnf 3 1\n1 0\n2 0\n3 0\n-1 -2 -3 0\n", "1", "header declares 1 clauses, found 4"),
    ("p cnf 3 1\n1 2\n", "2", "last clause is not terminated by 0"),
    ("p cnf 3 1\n1 2\nc end\n", "2", "last clause is not terminated by 0"),
]


@pytest.mark.parametrize(("text", "where", "message"), MALFORMED)
def test_malformed(text: str, where: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(DimacsError) as err:
        parse_dimacs(text, source="in.cnf")
    assert str(err.value).startswith(f"in.cnf:{where}: {message}")
    assert str(err.value).isprintable()  # one line, and the input's bytes escaped
    assert len(str(err.value)) < 120  # nothing echoed beyond a short token
    line, _, column = where.partition(":")
    assert (err.value.source, err.value.line) == ("in.cnf", int(line))
    assert err.value.column == (int(column) if column else None)
    assert isinstance(err.value, PalestraError) and isinstance(err.value, ValueError)
    path = tmp_path / "bad.cnf"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DimacsError, match=rf"^{path}:{where}: "):
        read_dimacs(path)


NOT_UTF8 = [
    (b"c caf\xe9 (Latin-1)\np cnf 1 1\n1 0\n", "1:6", "invalid UTF-8 (byte 0xe9)"),
    (b"p cnf 1 1\n1 0\n\xff", "3:1", "invalid UTF-8 (byte 0xff)"),
    (b"\x1f\x8b\x08\x00\x00\x00", "1:2", "invalid UTF-8 (byte 0x8b)"),  # gzip
    (b"p cnf 1 1\n\x00\xff 0\n", "2:1", "NUL byte"),  # the first fault wins
    (b"p cnf 1 1\n1 0\n\xed\xa0\x80", "3:1", "invalid UTF-8"),  # a UTF-8 surrogate
]


@pytest.mark.parametrize(("data", "where", "message"), NOT_UTF8)
def test_bytes_that_are_not_utf8(data: bytes, where: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(DimacsError, match=rf"^in\.cnf:{where}: {re.escape(message)}"):
        parse_dimacs(data, source="in.cnf")
    path = tmp_path / "bad.cnf"
    path.write_bytes(data)
    with pytest.raises(DimacsError, match=rf"^{path}:{where}: {re.escape(message)}"):
        read_dimacs(path)


def test_utf8_comments_byte_order_mark_signs_and_whitespace_are_read() -> None:
    expected = CNF(3, [[1, -3], [2]])
    text = "c caf\u00e9 \u2603\np cnf 3 2\n+1\t-3 0\n\v002 -0\f\n"
    assert parse_dimacs(text) == expected
    assert parse_dimacs(text.encode()) == expected
    assert parse_dimacs(b"\xef\xbb\xbf" + text.encode()) == expected
    assert parse_dimacs("\ufeff" + text) == expected
    assert parse_dimacs("p\tcnf  3\t2 \r\n1 -3 0 2 0") == expected  # last 0 needs no newline


def test_header_limits_and_file_capacity() -> None:
    assert dimacs.MAX_VARIABLES == dimacs.MAX_CLAUSES == 10**8
    # At the limits and within what the file holds: read (the variables need not be used).
    assert parse_dimacs(f"p cnf {10**8} 1\n1 0\n").num_vars == 10**8
    assert parse_dimacs("p cnf 1 3\n0\n0\n0").clauses == [[], [], []]
    with pytest.raises(DimacsError, match="more than the limit of 100000000"):
        parse_dimacs(f"p cnf {10**8 + 1} 1\n1 0\n")
    with pytest.raises(DimacsError, match="more than the rest of the file"):
        parse_dimacs("p cnf 1 4\n0\n0\n0")
    # Lenient mode does not hold the header to the file, but to the limit.
    assert parse_dimacs("p cnf 1 4\n0\n0\n0", strict=False).clauses == [[], [], []]
    with pytest.raises(DimacsError, match="more than the limit"):
        parse_dimacs(f"p cnf 1 {10**8 + 1}\n1 0\n", strict=False)


def test_a_header_that_undercounts_stores_no_more_than_it_declares(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = "p cnf 2 2\n" + "1 -2 0\n" * 1000
    with pytest.raises(DimacsError, match="declares 2 clauses, found 1000"):
        parse_dimacs(text)
    monkeypatch.setattr(dimacs, "MAX_CLAUSES", 5)
    with pytest.raises(DimacsError, match=r"^<string>:7: more than the limit of 5 clauses"):
        parse_dimacs(text, strict=False)


def test_long_lines_and_many_lines_read(tmp_path: Path) -> None:
    """A clause of 200,000 literals on one line, and 200,000 one-literal lines."""
    n = 200_000
    one_line = f"p cnf {n} 1\n" + " ".join(map(str, range(1, n + 1))) + " 0\n"
    assert parse_dimacs(one_line).clauses[0][-1] == n
    many_lines = f"p cnf {n} {n}\n" + "".join(f"-{v} 0\n" for v in range(1, n + 1))
    path = tmp_path / "many.cnf"
    path.write_text(many_lines)
    assert read_dimacs(path).num_clauses == n


def test_reading_stops_at_a_nul_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A binary file (or /dev/zero) is refused after its first chunk, not read to its end."""
    path = tmp_path / "zeros.cnf"
    path.write_bytes(b"\0" * (3 * dimacs._CHUNK))
    seen = []
    real = dimacs.parse_dimacs
    monkeypatch.setattr(
        dimacs, "parse_dimacs", lambda data, **kw: seen.append(len(data)) or real(data, **kw)
    )
    with pytest.raises(DimacsError, match=r"zeros\.cnf:1:1: NUL byte"):
        read_dimacs(path)
    assert seen == [dimacs._CHUNK]


def test_error_pickles() -> None:
    error = DimacsError("in.cnf", 2, "bad token 'x'", 3)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.source, copy.line, copy.column) == (str(error), "in.cnf", 2, 3)


def test_errors_escape_the_source_name_only_at_the_cli() -> None:
    """The message names the source as given; ``cli.main`` escapes control characters."""
    with pytest.raises(DimacsError) as err:
        parse_dimacs("p cnf 1 1\n2 0\n", source="a\nb.cnf")
    assert err.value.source == "a\nb.cnf"


def test_lenient_mode_skips_count_and_keeps_unterminated_clause() -> None:
    assert parse_dimacs("p cnf 3 2\n1 0\n", strict=False) == CNF(3, [[1]])
    assert parse_dimacs("p cnf 3 1\n1 0\n2 -3", strict=False) == CNF(3, [[1], [2, -3]])
    with pytest.raises(DimacsError, match="beyond"):
        parse_dimacs("p cnf 3 1\n1 9 0\n", strict=False)
