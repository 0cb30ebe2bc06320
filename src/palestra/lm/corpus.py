"""A character corpus that any machine can rebuild: Python's own standard library sources.

Character-level language-model comparisons need a text that is the same everywhere, needs no
download and has a fixed held-out part. The source files of the standard library are on every
machine that runs Palestra, so the corpus is a fixed, explicit list of pure-Python stdlib
modules (:data:`STDLIB_FILES`, each present in CPython 3.10 to 3.13), read from
``sysconfig.get_paths()["stdlib"]``:

- **Order and separator**: the files in the sorted order of :data:`STDLIB_FILES`, each preceded
  by a header line ``# ==== <path> ====`` and separated by a blank line (:func:`join_files`).
  Files are read as UTF-8 with universal newlines, so CRLF installs give the same text.
- **Split by file**: file ``i`` of the sorted list is held out when ``i % 10 == 9`` (every
  10th file), the rest is for training. No file contributes to both parts, so the held-out
  score measures generalisation to unseen modules, not to unseen windows of seen ones.
- **Vocabulary**: the sorted set of characters of the training part
  (:meth:`Corpus.tokenizer`, a :class:`~palestra.lm.tokenizers.CharTokenizer`). A held-out
  character never seen in training becomes ``<unk>`` (id 3): it is kept, so the held-out text
  keeps its length, and :attr:`Corpus.val_unknown` counts them. It is a handful of characters
  (non-ASCII letters in comments), so its effect on bits per character is negligible.
- **Fingerprint**: the SHA-256 of each part's UTF-8 text, with the Python version the files came
  from, so a report states exactly which text it used. The files differ a little between Python
  versions; the fingerprint tells.

``max_chars`` truncates each part (for tiny tests and quick runs); it is part of the
fingerprinted text, so a truncated corpus has its own fingerprints.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from palestra.core.errors import PalestraError
from palestra.lm.tokenizers import UNK, CharTokenizer

__all__ = ["STDLIB_FILES", "Corpus", "CorpusError", "build_corpus", "join_files"]

# Pure-Python modules present in CPython 3.10-3.13 (none moved into a package or removed in
# those versions: not pathlib, zipfile, sysconfig, re, datetime). Kept sorted: the split rule
# indexes this order.
STDLIB_FILES: tuple[str, ...] = (
    "argparse.py",
    "ast.py",
    "asyncio/tasks.py",
    "base64.py",
    "calendar.py",
    "codecs.py",
    "collections/__init__.py",
    "concurrent/futures/_base.py",
    "configparser.py",
    "contextlib.py",
    "csv.py",
    "dataclasses.py",
    "difflib.py",
    "dis.py",
    "email/message.py",
    "enum.py",
    "fractions.py",
    "ftplib.py",
    "functools.py",
    "gettext.py",
    "gzip.py",
    "heapq.py",
    "html/parser.py",
    "http/client.py",
    "imaplib.py",
    "inspect.py",
    "ipaddress.py",
    "json/__init__.py",
    "json/decoder.py",
    "json/encoder.py",
    "locale.py",
    "logging/__init__.py",
    "mailbox.py",
    "mimetypes.py",
    "numbers.py",
    "optparse.py",
    "pickle.py",
    "plistlib.py",
    "pprint.py",
    "queue.py",
    "random.py",
    "selectors.py",
    "shlex.py",
    "shutil.py",
    "smtplib.py",
    "statistics.py",
    "string.py",
    "subprocess.py",
    "tarfile.py",
    "tempfile.py",
    "textwrap.py",
    "threading.py",
    "tokenize.py",
    "traceback.py",
    "typing.py",
    "unittest/case.py",
    "urllib/parse.py",
    "uuid.py",
    "weakref.py",
    "xml/dom/minidom.py",
)

VAL_EVERY = 10  # file i is held out when i % VAL_EVERY == VAL_EVERY - 1


class CorpusError(PalestraError):
    """A corpus file that cannot be found or read."""


@dataclass(frozen=True)
class Corpus:
    """The training and held-out text, where it came from, and its fingerprints."""

    train: str
    val: str
    train_files: tuple[str, ...]
    val_files: tuple[str, ...]
    python: str  # the Python version whose stdlib the files were read from
    stdlib: str  # the folder they were read from
    max_chars: int | None = None
    fingerprints: dict[str, str] = field(default_factory=dict)  # part -> SHA-256 of its text

    @property
    def files(self) -> tuple[str, ...]:
        """Every file, in the sorted order the split rule indexes."""
        return tuple(sorted(self.train_files + self.val_files))

    @property
    def chars(self) -> str:
        """The vocabulary: the sorted distinct characters of the training part."""
        return "".join(sorted(set(self.train)))

    def tokenizer(self) -> CharTokenizer:
        """One token per character of the training part; others become ``<unk>``."""
        return CharTokenizer(self.chars)

    @property
    def val_unknown(self) -> int:
        """Held-out characters that are not in the vocabulary (encoded as ``<unk>``)."""
        return self.tokenizer().encode(self.val).count(UNK)

    def summary(self) -> dict[str, object]:
        """What a report needs to name this text exactly (no text itself)."""
        return {
            "source": "CPython standard library sources",
            "python": self.python,
            "train_files": list(self.train_files),
            "val_files": list(self.val_files),
            "train_chars": len(self.train),
            "val_chars": len(self.val),
            "vocab_chars": len(self.chars),
            "val_unknown_chars": self.val_unknown,
            "max_chars": self.max_chars,
            "sha256": dict(self.fingerprints),
        }


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def join_files(root: Path, files: Sequence[str]) -> str:
    """The files' text, each after a ``# ==== <path> ====`` header, separated by blank lines.

    Raises :class:`CorpusError` naming the first file that is missing or unreadable.
    """
    parts = []
    for name in files:
        path = root / name
        try:
            text = path.read_text(encoding="utf-8")  # universal newlines: CRLF -> LF
        except FileNotFoundError:
            raise CorpusError(
                f"corpus file {name} not found in {root} (Python {platform.python_version()}); "
                "the stdlib corpus needs the pure-Python sources of the standard library"
            ) from None
        except (OSError, UnicodeDecodeError) as e:
            raise CorpusError(f"corpus file {path} cannot be read: {e}") from None
        parts.append(f"# ==== {name} ====\n{text.rstrip()}\n")
    return "\n".join(parts)


def split_files(files: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(train, held-out) files of the sorted list: every ``VAL_EVERY``-th file is held out."""
    ordered = sorted(files)
    val = tuple(f for i, f in enumerate(ordered) if i % VAL_EVERY == VAL_EVERY - 1)
    train = tuple(f for i, f in enumerate(ordered) if i % VAL_EVERY != VAL_EVERY - 1)
    return train, val


def build_corpus(
    out_dir: Path | None = None,
    max_chars: int | None = None,
    *,
    stdlib: Path | None = None,
    files: Sequence[str] = STDLIB_FILES,
) -> Corpus:
    """Read, split and fingerprint the corpus; with ``out_dir`` also write ``train.txt``,
    ``val.txt`` and ``corpus.json`` (the :meth:`Corpus.summary`) there.

    ``stdlib`` defaults to this interpreter's ``sysconfig.get_paths()["stdlib"]``; ``files`` to
    :data:`STDLIB_FILES`. ``max_chars`` keeps the first ``max_chars`` characters of each part.
    """
    if max_chars is not None and max_chars < 1:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    root = Path(stdlib if stdlib is not None else sysconfig.get_paths()["stdlib"])
    train_files, val_files = split_files(files)
    if not train_files or not val_files:
        raise CorpusError(
            f"the corpus needs at least {VAL_EVERY} files to hold one out, got {len(files)}"
        )
    train, val = join_files(root, train_files), join_files(root, val_files)
    if max_chars is not None:
        train, val = train[:max_chars], val[:max_chars]
    corpus = Corpus(
        train=train,
        val=val,
        train_files=train_files,
        val_files=val_files,
        python=platform.python_version(),
        stdlib=str(root),
        max_chars=max_chars,
        fingerprints={"train": sha256(train), "val": sha256(val)},
    )
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "train.txt").write_text(train, encoding="utf-8")
        (out_dir / "val.txt").write_text(val, encoding="utf-8")
        (out_dir / "corpus.json").write_text(json.dumps(corpus.summary(), indent=1) + "\n")
    return corpus
