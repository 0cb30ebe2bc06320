"""Bench ``long-context``: recall by context length and depth, plain vs Focused Transformer memory.

    palestra bench long-context --quick
    palestra bench long-context -o steps=3000 -o runs=runs/long-context   # kept, resumable

Three tiny byte-level models are trained with the loop of ``palestra train lm`` (the same
seed, steps and optimizer) on each task of ``tasks`` (default: dictionary lookup) with
training documents of ``block_size`` tokens:

- *vanilla*: RoPE in every layer, context ``block_size``. Beyond it, it reads only the last
  ``block_size`` tokens of a prompt (truncated to its window: its RoPE tables and training
  stop there), so its recall of a fact farther back is that of a model that never saw it;
- *memory, d=1*: the same layers with ``memory_layers`` (FoT memory attention, no positions in
  those layers), local chunks of ``chunk`` tokens, trained on ``block_size / chunk`` chunks per
  document with the memory of the document's own earlier chunks only (no negatives);
- *memory, cross-batch d*: the same, trained with FoT's cross-batch memory (its own earlier
  chunks and those of ``d - 1`` other documents of the batch as negatives).

The vanilla is also read past its window with its rotary angles extended
(:meth:`~palestra.models.transformer.Transformer.extended`, ``rope_scaling``): "none" (plain
extrapolation to unseen positions), "linear" (position interpolation, Chen et al. 2023) and
"ntk" (NTK-aware scaling) -- readers of the same trained weights, not new models.

Each reader is then scored by exact-match recall on fresh seeded examples at ``multiples`` of the
training length and ``depths`` evenly spaced depths (:func:`~palestra.lm.longcontext.recall_grid`);
the memory models read the whole prompt chunk by chunk with exact top-``topk`` retrieval. One
heat map per model and task, and the recall by length for all.

``-o runs=DIR`` keeps the training runs there, checkpointed, and a second invocation resumes
them (or only re-evaluates finished ones); without it they live in a temporary folder.

The cost of reading: tokens/s and peak resident memory
(:class:`~palestra.core.measure.PeakMemory`) of each reader answering one prompt of each scored
length (batch 1, after a warm-up read).

Not measured yet (issue 30): SPLiCe packing; Hourglass at long context is ``palestra bench
lm-arch -o block_size=...``.
"""

from __future__ import annotations

import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from palestra.core.bench import Bench, register_suite
from palestra.core.config import arg, with_defaults
from palestra.core.errors import PalestraError
from palestra.lm.longcontext import (
    LONG_TASKS,
    TOKENIZER,
    Grid,
    Predictor,
    draw_heatmap,
    extended_predictor,
    make_example,
    memory_predictor,
    recall_grid,
    window_predictor,
)
from palestra.models.architecture import TransformerShape

if TYPE_CHECKING:
    from palestra.models.transformer import Transformer

__all__ = ["LongBenchOptions", "run"]


@dataclass
@with_defaults(n_layer=2, n_head=2, d_model=64, block_size=256)
class LongBenchOptions(TransformerShape):
    """Options of ``palestra bench long-context`` (quick mode caps the values noted below).

    ``block_size`` is the training context of every model (the vanilla's window, the memory
    models' training documents); the shape is that of all three models.
    """

    tasks: tuple[str, ...] = arg(("dict-lookup",), "Long-context tasks to train and score.")
    canon: int = arg(
        4,
        "Width of every model's Canon convolution (0: none). A key of 3 letters then reaches "
        "one position before attention; without it the lookup sat at chance for thousands "
        "of steps here (NOTES).",
        min=0,
    )
    chunk: int = arg(
        128, "Memory models: local context (their block_size); divides block_size.", min=8
    )
    memory_layer: int = arg(1, "Memory models: the memory layer (0-based).", min=0)
    crossbatch: int = arg(4, "FoT cross-batch d of the cross-batch memory model.", min=2)
    topk: int = arg(32, "Memory models at inference: memory keys retrieved per query.", min=1)
    rope_scaling: tuple[str, ...] = arg(
        ("none", "linear", "ntk"),
        "Extra readers of the vanilla beyond its window, its RoPE angles extended: none "
        "(extrapolated), linear (position interpolation), ntk (NTK-aware); empty: window only.",
    )
    steps: int = arg(2500, "Training steps of each model (quick: at most 300).", min=1)
    batch_size: int = arg(16, "Documents per training step.", min=1)
    lr: float = arg(3e-3, "Peak AdamW learning rate (warm-up, cosine decay to 10%).", above=0)
    warmup: int = arg(100, "Linear warm-up steps.", min=0)
    multiples: tuple[int, ...] = arg((1, 4, 16), "Scored context lengths, x block_size.", min=1)
    depths: int = arg(5, "Depths scored, evenly spaced from 0 to 1.", min=1)
    samples: int = arg(20, "Examples per (length, depth) cell (quick: at most 8).", min=1)
    threads: int = arg(1, "torch threads of each model's training and scoring.", min=1)
    jobs: int = arg(1, "Models trained and scored at once, each in its own process.", min=1)
    runs: Path | None = arg(
        None,
        "Keep the training runs in this folder, checkpointed, and resume them when the same "
        "command runs again; default: a temporary folder.",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.block_size % self.chunk:
            raise ValueError(f"chunk={self.chunk} does not divide block_size={self.block_size}")
        if self.memory_layer >= self.n_layer:
            raise ValueError(f"memory_layer={self.memory_layer} needs n_layer > it")
        bad = set(self.rope_scaling) - {"none", "linear", "ntk"}
        if bad:
            raise ValueError(f"unknown rope_scaling {sorted(bad)}; known: none, linear, ntk")
        unknown = set(self.tasks) - set(LONG_TASKS)
        if unknown:
            raise ValueError(f"unknown tasks {sorted(unknown)}; known: {', '.join(LONG_TASKS)}")


def model_settings(opts: LongBenchOptions) -> dict[str, dict[str, object]]:
    """The three models' ``palestra train lm`` settings beyond the shared ones."""
    memory = dict(
        block_size=opts.chunk,
        memory_layers=(opts.memory_layer,),
        memory_topk=opts.topk,
        memory_chunks=opts.block_size // opts.chunk,
    )
    return {
        "vanilla": dict(block_size=opts.block_size),
        "memory, d=1": dict(memory, memory_crossbatch=1),
        f"memory, cross-batch d={opts.crossbatch}": dict(memory, memory_crossbatch=opts.crossbatch),
    }


def train_one(
    opts: LongBenchOptions, task: str, name: str, settings: dict, steps: int, root: Path, seed: int
) -> Path:
    """Train (or resume, or find finished) one model with ``palestra train lm``; its run dir."""
    from palestra.lm.config import LMTrainConfig
    from palestra.lm.train import train

    slug = name.replace(", ", "-").replace(" ", "-").replace("=", "")
    cfg = LMTrainConfig(
        task=task,  # type: ignore[arg-type]
        n_layer=opts.n_layer,
        n_head=opts.n_head,
        d_model=opts.d_model,
        canon=opts.canon,
        steps=steps,
        batch_size=opts.batch_size,
        lr=opts.lr,
        warmup=opts.warmup,
        eval_every=max(1, steps // 5),
        eval_batches=2,
        seed=seed,
        threads=opts.threads,
        checkpoint_every=100,
        run_name=f"{task}-{slug}",
        runs_root=root,
        resume=opts.runs is not None,
        progress=False,
        **settings,  # type: ignore[arg-type]
    )
    return train(cfg)


SCALING_NAMES = {"none": "RoPE extrapolated", "linear": "RoPE interpolated", "ntk": "RoPE NTK"}


def readers(opts: LongBenchOptions, name: str, model: Transformer) -> dict[str, Predictor]:
    """The ways of reading a long prompt with the model trained as ``name``."""
    if "memory" in name:
        return {name: memory_predictor(model)}
    out = {f"{name} (window)": window_predictor(model)}
    for scaling in opts.rope_scaling:
        out[f"{name}, {SCALING_NAMES[scaling]}"] = extended_predictor(model, scaling)
    return out


def reading_cost(predict: Predictor, task: str, length: int, seed: int) -> dict[str, float | None]:
    """Tokens/s and peak resident MiB of ``predict`` answering one prompt of ``length`` tokens
    (a warm-up answer first, so lazily built readers are not timed)."""
    from palestra.core.measure import PeakMemory

    ex = make_example(task, random.Random(f"{seed}/cost/{task}/{length}"), length, 0.5)
    n = len(TOKENIZER.encode(ex.answer))
    predict([ex.prompt], n)
    with PeakMemory() as peak:
        start = time.perf_counter()
        predict([ex.prompt], n)
        seconds = time.perf_counter() - start
    return {"tokens_per_s": ex.length / seconds, "peak_mib": peak.mib}


@dataclass(frozen=True)
class ModelJob:
    """One model of the bench: train it (or resume it), then score every way of reading with
    it; a job of :func:`~palestra.core.jobs.run_jobs`."""

    opts: LongBenchOptions
    task: str
    name: str
    steps: int
    samples: int
    root: Path
    seed: int


def train_and_score(job: ModelJob) -> dict:
    """The job's run dir, final validation loss, parameters and recall grid per reader."""
    import torch

    from palestra.core.runs import read_metrics
    from palestra.models.transformer import Transformer

    opts = job.opts
    torch.set_num_threads(opts.threads)
    settings = model_settings(opts)[job.name]
    run_dir = train_one(opts, job.task, job.name, settings, job.steps, job.root, job.seed)
    model = Transformer.from_pretrained(run_dir / "model")
    lengths = [m * opts.block_size for m in opts.multiples]
    depths = [i / max(1, opts.depths - 1) for i in range(opts.depths)]
    grids = {
        reader: recall_grid(predict, job.task, lengths, depths, job.samples, job.seed, reader)
        for reader, predict in readers(opts, job.name, model).items()
    }
    return {
        "run_dir": str(run_dir),
        "final_val_loss": read_metrics(run_dir)[-1].get("val_loss"),
        "parameters": model.num_params(),
        "grids": grids,
    }


@register_suite("long-context", config=LongBenchOptions)
def run(bench: Bench) -> None:
    import torch

    from palestra.core.jobs import run_jobs
    from palestra.models.transformer import Transformer

    opts: LongBenchOptions = bench.options or LongBenchOptions()
    steps = min(opts.steps, 300) if bench.quick else opts.steps
    samples = min(opts.samples, 8) if bench.quick else opts.samples
    lengths = [m * opts.block_size for m in opts.multiples]
    grids: dict[str, dict[str, Grid]] = {t: {} for t in opts.tasks}
    costs: dict[str, dict[str, list[dict[str, float | None]]]] = {t: {} for t in opts.tasks}
    previous = torch.get_num_threads()
    torch.set_num_threads(opts.threads)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) if opts.runs is None else opts.runs
            jobs = [
                ModelJob(opts, task, name, steps, samples, root, bench.seed)
                for task in opts.tasks
                for name in model_settings(opts)
            ]
            done: dict[int, dict] = {}
            progress = None if bench.quick else "models"
            for r in run_jobs(train_and_score, jobs, workers=opts.jobs, progress=progress):
                done[r.key] = r.unwrap()
            # in job order (the report's), and the cost of reading measured here, one reader
            # at a time, so no other job shares the cores while it is timed
            for i, job in enumerate(jobs):
                out = done[i]
                bench.data.setdefault("runs", {})[f"{job.task}/{job.name}"] = {
                    "run": out["run_dir"] if opts.runs is not None else None,
                    "final_val_loss": out["final_val_loss"],
                    "parameters": out["parameters"],
                }
                model = Transformer.from_pretrained(Path(out["run_dir"]) / "model")
                for reader, predict in readers(opts, job.name, model).items():
                    bench.data.setdefault("readers", {})[f"{job.task}/{reader}"] = job.name
                    grids[job.task][reader] = out["grids"][reader]
                    costs[job.task][reader] = [
                        reading_cost(predict, job.task, n, bench.seed) for n in lengths
                    ]
    finally:
        torch.set_num_threads(previous)
    bench.data["costs"] = costs
    report(bench, opts, grids, costs, steps, samples)


def _val_loss(bench: Bench, task: str, reader: str) -> float:
    """The final validation loss of the model ``reader`` reads with."""
    model = bench.data["readers"][f"{task}/{reader}"]
    return round(bench.data["runs"][f"{task}/{model}"]["final_val_loss"] or float("nan"), 3)


def report(
    bench: Bench,
    opts: LongBenchOptions,
    grids: dict[str, dict[str, Grid]],
    costs: dict[str, dict[str, list[dict[str, float | None]]]],
    steps: int,
    samples: int,
) -> None:
    if not grids:
        raise PalestraError("no task to report")
    longest = opts.block_size * max(opts.multiples)
    names = list(model_settings(opts))  # vanilla, memory d=1, memory cross-batch
    for task, by_reader in grids.items():
        no_cb, cb = by_reader[names[1]], by_reader[names[2]]
        plain = {r: g for r, g in by_reader.items() if r.startswith(names[0])}
        best_plain = max(plain, key=lambda r: plain[r].mean(longest))
        setting = (
            f"{steps} steps x {opts.batch_size} docs of {opts.block_size} tokens; scored at "
            f"{longest:,} tokens ({max(opts.multiples)}x), {samples} examples x "
            f"{opts.depths} depths"
        )
        bench.figure(
            f"{task} recall at {max(opts.multiples)}x, {names[2]}",
            cb.mean(longest),
            "recall",
            peer=f"best vanilla reader: {best_plain}",
            peer_value=plain[best_plain].mean(longest),
            setting=setting,
        )
        bench.figure(
            f"{task} recall at {max(opts.multiples)}x, cross-batch vs d=1",
            cb.mean(longest),
            "recall",
            peer=names[1],
            peer_value=no_cb.mean(longest),
            setting=setting,
        )
        bench.table(
            f"{task}: recall by context length (mean over depths)",
            ["reader", *(f"{n:,} ({n // opts.block_size}x)" for n in cb.lengths), "val loss"],
            [
                [
                    reader,
                    *(round(grid.mean(n), 3) for n in grid.lengths),
                    _val_loss(bench, task, reader),
                ]
                for reader, grid in by_reader.items()
            ],
        )
        bench.table(
            f"{task}: cost of reading one prompt (batch 1): tokens/s, peak MiB",
            ["reader", *(f"{n:,}" for n in cb.lengths)],
            [
                [
                    reader,
                    *(
                        f"{c['tokens_per_s']:,.0f} tok/s, "
                        + ("n/a" if c["peak_mib"] is None else f"{c['peak_mib']:.0f} MiB")
                        for c in by_length
                    ),
                ]
                for reader, by_length in costs[task].items()
            ],
        )
        for i, (reader, grid) in enumerate(by_reader.items()):
            with bench.plot(f"{task}_heatmap_{i}", f"{task} recall, {reader}") as ax:
                draw_heatmap(ax, grid)
        with bench.plot(
            f"{task}_by_length",
            f"{task}: recall by context length",
            xlabel="context length (tokens)",
            ylabel="recall (mean over depths)",
        ) as ax:
            for reader, grid in by_reader.items():
                ax.plot(
                    grid.lengths, [grid.mean(n) for n in grid.lengths], marker="o", label=reader
                )
            ax.set_xscale("log", base=2)
            ax.axvline(opts.block_size, linestyle=":", color="grey")
        bench.data.setdefault("grids", {})[task] = {n: vars(g) for n, g in by_reader.items()}
    chance = {"dict-lookup": "1/100", "passkey": "1/90,000", "needle": "1/9,000"}
    bench.note(
        f"every model: {opts.n_layer} layers, d_model {opts.d_model}, {opts.n_head} heads, "
        f"Canon convolution of width {opts.canon} before attention, byte "
        f"tokens; {steps} AdamW steps (lr {opts.lr:g}, {opts.warmup} warm-up, cosine) on "
        f"{opts.batch_size} seeded documents of {opts.block_size} tokens, the loss on the "
        f"answers only, seed {bench.seed}. Memory models: local chunks of {opts.chunk} tokens, "
        f"layer {opts.memory_layer} a memory layer without positions, exact top-{opts.topk} "
        "retrieval at inference over every earlier chunk."
    )
    bench.note(
        "vanilla (window): truncated to its window (the last "
        f"{opts.block_size} tokens of the prompt); the RoPE readers read the whole prompt with "
        "the same weights, angles extrapolated, interpolated or NTK-scaled. Recall is exact "
        "match of the greedy answer; guessing gets about "
        f"{', '.join(f'{t} {chance[t]}' for t in grids)}."
    )
    bench.note(
        "cost of reading: the prompt's tokens over the seconds to answer it (the window reader "
        "counts tokens it never reads); peak memory is resident memory above what the process "
        "held before the answer (core.measure.PeakMemory), measured one reader at a time."
    )
    if bench.quick:
        bench.note(f"quick mode: {steps} steps per model, {samples} examples per cell.")
