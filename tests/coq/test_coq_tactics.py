"""The learned tactic model: pairs stepped out of library sources by a real coqidetop, resumable
extraction, hypothesis arguments re-bound, and a proof found by the learned proposer alone."""

from __future__ import annotations

import json
from pathlib import Path

from palestra.coq.agent import prove_problem
from palestra.coq.config import TACTIC_INDEX_DIR, ExtractConfig, ProveCoqConfig
from palestra.coq.extract import extract_file, extract_tactics, is_tactic
from palestra.coq.tactic_model import TacticModel, build_index, load_pairs, template
from palestra.coq.verify import safe_verify

from .conftest import require_coq

LIB_A = """Require Import List.
Lemma rev_rev_bool (l : list bool) : rev (rev l) = l.
Proof. apply rev_involutive. Qed.
Lemma and_left (A B : Prop) : A /\\ B -> A.
Proof.
  intros H0.
  destruct H0 as [a b].
  - exact a.
Qed.
"""
LIB_B = """Require Import List.
Lemma rev_rev_nat (l : list nat) : rev (rev l) = l.
Proof.
  apply rev_involutive.
Qed.
Lemma broken : 1 = 2.
Proof. reflexivity. Qed.
Lemma never_reached : True.
Proof. exact I. Qed.
"""


def _library(root: Path) -> Path:
    lib = root / "user-contrib" / "Hammer"
    lib.mkdir(parents=True)
    (lib / "A.v").write_text(LIB_A)
    (lib / "B.v").write_text(LIB_B)
    return root


def test_tactic_sentences() -> None:
    assert is_tactic("intros n.") and is_tactic("(* c *) now rewrite H.")
    assert not any(is_tactic(s) for s in ("-", "+", "{", "}", "Qed.", "Proof.", "Show."))


def test_pairs_are_the_goals_coq_printed_before_each_tactic(tmp_path: Path) -> None:
    require_coq()
    (tmp_path / "A.v").write_text(LIB_A)
    pairs, summary = extract_file(tmp_path / "A.v")
    assert summary["error"] == "" and summary["pairs"] == 4
    assert [p["tactic"] for p in pairs] == [
        "apply rev_involutive.",
        "intros H0.",
        "destruct H0 as [a b].",
        "exact a.",  # the bullet before it is not a pair
    ]
    assert pairs[0]["goal"] == "rev (rev l) = l" and pairs[0]["lemma"] == "rev_rev_bool"
    assert pairs[2]["hyps"][-1] == "H0 : A /\\ B" and pairs[2]["step"] == 1
    (tmp_path / "B.v").write_text(LIB_B)
    pairs, summary = extract_file(tmp_path / "B.v")
    # Coq's error ends the file where it happened; the pairs before it are kept
    assert summary["error"].startswith("line 7:") and len(pairs) == 2


def test_extraction_resumes_and_indexes(tmp_path: Path) -> None:
    require_coq()
    coqlib = _library(tmp_path / "coqlib")
    out = tmp_path / "pairs"
    cfg = ExtractConfig(out=out, coqlib=coqlib, libraries=("hammer",), limit=1, index=False)
    first = extract_tactics(cfg)
    assert first["done"] == 1 and first["files"] == 2
    done_a = (out / "hammer" / "A.done").stat().st_mtime_ns
    second = extract_tactics(ExtractConfig(out=out, coqlib=coqlib, libraries=("hammer",)))
    assert second["done"] == 2 and second["pairs"] == 6
    assert (out / "hammer" / "A.done").stat().st_mtime_ns == done_a  # not stepped again
    # only tactics used at least twice are indexed: `apply rev_involutive`
    assert second["index"]["states"] == 2 and (out / "index.npz").is_file()
    assert set(second["held_out"]) >= {"top1", "top10", "test_states"}
    assert json.loads((out / "summary.json").read_text())["pairs"] == 6


def test_hypothesis_arguments_are_rebound() -> None:
    text, slots = template("destruct H0 as [a b]", ["A, B : Prop", "H0 : A /\\ B"])
    assert text == "destruct ?\u2983h0 as [a b]" and slots == ["A /\\ B"]


def test_the_learned_proposer_alone_proves_a_new_statement(tmp_path: Path) -> None:
    require_coq()
    coqlib = _library(tmp_path / "coqlib")
    out = tmp_path / "pairs"
    extract_tactics(ExtractConfig(out=out, coqlib=coqlib, libraries=("hammer",), index=False))
    build_index(load_pairs(out), out, min_count=1)
    model = TacticModel(out)
    # a hypothesis named differently: the template's slot takes the query's conjunction
    ranked = [t for t, _ in model.rank("A", ["A, B : Prop", "h : A /\\ B"], "intros h.")]
    assert "destruct h as [a b]" in ranked[:3]
    source = "Require Import List.\nLemma t (l : list (nat * nat)) : rev (rev l) = l.\nProof.\n"
    file = tmp_path / "t.v"
    file.write_text(source)
    cfg = ProveCoqConfig(file, proposer="learned", tactic_index=out, budget=30.0)
    result = prove_problem(source, cfg)
    assert result.proved and result.tactics == ["apply rev_involutive"]
    assert safe_verify(source, result.proof).accepted


def test_the_shipped_index_is_small_documented_and_the_default() -> None:
    """The learned model ships (index + gzipped table + README) and is what --proposer
    learned uses unless told otherwise; it proposes library tactics for a library goal."""
    files = {p.name: p.stat().st_size for p in TACTIC_INDEX_DIR.iterdir()}
    assert set(files) == {"index.npz", "tactics.json.gz", "README.md"}
    assert sum(files.values()) < 4_000_000
    readme = (TACTIC_INDEX_DIR / "README.md").read_text()
    assert "palestra extract-tactics" in readme and "LGPL" in readme
    assert ProveCoqConfig(Path("x.v")).tactic_index == TACTIC_INDEX_DIR
    model = TacticModel.load(TACTIC_INDEX_DIR)
    assert model.meta["states"] > 50_000
    state = "l1, l2 : list nat\n========\nlength (l1 ++ l2) = length l1 + length l2"
    tactics = [p.tactic for p in model.propose(state, [])]
    assert "rewrite app_length" in tactics[:5]
