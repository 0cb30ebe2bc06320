"""The sentence splitter and the preamble / theorem cutters (no Coq needed)."""

from __future__ import annotations

from palestra.coq.script import normalize, split_preamble, split_sentences, split_theorem

SCRIPT = """Require Import Coq.Reals.Reals. (* a comment. with (* nested *) dots. *)
Open Scope R_scope.
Theorem t : 1.5 = 1.5 /\\ "a. b" = "a. b".
Proof.
  intros. split.
  - reflexivity.
  -- auto. 2: { lia. }
  { auto. } + simpl... Qed."""


def test_split_handles_comments_strings_qualified_names_and_bullets() -> None:
    texts = [s.text for s in split_sentences(SCRIPT)]
    assert texts == [
        "Require Import Coq.Reals.Reals.",
        "Open Scope R_scope.",
        'Theorem t : 1.5 = 1.5 /\\ "a. b" = "a. b".',
        "Proof.",
        "intros.",
        "split.",
        "-",
        "reflexivity.",
        "--",
        "auto.",
        "2: {",
        "lia.",
        "}",
        "{",
        "auto.",
        "}",
        "+",
        "simpl...",
        "Qed.",
    ]


def test_sentence_positions() -> None:
    s = split_sentences(SCRIPT)[5]
    assert (s.text, s.line, s.column) == ("split.", 5, 10)
    assert SCRIPT[s.start : s.start + 6] == "split."


def test_unterminated_tail_is_kept() -> None:
    assert [s.text for s in split_sentences("intros. apply foo")] == ["intros.", "apply foo"]


def test_normalize_drops_comments_and_whitespace() -> None:
    assert normalize("Theorem  t :\n  (* c *) True.") == "Theorem t : True."


def test_preamble_and_theorem() -> None:
    preamble, rest = split_preamble(SCRIPT)
    assert preamble.strip().endswith("Open Scope R_scope.")
    assert rest.startswith("Theorem t")
    cut = split_theorem(SCRIPT)
    assert cut is not None and cut.name == "t"
    assert [s.text for s in cut.prefix] == [
        "Require Import Coq.Reals.Reals.",
        "Open Scope R_scope.",
    ]
    assert cut.proof[0].text == "Proof." and cut.proof[-1].text == "Qed."
