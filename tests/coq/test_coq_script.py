"""The sentence splitter and the preamble / theorem cutters (no Coq needed)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from palestra.coq.script import (
    _BULLET,
    CoqScriptError,
    line_column,
    normalize,
    read_script,
    split_preamble,
    split_sentences,
    split_theorem,
    strip_comments,
    theorem_name,
)

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


# ------------------------------------------------------------- positions and reading files
def test_line_column_is_one_based() -> None:
    text = "ab\ncd\n"
    assert [line_column(text, k) for k in (0, 1, 3, 4, 6)] == [
        (1, 1),
        (1, 2),
        (2, 1),
        (2, 2),
        (3, 1),
    ]


def test_sentence_positions_agree_with_line_column() -> None:
    for s in split_sentences(SCRIPT):
        assert line_column(SCRIPT, s.start) == (s.line, s.column + 1)


def test_read_script_names_the_first_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "bad.v"
    path.write_bytes("Theorem t : True.\n(* café ".encode() + b"\xff\xfe *)\n")
    with pytest.raises(CoqScriptError) as e:
        read_script(path)
    assert str(e.value) == f"{path}:2:9: not UTF-8 text (byte 0xff)"
    path.write_bytes(b"Theorem t : True.\x00\n")
    with pytest.raises(CoqScriptError, match=r"bad\.v:1:18: a NUL character"):
        read_script(path)
    with pytest.raises(CoqScriptError, match=r"missing\.v: No such file"):
        read_script(tmp_path / "missing.v")
    path.write_text("Theorem t : True.\n", encoding="utf-8")
    assert read_script(path) == "Theorem t : True.\n"


# ------------------------------------------------------------------------- fuzz: the reader
# pieces that exercise the reader's corners: comments (nested, unterminated), strings with
# "" escapes, dots in names/numbers/ellipses, bullets, braces, goal selectors, theorem heads
PIECES = [
    "(*", "*)", '"', '""', ".", "..", "...", ". ", ".\n", " ", "\n", "\t", "-", "--", "+",
    "*", "{", "}", "2:", "[g]:", ":", "Theorem t : True", "Lemma l' : x", "Proof", "Qed",
    "Require Import Coq.Reals.Reals", "Open Scope R_scope", "x", "1.5", "x.1", "é", "(", ")",
    "\r\n", "\u00a0", "\u2028",
]  # fmt: skip
coq_texts = st.one_of(
    st.text(),
    st.lists(st.sampled_from(PIECES), max_size=40).map("".join),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=3)), max_size=30).map("".join),
)


@pytest.mark.fuzz
@given(coq_texts)
def test_fuzz_sentences_tile_the_text(text: str) -> None:
    """Any text splits (the reader is total), and the sentences and the blank gaps between
    them — whitespace and comments only — give the text back, in order, with right places."""
    sentences = split_sentences(text)
    end = 0
    rebuilt = []
    for k, s in enumerate(sentences):
        assert s.text and not s.text[0].isspace()
        assert text[s.start : s.start + len(s.text)] == s.text
        assert s.start >= end
        gap = text[end : s.start]
        assert strip_comments(gap).strip() == "", (gap, s)
        assert line_column(text, s.start) == (s.line, s.column + 1)
        if k < len(sentences) - 1:  # only the last may be a fragment without its dot
            assert s.text.endswith(".") or _BULLET.fullmatch(s.text), s.text
        rebuilt += [gap, s.text]
        end = s.start + len(s.text)
    assert strip_comments(text[end:]).strip() == ""
    assert "".join(rebuilt) + text[end:] == text
    for s in sentences:  # a sentence read alone is that one sentence
        assert [t.text for t in split_sentences(s.text)] == [s.text], s.text


@pytest.mark.fuzz
@given(coq_texts)
def test_fuzz_theorem_preamble_and_normalize_are_consistent(text: str) -> None:
    sentences = split_sentences(text)
    split = split_theorem(text)
    heads = [k for k, s in enumerate(sentences) if theorem_name(s.text) is not None]
    if split is None:
        assert heads == []
    else:
        assert [*split.prefix, split.statement, *split.proof] == sentences
        assert len(split.prefix) == heads[-1] and split.name == theorem_name(split.statement.text)
        assert split_theorem(text, split.name) is not None
    preamble, rest = split_preamble(text)
    assert preamble + rest == text
    for s in sentences:
        once = normalize(s.text)
        assert normalize(once) == once and not once.startswith(" ")
    if "(*" not in text:
        assert strip_comments(text) == text


@pytest.mark.fuzz
@given(st.binary(max_size=200))
def test_fuzz_read_script_reads_text_or_names_the_place(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.v"
        path.write_bytes(data)
        try:
            text = read_script(path)
        except CoqScriptError as e:
            assert str(e).startswith(f"{path}:{e.line}:{e.col}: ") and e.line >= 1 and e.col >= 1
            assert "\n" not in str(e)
            return
    assert text == data.decode("utf-8") and "\0" not in text
