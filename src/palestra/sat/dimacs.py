"""DIMACS CNF reader and writer.

The format, as read here::

    c a comment line (anywhere)
    p cnf NUM_VARS NUM_CLAUSES        exactly one header, before the first literal
    1 -3 0                            literals separated by whitespace, each clause ended by 0;
    2 3                               a clause may span lines ...
    -1 0                              ... and a line may hold several clauses
    %                                 SATLIB trailer: a line starting with '%' ends the formula
    0                                 (what follows it, usually a lone 0, is ignored)

Lines may end in CRLF (SATLIB's flat* files do) and a file may start with a UTF-8 byte order
mark. A lone ``0`` before the trailer is an empty clause, as DIMACS says. A literal is an
optional sign and ASCII digits (``+3`` and ``007`` are read, as MiniSat reads them);
whitespace is space, tab, CR, VT and FF. Comments may hold any UTF-8 text.

Every malformed input raises ``DimacsError``, a ``PalestraError`` (and a ``ValueError``) whose
message is one line, ``FILE:LINE:COL: message`` for a fault at a character or token and
``FILE:LINE: message`` for a fault of a whole line or of the file; it quotes at most a short,
escaped piece of the input. The faults:

* not text: a NUL byte, bytes that are not UTF-8 (both reported at the first such byte);
* the header: none before the first literal or in the file (an empty file), a second one, one
  that is not ``p cnf VARS CLAUSES`` with unsigned decimal counts;
* absurd sizes, refused before anything is allocated for them: more than ``MAX_VARIABLES``
  variables or ``MAX_CLAUSES`` clauses, or (``strict``) more clauses than the rest of the file
  could hold (each needs at least its ``0`` and a separator);
* a token that is not a signed decimal int, a number longer than ``MAX_NUMBER_LENGTH``
  characters, a literal beyond the declared variables;
* when ``strict`` (the default): a clause count that differs from the header's and a last
  clause with no terminating 0. With ``strict=False`` the count is not checked (but stays
  within ``MAX_CLAUSES``) and an unterminated last clause is kept.

The reader makes one pass over the text and does constant work per character, so its time is
linear in the input, whatever the input; clauses beyond a (strict) header's count are counted,
not stored.

**Engines.** A file is read first by the compiled reader (``_dimacs.c``, where the package's
install built it), which reads the same grammar at C speed (a SATLIB uf50 file in about 20 us
instead of 0.5 ms, a 1M-clause file in 0.5 s instead of 7 s) but writes no message: on any
fault, on a NUL or non-ASCII byte, it defers, and the Python reader below reads the text again
and accepts or reports it. The two give the same formula for every file the compiled one reads,
which the tests fuzz; so a file's result and its ``FILE:LINE:COL`` message do not depend on the
engine. Within the Python reader, ``_parse_plain`` reads the common case with regular
expressions, and the loop reads every other file. ``pack_clauses`` packs clauses into the int32
form of the compiled DRUP checker.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from palestra.core.errors import PalestraError
from palestra.sat.cnf import CNF

__all__ = [
    "MAX_CLAUSES",
    "MAX_NUMBER_LENGTH",
    "MAX_VARIABLES",
    "DimacsError",
    "format_dimacs",
    "parse_dimacs",
    "read_dimacs",
    "write_dimacs",
]

# Far above any instance a solver of this package (or of a SAT competition) meets: the
# largest SAT-competition formulas hold tens of millions of variables and clauses.
MAX_VARIABLES = 10**8
MAX_CLAUSES = 10**8
# A literal within MAX_VARIABLES has at most 10 characters ("-100000000"); leading zeros
# and a '+' sign leave room up to this many.
MAX_NUMBER_LENGTH = 20

_WHITESPACE = " \t\r\n\v\f"
_HEADER = re.compile(r"p[ \t\v\f]+cnf[ \t\v\f]+([0-9]+)[ \t\v\f]+([0-9]+)")
_CLAUSE_LINE = re.compile(r"[-+0-9 \t\r\v\f]*")  # what a (stripped) clause line may hold
_NOT_CLAUSE_CHAR = re.compile(r"[^-+0-9 \t\r\v\f]")
_TOKEN = re.compile(r"[^ \t\r\v\f]+")
_NUMBER = re.compile(r"[-+]?[0-9]+")
_CHUNK = 1 << 20  # bytes read at a time (a NUL in the first chunk stops /dev/zero early)

try:  # the compiled reader (_dimacs.c); without it, the Python one reads everything
    from palestra.sat import _dimacs as _compiled
except ImportError:  # pragma: no cover - the extension is built by the package's install
    _compiled = None


class DimacsError(PalestraError, ValueError):
    """Malformed DIMACS input; ``str(error)`` is ``FILE:LINE:COL: message``, or
    ``FILE:LINE: message`` when the fault is a whole line's (``column`` is then None)."""

    def __init__(self, source: str, line: int, message: str, column: int | None = None) -> None:
        self.source = source
        self.line = line
        self.column = column
        self.message = message
        where = f"{source}:{line}" if column is None else f"{source}:{line}:{column}"
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple[type, tuple[str, int, str, int | None]]:
        # Rebuilt from its parts, so that it crosses a process pool unchanged.
        return type(self), (self.source, self.line, self.message, self.column)


def parse_dimacs(text: str | bytes, *, source: str = "<string>", strict: bool = True) -> CNF:
    """Parse DIMACS CNF ``text`` (bytes are decoded as UTF-8); ``source`` names it in error
    messages. See the module docstring for the format and the faults it rejects."""
    fast = _parse_compiled(text, strict)
    if fast is not None:
        return fast
    return _parse_python(text, source, strict)


def _parse_compiled(text: str | bytes, strict: bool) -> CNF | None:
    """The compiled reader's formula (``_dimacs.parse``), or None where it defers: the
    extension is not built, the text is not ASCII, or it is faulty in any way."""
    if _compiled is None:
        return None
    if isinstance(text, str):
        if text.startswith("\ufeff"):
            text = text[1:]
        if not text.isascii():
            return None
        text = text.encode("ascii")
    read = _compiled.parse(text, strict, MAX_VARIABLES, MAX_CLAUSES, MAX_NUMBER_LENGTH)
    return None if read is None else CNF(*read)


def _parse_python(text: str | bytes, source: str, strict: bool) -> CNF:
    """``parse_dimacs`` in Python alone: the reference the compiled reader must agree with,
    and the reader of every file that reader defers (it raises the errors)."""
    if isinstance(text, bytes | bytearray):
        text = _decode(bytes(text), source)
    elif text.startswith("\ufeff"):
        text = text[1:]  # a byte order mark, as a text file opened as "utf-8" keeps it
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        column = nul - text.rfind("\n", 0, nul)
        raise DimacsError(source, line, "NUL byte (not a text file)", column)
    fast = _parse_plain(text, strict)
    if fast is not None:
        return fast

    num_vars = num_clauses = lowest = -1
    header_line = 0
    clauses: list[list[int]] = []
    kept = 0  # clauses to store: the header's count (strict) or MAX_CLAUSES
    surplus = 0  # clauses read beyond a strict header's count, counted but not stored
    clause: list[int] = []
    clause_line = 0  # the last line of the clause being read
    lines = io.StringIO(text)
    line_no = 0
    for line_no, line in enumerate(lines, start=1):
        stripped = line.strip(_WHITESPACE)
        if not stripped or stripped[0] == "c":
            continue
        if stripped[0] == "%":
            break
        if stripped[0] == "p":
            if header_line:
                raise DimacsError(
                    source, line_no, f"duplicate header (first on line {header_line})"
                )
            num_vars, num_clauses = _header(line, stripped, source, line_no)
            rest = len(text) - lines.tell()  # characters after the header
            if strict and num_clauses > (rest + 1) // 2:  # each clause needs "0" and a space
                raise DimacsError(
                    source,
                    line_no,
                    f"header declares {num_clauses} clauses, more than the rest of the file "
                    f"({rest} characters) could hold",
                )
            header_line = line_no
            kept = num_clauses if strict else MAX_CLAUSES
            lowest = -num_vars
            continue
        if not header_line:
            raise DimacsError(source, line_no, "missing header 'p cnf VARS CLAUSES' before clauses")
        if not _CLAUSE_LINE.fullmatch(stripped):
            bad = _NOT_CLAUSE_CHAR.search(stripped)
            assert bad is not None
            raise _token_error(source, line_no, line, stripped, bad.start(), None)
        # The line holds signs, digits and whitespace only: split() splits as DIMACS does.
        tokens = stripped.split()
        if len(stripped) > MAX_NUMBER_LENGTH and max(map(len, tokens)) > MAX_NUMBER_LENGTH:
            raise _line_error(source, line_no, line, stripped, num_vars)
        for token in tokens:
            try:
                lit = int(token)
            except ValueError:  # "1-2", "--1", "+"
                raise _line_error(source, line_no, line, stripped, num_vars) from None
            if lit == 0:
                if len(clauses) < kept:
                    clauses.append(clause)
                elif strict:
                    surplus += 1
                else:
                    raise DimacsError(
                        source, line_no, f"more than the limit of {MAX_CLAUSES} clauses"
                    )
                clause = []
            elif lit > num_vars or lit < lowest:
                raise _line_error(source, line_no, line, stripped, num_vars)
            else:
                clause.append(lit)
        if clause:
            clause_line = line_no
    if not header_line:
        empty = "" if text.strip(_WHITESPACE) else " (the file is empty)"
        raise DimacsError(source, max(line_no, 1), f"missing header 'p cnf VARS CLAUSES'{empty}")
    if clause:
        if strict:
            raise DimacsError(source, clause_line, "last clause is not terminated by 0")
        clauses.append(clause)
    if strict and (surplus or len(clauses) != num_clauses):
        found = len(clauses) + surplus
        raise DimacsError(
            source, header_line, f"header declares {num_clauses} clauses, found {found}"
        )
    return CNF(num_vars, clauses)


_PLAIN_HEAD = re.compile(
    r"(?:[ \t\r\v\f]*(?:c[^\n]*)?\n)*[ \t\r\v\f]*"
    r"p[ \t\v\f]+cnf[ \t\v\f]+([0-9]{1,9})[ \t\v\f]+([0-9]{1,9})[ \t\r\v\f]*\n"
)
_PLAIN_BODY = re.compile(r"[-+0-9 \t\r\n\v\f]*")
_PLAIN_TRAILER = re.compile(r"^[ \t\r\v\f]*%", re.MULTILINE)
_ZERO = re.compile(r"(?<!\S)0(?!\S)")


def _parse_plain(text: str, strict: bool) -> CNF | None:
    """The common case at C speed: comment lines, the header, then only numbers (and maybe
    the SATLIB trailer). The CNF ``parse_dimacs``'s loop would build, or None whenever the
    text is anything else or is faulty in any way: the loop then reads it and reports."""
    head = _PLAIN_HEAD.match(text)
    if head is None:
        return None
    num_vars, num_clauses = int(head.group(1)), int(head.group(2))
    if num_vars > MAX_VARIABLES or num_clauses > MAX_CLAUSES:
        return None
    body = text[head.end() :]
    trailer = _PLAIN_TRAILER.search(body)
    if trailer is not None:
        body = body[: trailer.start()]
    if not _PLAIN_BODY.fullmatch(body):
        return None  # comments, other text
    tokens = body.split()
    if tokens and max(map(len, tokens)) > MAX_NUMBER_LENGTH:
        return None
    try:
        lits = list(map(int, tokens))
    except ValueError:  # "1-2", "--1", "+"
        return None
    if lits.count(0) != tokens.count("0"):  # "-0", "+0", "00": the loop's business
        return None
    if lits and (max(lits) > num_vars or min(lits) < -num_vars):
        return None
    chunks = _ZERO.split(body)
    tail = chunks.pop().split()
    clauses = [list(map(int, chunk.split())) for chunk in chunks]
    if tail:
        if strict:
            return None
        clauses.append(list(map(int, tail)))
    if strict and len(clauses) != num_clauses:
        return None
    if not strict and len(clauses) > MAX_CLAUSES:
        return None
    return CNF(num_vars, clauses)


def pack_clauses(clauses: list[list[int]]) -> bytes | None:
    """``clauses`` as native int32 literals, each clause ended by 0 (what the compiled DRUP
    checker reads), packed in C; None where the extension is not built or a literal is 0,
    not an int or beyond int32 (the caller packs those itself)."""
    return None if _compiled is None else _compiled.pack(clauses)


def read_dimacs(path: str | Path, *, strict: bool = True) -> CNF:
    """Read a DIMACS CNF file (see ``parse_dimacs``).

    The file is read in binary and decoded as UTF-8 here, so a byte that is not UTF-8 is
    reported at its line. Reading stops at the first chunk that holds a NUL byte (a binary
    file, ``/dev/zero``). An unreadable path raises the ``OSError`` ``open`` raises
    (``FileNotFoundError``, ``IsADirectoryError``, ``PermissionError``, ...).
    """
    chunks = []
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            chunks.append(chunk)
            if b"\0" in chunk:
                break  # parse_dimacs reports it, without the rest of the file
    return parse_dimacs(b"".join(chunks), source=str(path), strict=strict)


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
        Path(file).write_text(text, encoding="utf-8")
    else:
        file.write(text)


def _decode(data: bytes, source: str) -> str:
    """``data`` as UTF-8 text (less a byte order mark), else a ``DimacsError`` at the first
    byte that is not UTF-8, or at a NUL byte before it."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        bad, message = e.start, f"invalid UTF-8 (byte 0x{data[e.start]:02x})"
    nul = data.find(b"\0", 0, bad)
    if nul >= 0:
        bad, message = nul, "NUL byte (not a text file)"
    line = data.count(b"\n", 0, bad) + 1
    column = bad - data.rfind(b"\n", 0, bad)
    raise DimacsError(source, line, message, column)


def _header(line: str, stripped: str, source: str, line_no: int) -> tuple[int, int]:
    """The counts of the header ``line`` (``stripped`` of its whitespace), within the
    limits."""
    match = _HEADER.fullmatch(stripped)
    if match is None:
        raise DimacsError(
            source, line_no, f"bad header {_show(stripped)}, expected 'p cnf VARS CLAUSES'"
        )
    counts = []
    for digits, what, limit in zip(
        match.groups(), ("variables", "clauses"), (MAX_VARIABLES, MAX_CLAUSES), strict=True
    ):
        if len(digits) > MAX_NUMBER_LENGTH:
            raise DimacsError(
                source,
                line_no,
                f"number of {what} too long ({len(digits)} digits)",
                _indent(line) + match.start(len(counts) + 1) + 1,
            )
        count = int(digits)
        if count > limit:
            raise DimacsError(
                source,
                line_no,
                f"header declares {count} {what}, more than the limit of {limit}",
            )
        counts.append(count)
    return counts[0], counts[1]


def _token_error(
    source: str, line_no: int, line: str, stripped: str, position: int, num_vars: int | None
) -> DimacsError:
    """The error for the token of ``stripped`` around character ``position``: a number too
    long, not an int, or a literal beyond ``num_vars`` (None: the token holds a character no
    token may hold)."""
    start = position
    while start > 0 and stripped[start - 1] not in _WHITESPACE:
        start -= 1
    match = _TOKEN.match(stripped, start)
    assert match is not None
    token = match.group()
    column = _indent(line) + start + 1
    if num_vars is not None and len(token) > MAX_NUMBER_LENGTH and _NUMBER.fullmatch(token):
        message = f"number too long ({len(token)} characters): {_show(token)}"
    elif num_vars is None or not _NUMBER.fullmatch(token):
        message = f"bad token {_show(token)}"
    else:
        message = f"literal {int(token)} beyond the {num_vars} declared variables"
    return DimacsError(source, line_no, message, column)


def _line_error(source: str, line_no: int, line: str, stripped: str, num_vars: int) -> DimacsError:
    """The error for the first token of the clause line ``stripped`` (signs, digits and
    whitespace) that is too long, not an int, or a literal beyond ``num_vars``."""
    for match in _TOKEN.finditer(stripped):
        token = match.group()
        if (
            len(token) > MAX_NUMBER_LENGTH
            or not _NUMBER.fullmatch(token)
            or abs(int(token)) > num_vars
        ):
            return _token_error(source, line_no, line, stripped, match.start(), num_vars)
    raise AssertionError(f"line {line_no} has no bad token")


def _indent(line: str) -> int:
    """The number of whitespace characters ``line`` starts with."""
    return len(line) - len(line.lstrip(_WHITESPACE))


def _show(text: str, limit: int = 24) -> str:
    """``text`` quoted and escaped to ASCII, cut to ``limit`` characters: safe to print."""
    if len(text) <= limit:
        return ascii(text)
    return f"{text[:limit]!a}..."
