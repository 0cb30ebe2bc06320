"""Bench ``splice``: structured packing (SPLiCe) vs random packing at the same tokens.

    palestra bench splice --quick
    palestra bench splice -o steps=1200 -o jobs=2 -o runs=runs/splice   # kept, resumable

Two character-level transformers of the same shape, seed and optimizer are trained with
``palestra train lm --task stdlib-code`` for the same steps on examples of ``block_size``
characters packed from the same training documents (top-level units of the standard-library
corpus's training files, :mod:`palestra.lm.splice`):

- *random*: documents concatenated at random (the usual packing);
- *SPLiCe*: a random root document and its BM25 neighbours, breadth first (``splice_k``
  neighbours per document), the root last.

Both are then scored on held-out examples packed from the held-out files both ways: bits per
character in ``buckets`` spans of positions. Long-context use shows as the drop from the
first span (little context) to the last (up to ``block_size`` characters of context): SPLiCe
is meant to teach a model to use related text far back, so it should gain more on related
(SPLiCe-packed) held-out text and lose nothing on random text.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from palestra.core.bench import Bench, register_suite
from palestra.core.config import arg, with_defaults
from palestra.models.architecture import TransformerShape

__all__ = ["SpliceBenchOptions", "run"]

PACKINGS = ("random", "splice")
LABEL = {"random": "random packing", "splice": "SPLiCe"}
LN2 = math.log(2.0)


@dataclass
@with_defaults(n_layer=4, n_head=4, d_model=128, block_size=1024)
class SpliceBenchOptions(TransformerShape):
    """Options of ``palestra bench splice`` (quick mode caps the values noted below)."""

    steps: int = arg(1200, "Training steps of each model (quick: at most 20).", min=1)
    batch_size: int = arg(8, "Examples per training step.", min=1)
    lr: float = arg(3e-3, "Peak AdamW learning rate (warm-up, cosine decay to 10%).", above=0)
    warmup: int = arg(100, "Linear warm-up steps.", min=0)
    splice_k: int = arg(1, "SPLiCe: BM25 neighbours retrieved per document.", min=1)
    doc_chars: int = arg(800, "Longest document (grouped top-level units).", min=80)
    eval_examples: int = arg(64, "Held-out examples per packing (quick: at most 8).", min=1)
    buckets: int = arg(8, "Spans of positions the held-out loss is reported in.", min=1)
    threads: int = arg(1, "torch threads of each model.", min=1)
    jobs: int = arg(1, "Models trained at once, each in its own process.", min=1)
    runs: Path | None = arg(
        None, "Keep the training runs here, checkpointed, and resume them; default: temporary."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.block_size % self.buckets:
            raise ValueError(f"buckets={self.buckets} does not divide block_size")


@dataclass(frozen=True)
class PackingJob:
    opts: SpliceBenchOptions
    packing: str
    steps: int
    examples: int
    root: Path
    seed: int


def train_and_score(job: PackingJob) -> dict:
    """Train (or resume) the model of one packing; its bpc by position on both held-out
    packings."""
    import torch

    from palestra.core.runs import read_metrics
    from palestra.lm.config import LMTrainConfig
    from palestra.lm.splice import PackedData, loss_by_position
    from palestra.lm.train import train
    from palestra.models.transformer import Transformer

    opts = job.opts
    torch.set_num_threads(opts.threads)
    cfg = LMTrainConfig(
        task="stdlib-code",
        packing=job.packing,  # type: ignore[arg-type]
        splice_k=opts.splice_k,
        doc_chars=opts.doc_chars,
        n_layer=opts.n_layer,
        n_head=opts.n_head,
        d_model=opts.d_model,
        block_size=opts.block_size,
        steps=job.steps,
        batch_size=opts.batch_size,
        lr=opts.lr,
        warmup=min(opts.warmup, job.steps // 2),
        eval_every=max(1, job.steps // 5),
        eval_batches=2,
        seed=job.seed,
        threads=opts.threads,
        checkpoint_every=100,
        run_name=f"stdlib-code-{job.packing}",
        runs_root=job.root,
        resume=opts.runs is not None,
        progress=False,
    )
    run_dir = train(cfg)
    model = Transformer.from_pretrained(run_dir / "model")
    data = PackedData.stdlib(
        "random", opts.block_size, opts.batch_size, job.seed, opts.splice_k, opts.doc_chars
    )
    bpc = {
        held_out: [
            nats / LN2
            for nats in loss_by_position(model, data, held_out, job.examples, opts.buckets)  # type: ignore[arg-type]
        ]
        for held_out in PACKINGS
    }
    return {
        "run_dir": str(run_dir),
        "final_val_loss": read_metrics(run_dir)[-1].get("val_loss"),
        "parameters": model.num_params(),
        "bpc_by_position": bpc,
    }


@register_suite("splice", config=SpliceBenchOptions)
def run(bench: Bench) -> None:
    from palestra.core.jobs import run_jobs

    opts: SpliceBenchOptions = bench.options or SpliceBenchOptions()
    steps = min(opts.steps, 20) if bench.quick else opts.steps
    examples = min(opts.eval_examples, 8) if bench.quick else opts.eval_examples
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) if opts.runs is None else opts.runs
        jobs = [PackingJob(opts, p, steps, examples, root, bench.seed) for p in PACKINGS]
        progress = None if bench.quick else "models"
        for r in run_jobs(train_and_score, jobs, workers=opts.jobs, progress=progress):
            out[jobs[r.key].packing] = r.unwrap()
    for result in out.values():
        if opts.runs is None:
            result["run_dir"] = None
    bench.data["models"] = out
    report(bench, opts, out, steps, examples)


def report(
    bench: Bench, opts: SpliceBenchOptions, out: dict[str, dict], steps: int, examples: int
) -> None:
    span = opts.block_size // opts.buckets
    last = f"positions {opts.block_size - span:,}-{opts.block_size:,}"
    setting = (
        f"{steps} steps x {opts.batch_size} examples of {opts.block_size} chars; "
        f"{examples} held-out examples per packing"
    )
    for held_out in PACKINGS:
        splice, plain = (out[p]["bpc_by_position"][held_out] for p in ("splice", "random"))
        bench.figure(
            f"held-out bpc at {last}, {LABEL[held_out]} held-out text, trained with SPLiCe",
            splice[-1],
            "bits/char",
            peer="trained with random packing",
            peer_value=plain[-1],
            higher_is_better=False,
            setting=setting,
        )
        bench.figure(
            f"context gain (bpc of the first span - the last), {LABEL[held_out]} held-out "
            "text, trained with SPLiCe",
            splice[0] - splice[-1],
            "bits/char",
            peer="trained with random packing",
            peer_value=plain[0] - plain[-1],
            setting=setting,
        )
    headers = ["trained with", "held-out text"] + [
        f"{i * span:,}-{(i + 1) * span:,}" for i in range(opts.buckets)
    ]
    rows = [
        [
            LABEL[trained],
            LABEL[held_out],
            *(round(b, 3) for b in out[trained]["bpc_by_position"][held_out]),
        ]
        for trained in PACKINGS
        for held_out in PACKINGS
    ]
    bench.table("held-out bits per character by position", headers, rows)
    with bench.plot(
        "bpc_by_position",
        "held-out bits per character by position",
        xlabel="position in the example (characters)",
        ylabel="bits per character",
    ) as ax:
        centres = [(i + 0.5) * span for i in range(opts.buckets)]
        for trained in PACKINGS:
            for held_out, style in zip(PACKINGS, ("--", "-"), strict=True):
                ax.plot(
                    centres,
                    out[trained]["bpc_by_position"][held_out],
                    style,
                    marker="o",
                    label=f"trained: {LABEL[trained]}; held-out: {LABEL[held_out]}",
                )
    bench.note(
        f"both models: {opts.n_layer} layers, d_model {opts.d_model}, {opts.n_head} heads, "
        f"RoPE, characters of the stdlib corpus; {steps} AdamW steps (lr {opts.lr:g}, cosine) "
        f"of {opts.batch_size} examples of {opts.block_size} characters, the same seed "
        f"{bench.seed}; documents of at most {opts.doc_chars} characters; SPLiCe with BM25, "
        f"k = {opts.splice_k}, root last. Held-out examples are packed from the held-out files "
        "(no training file) with the held-out documents' own index."
    )
    if bench.quick:
        bench.note(f"quick mode: {steps} steps per model, {examples} held-out examples.")
