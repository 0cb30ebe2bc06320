"""A tactic model learned from library proofs: k nearest proof states, Tactician-style.

Trained on the (goal, tactic) pairs :mod:`palestra.coq.extract` steps out of Coq's standard
library, Coquelicot and CoqHammer (real proof states, not statements). In the spirit of
Tactician (Blaauwbroek, Urban and Geuvers, 2020), a proof state is a bag of features and the
next tactic is voted by the most similar states of the library::

    features(state) = conclusion n-grams (n = 1..3)  "c:" + tokens
                    + hypothesis n-grams (n = 1..2)  "h:" + tokens
                    + the conclusion's head symbol    "head:"
                    + the previous tactic's first word "prev:"
    tokens: identifiers (last part of a qualified name), operators, small numbers; the names
            of the state's hypotheses and bound variables become "_"
    sim(q, s) = cosine of tf-idf vectors (idf = log(1 + N / df), binary tf), hashed to 2**20
    score(tactic) = sum of sim over the k nearest states whose tactic it is

**Arguments.** A stored tactic that names a hypothesis of its state (``destruct H0``,
``rewrite IHn``) is kept as a template (``destruct ?⦃h0``) with that hypothesis's type; for a
query the placeholder becomes the query's hypothesis whose type shares most tokens with it
(ties: the later hypothesis), so ``destruct H`` learned on ``H : A /\\ B`` is proposed as
``destruct h₀`` where ``h₀ : x < 3 /\\ y = 2``. Lemma names and terms are kept verbatim.

:func:`build_index` writes ``index.npz`` + ``tactics.json`` into the pairs folder (the
shipped index, ``data/models/coq_tactics``, is that with the table gzipped; its README);
:func:`evaluate` reports top-k accuracy on the held-out files (crc32 of the file's path, 1 in
10) with the index built on the rest: the exact tactic text after instantiation, and its first
word (``apply``, ``rewrite``, ``intros``...).
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import math
import re
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from palestra.coq.proposers import _KNOWN_HEADS, Proposal, _conclusion, _head, _ranked
from palestra.core.runs import atomic_write_bytes

__all__ = [
    "TacticModel",
    "build_index",
    "evaluate",
    "held_out_file",
    "load_pairs",
    "state_features",
    "template",
]

BUCKETS = 1 << 20
_TOKEN = re.compile(r"[A-Za-z_][\w'.₀-₉]*|\d+|->|<->|<=|>=|<>|/\\|\\/|[^\s\w(),:]")
_BINDER = re.compile(r"\b(?:forall|exists|fun)\s+([^,:=]+?)\s*[:,]")
_IDENT = re.compile(r"[A-Za-z_][\w'₀-₉]*")
_SLOT = "?\u2983h"  # "?⦃h": a slot for a hypothesis (see template)
_SLOTS = re.compile(re.escape(_SLOT) + r"(\d+)")


def held_out_file(file: str) -> bool:
    """One library file in ten is held out of the index for :func:`evaluate`."""
    return zlib.crc32(file.encode()) % 10 == 0


def _hyp_names(hyps: Sequence[str]) -> list[tuple[str, str]]:
    """``(name, type)`` for every hypothesis line (``x, y : nat`` gives two)."""
    out = []
    for line in hyps:
        names, sep, typ = line.partition(" : ")
        if not sep:
            continue
        for name in names.split(","):
            if name.strip():
                out.append((name.strip(), " ".join(typ.split())))
    return out


def _tokens(text: str, local: set[str]) -> list[str]:
    out = []
    for tok in _TOKEN.findall(text):
        if tok in local:
            out.append("_")
        elif tok.isdigit():
            out.append(tok if len(tok) <= 2 else "NUM")
        else:
            out.append(tok.rsplit(".", 1)[-1] if "." in tok.strip(".") else tok)
    return out


def state_features(goal: str, hyps: Sequence[str], prev: str = "") -> list[str]:
    """The feature strings of a proof state (see the module doc)."""
    named = _hyp_names(hyps)
    local = {n for n, _ in named}
    for m in _BINDER.finditer(goal + " " + " ".join(t for _, t in named)):
        local.update(m.group(1).split())
    feats: set[str] = set()
    c = _tokens(goal, local)
    for n in (1, 2, 3):
        feats.update("c:" + " ".join(c[i : i + n]) for i in range(len(c) - n + 1))
    for _, typ in named:
        h = _tokens(typ, local)
        feats.update("h:" + t for t in h)
        feats.update(f"h:{a} {b}" for a, b in itertools.pairwise(h))
    if c:
        feats.add("head:" + c[0])
    feats.add("prev:" + _head(prev))
    return sorted(feats)


def _hash(features: Iterable[str]) -> list[int]:
    return sorted({zlib.crc32(f.encode()) % BUCKETS for f in features})


def template(tactic: str, hyps: Sequence[str]) -> tuple[str, list[str]]:
    """``tactic`` with the state's hypothesis names made slots ``?⦃h0``, ``?⦃h1``, ... (a form
    that does not occur in Coq's text), and the types of those hypotheses."""
    types = dict(_hyp_names(hyps))
    used: list[str] = []

    def sub(m: re.Match[str]) -> str:
        name = m.group(0)
        if name not in types:
            return name
        if name not in used:
            used.append(name)
        return f"{_SLOT}{used.index(name)}"

    return _IDENT.sub(sub, tactic), [types[n] for n in used]


def _instantiate(text: str, slot_types: Sequence[str], hyps: Sequence[tuple[str, str]]) -> str:
    """Fill slot ``i`` with the query hypothesis whose type is most like the slot's type;
    '' when the query has too few hypotheses."""
    names: list[str] = []
    for typ in slot_types:
        want = set(_TOKEN.findall(typ))
        best, best_score = "", -1.0
        for k, (name, htyp) in enumerate(hyps):
            if name in names:
                continue
            have = set(_TOKEN.findall(htyp))
            score = len(want & have) / max(1, len(want | have)) + 1e-3 * k
            if score > best_score:
                best, best_score = name, score
        if not best:
            return ""
        names.append(best)
    return _SLOTS.sub(lambda m: names[int(m.group(1))], text)


def load_pairs(folder: Path) -> list[dict[str, Any]]:
    """Every pair of an :mod:`~palestra.coq.extract` folder, each with its previous tactic."""
    pairs = []
    for path in sorted(Path(folder).rglob("*.jsonl")):
        prev: dict[str, Any] | None = None
        for line in path.read_text(encoding="utf-8").splitlines():
            p = json.loads(line)
            same = prev is not None and prev["lemma"] == p["lemma"] and p["step"] > 0
            p["prev"] = prev["tactic"] if same else ""  # type: ignore[index]
            pairs.append(p)
            prev = p
    return pairs


def build_index(
    pairs: Sequence[dict[str, Any]],
    out: Path,
    *,
    max_tactic_chars: int = 160,
    min_count: int = 2,
) -> dict[str, Any]:
    """Index ``pairs`` into ``out`` (``index.npz``, ``tactics.json``); returns the metadata.

    Only tactics whose template occurs at least ``min_count`` times are kept: a tactic used
    once is specific to its proof and crowds out the ones that transfer.
    """
    import numpy as np

    start = time.perf_counter()
    rows: list[list[int]] = []
    tactic_of: list[int] = []
    tactics: dict[tuple[str, tuple[str, ...]], int] = {}
    templated = []
    for p in pairs:
        tactic = p["tactic"].rstrip(".").strip()
        if tactic and len(tactic) <= max_tactic_chars:
            text, slots = template(tactic, p["hyps"])
            templated.append((p, text, slots))
    counts = Counter(text for _, text, _ in templated)
    for p, text, slots in templated:
        if counts[text] < min_count:
            continue
        key = (text, tuple(slots))
        tactic_of.append(tactics.setdefault(key, len(tactics)))
        rows.append(_hash(state_features(p["goal"], p["hyps"], p.get("prev", ""))))
    indptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".index.tmp.npz"
    np.savez_compressed(
        tmp,
        indptr=indptr,
        indices=np.concatenate([np.array(r, dtype=np.uint32) for r in rows])
        if rows
        else np.zeros(0, np.uint32),
        tactic=np.array(tactic_of, dtype=np.int32),
    )
    tmp.replace(out / "index.npz")
    table = [[t, list(s)] for (t, s), _ in sorted(tactics.items(), key=lambda kv: kv[1])]
    meta = {
        "states": len(rows),
        "tactics": len(table),
        "buckets": BUCKETS,
        "build_seconds": round(time.perf_counter() - start, 1),
    }
    atomic_write_bytes(
        out / "tactics.json", json.dumps({"meta": meta, "tactics": table}).encode("utf-8")
    )
    return meta


class TacticModel:
    """The learned proposer (``--proposer learned``): the index of :func:`build_index`."""

    name = "learned"

    def __init__(self, index_dir: str | Path, *, k: int = 64, limit: int = 16) -> None:
        import numpy as np
        from scipy import sparse

        path = Path(index_dir)
        if not (path / "index.npz").is_file():
            raise FileNotFoundError(
                f"no tactic index at {path}: run `palestra extract-tactics --out {path}`"
            )
        data = np.load(path / "index.npz")
        table_file = path / "tactics.json"
        if table_file.is_file():
            table = json.loads(table_file.read_text(encoding="utf-8"))
        else:  # the shipped index keeps its table compressed
            table = json.loads(gzip.decompress((path / "tactics.json.gz").read_bytes()))
        self.tactics: list[tuple[str, list[str]]] = [(t, s) for t, s in table["tactics"]]
        self.meta = table["meta"]
        self.k, self.limit = k, limit
        indptr, indices = data["indptr"], data["indices"].astype(np.int64)
        n = len(indptr) - 1
        df = np.bincount(indices, minlength=BUCKETS)
        self._idf = np.log1p(n / np.maximum(df, 1)).astype(np.float32)
        values = self._idf[indices]
        matrix = sparse.csr_matrix((values, indices, indptr), shape=(n, BUCKETS))
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        self._matrix = sparse.diags(1.0 / np.maximum(norms, 1e-9)) @ matrix
        self._matrix = self._matrix.tocsc()  # a query touches few columns
        self._tactic = data["tactic"]

    @classmethod
    @functools.cache
    def load(cls, index_dir: str | Path) -> TacticModel:
        """One model per folder and process (the bench asks for it once per problem)."""
        return cls(index_dir)

    def rank(self, goal: str, hyps: Sequence[str], prev: str = "") -> list[tuple[str, float]]:
        """Instantiated tactics and their vote, best first."""
        import numpy as np

        q = np.array(_hash(state_features(goal, hyps, prev)), dtype=np.int64)
        if len(q) == 0 or self._matrix.shape[0] == 0:
            return []
        w = self._idf[q]
        sims = np.asarray(self._matrix[:, q] @ w).ravel() / math.sqrt(float((w**2).sum()))
        k = min(self.k, len(sims))
        nearest = np.argpartition(-sims, k - 1)[:k]
        named = _hyp_names(hyps)
        votes: Counter[str] = Counter()
        for i in nearest:
            text, slots = self.tactics[int(self._tactic[i])]
            tactic = _instantiate(text, slots, named) if slots else text
            if tactic:
                votes[tactic] += float(sims[i])
        return sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))

    def propose(
        self, goal_state: str, history: Sequence[str], feedback: str = ""
    ) -> list[Proposal]:
        first = goal_state.split("\n\n", 1)[0]
        hyp_text = first.partition("=" * 8)[0]
        hyps = [line for line in hyp_text.splitlines() if " : " in line]
        goal = _conclusion(goal_state)
        ranked = self.rank(goal, hyps, history[-1] if history else "")
        # in a search, only tactics every session has (a library's own Ltac fails elsewhere)
        known = {t: v for t, v in ranked if _head(t) in _KNOWN_HEADS}
        return _ranked(known, self.limit)


def evaluate(
    pairs: Sequence[dict[str, Any]], index_dir: Path, *, ks: Sequence[int] = (1, 10)
) -> dict[str, Any]:
    """Top-k accuracy on the held-out files' pairs of the index built on the other files."""
    train = [p for p in pairs if not held_out_file(p["file"])]
    test = [p for p in pairs if held_out_file(p["file"])]
    meta = build_index(train, index_dir)
    model = TacticModel(index_dir, limit=max(ks))
    hits = dict.fromkeys(ks, 0)
    heads = dict.fromkeys(ks, 0)
    start = time.perf_counter()
    for p in test:
        want = p["tactic"].rstrip(".").strip()
        got = [t for t, _ in model.rank(p["goal"], p["hyps"], p.get("prev", ""))]
        for k in ks:
            hits[k] += want in got[:k]
            heads[k] += _head(want) in {_head(t) for t in got[:k]}
    n = max(1, len(test))
    return {
        "train_states": meta["states"],
        "test_states": len(test),
        "test_files": len({p["file"] for p in test}),
        **{f"top{k}": hits[k] / n for k in ks},
        **{f"top{k}_first_word": heads[k] / n for k in ks},
        "ms_per_query": 1000 * (time.perf_counter() - start) / n,
    }
