"""Coq source text: split into sentences, strip comments, find the preamble and the theorem.

A *sentence* is what CoqIDE sends in one ``Add``: a command or tactic ending at a ``.`` that is
followed by whitespace or the end of the text, or a bullet / brace on its own. The splitter
scans the text once and skips

    (* comments *)      nested, may contain "strings" and dots
    "strings"           ``""`` is an escaped quote inside a string
    Coq.Reals.Reals     a ``.`` followed by a letter is part of a qualified name
    1.5, x.1            a ``.`` followed by a digit or a letter does not end a sentence
    ..  ...             a ``.`` followed by another ``.`` does not end a sentence

and emits bullets (``-``, ``+``, ``*``, repeated: ``--``), braces ``{`` ``}`` and goal-selector
braces (``2: {``) as sentences of their own, as CoqIDE does. It does not understand
user-defined notations that contain ``. `` (a dot followed by a space), which Coq's own lexer
would also end a sentence on.

The splitter is total: any text splits, and what it promises (checked by the fuzz tests in
``tests/coq/test_coq_script.py``) is that each sentence is ``text[start : start + len]``, the
sentences come in order without overlapping, and what lies between them is only whitespace and
comments — so the sentences joined back with the gaps give the text again. An unterminated
comment or string runs to the end of the text (Coq rejects it when it reads the file).

Errors about a script name a position as ``FILE:LINE:COL`` (1-based line and column, counted
in characters): :func:`line_column` converts the character offsets used here, and
:func:`read_script` reads a ``.v`` file as UTF-8 text or raises :class:`CoqScriptError`.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from pathlib import Path

from palestra.core.errors import PalestraError

__all__ = [
    "THEOREM_KEYWORDS",
    "CoqScriptError",
    "Sentence",
    "TheoremSplit",
    "line_column",
    "normalize",
    "read_script",
    "split_preamble",
    "split_sentences",
    "split_theorem",
    "strip_comments",
]

_BULLET = re.compile(r"(?:-+|\++|\*+|\{|\}|(?:\d+|\[\w+\])\s*:\s*\{)(?!\.)")
_PREAMBLE_HEAD = re.compile(
    r"^(?:From\s+\S+\s+)?(?:Require|Import|Export)\b"
    r"|^(?:Local\s+|Global\s+)?(?:Open|Close)\s+Scope\b"
    r"|^(?:Local\s+|Global\s+)?(?:Set|Unset)\b"
)
THEOREM_KEYWORDS = (
    "Theorem",
    "Lemma",
    "Fact",
    "Remark",
    "Corollary",
    "Proposition",
    "Property",
    "Example",
)
_THEOREM_HEAD = re.compile(r"^(?:" + "|".join(THEOREM_KEYWORDS) + r")\s+([\w']+)")


class CoqScriptError(PalestraError):
    """A Coq script that cannot be used, with its place: ``FILE:LINE:COL: message``.

    ``line`` and ``col`` are 1-based (characters, not bytes); both are 0 when the problem has
    no place (then the message reads ``FILE: message``).
    """

    def __init__(self, file: str, line: int, col: int, message: str) -> None:
        where = f"{file}:{line}:{col}" if line else file
        super().__init__(f"{where}: {' '.join(message.split())}")
        self.file, self.line, self.col, self.message = file, line, col, message


def line_column(text: str, offset: int) -> tuple[int, int]:
    """The 1-based ``(line, column)`` of the character ``text[offset]`` (offset clamped)."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def read_script(path: str | Path) -> str:
    """The text of a ``.v`` file; :class:`CoqScriptError` if it cannot be read or is not text.

    Invalid UTF-8 is reported at its first bad byte (``FILE:LINE:COL: not UTF-8 text (byte
    0xff)``), a NUL character as a binary file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CoqScriptError(str(path), 0, 0, e.strerror or type(e).__name__) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[: e.start]
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        byte = data[e.start : e.start + 1].hex()
        raise CoqScriptError(str(path), line, col, f"not UTF-8 text (byte 0x{byte})") from None
    nul = text.find("\0")
    if nul >= 0:
        line, col = line_column(text, nul)
        raise CoqScriptError(str(path), line, col, "a NUL character: binary, not a Coq script")
    return text


@dataclass(frozen=True)
class Sentence:
    """One sentence: its text (comments kept, leading whitespace dropped) and where it starts."""

    text: str
    start: int  # character offset of the sentence's first character in the script
    line: int  # 1-based line of ``start``
    column: int  # 0-based column of ``start``


def _skip_comment(text: str, i: int) -> int:
    """``text[i:i+2] == "(*"``; return the index just past the matching ``*)`` (or len)."""
    depth = 0
    n = len(text)
    while i < n:
        if text.startswith("(*", i):
            depth += 1
            i += 2
        elif text.startswith("*)", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        elif text[i] == '"':
            i = _skip_string(text, i)
        else:
            i += 1
    return n


def _skip_string(text: str, i: int) -> int:
    """``text[i] == '"'``; return the index just past the closing quote (``""`` escapes)."""
    i += 1
    n = len(text)
    while i < n:
        if text[i] == '"':
            if i + 1 < n and text[i + 1] == '"':
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _skip_blank(text: str, i: int) -> int:
    """Skip whitespace and comments."""
    n = len(text)
    while i < n:
        if text[i].isspace():
            i += 1
        elif text.startswith("(*", i):
            i = _skip_comment(text, i)
        else:
            break
    return i


def split_sentences(text: str) -> list[Sentence]:
    """Split ``text`` into sentences; a trailing fragment without its ``.`` is kept as the last.

    Comments before a sentence are dropped; comments inside a sentence stay in its text.
    """
    sentences: list[Sentence] = []
    line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
    n = len(text)

    def emit(start: int, end: int) -> None:
        line = bisect.bisect_right(line_starts, start)
        sentences.append(Sentence(text[start:end], start, line, start - line_starts[line - 1]))

    i = _skip_blank(text, 0)
    while i < n:
        start = i
        bullet = _BULLET.match(text, i)
        if bullet and not text.startswith("(*", i):
            emit(start, bullet.end())
            i = _skip_blank(text, bullet.end())
            continue
        while i < n:
            c = text[i]
            if text.startswith("(*", i):
                i = _skip_comment(text, i)
            elif c == '"':
                i = _skip_string(text, i)
            elif c == ".":
                nxt = text[i + 1] if i + 1 < n else ""
                if nxt == "" or nxt.isspace():
                    i += 1
                    break
                if nxt == ".":
                    run = i
                    while i < n and text[i] == ".":
                        i += 1
                    # a run of three or more dots ends like one dot; ".." is the token of
                    # recursive notations ("[ x ; .. ; y ]") and goes on
                    if (i >= n or text[i].isspace()) and i - run != 2:
                        break
                    continue
                i += 1
            else:
                i += 1
        emit(start, i)
        i = _skip_blank(text, i)
    return sentences


def strip_comments(text: str) -> str:
    """``text`` with every ``(* comment *)`` replaced by one space (strings kept)."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        if text.startswith("(*", i):
            i = _skip_comment(text, i)
            out.append(" ")
        elif text[i] == '"':
            j = _skip_string(text, i)
            out.append(text[i:j])
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def normalize(sentence: str) -> str:
    """A sentence without comments and with every run of whitespace made one space."""
    return " ".join(strip_comments(sentence).split())


def split_preamble(text: str) -> tuple[str, str]:
    """``(preamble, rest)``: the leading Require/Import/Open Scope/Set sentences, and the rest.

    The preamble is what a :class:`~palestra.coq.idetop.SessionPool` keys warm sessions on.
    """
    sentences = split_sentences(text)
    k = 0
    while k < len(sentences) and _PREAMBLE_HEAD.match(normalize(sentences[k].text)):
        k += 1
    if k == len(sentences):
        return text, ""
    cut = sentences[k].start
    return text[:cut], text[cut:]


@dataclass(frozen=True)
class TheoremSplit:
    """A file cut around its (last) theorem: ``prefix`` sentences, the statement, the proof.

    ``proof`` is every sentence after the statement (``Proof.``, tactics, ``Qed.`` or
    ``Admitted.``); ``name`` is the theorem's name.
    """

    prefix: list[Sentence]
    statement: Sentence
    proof: list[Sentence]
    name: str


def theorem_name(sentence: str) -> str | None:
    """The declared name if ``sentence`` is a ``Theorem``/``Lemma``/... statement, else None."""
    m = _THEOREM_HEAD.match(normalize(sentence))
    return m.group(1) if m else None


def split_theorem(text: str, name: str | None = None) -> TheoremSplit | None:
    """Cut ``text`` around the theorem called ``name`` (the last theorem when None)."""
    sentences = split_sentences(text)
    found = None
    for k, s in enumerate(sentences):
        declared = theorem_name(s.text)
        if declared is not None and (name is None or declared == name):
            found = k
            if name is not None:
                break
    if found is None:
        return None
    statement = sentences[found]
    return TheoremSplit(
        prefix=sentences[:found],
        statement=statement,
        proof=sentences[found + 1 :],
        name=theorem_name(statement.text) or "",
    )
