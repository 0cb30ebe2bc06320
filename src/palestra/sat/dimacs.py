"""DIMACS CNF reader and writer.

The format, as read here::

    c a comment line (anywhere)
    p cnf NUM_VARS NUM_CLAUSES        exactly one header, before the first literal
    1 -3 0                            literals separated by whitespace, each clause ended by 0;
    2 3                               a clause may span lines ...
    -1 0                              ... and a line may hold several clauses
    %                                 SATLIB trailer: a line starting with '%' ends the formula
    0                                 (what follows it, usually a lone 0, is ignored)

Lines may end in CRLF (SATLIB's flat* files do). A lone ``0`` before the trailer is an empty
clause, as DIMACS says. Every malformed input raises ``DimacsError`` whose message is one
line, ``FILE:LINE: message``: a token that is not an int, a literal beyond the declared
variables, a missing or duplicate or malformed header, a literal before the header, and, when
``strict`` (the default), a clause count that differs from the header's or a last clause with
no terminating 0. With ``strict=False`` the count is not checked and an unterminated last
clause is kept.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from palestra.sat.cnf import CNF

__all__ = ["DimacsError", "format_dimacs", "parse_dimacs", "read_dimacs", "write_dimacs"]


class DimacsError(ValueError):
    """Malformed DIMACS input; ``str(error)`` is ``FILE:LINE: message``."""

    def __init__(self, source: str, line: int, message: str) -> None:
        self.source = source
        self.line = line
        self.message = message
        super().__init__(f"{source}:{line}: {message}")


def parse_dimacs(text: str, *, source: str = "<string>", strict: bool = True) -> CNF:
    """Parse DIMACS CNF ``text``; ``source`` names it in error messages."""
    num_vars = num_clauses = -1
    header_line = 0
    clauses: list[list[int]] = []
    clause: list[int] = []
    line_no = 0
    for line_no, line in enumerate(io.StringIO(text), start=1):
        stripped = line.strip()
        if not stripped or stripped[0] == "c":
            continue
        if stripped[0] == "%":
            break
        if stripped[0] == "p":
            if header_line:
                raise DimacsError(
                    source, line_no, f"duplicate header (first on line {header_line})"
                )
            fields = stripped.split()
            if (
                len(fields) != 4
                or fields[1] != "cnf"
                or not _is_int(fields[2])
                or not _is_int(fields[3])
                or int(fields[2]) < 0
                or int(fields[3]) < 0
            ):
                raise DimacsError(
                    source, line_no, f"bad header {stripped!r}, expected 'p cnf VARS CLAUSES'"
                )
            num_vars, num_clauses = int(fields[2]), int(fields[3])
            header_line = line_no
            continue
        if not header_line:
            raise DimacsError(source, line_no, "missing header 'p cnf VARS CLAUSES' before clauses")
        for token in stripped.split():
            try:
                lit = int(token)
            except ValueError:
                raise DimacsError(source, line_no, f"bad token {token!r}") from None
            if lit == 0:
                clauses.append(clause)
                clause = []
            elif abs(lit) > num_vars:
                raise DimacsError(
                    source, line_no, f"literal {lit} beyond the {num_vars} declared variables"
                )
            else:
                clause.append(lit)
    if not header_line:
        raise DimacsError(source, max(line_no, 1), "missing header 'p cnf VARS CLAUSES'")
    if clause:
        if strict:
            raise DimacsError(source, line_no, "last clause is not terminated by 0")
        clauses.append(clause)
    if strict and len(clauses) != num_clauses:
        raise DimacsError(
            source, header_line, f"header declares {num_clauses} clauses, found {len(clauses)}"
        )
    return CNF(num_vars, clauses)


def read_dimacs(path: str | Path, *, strict: bool = True) -> CNF:
    """Read a DIMACS CNF file (see ``parse_dimacs``)."""
    with open(path, encoding="ascii", errors="replace") as f:
        return parse_dimacs(f.read(), source=str(path), strict=strict)


def format_dimacs(cnf: CNF, comments: Iterable[str] = ()) -> str:
    """The DIMACS text of ``cnf``: comment lines, header, one clause per line, no trailer."""
    out = [f"c {line}".rstrip() for comment in comments for line in comment.splitlines()]
    out.append(f"p cnf {cnf.num_vars} {len(cnf.clauses)}")
    out.extend(" ".join(map(str, [*clause, 0])) for clause in cnf.clauses)
    return "\n".join(out) + "\n"


def write_dimacs(cnf: CNF, file: str | Path | TextIO, comments: Iterable[str] = ()) -> None:
    """Write ``format_dimacs(cnf, comments)`` to a path or an open text file."""
    text = format_dimacs(cnf, comments)
    if isinstance(file, str | Path):
        Path(file).write_text(text, encoding="ascii")
    else:
        file.write(text)


def _is_int(token: str) -> bool:
    try:
        int(token)
    except ValueError:
        return False
    return True
