"""Long-context tasks: seeded generators with checkable answers, training batches, heat maps."""

from __future__ import annotations

import json
import random
import re

import pytest
import torch

from palestra.core.errors import PalestraError
from palestra.lm.longcontext import (
    LONG_TASKS,
    LongContextData,
    extended_predictor,
    make_example,
    memory_predictor,
    needle,
    recall_grid,
    training_document,
    window_predictor,
    write_heatmap,
)
from palestra.models.transformer import IGNORE_INDEX, Transformer, TransformerConfig

HAYSTACK = "".join(f"line {i} of some held-out text\n" for i in range(400))


def _example(task: str, seed: int, length: int, depth: float):
    rng = random.Random(seed)
    if task == "needle":
        return needle(rng, length, depth, HAYSTACK)
    return make_example(task, rng, length, depth)


@pytest.mark.parametrize("task", LONG_TASKS)
@pytest.mark.parametrize("length", [200, 1000, 4000])
def test_generators_are_deterministic_and_answers_right(task: str, length: int) -> None:
    for depth in (0.0, 0.5, 1.0):
        a, b = _example(task, 7, length, depth), _example(task, 7, length, depth)
        assert a == b
        assert length - 8 < a.length <= length
        assert a.prompt.isascii()
        if task == "dict-lookup":  # the queried key's value, read back from the listing
            key = re.search(r"\?(\w+)=$", a.prompt).group(1)  # type: ignore[union-attr]
            assert re.findall(rf"\b{key}=(\d\d);", a.prompt) == [a.answer]
        elif task == "passkey":
            assert f"The pass key is {a.answer}. Remember it." in a.prompt
            assert a.prompt.endswith("The pass key is ")
        else:
            assert f"# the magic number is {a.answer}\n" in a.prompt
        # the fact sits at the asked depth (to within one pair / sentence / line)
        assert abs(a.depth - depth) < max(0.1, 80 / length)
    assert _example(task, 7, length, 0.5) != _example(task, 8, length, 0.5)


def test_dict_lookup_pairs_are_aligned_and_depth_is_the_pair() -> None:
    ex = make_example("dict-lookup", random.Random(0), 1000, 0.0)
    key = ex.prompt[-4:-1]
    assert ex.prompt.index(f"{key}=") == 8  # the first pair, after the 8-character header
    assert len(ex.prompt) % 8 == 5  # the query starts at a multiple of 8
    with pytest.raises(PalestraError):
        make_example("dict-lookup", random.Random(0), 10, 0.5)
    with pytest.raises(PalestraError):
        make_example("nope", random.Random(0), 100, 0.5)


def test_training_batches_mask_everything_but_answers() -> None:
    data = LongContextData("dict-lookup", 256, 3, seed=5)
    x, y = data.batch(0)
    assert x.shape == y.shape == (3, 256)
    assert torch.equal(x, data.batch(0)[0]) and not torch.equal(x, data.batch(1)[0])
    text, answers = training_document("dict-lookup", random.Random(f"{5}/train/0"), 257)
    assert len(text) == 257 and len(answers) >= 10
    for row in range(3):
        kept = (y[row] != IGNORE_INDEX).nonzero().flatten()
        assert len(kept) >= 10
        # each target is the next input token, and a digit
        for p in kept.tolist()[:-1]:
            assert y[row, p] == x[row, p + 1] and chr(int(y[row, p]) - 4).isdigit()


def test_dict_lookup_documents_mix_dictionary_sizes_and_answer_from_them() -> None:
    rng = random.Random(3)
    sizes, starts = [], set()
    for _ in range(200):
        text, answers = training_document("dict-lookup", rng, 257)
        starts.add(re.search(r"[a-z]{3}=", text[8:]).start() + 8)  # type: ignore[union-attr]
        pairs = dict(re.findall(r"(?<![?a-z])([a-z]{3})=(\d\d); ", text))
        sizes.append(len(pairs))
        for key, value in re.findall(r"\?([a-z]{3})=(\d\d)", text):
            assert pairs[key] == value  # every query asks about a listed pair
        assert all(text[a].isdigit() for a in answers)
    assert min(sizes) == 1 and max(sizes) == 19  # log-uniform from 1 to 5/8 of 257 chars
    # empty slots before the pairs: the first pair starts at every slot of the first 5/8
    assert set(range(8, 8 + 16 * 8, 8)) <= starts <= set(range(8, 8 + 19 * 8, 8))
    assert sum(n <= 4 for n in sizes) > 40 and sum(n >= 12 for n in sizes) > 20


def test_recall_grid_shape_and_heatmap_files(tmp_path) -> None:
    def oracle(prompts: list[str], n: int) -> list[str]:  # reads the answer like a model would
        out = []
        for p in prompts:
            key = p[-4:-1]
            out.append(re.findall(rf"\b{key}=(\d\d);", p)[0][:n])
        return out

    grid = recall_grid(oracle, "dict-lookup", [64, 128, 256], [0.0, 0.5, 1.0], 4, seed=0)
    assert len(grid.recall) == 3 and all(len(r) == 3 for r in grid.recall)
    assert grid.recall == [[1.0] * 3] * 3 and grid.mean(128) == 1.0
    json_path, png_path = write_heatmap(grid, tmp_path / "dict")
    assert json.loads(json_path.read_text())["lengths"] == [64, 128, 256]
    assert png_path.read_bytes()[:4] == b"\x89PNG"


def test_predictors_run_on_tiny_models() -> None:
    torch.manual_seed(0)
    vanilla = Transformer(TransformerConfig(vocab_size=260, n_layer=1, d_model=16, block_size=32))
    memory = Transformer(
        TransformerConfig(vocab_size=260, n_layer=2, d_model=16, block_size=16, memory_layers=(1,))
    )
    readers = (
        window_predictor(vanilla),
        extended_predictor(vanilla, "linear"),
        memory_predictor(memory),
    )
    for predict in readers:
        grid = recall_grid(predict, "dict-lookup", [64, 200], [0.0, 1.0], 2, seed=1)
        assert len(grid.recall) == 2
        assert all(0.0 <= r <= 1.0 for row in grid.recall for r in row)


def test_train_lm_dict_lookup_with_memory_resumes(tmp_path) -> None:
    from palestra.core.runs import read_metrics
    from palestra.lm.config import LMTrainConfig
    from palestra.lm.train import train

    common = dict(
        task="dict-lookup",
        n_layer=2,
        n_head=2,
        d_model=16,
        block_size=32,
        memory_layers=(1,),
        memory_crossbatch=2,
        memory_chunks=2,
        batch_size=4,
        eval_every=2,
        eval_batches=1,
        checkpoint_every=2,
        runs_root=tmp_path,
        progress=False,
    )
    first = train(LMTrainConfig(steps=2, **common))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        LMTrainConfig(**{**common, "memory_crossbatch": 5})  # type: ignore[arg-type]
    assert (first / "model" / "config.json").exists()
    # the same run continued to 4 steps from its checkpoint: a new config is refused, so
    # resume the finished run with its own steps and check the log continues
    again = train(LMTrainConfig(steps=2, resume=True, **common))  # type: ignore[arg-type]
    assert again == first and [r["step"] for r in read_metrics(first)] == [1, 2]
    model = Transformer.from_pretrained(first / "model")
    assert model.cfg.memory_layers == (1,) and model.cfg.memory_crossbatch == 2


def test_bench_long_context_runs_and_keeps_its_runs(tmp_path) -> None:
    from palestra.core.bench import run_suite

    options = [
        "steps=2",
        "samples=1",
        "multiples=1,2",
        "depths=2",
        "block_size=32",
        "chunk=16",
        "d_model=16",
        "crossbatch=2",
        "batch_size=4",
        "jobs=2",
        f"runs={tmp_path / 'kept'}",
    ]
    js, md = run_suite(
        "long-context", quick=True, out_dir=tmp_path, options=options, runs_root=tmp_path
    )
    result = json.loads(js.read_text())
    readers = {
        "vanilla (window)",
        "vanilla, RoPE extrapolated",
        "vanilla, RoPE interpolated",
        "vanilla, RoPE NTK",
        "memory, d=1",
        "memory, cross-batch d=2",
    }
    assert set(result["data"]["grids"]["dict-lookup"]) == readers
    costs = result["data"]["costs"]["dict-lookup"]
    assert set(costs) == readers
    assert all(len(by_length) == 2 for by_length in costs.values())  # multiples 1, 2
    assert all(c["tokens_per_s"] > 0 for by_length in costs.values() for c in by_length)
    assert len(list((tmp_path / "kept").iterdir())) == 3  # one kept run per model
    run_suite("long-context", quick=True, out_dir=tmp_path, options=options, runs_root=tmp_path)
    assert len(list((tmp_path / "kept" / "dict-lookup-vanilla").iterdir())) == 1  # resumed
    assert "heatmap" in md.read_text()
