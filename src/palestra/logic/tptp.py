"""A reader for TPTP problem files: ``fof`` and ``cnf`` formulas, ``include`` directives.

Hand-written: one regular expression cuts the text into tokens, a recursive-descent
parser builds :mod:`palestra.logic.formula` trees. Grammar (TPTP v8, FOF/CNF subset)::

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
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

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
    "TPTPSyntaxError",
    "parse_formula",
    "parse_problem",
    "read_problem",
]


class TPTPSyntaxError(ValueError):
    """A malformed TPTP input; ``str(err)`` is ``FILE:LINE:COL: message``."""

    def __init__(self, file: str, line: int, col: int, message: str) -> None:
        super().__init__(f"{file}:{line}:{col}: {message}")
        self.file = file
        self.line = line
        self.col = col
        self.message = message


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
# a single character no token starts with (reported as an error), or the end of the text
# (so trailing layout is consumed whole). ``findall`` does the whole file in C; kinds
# come from the first character.
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
    | (.)
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
        self.layouts: tuple[str, ...] = layouts
        self.words: tuple[str, ...] = words
        if any(bad):
            k = next(i for i, b in enumerate(bad) if b)
            c = bad[k]
            off = self.offset(k)
            if text.startswith("/*", off):
                _raise_at(text, file, off, "unterminated comment '/*'")
            if c == "'":
                _raise_at(text, file, off, "unterminated quoted atom")
            if c == '"':
                _raise_at(text, file, off, "unterminated distinct object")
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
        if k >= len(self.words):
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
    return "end of file" if kind == "eof" else repr(text)


# ---------------------------------------------------------------------------- parser


class _Parser:
    """Recursive descent over the token list of one file."""

    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.tokens = _Tokens(text, file)
        self.toks = self.tokens.toks
        self.i = 0
        self.vars: dict[str, Var] = {}

    # -- helpers
    def error(self, message: str, tok: tuple[str, str, int] | None = None) -> TPTPSyntaxError:
        tok = self.toks[self.i] if tok is None else tok
        line, col = _line_col(self.text, self.tokens.offset(tok[2]))
        return TPTPSyntaxError(self.file, line, col, message)

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
                        raise self.error(f"{tok[1]} cannot take arguments")
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
        """``unitary (binop unitary)*``, right-associative, by operator precedence."""
        toks = self.toks
        operands = [self.unitary()]
        ops: list[tuple[int, str]] = []
        while True:
            op = toks[self.i][0]
            prec = _BINOP_PREC.get(op)
            if prec is None:
                break
            self.i += 1
            while ops and ops[-1][0] < prec:
                _, top = ops.pop()
                b = operands.pop()
                operands[-1] = _combine(top, operands[-1], b)
            ops.append((prec, op))
            operands.append(self.unitary())
        while ops:
            _, top = ops.pop()
            b = operands.pop()
            operands[-1] = _combine(top, operands[-1], b)
        return operands[0]

    def unitary(self) -> Formula:
        toks = self.toks
        tok = toks[self.i]
        kind = tok[0]
        if kind == "~":
            self.i += 1
            return Not(self.unitary())
        if kind == "!" or kind == "?":
            self.i += 1
            self.expect("[")
            vs = [self.variable()]
            while toks[self.i][0] == ",":
                self.i += 1
                vs.append(self.variable())
            self.expect("]")
            self.expect(":")
            body = self.unitary()
            return Forall(tuple(vs), body) if kind == "!" else Exists(tuple(vs), body)
        if kind == "(":
            self.i += 1
            f = self.formula()
            self.expect(")")
            return f
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


def _resolve_include(name: str, including: Path | None, tptp_root: str | None) -> Path | None:
    candidates = []
    if including is not None:
        candidates.append(including.parent / name)
    else:
        candidates.append(Path(name))
    root = tptp_root if tptp_root is not None else os.environ.get("TPTP")
    if root:
        candidates.append(Path(root) / name)
    for c in candidates:
        if c.is_file():
            return c
    return None


def _parse_file_text(
    text: str,
    file: str,
    path: Path | None,
    tptp_root: str | None,
    selection: frozenset[str] | None,
    stack: tuple[Path, ...],
    out: list[AnnotatedFormula],
) -> None:
    p = _Parser(text, file)
    toks = p.toks
    while True:
        tok = toks[p.i]
        kind, word, k = tok
        if kind == "eof":
            return
        if kind != "lower":
            raise p.error(f"expected 'fof', 'cnf' or 'include', found {_describe(tok)}")
        p.i += 1
        if word == "include":
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
            inc = _resolve_include(inc_name, path, tptp_root)
            if inc is None:
                raise p.error(f"cannot find included file {inc_name!r}", ftok)
            resolved = inc.resolve()
            if resolved in stack:
                raise p.error(f"include cycle through {inc_name!r}", ftok)
            try:
                inc_text = inc.read_text(encoding="utf-8", errors="replace")
            except OSError as e:
                raise p.error(f"cannot read included file {inc_name!r}: {e}", ftok) from None
            _parse_file_text(inc_text, str(inc), inc, tptp_root, names, (*stack, resolved), out)
            continue
        if word in ("tff", "thf", "tcf", "tpi"):
            raise p.error(f"{word} formulas are not supported (only fof and cnf)", tok)
        if word not in ("fof", "cnf"):
            raise p.error(f"expected 'fof', 'cnf' or 'include', found {word!r}", tok)
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


def parse_problem(
    text: str, filename: str = "<string>", *, tptp_root: str | None = None
) -> Problem:
    """Parse TPTP ``text``; includes are resolved relative to ``filename``'s directory."""
    path = Path(filename) if filename != "<string>" else None
    out: list[AnnotatedFormula] = []
    stack = (path.resolve(),) if path is not None else ()
    _parse_file_text(text, filename, path, tptp_root, None, stack, out)
    return Problem(filename, tuple(out))


def read_problem(path: str | os.PathLike[str], *, tptp_root: str | None = None) -> Problem:
    """Read a TPTP file (``.p`` or ``.ax``) and everything it includes."""
    p = Path(path)
    text = p.read_text(encoding="utf-8", errors="replace")
    return parse_problem(text, str(p), tptp_root=tptp_root)


def parse_formula(text: str, filename: str = "<string>") -> Formula:
    """Parse a single FOF formula (no ``fof(...)`` wrapper), e.g. ``"! [X] : p(X)"``."""
    p = _Parser(text, filename)
    f = p.formula()
    if p.toks[p.i][0] != "eof":
        raise p.error(f"unexpected {_describe(p.toks[p.i])} after the formula")
    return f
