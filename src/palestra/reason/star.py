"""STaR, the Self-Taught Reasoner (Zelikman, Wu, Mu, Goodman 2022): a model learns to reason on
a task from answers alone, by fine-tuning on its own rationales that reached the right answer.

Here the task is a split of the generated word problems (:mod:`palestra.reason.wordproblems`)
given as (question, answer) pairs only, from a seed of their own; by default the *held-out*
templates, which the model never saw solved (its step-by-step accuracy there starts low):
STaR is how it adapts to them without worked solutions. One iteration ``i``:

1. **Rationales**: for each of ``problems`` questions, ``k`` step-by-step samples from the
   current model at ``temperature``; the task's checker keeps the first one whose final answer
   is right (the gold answer is used only by this filter).
2. **Fine-tune**: from the *starting* model (the paper restarts every iteration, so errors do
   not compound), on the kept rationales, for ``steps * growth^(i-1)`` steps (the paper's 40
   steps growing 20% an iteration), the loss on the rationale tokens only; a share ``replay``
   of each batch is drawn from the model's original training mixture (its own templates), so a
   small model keeps its formats.
3. **Evaluate**: greedy step-by-step accuracy on the eval problems of the held-out and the
   training templates (the ``wordproblems`` / ``wordproblems-train`` tasks: other problems
   than the rationales'), logged per iteration.

Two controls run the same loop and fine-tuning: ``control="replay"`` with no rationales
(every batch from the replay mixture: the effect of more training alone), and
``control="gold"`` with the generator's own step-by-step solutions of as many questions as
the STaR run (``match``) kept at each iteration (the paper's comparison with fine-tuning on
ground-truth rationales).

Each iteration's model is saved (``iter_N/``, safetensors): a killed run resumes after the last
finished iteration. The final model is ``model/``, usable as ``--backend local:RUN``.
Rationalization (``rationalize``, off by default): for a question none of the ``k`` samples
answers, ``k`` more with the answer as a hint after the question (:func:`hint_prompt`); a
rationale that reaches the answer is kept and fine-tuned on *without* the hint, as in the
paper. The word-problem model was never trained on hints, so whether it can use one is for
the run to show.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palestra.core.config import Config, arg
from palestra.core.errors import PalestraError

__all__ = ["StarConfig", "finetune", "greedy_accuracy", "hint_prompt", "train_star"]


@dataclass
class StarConfig(Config):
    """Options of ``palestra train star``: STaR on generated word problems from answers."""

    generator: Path = arg(..., "The starting model: a run directory of `palestra train lm`.")
    task: str = arg("wordproblems", "Task of the questions (its split and checker).")
    problems: int = arg(500, "Questions per iteration (drawn once, answers only).", min=1)
    k: int = arg(4, "Samples per question per iteration.", min=1, max=128)
    temperature: float = arg(0.7, "Sampling temperature of the rationales.", above=0, max=2)
    iterations: int = arg(
        3, "Outer iterations (a resumed run may be given more).", min=1, recorded=False
    )
    steps: int = arg(200, "Fine-tuning steps of the first iteration.", min=1)
    growth: float = arg(1.2, "Steps grow by this factor per iteration (the paper: 1.2).", min=1)
    batch_size: int = arg(16, "Sequences per step.", min=1)
    lr: float = arg(3e-4, "AdamW learning rate (cosine decay to a tenth).", above=0)
    replay: float = arg(
        0.25, "Share of each batch from the original training mixture.", min=0, max=1
    )
    rationalize: bool = arg(
        False,
        "Rationalization: for a question no sample answers, sample again with the answer as a"
        " hint; a rationale reaching it is kept, the hint removed.",
    )
    control: str = arg(
        "",
        "A control run instead of STaR: 'replay' (the same fine-tuning, replay batches only),"
        " 'gold' (the generator's own solutions of as many questions as the STaR run --rationales"
        " kept at that iteration, read from --match).",
    )
    match: Path | None = arg(None, "Control 'gold': the STaR run whose rationale counts to match.")
    eval_limit: int = arg(100, "Eval problems per split after each iteration.", min=1)
    max_tokens: int = arg(160, "Tokens per sample.", min=1)
    seed: int = arg(0, "Seed of the questions, the sampling and the training.", min=0)
    threads: int = arg(1, "torch threads.", min=1)
    concurrency: int = arg(8, "Sampling requests in flight (continuous batching).", min=1)
    root: Path = arg(Path("runs"), "Runs are written under ROOT/star/STAMP.", recorded=False)
    resume: bool = arg(
        False, "Resume the newest STaR run (after its last iteration).", recorded=False
    )


def finetune(
    model: Any,
    tokenizer: Any,
    examples: list[tuple[str, str]],
    steps: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
    replay: Any = None,
    replay_share: float = 0.0,
) -> list[float]:
    """Fine-tune ``model`` in place on ``(prompt, target)`` pairs (loss on the target and its
    ``<eos>``), a share ``replay_share`` of each batch from ``replay(rng)``; AdamW, cosine
    decay to a tenth, gradient norm clipped at 1. Returns the losses; the model ends in eval
    mode."""
    import torch

    from palestra.lm.train import encode_example, pad_batch

    if not examples and not (replay and replay_share):
        raise PalestraError("nothing to fine-tune on")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    losses = []
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        pairs = []
        for _ in range(batch_size):
            use_replay = replay is not None and (not examples or rng.random() < replay_share)
            prompt, target = replay(rng) if use_replay else examples[rng.randrange(len(examples))]
            pairs.append(encode_example(tokenizer, prompt, target, model.cfg.block_size))
        x, y = pad_batch(pairs)  # [B, T] each
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses


def greedy_accuracy(backend: Any, task_name: str, limit: int, concurrency: int = 8) -> float:
    """Greedy accuracy of ``backend`` on the first ``limit`` problems of ``task_name``."""
    from concurrent.futures import ThreadPoolExecutor

    from palestra.reason.task import get_task

    task = get_task(task_name)
    problems = task.problems()[:limit]

    def one(p: Any) -> bool:
        c = backend.complete(p.prompt, temperature=0.0, max_tokens=task.max_tokens,
                             stop=list(task.stop), seed=0)[0]  # fmt: skip
        return bool(task.check(p, c.text).verdict)

    with ThreadPoolExecutor(concurrency) as pool:
        return sum(pool.map(one, problems)) / len(problems)


def _rationales(backend: Any, task: Any, problems: list, cfg: StarConfig, it: int) -> list:
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> tuple[str, str] | None:
        p = problems[i]
        outs = backend.complete(p.prompt, n=cfg.k, temperature=cfg.temperature,
                                max_tokens=cfg.max_tokens, stop=list(task.stop),
                                seed=(cfg.seed * 1000 + it) * 1_000_003 + i)  # fmt: skip
        for c in outs:
            if c.finish_reason == "stop" and task.check(p, c.text).verdict:
                return p.prompt, c.text
        if not cfg.rationalize:
            return None
        # rationalization: the answer given as a hint; a rationale that reaches it is kept
        # with the hint removed (the model is fine-tuned as if it had found it unaided)
        hinted = hint_prompt(p.prompt, p.reference)
        outs = backend.complete(hinted, n=cfg.k, temperature=cfg.temperature,
                                max_tokens=cfg.max_tokens, stop=list(task.stop),
                                seed=(cfg.seed * 1000 + it) * 1_000_003 + i + 500_000)  # fmt: skip
        for c in outs:
            if c.finish_reason == "stop" and task.check(p, c.text).verdict:
                return p.prompt, c.text
        return None

    with ThreadPoolExecutor(cfg.concurrency) as pool:
        return [r for r in pool.map(one, range(len(problems))) if r is not None]


def hint_prompt(prompt: str, answer: str) -> str:
    """``prompt`` with the answer as a hint after the question (STaR's rationalization):
    ``"... How many ...? (Hint: the answer is 42.)\nA:"``."""
    head, sep, tail = prompt.rpartition("\nA:")
    if not sep:
        return f"{prompt} (Hint: the answer is {answer}.)"
    return f"{head} (Hint: the answer is {answer}.)\nA:{tail}"


def _gold(problems: list, cfg: StarConfig, it: int) -> list[tuple[str, str]]:
    """The generator's step-by-step solutions of the first N questions, N the rationales the
    STaR run ``cfg.match`` kept at iteration ``it``."""
    if cfg.match is None or not (Path(cfg.match) / "history.json").is_file():
        raise PalestraError("control 'gold' needs --match STAR_RUN (with its history.json)")
    history = json.loads((Path(cfg.match) / "history.json").read_text())
    counts = {h["iteration"]: h.get("rationales") for h in history}
    if counts.get(it) is None:
        raise PalestraError(f"{cfg.match}: no iteration {it} to match")
    return [(p.prompt, p.meta["solutions"]["steps"]) for p in problems[: counts[it]]]


def train_star(cfg: StarConfig) -> Path:
    """Run STaR (the module docstring); returns the run directory."""
    import torch

    from palestra.core.runs import Run
    from palestra.lm.backends import LocalBackend, model_folder
    from palestra.lm.tokenizers import load_tokenizer
    from palestra.models.transformer import Transformer
    from palestra.reason import wordproblems as wp
    from palestra.reason.task import get_task

    torch.set_num_threads(cfg.threads)
    task = get_task(cfg.task)
    if not isinstance(task, wp.WordProblemsTask):
        raise PalestraError(f"{cfg.task}: STaR runs on the generated word-problem tasks")
    if cfg.control not in ("", "replay", "gold"):
        raise PalestraError(f"unknown control {cfg.control!r}; known: replay, gold")
    if cfg.control == "gold" and (cfg.match is None or not (cfg.match / "history.json").is_file()):
        raise PalestraError("control 'gold' needs --match STAR_RUN (with its history.json)")
    run = Run.open("star", cfg, seed=cfg.seed, root=cfg.root, resume=cfg.resume,
                   tensorboard=False)  # fmt: skip
    start_dir = model_folder(cfg.generator)
    tokenizer = load_tokenizer(start_dir / "tokenizer.json")
    problems = task.problems(seed=f"star/{cfg.seed}", count=cfg.problems)
    history_path = run.dir / "history.json"
    history: list[dict[str, Any]] = (
        json.loads(history_path.read_text()) if history_path.is_file() else []
    )

    def evaluate(model: Any) -> dict[str, float]:
        backend = LocalBackend.from_model(model, tokenizer)
        try:
            return {
                split: greedy_accuracy(backend, name, cfg.eval_limit, cfg.concurrency)
                for split, name in (("heldout", "wordproblems"), ("train", "wordproblems-train"))
            }
        finally:
            backend.close()

    if not history:
        t0 = time.perf_counter()
        acc = evaluate(Transformer.from_pretrained(start_dir))
        history.append({"iteration": 0, "accuracy": acc, "seconds": time.perf_counter() - t0})
        history_path.write_text(json.dumps(history, indent=2))
    current_dir = run.dir / f"iter_{len(history) - 1}" if len(history) > 1 else start_dir
    replay_digits = 2

    def replay(rng: random.Random) -> tuple[str, str]:
        return wp.training_example(rng, max_steps=4, digits=replay_digits)

    for it in range(len(history), cfg.iterations + 1):
        t0 = time.perf_counter()
        current = Transformer.from_pretrained(current_dir)
        backend = LocalBackend.from_model(current, tokenizer)
        try:
            if cfg.control == "replay":
                kept = []
            elif cfg.control == "gold":
                kept = _gold(problems, cfg, it)
            else:
                kept = _rationales(backend, task, problems, cfg, it)
        finally:
            backend.close()
        steps = round(cfg.steps * cfg.growth ** (it - 1))
        model = Transformer.from_pretrained(start_dir)  # the paper restarts from the start
        share = 1.0 if cfg.control == "replay" else cfg.replay
        losses = finetune(model, tokenizer, kept, steps, cfg.batch_size, cfg.lr,
                          seed=cfg.seed + it, replay=replay, replay_share=share)  # fmt: skip
        acc = evaluate(model)
        out = run.dir / f"iter_{it}"
        model.save_pretrained(out)
        tokenizer.save(out / "tokenizer.json")
        record = {
            "iteration": it,
            "rationales": len(kept),
            "questions": len(problems),
            "steps": steps,
            "loss_first": losses[0],
            "loss_last": losses[-1],
            "accuracy": acc,
            "seconds": time.perf_counter() - t0,
        }
        history.append(record)
        history_path.write_text(json.dumps(history, indent=2))
        run.log(it, rationales=len(kept), heldout=acc["heldout"], train=acc["train"])
        current_dir = out
    final = run.dir / "model"
    if current_dir != start_dir:
        shutil.copytree(current_dir, final, dirs_exist_ok=True)
    run.close()
    return run.dir
