"""Proposers: the portfolio's ranking, the stdlib kNN index and its answers, the LLM prompt."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from palestra.coq.proposers import (
    KNN_INDEX_DIR,
    KNNProposer,
    LLMProposer,
    PortfolioProposer,
    Proposer,
    build_knn_index,
    featurize,
)
from palestra.core.errors import PalestraError
from palestra.lm.backends import Completion


@pytest.fixture(scope="module")
def knn() -> KNNProposer:
    return KNNProposer()


def test_shipped_index_is_small_and_documented() -> None:
    size = sum(f.stat().st_size for f in KNN_INDEX_DIR.iterdir())
    assert size < 3_000_000
    assert (KNN_INDEX_DIR / "README.md").is_file()


def test_knn_proposes_sensible_tactics_for_a_nat_goal(knn: KNNProposer) -> None:
    assert isinstance(knn, Proposer)
    assert knn.meta["pairs"] > 10_000
    proposals = knn.propose("========\nforall n : nat, n + 0 = n", [])
    scores = [p.score for p in proposals]
    assert scores == sorted(scores, reverse=True) and scores[0] == 1.0
    heads = {p.tactic.split()[0].rstrip(";") for p in proposals[:5]}
    assert heads & {"intros", "intro", "induction", "simpl", "reflexivity", "auto", "lia"}
    # after `induction`, the step case: simplification comes first
    step = knn.propose(
        "n : nat\nIHn : n + 0 = n\n========\nS n + 0 = S n", ["intros n", "induction n"]
    )
    assert step[0].tactic.split()[0] in {"simpl", "cbn", "rewrite", "auto", "now", "intros"}


def test_featurize_is_stable_and_shares_ngrams() -> None:
    statement = featurize("forall n : nat, n + 0 = n")
    goal = featurize("n : nat\n n + 0 = n")
    assert statement == featurize("forall n : nat, n + 0 = n")
    assert all(0 <= f < 1 << 16 for f in statement)
    assert len(set(statement) & set(goal)) >= 5


def test_build_index_from_a_small_library(tmp_path: Path) -> None:
    lib = tmp_path / "theories"
    lib.mkdir()
    lemma = "Lemma l{k} : forall n : nat, n + {k} = {k} + n.\nProof.\n  intros n.\n  lia.\nQed.\n"
    (lib / "A.v").write_text("".join(lemma.format(k=k) for k in range(3)))
    (lib / "B.v").write_text("Lemma skip : True.\nProof.\n  order.\nAdmitted.\n")
    meta = build_knn_index(lib, tmp_path / "index")
    assert meta["lemmas"] == 3 and meta["pairs"] == 6
    assert meta["tactics"] == ["intros n.", "lia."]
    small = KNNProposer(tmp_path / "index")
    proposals = small.propose("n : nat\n========\nn + 1 = 1 + n", ["intros n"])
    assert proposals[0].tactic == "lia"


def test_portfolio_ranks_by_the_goal() -> None:
    portfolio = PortfolioProposer(["sum_to"], hammer=False)
    tactics = [p.tactic for p in portfolio.propose("========\nforall n : nat, n + 0 = n", [])]
    assert tactics[0] == "intros" and "sauto" not in tactics
    tactics = [p.tactic for p in portfolio.propose("n : nat\n========\nsum_to n = n /\\ True", [])]
    assert {"split", "induction n", "unfold sum_to"} <= set(tactics)
    real = [p.tactic for p in portfolio.propose("x : R\n========\nx * 2 = x + x", [])]
    assert "lra" in real and ("lia" not in real or real.index("lra") < real.index("lia"))
    fn = "f : R -> R\nh0 : forall x, f x = 2 * x\nh1 : f 1 / 2 = 1\n========\nRabs (f 3) = 6"
    tactics = [p.tactic for p in portfolio.propose(fn, [])]
    assert {"rewrite !h0 in *", "field_simplify in h1"} <= set(tactics)
    assert any(t.startswith("unfold Rabs") for t in tactics)
    closed = [p.tactic for p in portfolio.propose("========\n(5 ^ 2005) mod 100 = 25", [])]
    assert "vm_compute; reflexivity" in closed
    assert "vm_compute; reflexivity" not in tactics  # not with hypotheses
    mapped = (
        "v : nat -> nat\nH : forall n : nat, v n = 2 * n - 1\n========\n"
        "list_sum (map v (seq 1 10)) mod 7 = 2"
    )
    tactics = [p.tactic for p in portfolio.propose(mapped, [])]
    assert "rewrite (map_ext _ _ H)" in tactics and "vm_compute; reflexivity" not in tactics
    rewritten = mapped.replace("map v", "map (fun n : nat => 2 * n - 1)")
    assert "vm_compute; reflexivity" in [p.tactic for p in portfolio.propose(rewritten, [])]
    zmod = "x : Z\nH : (x * 3) mod 31 = 1\n========\nx = 21"
    tactics = [p.tactic for p in portfolio.propose(zmod, [])]
    assert "Z.div_mod_to_equations; lia" in tactics and "vm_compute; reflexivity" not in tactics
    complex_goal = "y : C\n========\n7 * (3 * y + 2) = 21 * y + 14"
    complex_tactics = [p.tactic for p in portfolio.propose(complex_goal, [])]
    assert "apply injective_projections; simpl; ring" in complex_tactics


class FakeBackend:
    """A backend that answers from a script and remembers the prompts."""

    def __init__(self, answers: Sequence[str]) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    def complete(self, prompt: str, **kw: object) -> list[Completion]:
        self.prompts.append(prompt)
        if not self.answers:
            raise PalestraError("server gone")
        return [Completion(self.answers.pop(0), "stop", 1, 1)]

    def chat(self, messages: list[dict], **kw: object) -> list[Completion]:
        return self.complete(messages[-1]["content"], **kw)


def test_llm_proposer_parses_replies_and_reads_feedback() -> None:
    backend = FakeBackend(["```coq\nintros n. induction n.\nsimpl; lia.\nQed.\n```", "auto."])
    llm = LLMProposer(backend, mode="proof", n=1)
    llm.set_statement("Theorem t : forall n : nat, n + 0 = n.")
    [p] = llm.propose("========\nforall n : nat, n + 0 = n", [], feedback="")
    assert p.tactic == "intros n. induction n. simpl; lia."
    llm.mode = "tactic"
    [p] = llm.propose("n : nat\n========\nn + 0 = n", ["intros n"], feedback="`lia` failed: oops")
    assert p.tactic == "auto."
    assert "`lia` failed: oops" in backend.prompts[-1] and "intros n." in backend.prompts[-1]
    assert llm.propose("g", []) == [] and llm.errors == ["server gone"]
