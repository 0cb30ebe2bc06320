"""The TPTP reader: syntax, includes, error positions, and every file of the shared data."""

from __future__ import annotations

from pathlib import Path

import pytest

from palestra.core.data import expected as dataset_path
from palestra.logic.clausify import clausify
from palestra.logic.formula import (
    And,
    Atom,
    Bottom,
    Equiv,
    Exists,
    Forall,
    Imp,
    Not,
    Or,
    Top,
    free_vars,
)
from palestra.logic.syntax import Fn, Var
from palestra.logic.tptp import (
    TPTPSyntaxError,
    parse_formula,
    parse_problem,
    read_problem,
)

TPTP_DATA = dataset_path("m2k").parent  # every TPTP set (PALESTRA_DATA or ../shared/data)
NOT_TPTP = {".txt", ".md", ".tsv", ".jsonl", ".json"}

p, q, r = (Atom(Fn(n)) for n in "pqr")
X, Y = Var("X"), Var("Y")


# ---------------------------------------------------------------- formulas


def test_binary_connectives_nest_to_the_right_like_leancop() -> None:
    assert parse_formula("p & q & r") == And(p, And(q, r))
    assert parse_formula("(p & q) & r") == And(And(p, q), r)
    assert parse_formula("p | q | r") == Or(p, Or(q, r))
    assert parse_formula("p => q => r") == Imp(p, Imp(q, r))


def test_precedence_follows_leancops_operator_table() -> None:
    assert parse_formula("p & q | r") == Or(And(p, q), r)
    assert parse_formula("p | q & r") == Or(p, And(q, r))
    assert parse_formula("p => q | r") == Imp(p, Or(q, r))
    assert parse_formula("p <=> q => r") == Equiv(p, Imp(q, r))
    assert parse_formula("~ p & q") == And(Not(p), q)


def test_derived_connectives_read_as_leancop_reads_them() -> None:
    assert parse_formula("p <= q") == Imp(q, p)
    assert parse_formula("p <~> q") == Not(Equiv(p, q))
    assert parse_formula("p ~| q") == Not(Or(p, q))
    assert parse_formula("p ~& q") == Not(And(p, q))
    assert parse_formula("$true & $false") == And(Top(), Bottom())


def test_quantifiers_equality_and_terms() -> None:
    f = parse_formula("! [X, Y] : (f(X) = Y | X != 'b c')")
    eq = Atom(Fn("=", (Fn("f", (X,)), Y)))
    neq = Not(Atom(Fn("=", (X, Fn("b c")))))
    assert f == Forall((X, Y), Or(eq, neq))
    # a quantifier's scope is a unit formula, as in TPTP and Prolog
    g = parse_formula("? [X] : p(X) & q")
    assert g == And(Exists((X,), Atom(Fn("p", (X,)))), q)
    assert parse_formula("'p'") == p  # a quoted word is the same atom
    d = parse_formula('p("a b", 42, -1.5e3)')
    assert d == Atom(Fn("p", (Fn('"a b"'), Fn("42"), Fn("-1.5e3"))))
    assert free_vars(parse_formula("p(X) & ! [X] : q(X, Y)")) == [X, Y]


def test_deep_terms_do_not_recurse() -> None:
    n = 5000
    f = parse_formula("p(" + "s(" * n + "o" + ")" * n + ")")
    assert isinstance(f, Atom)
    t = f.atom.args[0]
    depth = 0
    while isinstance(t, Fn) and t.args:
        t = t.args[0]
        depth += 1
    assert depth == n


# ---------------------------------------------------------------- problems


def test_problem_roles_annotations_comments_and_lines() -> None:
    text = (
        "% a comment\n"
        "/* a block\n   comment */\n"
        "fof(ax1, axiom, p, file('x.p', ax1), [useful(info), [1, 2]]).\n"
        "cnf(c1, negated_conjecture, ( ~ q(X) | r )).\n"
        "fof('the goal', conjecture,\n    q(a)).\n"
    )
    prob = parse_problem(text, "mem.p")
    assert [f.name for f in prob.formulas] == ["ax1", "c1", "the goal"]
    assert [f.role for f in prob.formulas] == ["axiom", "negated_conjecture", "conjecture"]
    assert [f.language for f in prob.formulas] == ["fof", "cnf", "fof"]
    assert [f.source for f in prob.formulas] == ["mem.p:4", "mem.p:5", "mem.p:6"]
    assert prob.formulas[1].formula == Or(Not(Atom(Fn("q", (X,)))), r)
    assert [f.name for f in prob.conjectures] == ["the goal"]
    assert len(prob.axioms) == 2


def test_include_relative_then_tptp_root_with_selection(tmp_path: Path) -> None:
    (tmp_path / "Axioms").mkdir()
    (tmp_path / "Axioms" / "A.ax").write_text("fof(a1, axiom, p).\nfof(a2, axiom, q).\n")
    probdir = tmp_path / "Problems"
    probdir.mkdir()
    (probdir / "local.ax").write_text("fof(l1, axiom, r).\n")
    prob_file = probdir / "P.p"
    prob_file.write_text(
        "include('local.ax').\ninclude('Axioms/A.ax', [a2]).\nfof(c, conjecture, p).\n"
    )
    prob = read_problem(prob_file, tptp_root=str(tmp_path))
    assert [f.name for f in prob.formulas] == ["l1", "a2", "c"]
    assert prob.formulas[1].source == f"{tmp_path / 'Axioms' / 'A.ax'}:2"


def test_include_through_the_tptp_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "B.ax").write_text("fof(b, axiom, p).\n")
    monkeypatch.setenv("TPTP", str(tmp_path / "root"))
    prob = parse_problem("include('B.ax').\n", str(tmp_path / "x.p"))
    assert [f.name for f in prob.formulas] == ["b"]


def test_include_cycle_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.p").write_text("include('b.p').\n")
    (tmp_path / "b.p").write_text("fof(x, axiom, p).\ninclude('a.p').\n")
    with pytest.raises(TPTPSyntaxError, match=r"b\.p:2:9: include cycle"):
        read_problem(tmp_path / "a.p")


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # truncated file: the error is at the end of the text
        ("fof(a, axiom, p(X) & q", "t.p:1:23: expected ')', found end of file"),
        ("fof(a, axiom,\n  p(a, ", "t.p:2:8: expected a term, found end of file"),
        # bad token
        ("fof(a, axiom,\n  p @ q).", "t.p:2:5: unexpected character '@'"),
        ("fof(a, axiom, p).\n/* open", "t.p:2:1: unterminated comment '/*'"),
        ("fof(a, axiom, 'p).", "t.p:1:15: unterminated quoted atom"),
        # unknown include
        ("include('Axioms/NOPE.ax').\n", "t.p:1:9: cannot find included file 'Axioms/NOPE.ax'"),
        # unbalanced parentheses
        ("fof(a, axiom, (p & q).\n", "t.p:1:22: expected ')', found '.'"),
        ("fof(a, axiom, p)).\n", "t.p:1:17: expected '.', found ')'"),
        ("fof(a, axiom, p(a)) & q).", "t.p:1:21: expected '.', found '&'"),
        ("fof(a, axiom, p(a b)).", "t.p:1:19: expected ',' or ')', found 'b'"),
        # other malformed inputs
        ("fof(a, axiom, p)\nfof(b, axiom, q).", "t.p:2:1: expected '.', found 'fof'"),
        ("fof(a, axiom, X).", "t.p:1:15: variable X used as a formula"),
        ("fof(a, axiom, ! [a] : p).", "t.p:1:18: expected a variable, found 'a'"),
        ("foo(a, axiom, p).", "t.p:1:1: expected 'fof', 'cnf' or 'include', found 'foo'"),
        ("tff(a, type, p: $o).", "t.p:1:1: tff formulas are not supported (only fof and cnf)"),
        ("fof(a, axiom, p, [x).", "t.p:1:20: unbalanced ')' in annotations"),
    ],
)
def test_malformed_inputs_raise_with_file_line_col(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(TPTPSyntaxError) as info:
        parse_problem(text, str(tmp_path / "t.p"))
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(str(tmp_path) + "/")
    assert msg[len(str(tmp_path)) + 1 :].startswith(expected)


def test_error_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "bad.ax").write_text("fof(a, axiom, p).\nfof(b, axiom, (q).\n")
    (tmp_path / "P.p").write_text("include('bad.ax').\n")
    with pytest.raises(TPTPSyntaxError) as info:
        read_problem(tmp_path / "P.p")
    assert str(info.value) == f"{tmp_path / 'bad.ax'}:2:18: expected ')', found '.'"
    assert (info.value.line, info.value.col) == (2, 18)


# ---------------------------------------------------------------- all shared data


@pytest.mark.slow
def test_every_shared_tptp_file_parses_and_clausifies() -> None:
    """Every TPTP file under shared/data/tptp parses; every problem gets a matrix (leanCoP's
    default ``[cut,comp(7)]`` clausal form). About 20 s for ~12k files."""
    if not TPTP_DATA.is_dir():
        pytest.skip(f"shared TPTP data not found at {TPTP_DATA}")
    files = sorted(f for f in TPTP_DATA.rglob("*") if f.is_file() and f.suffix not in NOT_TPTP)
    assert len(files) > 10_000
    n_formulas = 0
    for f in files:
        prob = read_problem(f)
        assert prob.formulas, f
        n_formulas += len(prob.formulas)
        matrix = clausify(prob)
        assert all(clause for clause in matrix), f
    assert n_formulas > 100_000
