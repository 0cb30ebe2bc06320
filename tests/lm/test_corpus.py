"""The stdlib character corpus: reproducible, split by file, fingerprinted, loud when broken."""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import pytest

from palestra.lm.corpus import STDLIB_FILES, CorpusError, build_corpus, split_files
from palestra.lm.tokenizers import UNK


def test_file_list_is_sorted_and_every_file_exists() -> None:
    assert list(STDLIB_FILES) == sorted(STDLIB_FILES) and len(set(STDLIB_FILES)) >= 30
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    assert [f for f in STDLIB_FILES if not (stdlib / f).is_file()] == []


def test_build_is_deterministic_and_fingerprinted(tmp_path: Path) -> None:
    a = build_corpus(tmp_path / "a", max_chars=50_000)
    b = build_corpus(max_chars=50_000)
    assert a == b and a.fingerprints == b.fingerprints
    assert set(a.fingerprints) == {"train", "val"} and len(a.fingerprints["train"]) == 64
    assert len(a.train) == len(a.val) == 50_000
    assert a.train.startswith(f"# ==== {a.train_files[0]} ====\n")
    summary = json.loads((tmp_path / "a" / "corpus.json").read_text())
    assert summary["sha256"] == a.fingerprints and summary["python"] == a.python
    assert (tmp_path / "a" / "val.txt").read_text(encoding="utf-8") == a.val
    # a different cut is a different text, with its own fingerprint
    assert build_corpus(max_chars=40_000).fingerprints["train"] != a.fingerprints["train"]


def test_split_is_by_file_and_disjoint() -> None:
    corpus = build_corpus(max_chars=1000)
    assert not set(corpus.train_files) & set(corpus.val_files)
    assert corpus.files == tuple(sorted(STDLIB_FILES))
    assert corpus.val_files == tuple(sorted(STDLIB_FILES)[9::10])
    train, val = split_files([f"m{i:02d}.py" for i in range(20)])
    assert val == ("m09.py", "m19.py") and len(train) == 18


def test_vocabulary_is_the_training_characters_and_unseen_become_unk(tmp_path: Path) -> None:
    names = [f"m{i:02d}.py" for i in range(10)]
    for i, name in enumerate(names):
        (tmp_path / name).write_text("x = 9\n" if i != 9 else "x = qé\n", encoding="utf-8")
    corpus = build_corpus(stdlib=tmp_path, files=names)
    assert corpus.val_files == ("m09.py",)
    assert "é" not in corpus.chars and "q" not in corpus.chars
    assert corpus.val_unknown == 2  # 'q' and 'é'
    ids = corpus.tokenizer().encode(corpus.val)
    assert len(ids) == len(corpus.val) and ids.count(UNK) == 2


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    names = [f"m{i:02d}.py" for i in range(10)]
    for name in names[:-1]:
        (tmp_path / name).write_text("pass\n")
    with pytest.raises(CorpusError, match=r"m09\.py not found in"):
        build_corpus(stdlib=tmp_path, files=names)
    with pytest.raises(CorpusError, match="at least 10 files"):
        build_corpus(stdlib=tmp_path, files=names[:3])
