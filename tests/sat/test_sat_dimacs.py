"""DIMACS reading and writing: round trips, SATLIB quirks, and every malformed case."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

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


MALFORMED = [
    ("p cnf 3 1\n1 x2 0\n", 2, "bad token 'x2'"),
    ("p cnf 3 1\n1 2.5 0\n", 2, "bad token '2.5'"),
    ("p cnf 3 1\n1 -4 0\n", 2, "literal -4 beyond the 3 declared variables"),
    ("c no header\n1 2 0\n", 2, "missing header"),
    ("c only a comment\n", 1, "missing header"),
    ("", 1, "missing header"),
    ("p cnf 3 1\nc\np cnf 3 1\n1 0\n", 3, "duplicate header (first on line 1)"),
    ("p cnf 3\n1 0\n", 1, "bad header"),
    ("p dnf 3 1\n1 0\n", 1, "bad header"),
    ("p cnf -3 1\n1 0\n", 1, "bad header"),
    ("p cnf three 1\n1 0\n", 1, "bad header"),
    ("p cnf 3 2\n1 0\n", 1, "header declares 2 clauses, found 1"),
    ("p cnf 3 1\n1 0\n2 0\n", 1, "header declares 1 clauses, found 2"),
    ("p cnf 3 1\n1 2\n", 2, "last clause is not terminated by 0"),
]


@pytest.mark.parametrize(("text", "line", "message"), MALFORMED)
def test_malformed(text: str, line: int, message: str, tmp_path: Path) -> None:
    with pytest.raises(DimacsError) as err:
        parse_dimacs(text, source="in.cnf")
    assert str(err.value).startswith(f"in.cnf:{line}: {message}")
    assert "\n" not in str(err.value)
    assert (err.value.source, err.value.line) == ("in.cnf", line)
    path = tmp_path / "bad.cnf"
    path.write_text(text)
    with pytest.raises(DimacsError, match=rf"^{path}:{line}: "):
        read_dimacs(path)


def test_lenient_mode_skips_count_and_keeps_unterminated_clause() -> None:
    assert parse_dimacs("p cnf 3 2\n1 0\n", strict=False) == CNF(3, [[1]])
    assert parse_dimacs("p cnf 3 1\n1 0\n2 -3", strict=False) == CNF(3, [[1], [2, -3]])
    with pytest.raises(DimacsError, match="beyond"):
        parse_dimacs("p cnf 3 1\n1 9 0\n", strict=False)
