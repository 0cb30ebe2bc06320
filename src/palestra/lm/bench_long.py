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

Each is then scored by exact-match recall on fresh seeded examples at ``multiples`` of the
training length and ``depths`` evenly spaced depths (:func:`~palestra.lm.longcontext.recall_grid`);
the memory models read the whole prompt chunk by chunk with exact top-``topk`` retrieval. One
heat map per model and task, and the recall by length for all.

``-o runs=DIR`` keeps the training runs there, checkpointed, and a second invocation resumes
them (or only re-evaluates finished ones); without it they live in a temporary folder.

Not measured yet (issue 30): RoPE scaling, SPLiCe packing, tokens/s and peak memory by length,
Hourglass at long context.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from palestra.core.bench import Bench, register_suite
from palestra.core.config import arg, with_defaults
from palestra.core.errors import PalestraError
from palestra.lm.longcontext import (
    LONG_TASKS,
    Grid,
    draw_heatmap,
    memory_predictor,
    recall_grid,
    window_predictor,
)
from palestra.models.architecture import TransformerShape

__all__ = ["LongBenchOptions", "run"]


@dataclass
@with_defaults(n_layer=2, n_head=4, d_model=64, block_size=256)
class LongBenchOptions(TransformerShape):
    """Options of ``palestra bench long-context`` (quick mode caps the values noted below).

    ``block_size`` is the training context of every model (the vanilla's window, the memory
    models' training documents); the shape is that of all three models.
    """

    tasks: tuple[str, ...] = arg(("dict-lookup",), "Long-context tasks to train and score.")
    chunk: int = arg(
        128, "Memory models: local context (their block_size); divides block_size.", min=8
    )
    memory_layer: int = arg(1, "Memory models: the memory layer (0-based).", min=0)
    crossbatch: int = arg(4, "FoT cross-batch d of the cross-batch memory model.", min=2)
    topk: int = arg(32, "Memory models at inference: memory keys retrieved per query.", min=1)
    steps: int = arg(1000, "Training steps of each model (quick: at most 300).", min=1)
    batch_size: int = arg(16, "Documents per training step.", min=1)
    lr: float = arg(3e-3, "Peak AdamW learning rate (warm-up, cosine decay to 10%).", above=0)
    warmup: int = arg(50, "Linear warm-up steps.", min=0)
    multiples: tuple[int, ...] = arg((1, 4, 16), "Scored context lengths, x block_size.", min=1)
    depths: int = arg(5, "Depths scored, evenly spaced from 0 to 1.", min=1)
    samples: int = arg(20, "Examples per (length, depth) cell (quick: at most 8).", min=1)
    threads: int = arg(1, "torch threads.", min=1)
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


@register_suite("long-context", config=LongBenchOptions)
def run(bench: Bench) -> None:
    import torch

    from palestra.core.runs import read_metrics
    from palestra.models.transformer import Transformer

    opts: LongBenchOptions = bench.options or LongBenchOptions()
    steps = min(opts.steps, 300) if bench.quick else opts.steps
    samples = min(opts.samples, 8) if bench.quick else opts.samples
    lengths = [m * opts.block_size for m in opts.multiples]
    depths = [i / max(1, opts.depths - 1) for i in range(opts.depths)]
    previous = torch.get_num_threads()
    torch.set_num_threads(opts.threads)
    grids: dict[str, dict[str, Grid]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) if opts.runs is None else opts.runs
            for task in opts.tasks:
                grids[task] = {}
                for name, settings in model_settings(opts).items():
                    run_dir = train_one(opts, task, name, settings, steps, root, bench.seed)
                    model = Transformer.from_pretrained(run_dir / "model")
                    final = read_metrics(run_dir)[-1]
                    predict = (
                        memory_predictor(model) if "memory" in name else window_predictor(model)
                    )
                    grid = recall_grid(predict, task, lengths, depths, samples, bench.seed, name)
                    grids[task][name] = grid
                    bench.data.setdefault("runs", {})[f"{task}/{name}"] = {
                        "run": str(run_dir) if opts.runs is not None else None,
                        "final_val_loss": final.get("val_loss"),
                        "parameters": model.num_params(),
                    }
    finally:
        torch.set_num_threads(previous)
    report(bench, opts, grids, steps, samples)


def report(
    bench: Bench,
    opts: LongBenchOptions,
    grids: dict[str, dict[str, Grid]],
    steps: int,
    samples: int,
) -> None:
    if not grids:
        raise PalestraError("no task to report")
    longest = opts.block_size * max(opts.multiples)
    for task, by_model in grids.items():
        names = list(by_model)
        vanilla, no_cb, cb = (by_model[n] for n in names)
        setting = (
            f"{steps} steps x {opts.batch_size} docs of {opts.block_size} tokens; scored at "
            f"{longest:,} tokens ({max(opts.multiples)}x), {samples} examples x "
            f"{opts.depths} depths"
        )
        bench.figure(
            f"{task} recall at {max(opts.multiples)}x, {names[2]}",
            cb.mean(longest),
            "recall",
            peer="vanilla (its window)",
            peer_value=vanilla.mean(longest),
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
            ["model", *(f"{n:,} ({n // opts.block_size}x)" for n in vanilla.lengths), "val loss"],
            [
                [
                    name,
                    *(round(grid.mean(n), 3) for n in grid.lengths),
                    round(
                        bench.data["runs"][f"{task}/{name}"]["final_val_loss"] or float("nan"), 3
                    ),
                ]
                for name, grid in by_model.items()
            ],
        )
        for i, (name, grid) in enumerate(by_model.items()):
            with bench.plot(f"{task}_heatmap_{i}", f"{task} recall, {name}") as ax:
                draw_heatmap(ax, grid)
        with bench.plot(
            f"{task}_by_length",
            f"{task}: recall by context length",
            xlabel="context length (tokens)",
            ylabel="recall (mean over depths)",
        ) as ax:
            for name, grid in by_model.items():
                ax.plot(grid.lengths, [grid.mean(n) for n in grid.lengths], marker="o", label=name)
            ax.set_xscale("log", base=2)
            ax.axvline(opts.block_size, linestyle=":", color="grey")
        bench.data.setdefault("grids", {})[task] = {n: vars(g) for n, g in by_model.items()}
    chance = {"dict-lookup": "1/100", "passkey": "1/90,000", "needle": "1/9,000"}
    bench.note(
        f"every model: {opts.n_layer} layers, d_model {opts.d_model}, {opts.n_head} heads, byte "
        f"tokens; {steps} AdamW steps (lr {opts.lr:g}, {opts.warmup} warm-up, cosine) on "
        f"{opts.batch_size} seeded documents of {opts.block_size} tokens, the loss on the "
        f"answers only, seed {bench.seed}. Memory models: local chunks of {opts.chunk} tokens, "
        f"layer {opts.memory_layer} a memory layer without positions, exact top-{opts.topk} "
        "retrieval at inference over every earlier chunk."
    )
    bench.note(
        "vanilla beyond its training context: truncated to its window (the last "
        f"{opts.block_size} tokens of the prompt), not extrapolated RoPE. Recall is exact match "
        f"of the greedy answer; guessing gets about {', '.join(f'{t} {chance[t]}' for t in grids)}."
    )
    if bench.quick:
        bench.note(f"quick mode: {steps} steps per model, {samples} examples per cell.")
