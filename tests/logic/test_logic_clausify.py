"""leanCoP 2.1's clausal form on small formulas, worked out by hand from def_mm.pl."""

from __future__ import annotations

import pytest

from palestra.logic.clausify import clausify, clausify_settings, make_matrix, parse_settings
from palestra.logic.syntax import START, Fn, Lit, Matrix, Var
from palestra.logic.tptp import parse_formula, parse_problem


def show(m: Matrix) -> list[str]:
    return [" ".join(map(str, c)) for c in m]


def mm(text: str, definitional: bool | None = None, conj: bool = False) -> list[str]:
    return show(make_matrix(parse_formula(text), definitional=definitional, conj=conj))


def test_positive_representation_and_skolem_terms() -> None:
    # def_mm.pl's own example: ex Y: all X: (p(Y) => p(X))  gives  [[-p(X1)], [p(1^[X1])]]
    assert mm("? [Y] : ! [X] : (p(Y) => p(X))") == ["-p(X1)", "p(^1(X1))"]
    # a universal variable becomes ^N applied to the enclosing existential ones
    assert mm("! [X] : ? [Y] : ! [Z] : p(X, Y, Z)") == ["p(^1,X1,^2(X1))"]
    clause = make_matrix(parse_formula("! [X] : ? [Y] : ! [Z] : p(X, Y, Z)"))[0]
    y = Var("X1")
    assert clause == (Lit(True, Fn("p", (Fn("^1"), y, Fn("^2", (y,))))),)


def test_nnf_pushes_negation_in() -> None:
    assert mm("~ (p & q)", definitional=False) == ["-p", "-q"]
    assert mm("~ (p | q)", definitional=False) == ["-p -q"]
    assert mm("~ (p => q)", definitional=False) == ["p -q"]
    assert mm("~ ~ p", definitional=False) == ["p"]
    # positive representation: a negated universal is an existential, hence a variable
    assert mm("~ ! [X] : p(X)", definitional=False) == ["-p(X1)"]
    assert mm("~ ? [X] : p(X)", definitional=False) == ["-p(^1)"]
    assert mm("~ (p <=> q)", definitional=False) == ["p -q", "-p q"]
    assert mm("p <=> q", definitional=False) == ["p q", "-p -q"]


def test_operand_with_more_paths_goes_second() -> None:
    assert mm("(p & q) | r", definitional=False) == ["r", "p q"]
    assert mm("r | (p & q)", definitional=False) == ["r", "p q"]
    assert mm("(p | q) & r", definitional=False) == ["p r", "q r"]


def test_dnf_and_literal_order_in_clauses() -> None:
    assert mm("a & (b | c)", definitional=False) == ["a b", "a c"]
    assert mm("(a & b) & c", definitional=False) == ["c a b"]
    assert mm("a & (b & c)", definitional=False) == ["a b c"]


def test_duplicate_literals_merge_and_complementary_clauses_vanish() -> None:
    assert mm("p & p", definitional=False) == ["p"]
    assert mm("(p & ~p) | q", definitional=False) == ["q"]


def test_true_and_false_as_leancop_reads_them() -> None:
    assert mm("$true", definitional=False) == ["-true___", "true___"]
    assert mm("$false", definitional=False) == []


def test_definitional_clausification() -> None:
    # the disjunction under a conjunction becomes ^1; its definition clauses come first
    assert mm("a & (b | c)", definitional=True) == ["-^1 c", "-^1 b", "a ^1"]
    # def mode expands <=> to (p => q), (q => p): two definitions
    assert mm("p <=> q", definitional=True) == ["-^2 p", "-^2 -q", "-^1 q", "-^1 -p", "^1 ^2"]
    # definitional atoms take the enclosing existential variables as arguments
    assert mm("? [X] : (a(X) & (b(X) | c))", definitional=True) == [
        "-^1(X1) c",
        "-^1(X1) b(X1)",
        "a(X1) ^1(X1)",
    ]


def test_leancop_default_is_definitional_for_the_conclusion_only() -> None:
    f = "(a & (b | c)) => (d & (e | f))"
    assert mm(f, definitional=None) == ["-^1 f", "-^1 e", "d ^1", "-a", "-b -c"]
    assert mm(f, definitional=False) == ["-a", "-b -c", "d e", "d f"]


def test_conj_marks_conjecture_clauses_with_the_start_literal() -> None:
    assert mm("p => q", definitional=False, conj=True) == ["-p", "-#", "# q"]
    m = make_matrix(parse_formula("p => q"), definitional=False, conj=True)
    assert m[1] == (Lit(False, START),)


def test_problem_with_equality_gets_leancops_axioms_in_order() -> None:
    prob = parse_problem("fof(a1, axiom, f(a) = b). fof(c, conjecture, p(b)).")
    assert show(clausify(prob, definitional=False, conj=True)) == [
        "# p(b)",
        "-#",
        "-=(f(a),b)",
        # E = ((refl, (sym, trans)), subst_p), subst_f; under the negation the operand
        # with more paths goes second: subst_f (2 paths), subst_p (3), refl/sym/trans (6)
        "=(X1,X2) -=(f(X1),f(X2))",
        "-p(X1) =(X2,X1) p(X2)",
        "-=(X1,X1)",
        "=(X1,X2) -=(X2,X1)",
        "-=(X1,X2) =(X1,X3) =(X3,X2)",
    ]
    assert show(clausify(prob, definitional=False, equality=False)) == ["-=(f(a),b)", "p(b)"]


def test_problem_without_conjecture_is_negated() -> None:
    prob = parse_problem("cnf(a, axiom, p(X) | q). cnf(b, negated_conjecture, ~ q).")
    # ~(all X: (p(X) | q), ~q)  =  ex X: (~p(X), ~q) ; q
    assert show(clausify(prob, definitional=False)) == ["q", "-p(X1) -q"]


def test_settings() -> None:
    assert parse_settings("[cut,comp(7)]") == {"definitional": None, "conj": False, "reorder": 0}
    assert parse_settings(["conj", "nodef"]) == {"definitional": False, "conj": True, "reorder": 0}
    assert parse_settings("[def, reo(3)]")["reorder"] == 3
    assert parse_settings("[def,nodef]")["definitional"] is False  # as make_matrix decides
    with pytest.raises(ValueError, match="unknown"):
        parse_settings("[frobnicate]")
    prob = parse_problem("fof(c, conjecture, p => q).")
    assert show(clausify_settings(prob, "[conj,nodef]")) == ["-p", "-#", "# q"]


def test_reorder_interleaves_thirds() -> None:
    f = "a | b | c | d | e | f | g"
    plain = mm(f, definitional=False)
    assert plain == ["a", "b", "c", "d", "e", "f", "g"]
    m = make_matrix(parse_formula(f), definitional=False, reorder=1)
    assert show(m) == ["f", "a", "c", "g", "b", "d", "e"]


# ---------------------------------------------------------------- deep input (issue 22)


def numeral(n: int, var: str | None = None) -> Fn:
    t: Fn | Var = Var(var) if var else Fn("o")
    for _ in range(n):
        t = Fn("s", (t,))
    return t  # type: ignore[return-value]


def test_terms_up_to_the_depth_limit_clausify_without_recursion() -> None:
    """A 20,000-deep term overflowed the C stack (the clause conversion went through a
    generator per level); now everything below ``MAX_TERM_DEPTH`` clausifies."""
    from palestra.logic.clausify import MAX_TERM_DEPTH
    from palestra.logic.formula import Atom, Exists

    n = MAX_TERM_DEPTH - 2  # p(s(...s(X)...)): the atom and the numeral's levels
    (clause,) = make_matrix(Exists((Var("X"),), Atom(Fn("p", (numeral(n, "X"),)))))
    t = clause[0].atom.args[0]
    depth = 0
    while isinstance(t, Fn) and t.args:
        t, depth = t.args[0], depth + 1
    assert depth == n and t == Var("X1")


def test_too_deep_terms_and_formulas_are_clausify_errors() -> None:
    from palestra.core.errors import PalestraError
    from palestra.logic.clausify import MAX_TERM_DEPTH, ClausifyError
    from palestra.logic.formula import Atom

    with pytest.raises(ClausifyError, match=f"term nested deeper than {MAX_TERM_DEPTH}"):
        make_matrix(Atom(Fn("p", (numeral(MAX_TERM_DEPTH + 5),))))
    # a flat chain the reader takes nests as deep as it is long for the clausifier
    chain = parse_formula(" | ".join(f"p{i}" for i in range(250_000)))
    with pytest.raises(ClausifyError, match="nested too deeply to clausify") as info:
        make_matrix(chain)
    assert isinstance(info.value, PalestraError)
