"""The learned verifier (``palestra.reason.verifier``): fitting, saving and loading, its
metrics, its use in best-of-n, and the word problems' verifier-training draw."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from palestra.core.errors import PalestraError
from palestra.reason.verifier import (
    LearnedVerifier,
    Sample,
    _auc,
    fit_verifier,
    save_verifier,
    selection_metrics,
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ..conftest import train_tiny_lm

    return train_tiny_lm(tmp_path_factory.mktemp("runs"))


def _sums(n: int, seed: int) -> list[Sample]:
    """Additions ``a+b=`` with a right sum and a wrong one (the sum + 100: three digits where
    the right one has two, an easy signal for a one-layer model)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = rng.randrange(10, 50), rng.randrange(10, 50)
        out.append(Sample(i, f"{a}+{b}=", str(a + b), str(a + b), True))
        out.append(Sample(i, f"{a}+{b}=", str(a + b + 100), str(a + b + 100), False))
    return out


def test_fit_separates_and_the_saved_verifier_scores_the_same(
    tiny_run: Path, tmp_path: Path
) -> None:
    from palestra.lm.tokenizers import load_tokenizer
    from palestra.models.transformer import Transformer

    model = Transformer.from_pretrained(tiny_run / "model")
    tokenizer = load_tokenizer(tiny_run / "model" / "tokenizer.json")
    logged: list[tuple[int, float]] = []
    head = fit_verifier(
        model, tokenizer, _sums(60, 1), steps=100, batch_size=16, lr=3e-3, seed=0,
        on_log=lambda step, loss, lr: logged.append((step, loss)),
    )  # fmt: skip
    assert [s for s, _ in logged] == [50, 100]
    out = save_verifier(tmp_path / "v", model, tokenizer, head, {"note": "test"})
    verifier = LearnedVerifier(out)
    held = _sums(20, 2)
    scores = verifier.scores([(s.prompt, s.text) for s in held])
    assert all(0 <= x <= 1 for x in scores)
    auc = _auc(scores, [s.right for s in held])
    assert auc is not None and auc >= 0.9, auc
    # one at a time (no padding) scores what a batch scores
    from palestra.reason.task import Problem

    problem = Problem("arith-test", "p", held[0].prompt, "", held[0].answer or "")
    assert verifier.score(problem, held[0].text) == pytest.approx(scores[0], abs=1e-5)
    assert verifier.meta == {"note": "test"}
    # the verifier's pick: best-of-n with it picks right where a wrong first sample would not
    metrics = selection_metrics(held, scores)
    assert metrics["verifier_top"] >= 0.9 and metrics["oracle"] == 1.0


def test_fit_refuses_a_single_class(tiny_run: Path) -> None:
    from palestra.lm.tokenizers import load_tokenizer
    from palestra.models.transformer import Transformer

    model = Transformer.from_pretrained(tiny_run / "model")
    tokenizer = load_tokenizer(tiny_run / "model" / "tokenizer.json")
    right_only = [s for s in _sums(5, 0) if s.right]
    with pytest.raises(PalestraError, match="all right or all wrong"):
        fit_verifier(model, tokenizer, right_only, steps=1, batch_size=2, lr=1e-3)


def test_auc_and_selection_by_hand() -> None:
    assert _auc([0.9, 0.8, 0.1], [True, False, False]) == 1.0
    assert _auc([0.5, 0.5], [True, False]) == 0.5
    assert _auc([0.1, 0.9], [True, False]) == 0.0
    assert _auc([0.3], [True]) is None
    samples = [
        Sample(0, "p", "a", "1", False),  # first sample wrong
        Sample(0, "p", "b", "2", True),
        Sample(0, "p", "c", "1", False),  # majority "1" wrong
        Sample(1, "q", "d", "5", True),
        Sample(1, "q", "e", "6", False),
    ]
    m = selection_metrics(samples, [0.2, 0.7, 0.7, 0.1, 0.9])
    # problem 0: top = "b" (0.7, first of the tie) right; problem 1: top = "e" wrong
    assert m == {
        "problems": 2,
        "verifier_top": 0.5,
        "first_sample": 0.5,
        "majority_vote": 0.5,  # problem 0: "1" wrong; problem 1: tie, first seen "5" right
        "oracle": 1.0,
    }


def test_make_verifier_names_and_errors(tmp_path: Path) -> None:
    from palestra.reason.programs import ArithmeticVerifier, make_verifier

    assert isinstance(make_verifier("arithmetic"), ArithmeticVerifier)
    assert make_verifier("arithmetic", check_only=True) is None
    with pytest.raises(PalestraError, match="unknown verifier 'nope'; known: arithmetic"):
        make_verifier("nope")
    with pytest.raises(PalestraError, match="not a verifier folder"):
        make_verifier(f"learned:{tmp_path}", check_only=True)


def test_best_of_n_with_a_learned_verifier(tiny_run: Path, tmp_path: Path) -> None:
    """The learned verifier through ``palestra eval --program best-of-n --verifier
    learned:DIR`` on the tiny model: every sample's record holds the verifier's scores."""
    import json
    import subprocess

    from palestra.lm.tokenizers import load_tokenizer
    from palestra.models.transformer import Transformer

    model = Transformer.from_pretrained(tiny_run / "model")
    tokenizer = load_tokenizer(tiny_run / "model" / "tokenizer.json")
    head = fit_verifier(model, tokenizer, _sums(20, 3), steps=10, batch_size=8, lr=3e-3)
    folder = save_verifier(tmp_path / "v", model, tokenizer, head, {})
    tests = str(Path(__file__).parent)
    src = str(Path(__file__).resolve().parents[2] / "src")
    code = (
        f"import sys; sys.path[:0] = [{src!r}, {tests!r}]; import arith_task; "
        "from palestra.cli import main; sys.argv[0] = 'palestra'; main()"
    )
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", code, "eval", "arith-test", "--backend", f"local:{tiny_run}",
         "--limit", "3", "--program", "best-of-n", "--k", "3", "--temperature", "1.0",
         "--verifier", f"learned:{folder}", "--out", str(out), "--no-progress"],
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 3
    for r in records:
        scores = r["info"]["scores"]
        assert len(scores) == 3 and all(0 <= s <= 1 for s in scores)
        assert r["info"]["chosen"] == max(range(3), key=lambda i: (scores[i], -i))


def test_wordproblems_draws_for_the_verifier_are_other_problems() -> None:
    from palestra.reason.task import get_task

    task = get_task("wordproblems-train")
    evals = task.problems()
    drawn = task.problems(seed="verifier/0", count=50)
    assert [p.id for p in evals[:2]] == ["wordproblems/train/0", "wordproblems/train/1"]
    assert drawn[0].id == "wordproblems/train@verifier/0/0" and len(drawn) == 50
    assert not {p.question for p in drawn} & {p.question for p in evals}
    assert {p.meta["scenario"] for p in drawn} <= {p.meta["scenario"] for p in evals}


def test_pairwise_ranking_loss(tiny_run: Path) -> None:
    """With the within-problem ranking term the right sum of each held-out problem is ranked
    first; a training set with no problem holding both labels is refused in that mode."""
    from palestra.lm.tokenizers import load_tokenizer
    from palestra.models.transformer import Transformer

    model = Transformer.from_pretrained(tiny_run / "model")
    tokenizer = load_tokenizer(tiny_run / "model" / "tokenizer.json")
    head = fit_verifier(model, tokenizer, _sums(60, 4), steps=80, batch_size=16, lr=3e-3,
                        pairwise=1.0)  # fmt: skip
    held = _sums(20, 5)
    import torch

    from palestra.reason.verifier import _batch

    with torch.no_grad():
        idx, _, last = _batch(tokenizer, model.cfg.block_size, [(s.prompt, s.text) for s in held])
        v = head(model.hidden_states(idx)).squeeze(-1)[torch.arange(len(held)), last]
    assert selection_metrics(held, torch.sigmoid(v).tolist())["verifier_top"] >= 0.9
    apart = [Sample(0, "1+1=", "2", "2", True), Sample(1, "1+2=", "9", "9", False)]
    with pytest.raises(PalestraError, match="no problem has both"):
        fit_verifier(model, tokenizer, apart, steps=1, batch_size=2, lr=1e-3, pairwise=1.0)
