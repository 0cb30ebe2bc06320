"""SPLiCe packing: documents, BM25, the packing itself, the data and the bench."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from palestra.core.errors import PalestraError
from palestra.lm.splice import (
    BM25,
    PackedData,
    code_documents,
    file_texts,
    loss_by_position,
    pack,
)
from palestra.lm.tokenizers import CharTokenizer

FILE_A = """import os

# a comment about f
@decorator
def alpha_parse(path):
    return os.path.join(path, "alpha")


def alpha_render(tree):
    return alpha_parse(tree)

X = 1
"""
FILE_B = """class BetaQueue:
    def beta_push(self, item):
        self.items.append(item)

    def beta_pop(self):
        return self.items.pop()
"""


def test_file_texts_split_a_joined_corpus_part() -> None:
    joined = f"# ==== a.py ====\n{FILE_A}\n\n# ==== b.py ====\n{FILE_B}"
    assert file_texts(joined) == [FILE_A.strip("\n"), FILE_B.strip("\n")]


def test_code_documents_keep_units_whole_and_bounded() -> None:
    from palestra.lm.splice import _units

    units = _units(FILE_A)
    # the decorator and the comment stay with their function; X = 1 is its own unit
    assert units[1].startswith("# a comment about f\n@decorator\ndef alpha_parse")
    assert units[-1] == "X = 1" and units[2].startswith("def alpha_render")
    for limit in (80, 120, 400):
        docs = code_documents([FILE_A, FILE_B], max_chars=limit)
        assert all(len(d) <= limit for d in docs)
        assert "".join(docs).replace("\n", "") == (FILE_A + FILE_B).replace("\n", "")
    assert len(code_documents([FILE_A, FILE_B], max_chars=400)) == 2  # one per file
    with pytest.raises(PalestraError):
        code_documents([FILE_A], max_chars=10)


def test_bm25_ranks_the_document_that_shares_rare_terms_first() -> None:
    docs = [
        "def alpha_parse(path): return alpha_render(path)",
        "def beta_push(item): queue.append(item)",
        "def alpha_render(tree): return alpha_parse(tree) + gamma",
        "def delta(): return gamma",
    ]
    index = BM25(docs)
    assert index.top(0, 1, used=set()) == [2]
    # doc 3 shares "def" and "return", doc 1 only "def"
    assert index.top(0, 3, used={2}) == [3, 1]
    assert 2 not in index.scores(Counter(["beta_push"]))


def test_pack_makes_exact_lengths_and_splice_follows_neighbours() -> None:
    docs = [f"def f{i}(): return shared_{i // 2}_name" for i in range(40)]  # pairs share a term
    index = BM25(docs)
    rng = random.Random(0)
    for how in ("random", "splice"):
        assert len(pack(docs, index, how, 300, rng)) == 300
    text = pack(docs, index, "splice", 200, random.Random(1), k=1)
    parts = text.split("\n\n")
    # the root comes last and whole, its nearest neighbour (the same rare term) just before it
    root, neighbour = parts[-1], parts[-2]
    assert root in docs and root.split("shared_")[1] == neighbour.split("shared_")[1]
    with pytest.raises(PalestraError):
        pack(docs, None, "splice", 100, rng)


def test_packed_data_batches_and_loss_by_position() -> None:
    import torch

    from palestra.models.transformer import Transformer, TransformerConfig

    docs = code_documents([FILE_A, FILE_B] * 5, max_chars=120)
    tok = CharTokenizer("".join(sorted(set(FILE_A + FILE_B + " "))))
    data = PackedData(docs, docs, tok, "splice", 64, 3, seed=2)
    x, y = data.batch(0)
    assert x.shape == y.shape == (3, 64)
    assert torch.equal(x[:, 1:], y[:, :-1])
    assert torch.equal(x, data.batch(0)[0])  # a batch can be made again (resuming)
    torch.manual_seed(0)
    model = Transformer(
        TransformerConfig(vocab_size=tok.vocab_size, n_layer=1, d_model=16, block_size=64)
    )
    by_span = loss_by_position(model, data, "random", examples=4, buckets=4)
    assert len(by_span) == 4 and all(b > 0 for b in by_span)
    with pytest.raises(PalestraError):
        PackedData(docs, docs, tok, "sorted", 64, 3, seed=2)  # type: ignore[arg-type]


def test_bench_splice_quick_runs_both_packings(tmp_path) -> None:
    from palestra.core.bench import run_suite

    options = [
        "steps=2",
        "eval_examples=2",
        "block_size=64",
        "buckets=4",
        "d_model=16",
        "n_layer=1",
        "batch_size=2",
        "jobs=2",
        f"runs={tmp_path / 'kept'}",
    ]
    js, md = run_suite("splice", quick=True, out_dir=tmp_path, options=options, runs_root=tmp_path)
    models = json.loads(js.read_text())["data"]["models"]
    assert set(models) == {"random", "splice"}
    for m in models.values():
        assert set(m["bpc_by_position"]) == {"random", "splice"}
        assert all(len(v) == 4 for v in m["bpc_by_position"].values())
    assert len(list((tmp_path / "kept").iterdir())) == 2
    assert "bits per character by position" in md.read_text()
