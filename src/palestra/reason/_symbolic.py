r"""The symbolic half of :mod:`palestra.reason.answers`: a small LaTeX parser and comparison.

Runs only inside the answers worker process (sympy may take any time on a hostile answer;
the caller's timeout kills the worker, never this code). :func:`parse` turns a normalised
final answer into sympy expressions inside a few plain structures:

- ``Seq``: ``(a, b, c)`` (kind ``tuple``, ordered), ``\{a, b\}`` (``set``, unordered) and a
  bare ``a, b`` (``list``: unordered against a set or list, ordered against a tuple);
- ``Ival``: ``[a, b)``, ``(a, b]``, ``[a, b]`` (``(a, b)`` stays a pair, equal to the open
  interval); ``Union``: intervals joined by ``\cup``;
- ``Rel``: ``lhs op rhs`` for ``= < > <= >= !=``; ``Mat``: ``\begin{pmatrix}...\end{pmatrix}``.

The grammar (precedence low to high): list ``,`` > union ``\cup`` > relation > sum ``+ - \pm``
> product ``* / \cdot \times \div`` and juxtaposition > unary minus > power ``^`` > postfix
``!`` > atom. ``x^23`` is ``x^2 * 3`` as in TeX; ``2\frac{1}{2}`` is the mixed number 5/2;
``e`` is Euler's number and ``i`` the imaginary unit; decimals are exact rationals.

:func:`compare` answers ``(how, detail)``: ``how`` is ``"symbolic"`` (``simplify(a-b) == 0``
for every paired expression), ``"numeric"`` (some pair only agreed to 1e-12 relative, at 50
digits or at five seeded random points from 0.5 to 13,000) or ``None`` (with the first
difference found). A difference that sympy proves nonzero (``2^{100}`` vs ``2^{100}+1``) is
only excused by the numeric tolerance when one side is written with a decimal
(``0.8660254037844386`` for ``\frac{\sqrt{3}}{2}``).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

import sympy

__all__ = ["Ival", "Mat", "Rel", "Seq", "Union", "canonical", "compare", "parse"]


@dataclass(frozen=True)
class Seq:
    kind: str  # "tuple" | "set" | "list"
    items: tuple


@dataclass(frozen=True)
class Ival:
    lo: Any
    hi: Any
    lo_open: bool
    hi_open: bool


@dataclass(frozen=True)
class Union:
    parts: tuple


@dataclass(frozen=True)
class Rel:
    op: str
    lhs: Any
    rhs: Any


@dataclass(frozen=True)
class Mat:
    rows: tuple


class ParseError(ValueError):
    pass


# -- tokens -----------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"\s*(\d+\.\d*|\.\d+|\d+|\\\\|\\[A-Za-z]+|\\[{}|,;:! %$&]|[A-Za-z]|<=|>=|!=|\S)"
)
_DROP = {"\\left", "\\right", "\\,", "\\;", "\\:", "\\!", "\\ ", "\\displaystyle", "\\limits"}
_ALIAS = {
    "\\dfrac": "\\frac", "\\tfrac": "\\frac", "\\cdot": "*", "\\times": "*", "\\ast": "*",
    "\\div": "/", "\\le": "<=", "\\leq": "<=", "\\leqslant": "<=", "\\ge": ">=", "\\geq": ">=",
    "\\geqslant": ">=", "\\ne": "!=", "\\neq": "!=", "\\lt": "<", "\\gt": ">",
    "\\lbrace": "\\{", "\\rbrace": "\\}", "\\lvert": "|", "\\rvert": "|", "\\vert": "|",
    "\\mid": "|", "\\cup": "\\cup", "\\mathbf": "\\text", "\\textbf": "\\text",
    "\\mathrm": "\\text", "\\operatorname": "\\text",
}  # fmt: skip
_FUNCTIONS = {
    "\\sin": sympy.sin, "\\cos": sympy.cos, "\\tan": sympy.tan, "\\cot": sympy.cot,
    "\\sec": sympy.sec, "\\csc": sympy.csc, "\\arcsin": sympy.asin, "\\arccos": sympy.acos,
    "\\arctan": sympy.atan, "\\sinh": sympy.sinh, "\\cosh": sympy.cosh, "\\tanh": sympy.tanh,
    "\\ln": sympy.log, "\\exp": sympy.exp,
}  # fmt: skip
_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
    "vartheta", "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "phi", "varphi",
    "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Phi", "Psi",
    "Omega",
}  # fmt: skip
_RELOPS = {"=", "<", ">", "<=", ">=", "!="}
PM = sympy.Symbol("pm__")  # the sign of \pm, split into two answers at the end


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            break
        pos = m.end()
        tok = _ALIAS.get(m.group(1), m.group(1))
        if tok not in _DROP:
            out.append(tok)
    return out


# -- the parser -------------------------------------------------------------------------------
class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.toks = tokens
        self.i = 0

    def peek(self, k: int = 0) -> str | None:
        return self.toks[self.i + k] if self.i + k < len(self.toks) else None

    def next(self) -> str:
        tok = self.peek()
        if tok is None:
            raise ParseError("unexpected end")
        self.i += 1
        return tok

    def accept(self, tok: str) -> bool:
        if self.peek() == tok:
            self.i += 1
            return True
        return False

    def expect(self, tok: str) -> None:
        if not self.accept(tok):
            raise ParseError(f"expected {tok!r}, got {self.peek()!r}")

    # list > union > relation > sum > product > unary > power > postfix > atom
    def items(self, closers: tuple[str, ...]) -> list:
        out = [self.union()]
        while self.accept(","):
            if self.peek() in closers or self.peek() is None:  # a trailing comma
                break
            out.append(self.union())
        return out

    def top(self) -> Any:
        out = self.items(())
        if self.peek() is not None:
            raise ParseError(f"unexpected {self.peek()!r}")
        return out[0] if len(out) == 1 else Seq("list", tuple(out))

    def union(self) -> Any:
        parts = [self.relation()]
        while self.accept("\\cup"):
            parts.append(self.relation())
        return parts[0] if len(parts) == 1 else Union(tuple(parts))

    def relation(self) -> Any:
        lhs = self.sum()
        if self.peek() in _RELOPS:
            op = self.next()
            return Rel(op, lhs, self.sum())
        return lhs

    def sum(self) -> Any:
        if self.accept("\\pm"):
            value = PM * self.product()
        elif self.accept("\\mp"):
            value = -PM * self.product()
        else:
            value = self.product()
        while True:
            if self.accept("+"):
                value = value + self.product()
            elif self.accept("-"):
                value = value - self.product()
            elif self.accept("\\pm"):
                value = value + PM * self.product()
            elif self.accept("\\mp"):
                value = value - PM * self.product()
            else:
                return value

    def product(self) -> Any:
        value = self.unary()
        while True:
            if self.accept("*"):
                value = value * self.unary()
            elif self.accept("/"):
                value = value / self.unary()
            elif self.starts_atom(self.peek()):
                value = value * self.power()
            else:
                return value

    @staticmethod
    def starts_atom(tok: str | None) -> bool:
        if tok is None:
            return False
        if tok[0].isdigit() or tok[0] == "." or tok.isalpha():
            return True
        if tok in ("(", "{", "\\{"):
            return True
        return tok.startswith("\\") and tok[1:].isalpha() and tok not in _NOT_ATOMS

    def unary(self) -> Any:
        if self.accept("-"):
            return -self.unary()
        if self.accept("+"):
            return self.unary()
        return self.power()

    def power(self) -> Any:
        base = self.postfix()
        if self.accept("^"):
            exponent = self.script()
            if exponent is None:  # ^\circ: degrees are the number itself
                return base
            return sympy.Pow(base, exponent)
        return base

    def script(self) -> Any:
        """A super- or subscript: a braced group or one token (``x^23`` is ``x^2 * 3``)."""
        tok = self.peek()
        if tok == "{":
            self.next()
            if self.accept("\\circ"):
                self.expect("}")
                return None
            value = self.union()
            self.expect("}")
            return value
        if tok == "\\circ":
            self.next()
            return None
        if tok is not None and tok[0].isdigit() and len(tok) > 1:
            self.toks[self.i] = tok[1:]
            return sympy.Integer(tok[0])
        if tok == "-":
            self.next()
            return -self.script()
        return self.postfix()

    def postfix(self) -> Any:
        value = self.atom()
        while self.peek() == "!":
            self.next()
            value = sympy.factorial(value)
        return value

    def group(self) -> Any:
        """A command's argument: ``{...}`` or a single token."""
        if self.accept("{"):
            value = self.union()
            self.expect("}")
            return value
        tok = self.peek()
        if tok is not None and tok[0].isdigit() and len(tok) > 1:
            self.toks[self.i] = tok[1:]
            return sympy.Integer(tok[0])
        return self.atom()

    def atom(self) -> Any:
        tok = self.next()
        if tok[0].isdigit() or tok[0] == ".":
            number = sympy.Rational(tok)
            if self.peek() == "\\frac" and "." not in tok:  # a mixed number 2\frac{1}{2}?
                start = self.i
                self.next()
                frac_toks = self.toks[self.i : self.i + 6]
                frac = self.frac()
                plain = frac_toks[:1] == ["{"] and all(t.isdigit() or t in "{}" for t in frac_toks)
                if plain and frac.is_Rational and 0 < frac < 1:
                    return number + frac
                self.i = start
            return number
        if tok.isalpha() and len(tok) == 1:
            return self.symbol(tok)
        if tok == "(" or tok == "[":
            return self.bracket(tok)
        if tok == "{":
            out = self.items(("}",))
            self.expect("}")
            return out[0] if len(out) == 1 else Seq("list", tuple(out))
        if tok == "\\{":
            if self.accept("\\}"):
                return Seq("set", ())
            out = self.items(("\\}",))
            self.expect("\\}")
            return Seq("set", tuple(out))
        if tok == "|":
            value = self.sum()
            self.expect("|")
            return sympy.Abs(value)
        return self.command(tok)

    def symbol(self, name: str) -> Any:
        if self.accept("_"):
            sub = self.peek()
            if sub == "{":
                self.next()
                parts = []
                while self.peek() not in ("}", None):
                    parts.append(self.next())
                self.expect("}")
                sub = "".join(parts)
            else:
                sub = self.next()
            return sympy.Symbol(f"{name}_{sub}")
        if name == "e":
            return sympy.E
        if name == "i":
            return sympy.I
        return sympy.Symbol(name)

    def frac(self) -> Any:
        num = self.group()
        den = self.group()
        return num / den

    def bracket(self, open_: str) -> Any:
        out = self.items((")", "]"))
        close = self.next()
        if close not in (")", "]"):
            raise ParseError(f"unclosed {open_!r}")
        if len(out) == 1:
            if open_ == "(" and close == ")":
                return out[0]
            if open_ == "[" and close == "]":
                return out[0]
            raise ParseError("an interval needs two ends")
        if len(out) == 2 and (open_, close) != ("(", ")"):
            return Ival(out[0], out[1], open_ == "(", close == ")")
        if (open_, close) != ("(", ")"):
            raise ParseError("mismatched brackets")
        return Seq("tuple", tuple(out))

    def command(self, tok: str) -> Any:
        if tok == "\\frac":
            return self.frac()
        if tok == "\\sqrt":
            if self.accept("["):
                index = self.union()
                self.expect("]")
                return sympy.root(self.group(), index)
            return sympy.sqrt(self.group())
        if tok == "\\binom":
            n = self.group()
            return sympy.binomial(n, self.group())
        if tok == "\\pi":
            return sympy.pi
        if tok == "\\infty":
            return sympy.oo
        if tok == "\\text":
            return self.group()
        if tok in ("\\lfloor", "\\lceil"):
            value = self.sum()
            self.expect("\\rfloor" if tok == "\\lfloor" else "\\rceil")
            return sympy.floor(value) if tok == "\\lfloor" else sympy.ceiling(value)
        if tok == "\\log":
            base = self.script() if self.accept("_") else None
            arg = self.fn_arg()
            return sympy.log(arg, base) if base is not None else sympy.log(arg)
        if tok in _FUNCTIONS:
            exponent = self.script() if self.accept("^") else None
            value = _FUNCTIONS[tok](self.fn_arg())
            return value if exponent is None else value**exponent
        if tok == "\\begin":
            return self.matrix()
        if tok[1:] in _GREEK:
            return self.symbol(tok[1:])
        raise ParseError(f"unknown command {tok}")

    def fn_arg(self) -> Any:
        if self.peek() in ("(", "{"):
            return self.atom()
        return self.power()

    def matrix(self) -> Mat:
        self.expect("{")
        env = self.next()
        while self.peek() not in ("}", None):
            env += self.next()
        self.expect("}")
        rows: list[tuple] = []
        row: list = []
        while True:
            if self.accept("\\end"):
                self.expect("{")
                while self.next() != "}":
                    pass
                break
            row.append(self.sum())
            if self.accept("&"):
                continue
            if self.accept("\\\\"):
                rows.append(tuple(row))
                row = []
                continue
        if row:
            rows.append(tuple(row))
        if not env.endswith("matrix") or len({len(r) for r in rows}) != 1:
            raise ParseError("a ragged or unknown matrix")
        return Mat(tuple(rows))


_NOT_ATOMS = {"\\cup", "\\rfloor", "\\rceil", "\\end", "\\pm", "\\mp", "\\circ", "\\}"}


def _split_pm(value: Any) -> Any:
    if isinstance(value, sympy.Basic) and PM in value.free_symbols:
        return Seq("set", (value.subs(PM, 1), value.subs(PM, -1)))
    return value


def parse(text: str) -> Any:
    """A normalised answer as sympy expressions in the structures of the module doc."""
    tokens = _tokens(text)
    if not tokens:
        raise ParseError("empty")
    value = _Parser(tokens).top()
    if isinstance(value, Seq):
        return Seq(value.kind, tuple(_split_pm(v) for v in value.items))
    return _split_pm(value)


# -- comparison -------------------------------------------------------------------------------
_TOLERANCE = sympy.Float("1e-12", 50)
# variables are tried at one point of each scale, x in [lo/7, 10 lo/7]: small and large values,
# so that floor(log_7 a) and floor(log_2 a) cannot agree at every point by chance
_SCALES = (4, 20, 150, 1000, 9000)
_decimals = False  # whether the pair being compared has a decimal (the worker is one thread)


def _expr_same(a: Any, b: Any) -> str | None:
    if not (isinstance(a, sympy.Basic) and isinstance(b, sympy.Basic)):
        return None
    if a == b:
        return "symbolic"
    if a.has(sympy.oo, -sympy.oo, sympy.zoo) or b.has(sympy.oo, -sympy.oo, sympy.zoo):
        return "symbolic" if sympy.simplify(a) == sympy.simplify(b) else None
    difference = sympy.simplify(a - b)
    if difference == 0:
        return "symbolic"
    if difference.is_zero is False and not _decimals:  # proved different: no tolerance
        return None
    symbols = sorted(difference.free_symbols, key=str)
    rng = random.Random(0)
    points = [{s: sympy.Rational(rng.randint(lo, 10 * lo), 7) for s in symbols} for lo in _SCALES]
    for point in points if symbols else [{}]:
        va = sympy.N(a.subs(point), 50)
        vb = sympy.N(b.subs(point), 50)
        if not (va.is_number and vb.is_number):
            return None
        scale = max(sympy.Integer(1), abs(vb))
        if not abs(va - vb) <= _TOLERANCE * scale:
            return None
    return "numeric"


def _combine(hows: list[str | None]) -> str | None:
    if any(h is None for h in hows):
        return None
    return "numeric" if "numeric" in hows else "symbolic"


def _ordered(xs: tuple, ys: tuple) -> str | None:
    if len(xs) != len(ys):
        return None
    return _combine([_same(x, y) for x, y in zip(xs, ys, strict=True)]) if xs else "symbolic"


def _unordered(xs: tuple, ys: tuple) -> str | None:
    """A perfect matching of ``xs`` to equal ``ys`` (backtracking; answers are small)."""
    if len(xs) != len(ys) or len(xs) > 40:
        return None
    table = [[_same(x, y) for y in ys] for x in xs]
    used = [False] * len(ys)
    hows: list[str] = []

    def match(k: int) -> bool:
        if k == len(xs):
            return True
        for j, how in enumerate(table[k]):
            if how is not None and not used[j]:
                used[j] = True
                hows.append(how)
                if match(k + 1):
                    return True
                used[j] = False
                hows.pop()
        return False

    return _combine(list(hows)) if match(0) else None


def _same(x: Any, y: Any) -> str | None:
    if isinstance(x, Seq) and isinstance(y, Seq):
        kinds = {x.kind, y.kind}
        if kinds == {"tuple", "set"}:
            return None
        if "tuple" in kinds:
            return _ordered(x.items, y.items)
        return _unordered(x.items, y.items)
    if isinstance(x, Ival) and isinstance(y, Seq):
        x, y = y, x
    if isinstance(x, Seq) and isinstance(y, Ival):  # the pair (a, b) is the open interval
        if x.kind == "tuple" and len(x.items) == 2 and y.lo_open and y.hi_open:
            return _ordered(x.items, (y.lo, y.hi))
        return None
    if isinstance(x, Ival) and isinstance(y, Ival):
        if (x.lo_open, x.hi_open) != (y.lo_open, y.hi_open):
            return None
        return _ordered((x.lo, x.hi), (y.lo, y.hi))
    if isinstance(x, Union) and isinstance(y, Union):
        return _unordered(x.parts, y.parts)
    if isinstance(x, Rel) and isinstance(y, Rel):
        flipped = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "=", "!=": "!="}
        if x.op == y.op:
            how = _ordered((x.lhs, x.rhs), (y.lhs, y.rhs))
            if how is None and x.op in ("=", "!="):
                how = _expr_same(x.lhs - x.rhs, y.lhs - y.rhs) or _expr_same(
                    x.lhs - x.rhs, y.rhs - y.lhs
                )
            return how
        if flipped[x.op] == y.op:
            return _ordered((x.lhs, x.rhs), (y.rhs, y.lhs))
        return None
    if isinstance(x, Mat) and isinstance(y, Mat):
        if len(x.rows) != len(y.rows):
            return None
        return _combine([_ordered(r, s) for r, s in zip(x.rows, y.rows, strict=True)])
    return _expr_same(x, y)


def compare(answer: str, gold: str) -> tuple[str | None, str]:
    """``(how, detail)``: how the two normalised answers are equal, or None and why not."""
    try:
        a = parse(answer)
    except (ParseError, TypeError, ValueError) as e:
        return None, f"answer not parsed: {e}"
    try:
        g = parse(gold)
    except (ParseError, TypeError, ValueError) as e:
        return None, f"gold not parsed: {e}"
    global _decimals
    _decimals = bool(re.search(r"\d\.\d", answer + " " + gold))
    how = _same(a, g)
    return how, "" if how else f"{type(a).__name__} vs {type(g).__name__} differ"


def _key(v: Any) -> str:
    if isinstance(v, Seq):
        keys = [_key(x) for x in v.items]
        if v.kind == "tuple":
            return "(" + ",".join(keys) + ")"
        return "{" + ",".join(sorted(keys)) + "}"
    if isinstance(v, Ival):
        lo, hi = "(" if v.lo_open else "[", ")" if v.hi_open else "]"
        return f"{lo}{_key(v.lo)},{_key(v.hi)}{hi}"
    if isinstance(v, Union):
        return "U".join(sorted(_key(p) for p in v.parts))
    if isinstance(v, Rel):
        return f"{_key(v.lhs)}{v.op}{_key(v.rhs)}"
    if isinstance(v, Mat):
        return "[" + ";".join(",".join(_key(x) for x in r) for r in v.rows) + "]"
    return str(sympy.simplify(v))


def canonical(text: str) -> str:
    """The vote key of a normalised answer ("" when it does not parse)."""
    try:
        return _key(parse(text))
    except (ParseError, TypeError, ValueError):
        return ""
