"""STaR (``palestra.reason.star``): fine-tuning on kept rationales, the iteration loop, its
record and its resume, on small real models trained here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from palestra.core.errors import PalestraError
from palestra.reason.star import StarConfig, finetune, train_star


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ..conftest import train_tiny_lm

    return train_tiny_lm(tmp_path_factory.mktemp("runs"))


def test_finetune_teaches_a_target(tiny_run: Path) -> None:
    """After fine-tuning on one (prompt, target) pair, greedy decoding writes the target."""
    from palestra.lm.backends import LocalBackend
    from palestra.lm.tokenizers import load_tokenizer
    from palestra.models.transformer import Transformer

    model = Transformer.from_pretrained(tiny_run / "model")
    tokenizer = load_tokenizer(tiny_run / "model" / "tokenizer.json")
    losses = finetune(model, tokenizer, [("7+8=", "zebra")], steps=60, batch_size=8, lr=1e-2)
    assert losses[-1] < losses[0] / 5
    with LocalBackend.from_model(model, tokenizer, batching=False) as backend:
        assert backend.complete("7+8=", temperature=0.0, max_tokens=8)[0].text == "zebra"
    with pytest.raises(PalestraError, match="nothing to fine-tune on"):
        finetune(model, tokenizer, [], steps=1, batch_size=1, lr=1e-3)


@pytest.fixture(scope="module")
def word_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ..conftest import train_tiny_word_lm

    return train_tiny_word_lm(tmp_path_factory.mktemp("runs"))


def test_star_loop_records_and_resumes(word_model: Path, tmp_path: Path) -> None:
    base = dict(
        generator=word_model, problems=3, k=2, steps=2, batch_size=2, eval_limit=2,
        max_tokens=24, root=tmp_path, concurrency=2,
    )  # fmt: skip
    run = train_star(StarConfig(iterations=1, **base))
    history = json.loads((run / "history.json").read_text())
    assert [h["iteration"] for h in history] == [0, 1]
    assert set(history[0]["accuracy"]) == {"heldout", "train"}
    first = history[1]
    assert first["questions"] == 3 and 0 <= first["rationales"] <= 3 and first["steps"] == 2
    assert (run / "iter_1" / "model.safetensors").is_file() and (run / "model").is_dir()
    # resume: the same run goes on from iteration 2, iteration 1 untouched
    again = train_star(StarConfig(iterations=2, resume=True, **base))
    assert again == run
    history = json.loads((run / "history.json").read_text())
    assert [h["iteration"] for h in history] == [0, 1, 2] and history[1] == first
    assert history[2]["steps"] == round(2 * 1.2)
    control = train_star(
        StarConfig(iterations=1, control="replay", **{**base, "root": tmp_path / "c"})
    )
    record = json.loads((control / "history.json").read_text())[1]
    assert record["rationales"] == 0 and record["steps"] == 2
    gold = train_star(
        StarConfig(iterations=2, control="gold", match=run, **{**base, "root": tmp_path / "g"})
    )
    counts = [h.get("rationales") for h in json.loads((gold / "history.json").read_text())]
    assert counts == [h.get("rationales") for h in history]  # as many as STaR kept
    with pytest.raises(PalestraError, match="needs --match"):
        train_star(StarConfig(iterations=1, control="gold", **{**base, "root": tmp_path / "x"}))
    with pytest.raises(PalestraError, match="word-problem tasks"):
        train_star(StarConfig(task="gsm8k", iterations=1, **base))


def test_bench_lm_programs_smoke(word_model: Path, tmp_path: Path) -> None:
    """``palestra bench lm-programs`` end to end on a tiny model: every arm runs, the report
    has its figures, tables and plots, and a rerun resumes every arm (nothing sampled)."""
    import palestra.reason.bench_programs  # noqa: F401 - registers the suite
    from palestra.core.bench import Bench, get_suite
    from palestra.reason.bench_programs import ProgramsBenchOptions

    opts = ProgramsBenchOptions(
        model=word_model, limit=2, samples=2, k=2, splits=("heldout",), runs=tmp_path / "runs",
        star_iterations=1, star_problems=3, star_steps=2, concurrency=2, si_model=word_model,
    )  # fmt: skip
    bench = Bench("lm-programs", quick=True, out_dir=tmp_path / "out", options=opts)
    get_suite("lm-programs").run(bench)
    names = [f.name for f in bench.figures]
    assert "heldout: step by step (greedy)" in names
    assert "STaR vs as many ground-truth rationales, held-out" in names
    assert {t["title"].split(":")[0] for t in bench.tables} >= {"STaR"}
    assert len(bench.plots) == 4
    assert "rule chains, held-out names: selection-inference + prover" in names
    assert "heldout: beam over steps (2 kept x 4 continuations), arithmetic verifier" in names
    assert "Promptbreeder (generated start): best evolved prompt, held-out" in names
    assert (tmp_path / "runs" / "heldout" / "tool-large" / "samples.jsonl").is_file()
    samples = (tmp_path / "runs" / "heldout" / "sampled-2" / "samples.jsonl").read_text()
    star_history = next((tmp_path / "runs" / "star" / "star").glob("star/*/history.json"))
    before = star_history.read_text()
    again = Bench("lm-programs", quick=True, out_dir=tmp_path / "out2", options=opts)
    get_suite("lm-programs").run(again)
    assert (tmp_path / "runs" / "heldout" / "sampled-2" / "samples.jsonl").read_text() == samples
    assert star_history.read_text() == before
    assert [f.value for f in again.figures] == [f.value for f in bench.figures]


def test_hint_prompt_and_rationalization(word_model: Path, tmp_path: Path) -> None:
    from palestra.reason.star import hint_prompt

    prompt = "Think step by step.\nQ: Mia has 3 apples. How many apples does Mia have now?\nA:"
    assert hint_prompt(prompt, "3") == (
        "Think step by step.\nQ: Mia has 3 apples. How many apples does Mia have now? "
        "(Hint: the answer is 3.)\nA:"
    )
    assert hint_prompt("no answer slot", "3") == "no answer slot (Hint: the answer is 3.)"
    run = train_star(StarConfig(generator=word_model, problems=3, k=2, steps=2, batch_size=2,
                                eval_limit=2, max_tokens=24, root=tmp_path, concurrency=2,
                                iterations=1, rationalize=True))  # fmt: skip
    record = json.loads((run / "history.json").read_text())[1]
    assert 0 <= record["rationales"] <= 3


def test_rationalization_keeps_hinted_rationales_without_the_hint(tmp_path: Path) -> None:
    """A scripted model that answers right only when given the hint: without rationalization
    nothing is kept; with it every question, each kept with its original (hintless) prompt."""
    import re

    from palestra.reason.programs.scripted import ScriptedBackend
    from palestra.reason.star import _rationales
    from palestra.reason.task import get_task

    def respond(prompt: str, rng: object) -> str:
        m = re.search(r"\(Hint: the answer is (\d+)\.\)", prompt)
        return f" Water: 1 + 1 = 2.\nThe answer is {m.group(1) if m else 0}."

    task = get_task("wordproblems")
    problems = task.problems(seed="star/test", count=4)
    backend = ScriptedBackend(respond)
    base = dict(generator=tmp_path, k=2, concurrency=2)
    assert _rationales(backend, task, problems, StarConfig(**base), 1) == []
    kept = _rationales(backend, task, problems, StarConfig(**base, rationalize=True), 1)
    assert [prompt for prompt, _ in kept] == [p.prompt for p in problems]
    assert all("Hint" not in prompt for prompt, _ in kept)
