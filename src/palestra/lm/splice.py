"""Structured packing for long context (SPLiCe; Staniszewski et al. 2023): training examples
made of mutually related documents instead of random ones.

A long training example is usually a random concatenation of documents, so little in its
first half helps to predict its second. SPLiCe builds each example around a random root
document by retrieval, breadth first (the paper's Algorithm 1)::

    C = [root]; Q = [root]
    while len(concat(C)) < length and Q:
        d = Q.pop(0)
        for d' in top-k(d) among the documents not used yet:   # BM25 here
            C.append(d'); Q.append(d')
    example = concat(reversed(C))[-length:]   # the root last, its neighbours before it

so the text a position can read is related to what it predicts. ``k = 1`` (a chain: each
document followed by its nearest unused neighbour) is the paper's usual setting.

Documents here (:func:`code_documents`): the held-apart files of Palestra's standard-library
corpus (:mod:`palestra.lm.corpus`) cut into top-level units (a ``def`` or ``class`` with its
decorators and leading comments, or a run of other top-level statements), grouped up to
``max_chars`` and cut at line ends where a unit is longer. Retrieval: Okapi BM25 (k1 = 1.2,
b = 0.75) over identifiers, the document itself as the query. Training and held-out documents
come from different files (the corpus's split), each with its own index.

:class:`PackedData` serves batches to Palestra's training loop; :func:`loss_by_position`
measures what SPLiCe is for: held-out loss at each position of long examples (a model that uses
its context gains more at late positions of related text).

Not done: the paper's Contriever retrieval, repository-structure packing, and examples longer
than ``length`` (the head of the first document is cut).
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from palestra.core.errors import PalestraError

if TYPE_CHECKING:
    import torch

    from palestra.lm.tokenizers import CharTokenizer

__all__ = [
    "BM25",
    "PackedData",
    "code_documents",
    "file_texts",
    "loss_by_position",
    "pack",
]

Packing = Literal["random", "splice"]
SEPARATOR = "\n\n"
_HEADER = re.compile(r"^# ==== (.+?) ====\n", re.M)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")


def file_texts(joined: str) -> list[str]:
    """The files of a corpus part (:func:`~palestra.lm.corpus.join_files`), headers dropped."""
    parts = _HEADER.split(joined)  # ['', name, text, name, text, ...]
    return [parts[i + 1].strip("\n") for i in range(1, len(parts) - 1, 2)]


def _units(text: str) -> list[str]:
    """Top-level units of a Python file: a new unit starts at a line in column 0 that is not
    a closing bracket, unless the lines before it are decorators or comments of the same
    unit."""
    units: list[list[str]] = [[]]
    attached = False  # the current unit so far is only decorators / comments
    for line in text.split("\n"):
        top = bool(line) and not line[0].isspace() and line[0] not in ")]}"
        if top and not attached and units[-1]:
            units.append([])
        units[-1].append(line)
        if top:
            attached = line.startswith(("@", "#"))
    return ["\n".join(u).strip("\n") for u in units if "".join(u).strip()]


def code_documents(texts: Sequence[str], max_chars: int = 800) -> list[str]:
    """Documents of at most ``max_chars`` characters: each file's top-level units, consecutive
    small ones grouped, long ones cut at line ends."""
    if max_chars < 80:
        raise PalestraError(f"max_chars={max_chars} is too small for code documents (>= 80)")
    docs: list[str] = []
    for text in texts:
        current = ""
        for unit in _units(text):
            pieces = [unit]
            if len(unit) > max_chars:  # cut at line ends
                pieces, piece = [], ""
                for line in unit.split("\n"):
                    if piece and len(piece) + 1 + len(line) > max_chars:
                        pieces.append(piece)
                        piece = ""
                    piece = f"{piece}\n{line}" if piece else line[:max_chars]
                pieces.append(piece)
            for p in pieces:
                if current and len(current) + 1 + len(p) > max_chars:
                    docs.append(current)
                    current = ""
                current = f"{current}\n{p}" if current else p
        if current:
            docs.append(current)
    return docs


class BM25:
    """Okapi BM25 over the identifiers of ``docs``; :meth:`top` finds a document's nearest
    others."""

    def __init__(self, docs: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.terms = [Counter(_IDENT.findall(d)) for d in docs]
        self.lengths = [sum(t.values()) for t in self.terms]
        self.mean_length = sum(self.lengths) / max(1, len(docs))
        self.postings: dict[str, list[int]] = defaultdict(list)
        for i, terms in enumerate(self.terms):
            for term in terms:
                self.postings[term].append(i)
        n = len(docs)
        self.idf = {
            t: math.log(1 + (n - len(ids) + 0.5) / (len(ids) + 0.5))
            for t, ids in self.postings.items()
        }

    def scores(self, query: Counter[str]) -> dict[int, float]:
        """BM25 score of every document sharing a term with ``query`` (terms counted once)."""
        out: dict[int, float] = defaultdict(float)
        for term in query:
            for i in self.postings.get(term, ()):
                tf = self.terms[i][term]
                norm = self.k1 * (1 - self.b + self.b * self.lengths[i] / self.mean_length)
                out[i] += self.idf[term] * tf * (self.k1 + 1) / (tf + norm)
        return out

    def top(self, doc: int, k: int, used: set[int]) -> list[int]:
        """The ``k`` best-scoring documents for document ``doc`` as the query, not in ``used``
        (ties by index)."""
        scored = self.scores(self.terms[doc])
        ranked = sorted(
            (i for i in scored if i not in used and i != doc), key=lambda i: (-scored[i], i)
        )
        return ranked[:k]


def pack(
    docs: Sequence[str],
    index: BM25 | None,
    packing: Packing,
    length: int,
    rng: random.Random,
    k: int = 1,
) -> str:
    """One example of exactly ``length`` characters: random documents (``random``) or a
    SPLiCe tree around a random root (``splice``, module docstring); when retrieval runs dry
    before ``length`` (no unused document shares a term), a new random root continues it.
    The text is cut at its start, so the last document (a SPLiCe root) is whole."""
    used: set[int] = set()
    chosen: list[int] = []
    size = 0

    def take(i: int) -> None:
        nonlocal size
        used.add(i)
        chosen.append(i)
        size += len(docs[i]) + (len(SEPARATOR) if chosen[:-1] else 0)

    def fresh() -> int:
        while True:
            i = rng.randrange(len(docs))
            if i not in used or len(used) >= len(docs):
                return i

    if packing == "random":
        while size < length:
            take(fresh())
        return SEPARATOR.join(docs[i] for i in chosen)[-length:]
    if index is None:
        raise PalestraError("SPLiCe packing needs a BM25 index of the documents")
    trees: list[list[int]] = []
    while size < length:
        root = fresh()
        start = len(chosen)
        take(root)
        queue = [root]
        while queue and size < length:
            for j in index.top(queue.pop(0), k, used):
                take(j)
                queue.append(j)
        trees.append(chosen[start:])
    # each tree reversed (its root last), the trees in the order they were built
    order = [i for tree in trees for i in reversed(tree)]
    return SEPARATOR.join(docs[i] for i in order)[-length:]


class PackedData:
    """Batches for :func:`~palestra.lm.train.train_steps`: examples of ``context + 1``
    characters packed from ``train_docs`` (training) or ``val_docs`` (held out), inputs and
    next-character targets ``[B, context]``; batch ``i`` from ``random.Random(f"{seed}/train/
    {i}")``, so any batch can be made again (resuming)."""

    def __init__(
        self,
        train_docs: Sequence[str],
        val_docs: Sequence[str],
        tokenizer: CharTokenizer,
        packing: Packing,
        context: int,
        batch_size: int,
        seed: int,
        k: int = 1,
    ) -> None:
        if packing not in ("random", "splice"):
            raise PalestraError(f"unknown packing {packing!r}; known: random, splice")
        self.train_docs, self.val_docs = list(train_docs), list(val_docs)
        self.tokenizer, self.packing = tokenizer, packing
        self.context, self.batch_size, self.seed, self.k = context, batch_size, seed, k
        self._index: dict[str, BM25] = {}

    @classmethod
    def stdlib(
        cls,
        packing: Packing,
        context: int,
        batch_size: int,
        seed: int,
        k: int = 1,
        doc_chars: int = 800,
    ) -> PackedData:
        """The data of the standard-library corpus (:mod:`palestra.lm.corpus`): documents of
        its training and held-out files, its character tokenizer."""
        from palestra.lm.corpus import build_corpus

        corpus = build_corpus()
        return cls(
            code_documents(file_texts(corpus.train), doc_chars),
            code_documents(file_texts(corpus.val), doc_chars),
            corpus.tokenizer(),
            packing,
            context,
            batch_size,
            seed,
            k,
        )

    def _bm25(self, part: str) -> BM25:
        """The BM25 index of ``part``'s documents, built once."""
        if part not in self._index:
            self._index[part] = BM25(self.train_docs if part == "train" else self.val_docs)
        return self._index[part]

    def examples(self, part: str, i: int, n: int, packing: Packing | None = None) -> list[str]:
        """``n`` examples of ``context + 1`` characters of ``part`` (train or val), batch
        ``i``; ``packing`` overrides this data's own (held-out examples of either kind)."""
        how = packing or self.packing
        docs = self.train_docs if part == "train" else self.val_docs
        index = self._bm25(part) if how == "splice" else None
        rng = random.Random(f"{self.seed}/{part}/{i}")
        return [pack(docs, index, how, self.context + 1, rng, self.k) for _ in range(n)]

    def _tensors(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        ids = torch.tensor([self.tokenizer.encode(t) for t in texts])  # [B, context + 1]
        return ids[:, :-1], ids[:, 1:]

    def batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._tensors(self.examples("train", i, self.batch_size))

    def eval_batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._tensors(self.examples("val", i, self.batch_size))


def loss_by_position(
    model: torch.nn.Module,
    data: PackedData,
    packing: Packing,
    examples: int,
    buckets: int,
    batch_size: int = 8,
) -> list[float]:
    """Mean held-out cross-entropy (nats per character) in ``buckets`` equal spans of the
    positions ``0 .. context-1``, over ``examples`` held-out examples packed with
    ``packing``."""
    import torch
    import torch.nn.functional as F

    T = data.context
    if T % buckets:
        raise PalestraError(f"{buckets} buckets do not divide the context {T}")
    total = torch.zeros(T)
    model.eval()
    with torch.no_grad():
        for i in range(0, examples, batch_size):
            texts = data.examples("val", 10_000 + i, min(batch_size, examples - i), packing)
            x, y = data._tensors(texts)  # [b, T] each
            logits, _ = model(x)
            total += F.cross_entropy(logits.transpose(1, 2), y, reduction="none").sum(0)
    per_position = total / examples  # [T]
    return per_position.view(buckets, T // buckets).mean(1).tolist()
