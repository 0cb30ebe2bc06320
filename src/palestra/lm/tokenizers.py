"""Tokenizers small enough to read: bytes, characters of a corpus, and arithmetic symbols.

Every tokenizer here shares the same four special tokens, at the same ids::

    0 <pad>   padding of a batch; never a training target
    1 <bos>   start of a sequence (the trainer puts it before every prompt)
    2 <eos>   end of a target; generation stops on it
    3 <unk>   a character outside a CharTokenizer's vocabulary

Content tokens follow from id 4. ``encode`` never adds specials unless asked (``bos=True``,
``eos=True``); ``decode`` drops pad/bos/eos and writes ``<unk>`` as U+FFFD.

- :class:`ByteTokenizer`: the 256 byte values of the UTF-8 text (ids 4..259); covers any text.
- :class:`CharTokenizer`: one token per distinct character of a corpus, saved as JSON.
- :class:`DigitTokenizer`: a fixed arithmetic alphabet (``0-9 + - * ^ = ( ) x ;``,
  newline, and the position tags ``A..P :``, ``a..p`` and ``α..π`` of long addition), one
  token per digit, so a number's digits are always separate tokens; any other character is
  an error rather than ``<unk>``, since arithmetic data outside the alphabet is a bug in the
  generator.

All are saved with ``save(path)`` as a JSON object with a ``"type"`` key and read back with
:func:`load_tokenizer`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "SPECIALS",
    "UNK",
    "ByteTokenizer",
    "CharTokenizer",
    "DigitTokenizer",
    "Tokenizer",
    "load_tokenizer",
]

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = 0, 1, 2, 3
N_SPECIAL = len(SPECIALS)

# A..P, ":", a..p and α..π are the position tags of long addition (lm.scratchpad); new
# characters go at the end, so the ids of the old ones stay what saved models learned
ARITHMETIC_ALPHABET = "0123456789+-*^=()x;\nABCDEFGHIJKLMNOP:abcdefghijklmnopαβγδεζηθικλμνξοπ"


class Tokenizer:
    """What the trainer needs of a tokenizer: ``vocab_size``, ``encode``, ``decode``, ``save``."""

    kind = "base"
    vocab_size: int

    def _encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def _decode(self, ids: list[int]) -> str:
        raise NotImplementedError

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        """Token ids of ``text``, with ``<bos>`` / ``<eos>`` around it if asked."""
        return [BOS] * bos + self._encode(text) + [EOS] * eos

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``; pad, bos and eos are dropped, unk becomes U+FFFD."""
        return self._decode([int(i) for i in ids if int(i) not in (PAD, BOS, EOS)])

    def _state(self) -> dict:
        return {}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"type": self.kind, "specials": list(SPECIALS), **self._state()}
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return path


class ByteTokenizer(Tokenizer):
    """UTF-8 bytes: byte ``b`` is token ``4 + b``."""

    kind = "byte"
    vocab_size = N_SPECIAL + 256

    def _encode(self, text: str) -> list[int]:
        return [N_SPECIAL + b for b in text.encode("utf-8")]

    def _decode(self, ids: list[int]) -> str:
        data = bytes(i - N_SPECIAL if i >= N_SPECIAL else 0xFF for i in ids)  # 0xFF: invalid
        return data.decode("utf-8", errors="replace")


class CharTokenizer(Tokenizer):
    """One token per character of ``chars`` (ids from 4, in the order given)."""

    kind = "char"

    def __init__(self, chars: str) -> None:
        if len(set(chars)) != len(chars):
            raise ValueError("CharTokenizer: repeated characters in the vocabulary")
        self.chars = chars
        self.vocab_size = N_SPECIAL + len(chars)
        self._ids = {ch: N_SPECIAL + i for i, ch in enumerate(chars)}

    @classmethod
    def from_corpus(cls, text: str) -> CharTokenizer:
        """The sorted set of characters of ``text``."""
        return cls("".join(sorted(set(text))))

    def _encode(self, text: str) -> list[int]:
        return [self._ids.get(ch, UNK) for ch in text]

    def _decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i - N_SPECIAL] if i >= N_SPECIAL else "\ufffd" for i in ids)

    def _state(self) -> dict:
        return {"chars": self.chars}


class DigitTokenizer(CharTokenizer):
    """The fixed arithmetic alphabet; a character outside it raises ``ValueError``."""

    kind = "digit"

    def __init__(self) -> None:
        super().__init__(ARITHMETIC_ALPHABET)

    def _encode(self, text: str) -> list[int]:
        try:
            return [self._ids[ch] for ch in text]
        except KeyError as e:
            raise ValueError(f"DigitTokenizer: {e.args[0]!r} is not in the alphabet") from None

    def _state(self) -> dict:
        return {}


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Read a tokenizer written by ``save``."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    kind = data.get("type")
    if data.get("specials") != list(SPECIALS):
        raise ValueError(f"{path}: special tokens {data.get('specials')} are not {SPECIALS}")
    if kind == "byte":
        return ByteTokenizer()
    if kind == "char":
        return CharTokenizer(data["chars"])
    if kind == "digit":
        return DigitTokenizer()
    raise ValueError(f"{path}: unknown tokenizer type {kind!r}")
