"""The leanCoP 2.1 connection calculus: golden inference counts and small hand-made matrices.

The golden rows come from leanCoP 2.1 itself (``shared/data/tptp/leancop21_golden``); a row
matches when status and inference count are equal, and every proof found must pass the
independent checker. Rows that run past 20,000 inferences take 0.5-4 s each in pure Python
and are marked ``slow`` (all rows take about three minutes; ``-m "not slow"`` about two
seconds).
"""

from __future__ import annotations

import json

import pytest

from palestra.core.data import expected as dataset_path
from palestra.core.errors import PalestraError
from palestra.logic.settings import mreorder
from palestra.logic.syntax import START, Fn, Lit, Var
from palestra.prove.calculus import default_core, prove, python_core
from palestra.prove.checker import check
from palestra.prove.compiled import Options, compile_matrix
from palestra.prove.golden import GoldenRow, matrix_path, read_golden, read_matrix
from palestra.prove.proof import ConnectionProof

GOLDEN = dataset_path("leancop21-golden")  # PALESTRA_DATA or ../shared/data
ROWS = read_golden(GOLDEN / "golden.tsv") if (GOLDEN / "golden.tsv").is_file() else []
SLOW_ABOVE = 20_000  # inferences


def _param(row: GoldenRow) -> object:
    marks = [pytest.mark.slow] if row.inferences > SLOW_ABOVE else []
    return pytest.param(row, id=f"{row.problem}-{row.settings}", marks=marks)


@pytest.mark.parametrize("row", [_param(r) for r in ROWS])
def test_golden_row(row: GoldenRow) -> None:
    matrix = read_matrix(matrix_path(GOLDEN, row))
    result = prove(matrix, Options.from_leancop(row.settings))
    assert (result.status, result.inferences) == (row.result, row.inferences)
    if result.status == "Theorem":
        assert result.proof is not None
        verdict = check(matrix, result.proof)
        assert verdict.accepted, verdict.reason


def test_golden_data_present() -> None:
    if not ROWS:
        pytest.skip(f"golden data not found at {GOLDEN}")
    assert len(ROWS) == 160


# ---- small matrices ---------------------------------------------------------------------

a = Fn("a")
X, Y = Var("X"), Var("Y")


def lit(s: str, *args: Fn | Var) -> Lit:
    return Lit(not s.startswith("-"), Fn(s.lstrip("-"), tuple(args)))


# leanCoP's own example: M = [[q(a)], [-p], [p, -q(X)]]
EXAMPLE = [(lit("q", a),), (lit("-p"),), (lit("p"), lit("-q", X))]
# all four sign combinations of p, q: needs a reduction (and then a lemma)
REDUCTION = [
    (lit("p"), lit("q")),
    (lit("-p"), lit("q")),
    (lit("p"), lit("-q")),
    (lit("-p"), lit("-q")),
]
# a, then b whose clause brings back a: closed as a lemma
LEMMA = [(lit("a"), lit("b")), (lit("-a"),), (lit("-b"), lit("a"))]


def rules(result: object) -> list[str]:
    return [s.rule for s in result.proof.steps()]  # type: ignore[attr-defined]


def test_propositional_example_counts() -> None:
    # limit 1: start (1), extension into the non-ground [p,-q(X)] counted then refused (2);
    # limit 2: start (3), extension (4), p into the ground [-p] (5)
    result = prove(EXAMPLE, Options())
    assert (result.status, result.inferences, result.path_limit) == ("Theorem", 5, 2)
    assert rules(result) == ["extension"] * 3
    assert result.proof is not None
    assert result.proof.substitution == {"X_1": a}
    assert check(EXAMPLE, result.proof).accepted


def test_reduction_needed() -> None:
    result = prove(REDUCTION, Options(cut=False, comp=None))
    assert result.status == "Theorem"
    assert rules(result) == [
        "extension",
        "extension",
        "extension",
        "reduction",
        "extension",
        "lemma",
    ]
    red = result.proof.steps()[3]  # type: ignore[union-attr]
    assert red.ancestor == 1  # the goal p of the start clause; 0 is the root -#
    assert check(REDUCTION, result.proof).accepted  # type: ignore[arg-type]


def test_lemma_needed() -> None:
    result = prove(LEMMA, Options())
    assert (result.status, result.inferences) == ("Theorem", 3)
    steps = result.proof.steps()  # type: ignore[union-attr]
    assert [s.rule for s in steps] == ["extension", "extension", "extension", "lemma"]
    assert steps[3].lemma == 1
    assert check(LEMMA, result.proof).accepted  # type: ignore[arg-type]


def test_occurs_check_blocks_cyclic_unifier() -> None:
    matrix = [(lit("p", X, Fn("f", (X,))),), (lit("-p", Y, Y),)]
    # the start is counted at each of the limits 1..7 and again after the comp restart
    assert prove(matrix, Options()).inferences == 8
    result = prove(matrix, Options(cut=False, comp=None))
    assert (result.status, result.inferences) == ("CounterSatisfiable", 1)


def test_cut_without_comp_gives_up() -> None:
    assert prove([(lit("p"),)], Options(cut=True, comp=None)).status == "GaveUp"
    assert prove([(lit("p"),)], Options(cut=False, comp=None)).status == "CounterSatisfiable"


def test_inference_limit_is_limit_plus_one() -> None:
    assert prove(EXAMPLE, Options(inference_limit=5)).status == "Theorem"
    result = prove(EXAMPLE, Options(inference_limit=4))
    assert (result.status, result.inferences, result.proof) == ("InfLimit", 5, None)
    assert prove(EXAMPLE, Options(inference_limit=0)).inferences == 1


def test_conj_start_from_conjecture_clauses() -> None:
    # the clausifier marks the conjecture clause with # and adds [-#]
    matrix = [(lit("q", a),), (Lit(False, START),), (Lit(True, START), lit("-q", X))]
    result = prove(matrix, Options(conj=True, cut=False, comp=None))
    assert result.status == "Theorem"
    assert result.proof is not None and result.proof.start.clause == 2
    assert check(matrix, result.proof).accepted
    with pytest.raises(PalestraError, match="conjecture markers"):
        prove(matrix, Options(conj=False))
    with pytest.raises(PalestraError, match="conjecture markers"):
        prove(EXAMPLE, Options(conj=True))


def test_scut_tries_only_the_first_start_clause() -> None:
    # the first positive clause [r] leads nowhere; [q(a)] would
    matrix = [(lit("r"),), *EXAMPLE]
    assert prove(matrix, Options(cut=True, comp=None, scut=True)).status == "GaveUp"
    result = prove(matrix, Options(cut=True, comp=7, scut=True))
    assert result.status == "Theorem"  # found after the complete restart
    assert check(matrix, result.proof).accepted  # type: ignore[arg-type]


@pytest.mark.parametrize("core", ["python", "default"])
@pytest.mark.parametrize("scut", [False, True])
def test_an_empty_start_clause_is_a_proof(core: str, scut: bool) -> None:
    """An empty clause (first in the matrix, so also scut's start clause) closes the tableau
    at once; both cores agree and the checker accepts the one-step proof."""
    matrix = [(), (lit("p"),)]
    run = python_core if core == "python" else default_core()
    result = prove(matrix, Options(cut=True, comp=None, scut=scut), core=run)
    assert (result.status, result.inferences) == ("Theorem", 0 if scut else 1)
    assert result.proof is not None and check(matrix, result.proof).accepted


def test_mreorder_matches_def_mm() -> None:
    m = [(lit(f"p{i}"),) for i in range(7)]
    # thirds A=[0,1], B=[2,3,4], C=[5,6] -> c1 a1 b1 c2 a2 b2, then the rest of B
    assert mreorder(m, 1) == [m[i] for i in (5, 0, 2, 6, 1, 3, 4)]
    assert mreorder(m, 0) == m
    result = prove(EXAMPLE, Options(reo=2))
    assert result.status == "Theorem"
    assert check(EXAMPLE, result.proof).accepted  # type: ignore[arg-type]


def test_compile_index_pairs_literal_with_rest_of_clause() -> None:
    cm = compile_matrix(EXAMPLE)
    # positive clauses get the start marker in front (no [-#] in the matrix)
    assert [len(c) for c in cm.clauses] == [2, 1, 2]
    entries = [cm.entries[e[4]] for e in cm.index[cm.start_id]]
    assert entries == [(0, 0)]
    assert cm.ground == [True, True, False]


def test_options_from_leancop() -> None:
    assert Options.from_leancop("[cut,comp(7)]") == Options(cut=True, comp=7)
    assert Options.from_leancop("[conj,nodef]") == Options(cut=False, comp=None, conj=True)
    assert Options.from_leancop("[scut,reo(3)]", inference_limit=None) == Options(
        cut=False, comp=None, scut=True, reo=3, inference_limit=None
    )
    with pytest.raises(PalestraError, match="unknown leanCoP setting"):
        Options.from_leancop("[cut,fast]")


def test_proof_text_and_json_forms() -> None:
    result = prove(REDUCTION, Options())
    proof = result.proof
    assert proof is not None
    text = str(proof)
    assert "reduction: path literal 1" in text and "lemma: as step 1" in text
    again = ConnectionProof.from_dict(json.loads(json.dumps(proof.to_dict())))
    assert again == proof
