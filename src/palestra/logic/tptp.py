"""A reader for TPTP problem files: ``fof`` and ``cnf`` formulas, ``include`` directives.

Hand-written: one regular expression cuts the text into tokens, an operator-precedence
parser with an explicit stack builds :mod:`palestra.logic.formula` trees. Grammar (TPTP v8,
FOF/CNF subset)::

    file       ::= (annotated | include)*
    annotated  ::= ("fof" | "cnf") "(" name "," role "," formula ("," general_term)* ")" "."
    include    ::= "include" "(" 'file' ("," "[" name ("," name)* "]")? ")" "."
    formula    ::= unitary (binop unitary)*
    unitary    ::= "~" unitary | ("!" | "?") "[" Var ("," Var)* "]" ":" unitary
                 | "(" formula ")" | "$true" | "$false" | term (("=" | "!=") term)?
    term       ::= Var | functor ("(" term ("," term)* ")")? | "distinct object" | number

Binary connectives follow leanCoP's Prolog operator table (which is also how it reads
TPTP): ``<=> <~>`` (1130) bind weakest, then ``=> <=`` (1110), ``| ~|`` (1100), ``& ~&``
(1000), all right-associative, so ``a & b & c`` is ``a & (b & c)``. Strict TPTP forbids
mixing these without parentheses; this reader accepts it with those precedences.

``include('F', [names])`` looks for ``F`` relative to the including file's directory, then
under the TPTP root (the ``tptp_root`` argument, else the ``TPTP`` environment variable);
with a name list only the named formulas of ``F`` are kept. Source annotations and useful
info after the formula are skipped. ``tff``/``thf``/``tcf`` are refused with a clear
:class:`TPTPSyntaxError`; so is anything malformed, with a one-line ``FILE:LINE:COL:
message`` (1-based line and column).

**Untrusted input.** The reader is meant to take any file a user hands it and either return
a :class:`Problem` or raise :class:`TPTPSyntaxError` (a :class:`PalestraError`, one line):

- no recursion on the input: formulas and terms are parsed with explicit stacks, and their
  nesting (parentheses, ``~``, quantifiers and function arguments together; not a flat
  chain ``a | b | c ...``) is limited to ``ReadLimits.max_depth``, 10,000 (the deepest term
  of the shared TPTP data nests 3,890 deep), a depth the clausifier and the provers handle;
- time linear in the input: the tokenizer stops at the first character no token starts
  (an unterminated comment or quoted atom is scanned once, not once per later character);
- **includes are confined** to the problem's folder, the TPTP root and the folders given as
  ``include_roots``: an absolute name, a ``..`` leading out of them or a symbolic link that
  does is refused *before* the file is looked at, with an error that names the include and
  its position and nothing of the file; included files must be regular files (no FIFOs or
  devices);
- includes nest at most ``max_include_depth`` deep, a problem expands to at most
  ``max_formulas`` formulas and parses at most ``max_bytes`` of text; a file included again
  with the same selection is spliced in again, not parsed again, so an include "bomb" costs
  the formulas it makes, each one a list entry.

Not protected against: a file swapped for another (or for a link) between the check and the
read; the memory a text within ``max_bytes`` takes (up to about 120 bytes of Python objects
per byte of dense TPTP: some 4 GB at the default limit); the cost of what comes after
reading (clausifying a valid but huge problem is bounded by the prover's time limits).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from palestra.core.errors import PalestraError
from palestra.logic.formula import (
    And,
    Atom,
    Bottom,
    Equiv,
    Exists,
    Forall,
    Formula,
    Imp,
    Not,
    Or,
    Top,
    subformulas,
)
from palestra.logic.syntax import Fn, Term, Var

__all__ = [
    "AnnotatedFormula",
    "Problem",
    "ReadLimits",
    "TPTPSyntaxError",
    "parse_formula",
    "parse_problem",
    "read_problem",
]


def _printable(s: str) -> str:
    """``s`` with every non-printable character (newlines included) escaped: one line."""
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in s)


class TPTPSyntaxError(PalestraError, ValueError):
    """A TPTP input that cannot be read: malformed, refused (an include outside the allowed
    folders, a limit exceeded) or unreadable. ``str(err)`` is one line,
    ``FILE:LINE:COL: message``; it never quotes a refused file's content."""

    def __init__(self, file: str, line: int, col: int, message: str) -> None:
        super().__init__(_printable(f"{file}:{line}:{col}: {message}"))
        self.file = file
        self.line = line
        self.col = col
        self.message = message

    def __reduce__(self) -> tuple:
        return (type(self), (self.file, self.line, self.col, self.message))


@dataclass(frozen=True)
class ReadLimits:
    """How much one problem may ask of the reader; each limit exceeded is a
    :class:`TPTPSyntaxError`. The defaults are far above any problem of the shared data."""

    max_depth: int = 10_000  # nesting of one formula: ( ~ ! ? and f( together
    max_include_depth: int = 32  # includes of includes
    max_formulas: int = 1_000_000  # formulas of the expanded problem
    max_bytes: int = 32 * 2**20  # text parsed: the problem file and every file it includes


DEFAULT_LIMITS = ReadLimits()


@dataclass(frozen=True, slots=True)
class AnnotatedFormula:
    """One ``fof``/``cnf`` line: its name, role, formula and where it was read."""

    language: str  # "fof" | "cnf"
    name: str
    role: str
    formula: Formula
    file: str
    line: int

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def is_conjecture(self) -> bool:
        return self.role == "conjecture"


@dataclass(frozen=True, slots=True)
class Problem:
    """A TPTP problem: its formulas in file order, includes spliced in place."""

    path: str
    formulas: tuple[AnnotatedFormula, ...]

    @property
    def name(self) -> str:
        return Path(self.path).stem

    @property
    def conjectures(self) -> tuple[AnnotatedFormula, ...]:
        return tuple(f for f in self.formulas if f.is_conjecture)

    @property
    def axioms(self) -> tuple[AnnotatedFormula, ...]:
        """Everything that is not a conjecture (leanCoP treats all other roles alike)."""
        return tuple(f for f in self.formulas if not f.is_conjecture)

    @property
    def has_equality(self) -> bool:
        return any(
            isinstance(g, Atom) and g.atom.name == "=" and len(g.atom.args) == 2
            for f in self.formulas
            for g in subformulas(f.formula)
        )


# ---------------------------------------------------------------------------- tokens

# One match per token: the layout (whitespace, comments) in front of it, then the token, or
# the first character no token starts (reported as an error) together with the rest of the
# text, or the end of the text (so trailing layout is consumed whole). ``findall`` does the
# whole file in C; kinds come from the first character. Taking the rest of the text after a
# bad character keeps the scan linear: an unterminated ``/*`` or quote is scanned to the
# end once, and nothing after it is scanned again.
_TOKEN = re.compile(
    r"""((?:\s+|%[^\n]*|/\*.*?\*/)*+)
    (?:
      ( [A-Za-z][A-Za-z0-9_]*
      | \$\$?[a-z][A-Za-z0-9_]*
      | '(?:[^'\\\n]|\\.)+'
      | "(?:[^"\\\n]|\\.)*"
      | [+-]?[0-9]+(?:/[0-9]+|(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
      | <=>|<~>|=>|<=|~\||~&|!=|[=~|&!?:,.()\[\]]
      )
    | (.).*
    | \Z
    )""",
    re.VERBOSE | re.DOTALL,
)

_KIND_OF_FIRST = {c: "upper" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_KIND_OF_FIRST.update({c: "lower" for c in "abcdefghijklmnopqrstuvwxyz"})
_KIND_OF_FIRST.update({c: "num" for c in "0123456789+-"})
_KIND_OF_FIRST.update({"$": "dollar", "'": "squote", '"': "dquote"})

# Binary connectives: precedence (lower binds tighter) and how leanCoP reads them.
_BINOP_PREC = {"<=>": 1130, "<~>": 1130, "=>": 1110, "<=": 1110, "|": 1100, "~|": 1100}
_BINOP_PREC.update({"&": 1000, "~&": 1000})


def _combine(op: str, a: Formula, b: Formula) -> Formula:
    if op == "&":
        return And(a, b)
    if op == "|":
        return Or(a, b)
    if op == "=>":
        return Imp(a, b)
    if op == "<=>":
        return Equiv(a, b)
    if op == "<=":
        return Imp(b, a)
    if op == "<~>":
        return Not(Equiv(a, b))
    if op == "~|":
        return Not(Or(a, b))
    return Not(And(a, b))  # "~&"


class _Tokens:
    """The tokens of one text: ``toks[k] = (kind, text, k)``, ``kind`` being the operator
    itself for operators; ``toks[-1]`` is ``("eof", "", n)``. Offsets are worked out only
    when needed (errors, line numbers) from the layout in front of each token."""

    def __init__(self, text: str, file: str) -> None:
        self.text = text
        matches = _TOKEN.findall(text)
        while matches and not matches[-1][1] and not matches[-1][2]:
            matches.pop()  # the layout at the end of the text, matched by ``\Z``
        layouts, words, bad = zip(*matches, strict=True) if matches else ((), (), ())
        del matches  # its tuples: a third of the peak memory on a big file
        self.layouts: tuple[str, ...] = layouts
        self.words: tuple[str, ...] = words
        if bad and bad[-1]:  # only the last match can hold one: it takes the rest
            k = len(bad) - 1
            c = bad[k]
            off = self.offset(k)
            if text.startswith("/*", off):
                _raise_at(text, file, off, "unterminated comment '/*'")
            if c == "'":
                _raise_at(text, file, off, "unterminated quoted atom")
            if c == '"':
                _raise_at(text, file, off, "unterminated distinct object")
            if c == "\ufffd":  # what reading put in place of bytes that are not UTF-8
                _raise_at(text, file, off, "unexpected character '\\ufffd' (not UTF-8?)")
            _raise_at(text, file, off, f"unexpected character {c!r}")
        get = _KIND_OF_FIRST.get
        kinds = [get(w[0], w) for w in words]
        n = len(words)
        self.toks: list[tuple[str, str, int]] = list(zip(kinds, words, range(n), strict=True))
        self.toks.append(("eof", "", n))
        self._line_k = 0
        self._line = 1

    def offset(self, k: int) -> int:
        """Character offset of token ``k`` (the end of the text for the end marker)."""
        if k >= len(self.layouts):
            return len(self.text)
        return len("".join(self.layouts[: k + 1])) + len("".join(self.words[:k]))

    def line(self, k: int) -> int:
        """Line of token ``k``, for increasing ``k`` (counts newlines incrementally)."""
        if k < self._line_k:
            self._line_k, self._line = 0, 1
        self._line += "".join(self.layouts[self._line_k : k + 1]).count("\n")
        self._line_k = k + 1
        return self._line


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def _raise_at(text: str, file: str, offset: int, message: str) -> None:
    line, col = _line_col(text, offset)
    raise TPTPSyntaxError(file, line, col, message)


def _unquote(s: str) -> str:
    """The atom a single-quoted TPTP word denotes (``'p'`` is ``p``, as in Prolog)."""
    body = s[1:-1]
    if "\\" in body:
        body = re.sub(r"\\(.)", r"\1", body)
    return body


def _describe(tok: tuple[str, str, int]) -> str:
    kind, text, _ = tok
    if kind == "eof":
        return "end of file"
    if len(text) > 60:
        return repr(text[:50]) + "..."
    return repr(text)


def _shown(name: str) -> str:
    """An include's file name as error messages quote it (long names cut short)."""
    return repr(name) if len(name) <= 100 else repr(name[:80]) + f"... ({len(name)} characters)"


# ---------------------------------------------------------------------------- parser


class _Open:
    """A formula still open on the parser's stack: its operands and pending binary
    connectives; ``paren`` is the ``(`` token that opened it (None at the top)."""

    __slots__ = ("operands", "ops", "paren")

    def __init__(self, paren: tuple[str, str, int] | None) -> None:
        self.paren = paren
        self.operands: list[Formula] = []
        self.ops: list[tuple[int, str]] = []

    def push(self, op: str, prec: int) -> None:
        """Add a connective after the last operand; tighter ones before it are applied
        (equal precedence waits: right-associative)."""
        ops, operands = self.ops, self.operands
        while ops and ops[-1][0] < prec:
            _, top = ops.pop()
            b = operands.pop()
            operands[-1] = _combine(top, operands[-1], b)
        ops.append((prec, op))

    def close(self) -> Formula:
        ops, operands = self.ops, self.operands
        while ops:
            _, top = ops.pop()
            b = operands.pop()
            operands[-1] = _combine(top, operands[-1], b)
        return operands[0]


_NOT = "~"  # a pending negation on the parser's stack


class _Parser:
    """Operator precedence with an explicit stack over the token list of one file."""

    def __init__(self, text: str, file: str, max_depth: int = DEFAULT_LIMITS.max_depth) -> None:
        self.text = text
        self.file = file
        self.tokens = _Tokens(text, file)
        self.toks = self.tokens.toks
        self.i = 0
        self.vars: dict[str, Var] = {}
        self.max_depth = max_depth
        self.depth = 0  # formula nesting around the term being read

    # -- helpers
    def error(self, message: str, tok: tuple[str, str, int] | None = None) -> TPTPSyntaxError:
        tok = self.toks[self.i] if tok is None else tok
        line, col = _line_col(self.text, self.tokens.offset(tok[2]))
        return TPTPSyntaxError(self.file, line, col, message)

    def too_deep(self, tok: tuple[str, str, int]) -> TPTPSyntaxError:
        return self.error(
            f"formula nested deeper than {self.max_depth} levels"
            " (parentheses, ~, quantifiers and arguments together)",
            tok,
        )

    def expect(self, kind: str) -> tuple[str, str, int]:
        tok = self.toks[self.i]
        if tok[0] != kind:
            raise self.error(f"expected {kind!r}, found {_describe(tok)}")
        self.i += 1
        return tok

    def name(self) -> str:
        tok = self.toks[self.i]
        kind = tok[0]
        if kind == "lower" or kind == "num":
            self.i += 1
            return tok[1]
        if kind == "squote":
            self.i += 1
            return _unquote(tok[1])
        raise self.error(f"expected a formula name, found {_describe(tok)}")

    # -- terms
    def term(self) -> Term:
        """A term; iterative, since Peano numerals nest thousands deep."""
        toks = self.toks
        i = self.i
        frames: list[tuple[str, list[Term]]] = []
        room = self.max_depth - self.depth  # argument lists that may still open
        while True:
            tok = toks[i]
            kind = tok[0]
            value: Term
            if kind == "upper":
                i += 1
                value = self.vars.get(tok[1])  # type: ignore[assignment]
                if value is None:
                    value = self.vars[tok[1]] = Var(tok[1])
            else:
                if kind == "lower" or kind == "dollar" or kind == "num" or kind == "dquote":
                    name = tok[1]
                elif kind == "squote":
                    name = _unquote(tok[1])
                else:
                    self.i = i
                    raise self.error(f"expected a term, found {_describe(tok)}")
                i += 1
                if toks[i][0] == "(":
                    if kind == "num" or kind == "dquote":
                        self.i = i
                        raise self.error(f"{_describe(tok)} cannot take arguments")
                    if len(frames) >= room:
                        raise self.too_deep(toks[i])
                    i += 1
                    frames.append((name, []))
                    continue
                value = Fn(name)
            while True:
                if not frames:
                    self.i = i
                    return value
                args = frames[-1][1]
                args.append(value)
                k = toks[i][0]
                if k == ",":
                    i += 1
                    break
                if k == ")":
                    i += 1
                    value = Fn(frames.pop()[0], tuple(args))
                    continue
                self.i = i
                raise self.error(f"expected ',' or ')', found {_describe(toks[i])}")

    # -- formulas
    def formula(self) -> Formula:
        """``unitary (binop unitary)*``, right-associative, by operator precedence.

        Iterative: ``stack`` holds what is open around the current position, ``_Open``
        formulas (the outermost one and each ``(``), pending negations ``~`` and pending
        quantifiers ``(op, vars)``; a unitary formula, once read, closes the negations and
        quantifiers above the innermost open formula and becomes its next operand."""
        toks = self.toks
        limit = self.max_depth
        stack: list[_Open | str | tuple[str, tuple[Var, ...]]] = [_Open(None)]
        while True:
            # the prefix of a unitary formula: negations, quantifiers, parentheses
            while True:
                tok = toks[self.i]
                kind = tok[0]
                if kind == "~":
                    self.i += 1
                    frame: _Open | str | tuple[str, tuple[Var, ...]] = _NOT
                elif kind == "!" or kind == "?":
                    self.i += 1
                    frame = (kind, self.quantified_variables())
                elif kind == "(":
                    self.i += 1
                    frame = _Open(tok)
                else:
                    break
                if len(stack) >= limit:
                    raise self.too_deep(tok)
                stack.append(frame)
            self.depth = len(stack)
            value = self.atomic()
            # close what the unitary formula completes
            while True:
                top = stack[-1]
                if top is _NOT:
                    stack.pop()
                    value = Not(value)
                    continue
                if isinstance(top, tuple):
                    stack.pop()
                    op, vs = top
                    value = Forall(vs, value) if op == "!" else Exists(vs, value)
                    continue
                assert isinstance(top, _Open)
                top.operands.append(value)
                op = toks[self.i][0]
                prec = _BINOP_PREC.get(op)
                if prec is not None:
                    self.i += 1
                    top.push(op, prec)
                    break  # on to the next operand
                value = top.close()
                stack.pop()
                if top.paren is not None:
                    self.expect(")")
                if not stack:
                    return value

    def quantified_variables(self) -> tuple[Var, ...]:
        """``[X, Y, ...] :`` after a quantifier."""
        toks = self.toks
        self.expect("[")
        vs = [self.variable()]
        while toks[self.i][0] == ",":
            self.i += 1
            vs.append(self.variable())
        self.expect("]")
        self.expect(":")
        return tuple(vs)

    def atomic(self) -> Formula:
        """``$true``, ``$false``, an atom or an (in)equation."""
        toks = self.toks
        tok = toks[self.i]
        kind = tok[0]
        if kind == "dollar" and toks[self.i + 1][0] not in ("(", "=", "!="):
            if tok[1] == "$true":
                self.i += 1
                return Top()
            if tok[1] == "$false":
                self.i += 1
                return Bottom()
        if kind not in ("upper", "lower", "dollar", "squote", "num", "dquote"):
            raise self.error(f"expected a formula, found {_describe(tok)}")
        lhs = self.term()
        nxt = toks[self.i][0]
        if nxt == "=" or nxt == "!=":
            self.i += 1
            eq = Atom(Fn("=", (lhs, self.term())))
            return eq if nxt == "=" else Not(eq)
        if isinstance(lhs, Var):
            raise self.error(f"variable {lhs.name} used as a formula", tok)
        return Atom(lhs)

    def variable(self) -> Var:
        tok = self.toks[self.i]
        if tok[0] != "upper":
            raise self.error(f"expected a variable, found {_describe(tok)}")
        self.i += 1
        if self.toks[self.i][0] == ":":
            raise self.error("typed variables (TFF) are not supported")
        v = self.vars.get(tok[1])
        if v is None:
            v = self.vars[tok[1]] = Var(tok[1])
        return v

    def skip_general_terms(self) -> None:
        """Skip annotations up to (not including) the ``)`` closing the annotated formula."""
        toks = self.toks
        open_: list[str] = []
        while True:
            tok = toks[self.i]
            kind = tok[0]
            if kind == "eof":
                raise self.error("unexpected end of file in annotations")
            if kind == "(" or kind == "[":
                open_.append(kind)
            elif kind == ")" or kind == "]":
                if not open_:
                    if kind == "]":
                        raise self.error("unbalanced ']' in annotations")
                    return
                if open_.pop() != ("(" if kind == ")" else "["):
                    raise self.error(f"unbalanced {kind!r} in annotations")
            self.i += 1


# ---------------------------------------------------------------------------- files


def _inside(path: str, root: str) -> bool:
    """Whether the normalised absolute ``path`` is ``root`` or below it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class _TooBig(Exception):
    """A file over the reader's byte budget (turned into a positioned error by the caller)."""


def _read_text(path: str, budget: int) -> str:
    """The text of the regular file ``path`` (UTF-8, bad bytes replaced), at most ``budget``
    bytes; :class:`_TooBig` beyond, ``OSError`` if it cannot be read or is not a regular
    file. Opened without blocking, so a FIFO is refused instead of waited on."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError("not a regular file")
        if os.fstat(fd).st_size > budget:
            raise _TooBig
        data = fh.read(budget + 1)
    if len(data) > budget:
        raise _TooBig
    return data.decode("utf-8", errors="replace")


def _os_reason(e: OSError) -> str:
    return e.strerror or str(e) or type(e).__name__


class _Reader:
    """One problem being read: where includes may come from, the limits, what is spent."""

    def __init__(
        self,
        problem_dir: str,
        tptp_root: str | None,
        include_roots: Iterable[str | os.PathLike[str]],
        limits: ReadLimits,
    ) -> None:
        root = tptp_root if tptp_root is not None else os.environ.get("TPTP")
        self.tptp_root = root or None
        roots = [problem_dir, *([self.tptp_root] if self.tptp_root else []), *include_roots]
        self.roots = tuple(os.path.normpath(os.path.abspath(r)) for r in roots)
        self.real_roots = tuple(os.path.realpath(r) for r in self.roots)
        self.limits = limits
        self.bytes = 0  # text parsed so far
        self.out: list[AnnotatedFormula] = []
        # what is known already: where an include name leads from a folder, the text of
        # each file, and which slice of ``out`` each (file, selection) gave
        self.found: dict[tuple[str | None, str], tuple[Path, str]] = {}
        self.texts: dict[str, str] = {}
        self.done: dict[tuple[str, frozenset[str] | None], tuple[int, int]] = {}

    def find(self, name: str, including: Path | None, p: _Parser, ftok: tuple) -> tuple[Path, str]:
        """The file ``include(name)`` means in the file ``including`` and its real path; an
        error if it is outside the allowed folders (checked before the file system is asked,
        so a refusal says nothing about what is there) or if there is none."""
        shown = _shown(name)
        if not name or not name.isprintable():
            raise p.error(f"include {shown}: not a file name", ftok)
        bases = [including.parent if including is not None else None]
        if self.tptp_root:
            bases.append(Path(self.tptp_root))
        refused = False
        for base in bases:
            candidate = base / name if base is not None else Path(name)
            lexical = os.path.normpath(os.path.abspath(candidate))
            if not any(_inside(lexical, r) for r in self.roots):
                refused = True
                continue
            if not os.path.isfile(candidate):  # False for errors (a name too long) too
                continue
            real = os.path.realpath(candidate)
            if not any(_inside(real, r) for r in self.real_roots):
                refused = True  # a symbolic link out of them
                continue
            return candidate, real
        if refused:
            raise p.error(
                f"include {shown} refused: outside the problem's folder and the TPTP"
                " root (include_roots allows more)",
                ftok,
            )
        raise p.error(f"cannot find included file {shown}", ftok)

    def parse(
        self,
        text: str,
        file: str,
        path: Path | None,
        selection: frozenset[str] | None,
        stack: tuple[str, ...],
        depth: int,
    ) -> None:
        """Parse one file's ``text`` onto ``self.out``, includes spliced in place; ``stack``
        holds the files being read (for cycles), ``depth`` counts the includes above."""
        limits = self.limits
        self.bytes += len(text)
        if self.bytes > limits.max_bytes:
            raise TPTPSyntaxError(
                file, 1, 1, f"more than {limits.max_bytes} bytes of TPTP text (max_bytes)"
            )
        p = _Parser(text, file, limits.max_depth)
        toks = p.toks
        out = self.out
        while True:
            tok = toks[p.i]
            kind, word, k = tok
            if kind == "eof":
                return
            if kind != "lower":
                raise p.error(f"expected 'fof', 'cnf' or 'include', found {_describe(tok)}")
            p.i += 1
            if word == "include":
                self.include(p, path, stack, depth + 1)
                continue
            if word in ("tff", "thf", "tcf", "tpi"):
                raise p.error(f"{word} formulas are not supported (only fof and cnf)", tok)
            if word not in ("fof", "cnf"):
                raise p.error(f"expected 'fof', 'cnf' or 'include', found {_describe(tok)}", tok)
            line = p.tokens.line(k)
            p.vars = {}
            p.expect("(")
            name = p.name()
            p.expect(",")
            rtok = p.expect("lower")
            p.expect(",")
            formula = p.formula()
            if toks[p.i][0] == ",":
                p.i += 1
                p.skip_general_terms()
            p.expect(")")
            p.expect(".")
            if selection is None or name in selection:
                out.append(AnnotatedFormula(word, name, rtok[1], formula, file, line))
                if len(out) > limits.max_formulas:
                    raise p.error(f"more than {limits.max_formulas} formulas (max_formulas)", tok)

    def include(self, p: _Parser, path: Path | None, stack: tuple[str, ...], depth: int) -> None:
        """``include('F', [names]).`` after the word ``include``: find, check, splice."""
        toks = p.toks
        limits = self.limits
        p.expect("(")
        ftok = p.expect("squote")
        names: frozenset[str] | None = None
        if toks[p.i][0] == ",":
            p.i += 1
            p.expect("[")
            sel = []
            if toks[p.i][0] != "]":
                sel.append(p.name())
                while toks[p.i][0] == ",":
                    p.i += 1
                    sel.append(p.name())
            p.expect("]")
            names = frozenset(sel)
        p.expect(")")
        p.expect(".")
        inc_name = _unquote(ftok[1])
        shown = _shown(inc_name)
        if depth > limits.max_include_depth:
            raise p.error(
                f"include {shown}: includes nested deeper than {limits.max_include_depth}"
                " (max_include_depth)",
                ftok,
            )
        where = (str(path.parent) if path is not None else None, inc_name)
        found = self.found.get(where)
        if found is None:
            found = self.found[where] = self.find(inc_name, path, p, ftok)
        inc, real = found
        if real in stack:
            raise p.error(f"include cycle through {shown}", ftok)
        out = self.out
        key = (str(inc), names)
        done = self.done.get(key)
        if done is not None:
            # The same file with the same selection again: splice in what it gave the first
            # time (it has no cycle back to ``stack``, or that would have been an error then).
            start, end = done
            if len(out) + (end - start) > limits.max_formulas:
                raise p.error(
                    f"include {shown}: more than {limits.max_formulas} formulas (max_formulas)",
                    ftok,
                )
            out.extend(out[start:end])
            return
        text = self.texts.get(real)
        if text is None:
            try:
                text = self.texts[real] = _read_text(str(inc), limits.max_bytes - self.bytes)
            except _TooBig:
                raise p.error(
                    f"include {shown}: more than {limits.max_bytes} bytes of TPTP text (max_bytes)",
                    ftok,
                ) from None
            except OSError as e:
                reason = _os_reason(e)
                raise p.error(f"cannot read included file {shown}: {reason}", ftok) from None
        start = len(out)
        self.parse(text, str(inc), inc, names, (*stack, real), depth)
        self.done[key] = (start, len(out))


def _problem_dir(filename: str) -> str:
    return os.path.dirname(os.path.abspath(filename)) if filename != "<string>" else os.getcwd()


def parse_problem(
    text: str,
    filename: str = "<string>",
    *,
    tptp_root: str | None = None,
    include_roots: Iterable[str | os.PathLike[str]] = (),
    limits: ReadLimits = DEFAULT_LIMITS,
) -> Problem:
    """Parse TPTP ``text``; includes are resolved relative to ``filename``'s directory (the
    working directory for ``"<string>"``), then under the TPTP root, and may come from
    those two and the folders ``include_roots`` only (see the module docstring)."""
    path = Path(filename) if filename != "<string>" else None
    reader = _Reader(_problem_dir(filename), tptp_root, include_roots, limits)
    stack = (os.path.realpath(filename),) if path is not None else ()
    reader.parse(text, filename, path, None, stack, 0)
    return Problem(filename, tuple(reader.out))


def read_problem(
    path: str | os.PathLike[str],
    *,
    tptp_root: str | None = None,
    include_roots: Iterable[str | os.PathLike[str]] = (),
    limits: ReadLimits = DEFAULT_LIMITS,
) -> Problem:
    """Read a TPTP file (``.p`` or ``.ax``) and everything it includes; a file that cannot
    be read (missing, a folder, over ``limits.max_bytes``) is a :class:`TPTPSyntaxError`
    at its line 1, column 1."""
    p = Path(path)
    try:
        text = _read_text(str(p), limits.max_bytes)
    except _TooBig:
        msg = f"more than {limits.max_bytes} bytes of TPTP text (max_bytes)"
        raise TPTPSyntaxError(str(p), 1, 1, msg) from None
    except (OSError, ValueError) as e:  # ValueError: a NUL in the name
        reason = _os_reason(e) if isinstance(e, OSError) else str(e)
        raise TPTPSyntaxError(str(p), 1, 1, f"cannot read: {reason}") from None
    return parse_problem(
        text, str(p), tptp_root=tptp_root, include_roots=include_roots, limits=limits
    )


def parse_formula(
    text: str, filename: str = "<string>", *, limits: ReadLimits = DEFAULT_LIMITS
) -> Formula:
    """Parse a single FOF formula (no ``fof(...)`` wrapper), e.g. ``"! [X] : p(X)"``."""
    p = _Parser(text, filename, limits.max_depth)
    f = p.formula()
    if p.toks[p.i][0] != "eof":
        raise p.error(f"unexpected {_describe(p.toks[p.i])} after the formula")
    return f
