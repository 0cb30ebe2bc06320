"""Property tests of the TPTP reader (issue 22): whatever the text, the reader returns a
``Problem`` or raises its own one-line ``TPTPSyntaxError``, never anything else.

Marked ``fuzz``: ``make test`` runs the "ci" profile of ``tests/conftest.py``; a long run is
``HYPOTHESIS_PROFILE=fuzz PALESTRA_FUZZ_EXAMPLES=N pytest -m fuzz tests/logic``.
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from palestra.core.data import find
from palestra.logic.clausify import ClausifyError, clausify
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
)
from palestra.logic.syntax import Fn, Term, Var
from palestra.logic.tptp import (
    Problem,
    ReadLimits,
    TPTPSyntaxError,
    parse_formula,
    parse_problem,
)

pytestmark = pytest.mark.fuzz

PACKAGED = Path(__file__).resolve().parents[2] / "src" / "palestra" / "data" / "tptp" / "m2k"
LIMIT = ReadLimits().max_depth
SECRET = "SECRET-CONTENT"  # in a file outside the include folder, behind a link into it


@functools.cache
def corpus() -> tuple[str, ...]:
    """Real problems to mutate: the packaged M2k sample, and every 50th file of some shared
    TPTP sets where they are found (Mizar problems, flop's deep numerals)."""
    files = sorted(PACKAGED.glob("*.p"))
    for name in ("m2k", "m2n140", "flop-robinson", "flop-lcl-equivalential"):
        found = find(name)
        if found is not None:
            files += sorted(found.path.rglob("*.p"))[::50]
    return tuple(f.read_text(encoding="utf-8") for f in files)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the fuzzed problems "are": a few files to include, good and bad, and a link to
    a secret outside it."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "secret.ax").write_text(f"{SECRET}\n")
    inc = root / "problems"
    inc.mkdir()
    (inc / "ok.ax").write_text("fof(ok, axiom, p(a)).\ncnf(ok2, axiom, ~ q(X) | p(X)).\n")
    (inc / "bad.ax").write_text("fof(bad, axiom, (p).\n")
    (inc / "self.ax").write_text("include('self.ax').\n")
    (inc / "twice.ax").write_text("include('ok.ax').\ninclude('ok.ax', [ok]).\n")
    (inc / "link.ax").symlink_to(root / "secret.ax")
    return inc


INCLUDES = [
    "include('ok.ax').",
    "include('ok.ax', [ok2]).",
    "include('twice.ax').",
    "include('bad.ax').",
    "include('self.ax').",
    "include('link.ax').",
    "include('../secret.ax').",
    "include('/etc/passwd').",
    "include('nope.ax').",
    "include('ok.ax', [",
]
TOKENS = [
    "fof",
    "cnf",
    "tff",
    "include",
    "axiom",
    "conjecture",
    "hypothesis",
    "negated_conjecture",
    "p",
    "q",
    "f",
    "g",
    "a",
    "X",
    "Y",
    "Z_1",
    "(",
    ")",
    "[",
    "]",
    ",",
    ".",
    "~",
    "!",
    "?",
    ":",
    "&",
    "|",
    "=>",
    "<=",
    "<=>",
    "<~>",
    "~|",
    "~&",
    "=",
    "!=",
    "$true",
    "$false",
    "$o",
    "0",
    "42",
    "-1.5e3",
    "1/2",
    "'p'",
    "'a\\'b'",
    '"d"',
    "%",
    "/*",
    "*/",
    "\\",
    "'",
    '"',
    "@",
    "#",
    "^",
    ";",
    *INCLUDES,
    "fof(a, axiom, ",
    "fof(c, conjecture, ",
    ")).",
    "%comment\n",
    "/* block */",
    "\0",
    "\ufffd",
    "\u2028",
    "(((((",
    ")))))",
    "~ ~ ~ ~",
    "! [X] : ! [Y] :",
]
SEPARATORS = ["", " ", "\n", "\t", "  "]


def read(text: str, folder: Path) -> Problem | None:
    """The property: a ``Problem``, or the reader's error on one line, positioned, quoting
    nothing of a file outside the folder."""
    try:
        problem = parse_problem(text, str(folder / "P.p"), tptp_root=str(folder))
    except TPTPSyntaxError as e:
        event(f"refused: {e.message.split(':')[0].split(' ')[0]}")
        msg = str(e)
        assert len(msg.splitlines()) == 1
        assert e.line >= 1 and e.col >= 1
        assert msg.startswith(f"{e.file}:{e.line}:{e.col}: ")
        assert SECRET not in msg and "root:" not in msg
        return None
    event(f"read: {'no' if not problem.formulas else 'some'} formulas")
    return problem


STATEMENTS = [
    *INCLUDES,
    "fof(a, axiom, p(a)).",
    "fof(b, hypothesis, ! [X] : (p(X) => q(f(X)))).",
    "fof(c, conjecture, ? [Y] : q(Y)).",
    "cnf(d, negated_conjecture, ~ q(X) | X = a).",
    "fof('e f', axiom, $true & ~ $false, file('x.p', e), [useful]).",
]
TPTP_CHARS = "abpqfXY019_()[],.~!?:&|=<>$'\"%/*\\ \n\t"
ODD = {"\\", "'", '"', "@", "#", "^", ";", "\0", "\ufffd", "\u2028", "%", "/*", "*/"}
# mostly TPTP tokens and whole statements (so that some soups read), in a soup of their own
# or with odd characters and arbitrary text in between
clean_part = st.sampled_from(STATEMENTS) | st.sampled_from([t for t in TOKENS if t not in ODD])
noisy_part = (
    clean_part
    | st.sampled_from(sorted(ODD))
    | st.text(TPTP_CHARS, max_size=3)
    | st.text(max_size=2)
)
token_soup = st.one_of(
    *(
        st.lists(st.tuples(part, st.sampled_from(SEPARATORS)), max_size=60).map(
            lambda parts: "".join(t + s for t, s in parts)
        )
        for part in (clean_part, noisy_part)
    )
)


@given(text=token_soup)
def test_token_soup_parses_or_is_a_reader_error(text: str, folder: Path) -> None:
    read(text, folder)
    read(f"fof(f, axiom, {text}).", folder)  # the same soup as a formula


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A real problem after a few random edits: cut, insert, duplicate, replace, nest (a
    little, or right at the reader's nesting limit)."""
    text = draw(st.sampled_from(corpus()))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 300)))
        edit = draw(st.sampled_from(["cut", "insert", "duplicate", "replace", "truncate", "nest"]))
        if edit == "cut":
            text = text[:i] + text[j:]
        elif edit == "insert":
            piece = draw(st.sampled_from(TOKENS) | st.text(max_size=5))
            text = text[:i] + piece + text[i:]
        elif edit == "duplicate":
            text = text[:j] + text[i:j] * draw(st.integers(1, 5)) + text[j:]
        elif edit == "replace":
            text = text[:i] + draw(st.characters()) + text[i + 1 :]
        elif edit == "truncate":
            text = text[:i]
        else:
            k = draw(st.integers(1, 60) | st.sampled_from([LIMIT - 1, LIMIT, LIMIT + 1]))
            opening = draw(st.sampled_from(["(", "~ ", "! [X] : ", "f(", "["]))
            text = text[:i] + opening * k + text[i:j] + ")" * k + text[j:]
    return text


@given(text=mutated())
def test_mutated_real_problems_parse_or_are_reader_errors(text: str, folder: Path) -> None:
    """And what parses clausifies (definitional form: linear in the formula) or is a
    ``ClausifyError``."""
    problem = read(text, folder)
    if problem is not None:
        with contextlib.suppress(ClausifyError):
            clausify(problem, definitional=True)


@given(data=st.binary(max_size=400), prefix=st.sampled_from(["", "fof(a, axiom, p).\n"]))
def test_arbitrary_bytes_in_a_file_read_or_are_reader_errors(
    data: bytes, prefix: str, folder: Path
) -> None:
    from palestra.logic.tptp import read_problem

    path = folder / f"bytes{os.getpid()}.p"
    path.write_bytes(prefix.encode() + data)
    try:
        read_problem(path, tptp_root=str(folder))
    except TPTPSyntaxError as e:
        assert len(str(e).splitlines()) == 1 and SECRET not in str(e)


# ---------------------------------------------------------------- printing, then reading

names = st.from_regex(r"[a-z][a-z0-9_]{0,3}", fullmatch=True)
variables = st.sampled_from([Var("X"), Var("Y"), Var("Z1")])
terms: st.SearchStrategy[Term] = st.recursive(
    variables | names.map(Fn),
    lambda inner: st.tuples(names, st.lists(inner, min_size=1, max_size=3)).map(
        lambda t: Fn(t[0], tuple(t[1]))
    ),
    max_leaves=8,
)
atoms = (
    st.tuples(names, st.lists(terms, max_size=3)).map(lambda t: Atom(Fn(t[0], tuple(t[1]))))
    | st.tuples(terms, terms).map(lambda t: Atom(Fn("=", t)))
    | st.sampled_from([Top(), Bottom()])
)
binary = st.sampled_from([And, Or, Imp, Equiv])
quantifier = st.sampled_from([Forall, Exists])
formulas: st.SearchStrategy[Formula] = st.recursive(
    atoms,
    lambda inner: (
        inner.map(Not)
        | st.tuples(binary, inner, inner).map(lambda t: t[0](t[1], t[2]))
        | st.tuples(
            quantifier, st.lists(variables, min_size=1, max_size=2, unique=True), inner
        ).map(lambda t: t[0](tuple(t[1]), t[2]))
    ),
    max_leaves=16,
)


@given(f=formulas)
def test_a_printed_formula_reads_back_as_itself(f: Formula) -> None:
    """The explicit-stack parser against the grammar: ``str`` writes every binary
    connective in parentheses, so reading it back must give the same tree."""
    assert parse_formula(str(f)) == f
