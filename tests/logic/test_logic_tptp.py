"""The TPTP reader: syntax, includes, error positions, and every file of the shared data."""

from __future__ import annotations

from pathlib import Path

import pytest

from palestra.core.data import expected as dataset_path
from palestra.core.errors import PalestraError
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
    ReadLimits,
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


# ---------------------------------------------------------------- hostile input (issue 22)

LIMIT = ReadLimits().max_depth


def refused(text: str, filename: str, **kwargs) -> str:
    """The reader's one-line message for ``text``, checked for its form."""
    with pytest.raises(TPTPSyntaxError) as info:
        parse_problem(text, filename, **kwargs)
    msg = str(info.value)
    assert len(msg.splitlines()) == 1
    assert msg.startswith(f"{filename}:{info.value.line}:{info.value.col}: ")
    return msg[len(f"{filename}:{info.value.line}:{info.value.col}: ") :]


def test_reader_errors_are_palestra_errors_and_value_errors() -> None:
    with pytest.raises(TPTPSyntaxError) as info:
        parse_formula("p &")
    assert isinstance(info.value, PalestraError) and isinstance(info.value, ValueError)
    import pickle

    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value) and again.col == info.value.col


def nested(levels: list[tuple[str, str]], n: int, inner: str) -> str:
    """``inner`` under ``n`` levels, cycling through the (opening, closing) pairs."""
    pairs = [levels[k % len(levels)] for k in range(n)]
    return "".join(o for o, _ in pairs) + inner + "".join(c for _, c in reversed(pairs))


@pytest.mark.parametrize(
    "levels",
    [
        [("(", ")")],
        [("~ ", "")],
        [("! [X] : ", "")],
        [("~ ", ""), ("(", ")"), ("? [Y] : ", "")],
        [("q(", ")")],
    ],
    ids=["parentheses", "negations", "quantifiers", "mixed", "arguments"],
)
def test_nesting_up_to_the_limit_reads_and_beyond_is_a_clean_error(
    levels: list[tuple[str, str]],
) -> None:
    """The nesting of a formula (all levels, the formula itself the first) is limited; up to
    the limit it reads without recursion, beyond it is one error at the level too many."""
    inner = "a" if levels[0][0] == "q(" else "p"  # the atom q(...) is a level of its own
    ok = "fof(f, axiom, " + nested(levels, LIMIT - 1, inner) + ")."
    assert len(parse_problem(ok, "deep.p").formulas) == 1
    deep = "fof(f, axiom, " + nested(levels, LIMIT, inner) + ")."
    msg = refused(deep, "deep.p")
    assert msg.startswith(f"formula nested deeper than {LIMIT} levels")


def test_nesting_limit_counts_formula_and_term_levels_together() -> None:
    limits = ReadLimits(max_depth=5)
    assert parse_formula("((p(f(a))))", limits=limits) == Atom(Fn("p", (Fn("f", (Fn("a"),)),)))
    with pytest.raises(TPTPSyntaxError, match="deeper than 5 levels"):
        parse_formula("((p(f(g(a)))))", limits=limits)
    # a flat chain nests on the right but is not nesting to the reader
    chain = " | ".join(f"p{i}" for i in range(3 * LIMIT))
    assert isinstance(parse_formula(chain), Or)


def test_unterminated_comment_and_quotes_of_a_megabyte_are_one_clean_error() -> None:
    """Each scanned once (these took minutes when every later character rescanned them);
    the suite's timeout catches a regression, the test asserts only the error."""
    body = "x /* '\\ \"" * 100_000  # ~1 MB, full of openers
    assert refused("fof(a, axiom, p).\n/*" + body, "c.p") == "unterminated comment '/*'"
    assert refused("fof(a, axiom, p).\n" + "'\\" * 500_000, "q.p") == "unterminated quoted atom"
    dq = refused("fof(a, axiom, p).\n" + '"\\' * 500_000, "d.p")
    assert dq == "unterminated distinct object"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fof(a, axiom, p\0).", "1:16: unexpected character '\\x00'"),
        ("fof(a, axiom, p) 'a\u2028b'.", "1:18: expected '.', found \"'a\\u2028b'\""),
        ("fof(a, axiom, p(" + "1" * 200 + "(a))).", "1:217: '1111111111"),
        ("fof(\ufffd, axiom, p).", "1:5: unexpected character '\\ufffd' (not UTF-8?)"),
    ],
    ids=["nul", "line-separator", "long-token", "not-utf8"],
)
def test_odd_characters_give_one_line_messages(text: str, expected: str) -> None:
    with pytest.raises(TPTPSyntaxError) as info:
        parse_problem(text, "odd.p")
    msg = str(info.value)
    assert len(msg.splitlines()) == 1 and msg.startswith("odd.p:" + expected)
    assert len(msg) < 200  # a long token is cut short


def test_huge_numbers_are_plain_constants() -> None:
    f = parse_formula(f"p({'9' * 100_000}, -{'1' * 5000}.5e{'7' * 5000})")
    assert isinstance(f, Atom) and len(f.atom.args[0].name) == 100_000


def test_files_that_cannot_be_read_are_errors_at_line_one(tmp_path: Path) -> None:
    import os

    with pytest.raises(TPTPSyntaxError, match=r"nope\.p:1:1: cannot read: No such file"):
        read_problem(tmp_path / "nope.p")
    with pytest.raises(TPTPSyntaxError, match=r":1:1: cannot read: Is a directory"):
        read_problem(tmp_path)
    os.mkfifo(tmp_path / "fifo.p")  # refused, not waited on
    with pytest.raises(TPTPSyntaxError, match=r"fifo\.p:1:1: cannot read: not a regular file"):
        read_problem(tmp_path / "fifo.p")
    (tmp_path / "big.p").write_text("fof(a, axiom, p).\n" * 100)
    with pytest.raises(TPTPSyntaxError, match=r"big\.p:1:1: more than 1000 bytes"):
        read_problem(tmp_path / "big.p", limits=ReadLimits(max_bytes=1000))


@pytest.fixture
def confined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp/problems/P.p`` beside ``tmp/secret/s.ax`` (content ``SECRET``) and the TPTP
    root ``tmp/tptp``; links from the problems' folder to the secret."""
    monkeypatch.delenv("TPTP", raising=False)
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "s.ax").write_text("SECRET CONTENT\n")
    (tmp_path / "tptp" / "Axioms").mkdir(parents=True)
    (tmp_path / "tptp" / "Axioms" / "A.ax").write_text("fof(a, axiom, p).\n")
    problems = tmp_path / "problems"
    (problems / "sub").mkdir(parents=True)
    (problems / "sub" / "l.ax").write_text("fof(l, axiom, q).\n")
    (problems / "link.ax").symlink_to(tmp_path / "secret" / "s.ax")
    (problems / "linkdir").symlink_to(tmp_path / "secret")
    return tmp_path


@pytest.mark.parametrize(
    "name",
    [
        "/etc/passwd",
        "/proc/self/environ",
        "../secret/s.ax",
        "sub/../../secret/s.ax",
        "../../../../../../../../etc/hostname",
        "link.ax",
        "linkdir/s.ax",
        "ABSOLUTE",  # the secret by its absolute path
    ],
)
def test_includes_outside_the_problem_folder_and_tptp_root_are_refused(
    confined: Path, name: str
) -> None:
    name = str(confined / "secret" / "s.ax") if name == "ABSOLUTE" else name
    problem = str(confined / "problems" / "P.p")
    text = f"fof(x, axiom, r).\ninclude('{name}').\n"
    msg = refused(text, problem, tptp_root=str(confined / "tptp"))
    assert msg.startswith(f"include {name!r} refused: outside the problem's folder")
    assert "SECRET" not in msg and "root:" not in msg
    assert f"{problem}:2:9: " in str(parse_error(text, problem, confined))


def parse_error(text: str, problem: str, confined: Path) -> TPTPSyntaxError:
    with pytest.raises(TPTPSyntaxError) as info:
        parse_problem(text, problem, tptp_root=str(confined / "tptp"))
    return info.value


def test_includes_inside_the_allowed_folders_read(confined: Path) -> None:
    problem = str(confined / "problems" / "P.p")
    text = "include('sub/l.ax').\ninclude('sub/../sub/l.ax').\ninclude('Axioms/A.ax').\n"
    prob = parse_problem(text, problem, tptp_root=str(confined / "tptp"))
    assert [f.name for f in prob.formulas] == ["l", "l", "a"]
    # more folders only when asked for
    secret = str(confined / "secret")
    for name in ("../secret/s.ax", "link.ax", "linkdir/s.ax"):
        with pytest.raises(TPTPSyntaxError, match=r"unexpected character|expected 'fof'"):
            parse_problem(f"include('{name}').", problem, include_roots=[secret])


def test_include_names_that_are_no_file_names(tmp_path: Path) -> None:
    problem = str(tmp_path / "P.p")
    msg = refused("include('a\tb').", problem)
    assert msg == "include 'a\\tb': not a file name"
    long = "a" * 300
    msg = refused(f"include('{long}').", problem)
    assert msg.startswith("cannot find included file 'aaaa") and "(300 characters)" in msg
    assert len(msg) < 200
    (tmp_path / "fifo.ax").mkdir()  # a folder is no file either
    assert refused("include('fifo.ax').", problem) == "cannot find included file 'fifo.ax'"


def test_an_included_fifo_is_not_waited_on(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "f.ax")
    assert refused("include('f.ax').", str(tmp_path / "P.p")) == "cannot find included file 'f.ax'"


def write_bomb(folder: Path, levels: int) -> Path:
    """``P.p`` includes ``b0.ax`` twice, which includes ``b1.ax`` twice, ...: 2^levels
    formulas from a few hundred bytes."""
    for i in range(levels):
        (folder / f"b{i}.ax").write_text(f"include('b{i + 1}.ax').\ninclude('b{i + 1}.ax').\n")
    (folder / f"b{levels}.ax").write_text("fof(a, axiom, p).\n")
    (folder / "P.p").write_text("include('b0.ax').\nfof(c, conjecture, p).\n")
    return folder / "P.p"


def test_include_bombs_are_spliced_not_parsed_again_and_limited(tmp_path: Path) -> None:
    problem = write_bomb(tmp_path, 16)
    assert len(read_problem(problem).formulas) == 2**16 + 1
    with pytest.raises(TPTPSyntaxError) as info:
        read_problem(problem, limits=ReadLimits(max_formulas=1000))
    assert "more than 1000 formulas (max_formulas)" in str(info.value)
    big = write_bomb(tmp_path, 30)  # 2^30 formulas: refused at the default limit
    with pytest.raises(TPTPSyntaxError, match=r"more than 1000000 formulas"):
        read_problem(big)


def test_include_depth_and_bytes_are_limited(tmp_path: Path) -> None:
    for i in range(40):
        (tmp_path / f"d{i}.ax").write_text(f"fof(f{i}, axiom, p).\ninclude('d{i + 1}.ax').\n")
    (tmp_path / "d40.ax").write_text("")
    with pytest.raises(TPTPSyntaxError) as info:
        parse_problem("include('d0.ax').", str(tmp_path / "P.p"))
    assert str(info.value) == (
        f"{tmp_path / 'd31.ax'}:2:9: include 'd32.ax': includes nested deeper than 32"
        " (max_include_depth)"
    )
    with pytest.raises(
        TPTPSyntaxError, match=r"d\d+\.ax:2:9: include 'd\d+\.ax': more than 300 bytes"
    ):
        parse_problem("include('d0.ax').", str(tmp_path / "P.p"), limits=ReadLimits(max_bytes=300))
    assert len(parse_problem("include('d30.ax').", str(tmp_path / "P.p")).formulas) == 10


def test_an_empty_text_is_an_empty_problem() -> None:
    assert parse_problem("", "e.p").formulas == ()
    assert parse_problem("% only a comment\n/* and */", "e.p").formulas == ()


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
