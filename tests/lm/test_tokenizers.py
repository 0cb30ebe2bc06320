"""Tokenizers: round trips, special tokens, saving and loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from palestra.lm.tokenizers import (
    BOS,
    EOS,
    PAD,
    UNK,
    ByteTokenizer,
    CharTokenizer,
    DigitTokenizer,
    load_tokenizer,
)

TEXTS = ["", "hello, world\n", "naïve café — ∀x. P(x) ⇒ Q(x) 🙂", "tabs\tand\r\nnewlines"]


@pytest.mark.parametrize("text", TEXTS)
def test_byte_round_trip(text: str) -> None:
    tok = ByteTokenizer()
    ids = tok.encode(text)
    assert len(ids) == len(text.encode("utf-8"))
    assert all(4 <= i < tok.vocab_size for i in ids) and tok.vocab_size == 260
    assert tok.decode(ids) == text
    assert tok.decode([*tok.encode(text, bos=True, eos=True), PAD, PAD]) == text


def test_specials_are_added_only_when_asked() -> None:
    tok = ByteTokenizer()
    assert tok.encode("a") == [4 + ord("a")]
    assert tok.encode("a", bos=True, eos=True) == [BOS, 4 + ord("a"), EOS]


def test_char_tokenizer_from_corpus(tmp_path: Path) -> None:
    corpus = "the quick brown fox\njumps over the lazy dog"
    tok = CharTokenizer.from_corpus(corpus)
    assert tok.vocab_size == 4 + len(set(corpus))
    assert tok.decode(tok.encode(corpus)) == corpus
    assert tok.encode("Z") == [UNK] and tok.decode([UNK]) == "\ufffd"
    again = load_tokenizer(tok.save(tmp_path / "tok.json"))
    assert isinstance(again, CharTokenizer) and again.chars == tok.chars
    assert again.encode(corpus) == tok.encode(corpus)


def test_digit_tokenizer_is_one_token_per_digit(tmp_path: Path) -> None:
    tok = DigitTokenizer()
    text = "x=-3;12*x^2+7=\n9+7+0=16"
    ids = tok.encode(text)
    assert len(ids) == len(text) and tok.decode(ids) == text
    assert len(tok.encode("1234567890")) == 10
    with pytest.raises(ValueError, match="not in the alphabet"):
        tok.encode("12 + 3")
    assert isinstance(load_tokenizer(tok.save(tmp_path / "d.json")), DigitTokenizer)
    assert isinstance(load_tokenizer(ByteTokenizer().save(tmp_path / "b.json")), ByteTokenizer)


def test_load_rejects_unknown_type(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"type": "bpe", "specials": ["<pad>", "<bos>", "<eos>", "<unk>"]}')
    with pytest.raises(ValueError, match="unknown tokenizer type"):
        load_tokenizer(path)
