"""A learned verifier: a model trained on a generator's own right and wrong samples scores
candidate solutions (Cobbe et al. 2021, "Training Verifiers to Solve Math Word Problems"; the
verifier node of Dohan et al. 2022's cascades).

**Data.** Problems of a generated task (:mod:`palestra.reason.wordproblems`, training
templates) drawn with a seed of their own, so never the problems of the eval tasks (seed
2026); the generator samples ``k`` solutions of each at ``temperature``; each solution is
labelled ``y = 1`` if the task's checker accepts its final answer, else 0. The gold answer is
used for labels only; the verifier never sees it. A tenth of the problems (``val_share``) is
held out, with all their samples.

**Model.** The generator's transformer (its weights copied: Cobbe et al.'s initialisation)
and a scalar head on its final hidden states ``h_t [D]``::

    v_t = w . h_t + b                                  (one logit per token)
    L   = mean over solution tokens t of BCE(sigmoid(v_t), y)      (token-level, as Cobbe)
    score(problem, solution) = sigmoid(v_T)            T = the solution's last token

With ``pairwise = w > 0`` half-batches of pairs (a right and a wrong sample of the same
problem) add ``w * softplus(v_T(wrong) - v_T(right))``: the per-sample loss can be lowered by
learning which *problems* are easy (high AUC, useless for picking among one problem's
samples); the ranking term asks for the right one of each problem to score higher, which is
what best-of-n uses.

The input is the prompt the generator saw (``<bos>`` first) followed by the solution;
sequences longer than the context keep their last ``block_size`` tokens; batches are padded
on the right (causal attention: padding never reaches the tokens before it).

**What is reported** (``verifier.json``): on the held-out problems, label accuracy at 0.5,
ROC AUC, and selection accuracy -- the share of problems whose top-scored sample is right --
beside picking the first sample, a majority vote, and an oracle (any sample right).

``samples_from`` reuses the labelled samples of an earlier run (same generator, task, seed and
problem count), so a second verifier costs no sampling.

What it does not do: no joint language-model loss (Cobbe's ablation found it helps a little),
no calibration; training data from one generator, so a verifier is tied to it.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palestra.core.config import Config, arg
from palestra.core.errors import PalestraError
from palestra.reason.task import Problem, get_task

__all__ = [
    "LearnedVerifier",
    "Sample",
    "VerifierTrainConfig",
    "collect_samples",
    "selection_metrics",
    "train_verifier",
]


@dataclass
class VerifierTrainConfig(Config):
    """Options of ``palestra train verifier``: sample a generator on generated problems,
    label each sample by the checker, fine-tune a copy of the generator to score them."""

    generator: Path = arg(..., "The generator: a run directory of `palestra train lm`.")
    task: str = arg("wordproblems-train", "Task whose problem generator and checker to use.")
    problems: int = arg(400, "Training problems (a tenth held out for validation).", min=10)
    k: int = arg(8, "Samples per problem.", min=1, max=128)
    temperature: float = arg(0.7, "Sampling temperature of the generator.", above=0, max=2)
    max_tokens: int = arg(160, "Tokens per sample.", min=1)
    steps: int = arg(1000, "Optimiser steps.", min=1)
    batch_size: int = arg(32, "Sequences per step.", min=1)
    lr: float = arg(3e-4, "AdamW learning rate (cosine decay to a tenth).", above=0)
    weight_decay: float = arg(0.01, "AdamW weight decay.", min=0)
    val_share: float = arg(0.1, "Share of problems held out.", above=0, max=0.5)
    pairwise: float = arg(
        0.0, "Weight of the within-problem ranking loss (0: per-sample loss only).", min=0
    )
    samples_from: Path | None = arg(
        None,
        "Reuse the samples.jsonl of an earlier verifier run (same generator and task).",
    )
    seed: int = arg(0, "Seed of the problems, the sampling and the training.", min=0)
    threads: int = arg(1, "torch threads.", min=1)
    concurrency: int = arg(8, "Sampling requests in flight (continuous batching).", min=1)
    root: Path = arg(Path("runs"), "Runs are written under ROOT/verifier/STAMP.", recorded=False)


@dataclass(frozen=True)
class Sample:
    """One generator sample of a problem, labelled by the checker."""

    problem: int  # index into the problem list
    prompt: str
    text: str
    answer: str | None
    right: bool


# ----------------------------------------------------------------------------- data
def training_problems(task_name: str, count: int, seed: int) -> list[Problem]:
    """``count`` problems of ``task_name``'s generator, from a seed of their own."""
    from palestra.reason import wordproblems

    task = get_task(task_name)
    if not isinstance(task, wordproblems.WordProblemsTask):
        raise PalestraError(f"{task_name}: the verifier trains on generated word-problem tasks")
    return task.problems(seed=f"verifier/{seed}", count=count)


def collect_samples(
    backend: Any,
    task_name: str,
    problems: list[Problem],
    k: int,
    temperature: float,
    max_tokens: int,
    seed: int,
    concurrency: int = 8,
) -> list[Sample]:
    """``k`` samples of every problem from ``backend``, each labelled by the task's checker."""
    from concurrent.futures import ThreadPoolExecutor

    task = get_task(task_name)

    def one(i: int) -> list[Sample]:
        p = problems[i]
        completions = backend.complete(
            p.prompt, n=k, temperature=temperature, max_tokens=max_tokens,
            stop=list(task.stop), seed=seed * 1_000_003 + i,
        )  # fmt: skip
        out = []
        for c in completions:
            checked = task.check(p, c.text)
            out.append(Sample(i, p.prompt, c.text, checked.answer, checked.verdict.accepted))
        return out

    with ThreadPoolExecutor(concurrency) as pool:
        return [s for batch in pool.map(one, range(len(problems))) for s in batch]


# ----------------------------------------------------------------------------- model
def _head(d_model: int) -> Any:
    import torch.nn as nn

    head = nn.Linear(d_model, 1)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return head


def _batch(tokenizer: Any, block_size: int, items: list[tuple[str, str]]) -> tuple[Any, Any, Any]:
    """Token ids ``[B, T]`` (right-padded), the solution-token mask ``[B, T]`` and each
    sequence's last index ``[B]``."""
    import torch

    rows, masks = [], []
    for prompt, text in items:
        p = tokenizer.encode(prompt, bos=True)
        s = tokenizer.encode(text) or tokenizer.encode(" ")
        ids, mask = p + s, [0] * len(p) + [1] * len(s)
        rows.append(ids[-block_size:])
        masks.append(mask[-block_size:])
    T = max(len(r) for r in rows)
    idx = torch.zeros(len(rows), T, dtype=torch.long)
    m = torch.zeros(len(rows), T)
    for i, (r, mk) in enumerate(zip(rows, masks, strict=True)):
        idx[i, : len(r)] = torch.tensor(r)
        m[i, : len(mk)] = torch.tensor(mk, dtype=torch.float)
    last = torch.tensor([len(r) - 1 for r in rows])
    return idx, m, last


class LearnedVerifier:
    """A trained verifier (``palestra train verifier``): ``score(problem, solution)`` in
    [0, 1]. ``path`` is the folder ``train_verifier`` wrote."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import torch
        from safetensors.torch import load_file

        from palestra.lm.tokenizers import load_tokenizer
        from palestra.models.transformer import Transformer

        path = Path(path)
        if not (path / "verifier.json").is_file():
            raise PalestraError(f"{path}: not a verifier folder (no verifier.json)")
        if threads is not None:
            torch.set_num_threads(threads)
        self.path = path
        self.model = Transformer.from_pretrained(path).eval()
        self.tokenizer = load_tokenizer(path / "tokenizer.json")
        self.head = _head(self.model.cfg.d_model)
        self.head.load_state_dict(load_file(str(path / "head.safetensors")))
        self.meta = json.loads((path / "verifier.json").read_text())

    def scores(self, items: list[tuple[str, str]], batch_size: int = 32) -> list[float]:
        """Scores of (prompt, solution) pairs."""
        import torch

        out: list[float] = []
        with torch.no_grad():
            for i in range(0, len(items), batch_size):
                idx, _, last = _batch(self.tokenizer, self.model.cfg.block_size,
                                      items[i : i + batch_size])  # fmt: skip
                h = self.model.hidden_states(idx)  # [B, T, D]
                v = self.head(h[torch.arange(len(last)), last]).squeeze(-1)  # [B]
                out.extend(torch.sigmoid(v).tolist())
        return out

    def score(self, problem: Problem, solution: str) -> float:
        return self.scores([(problem.prompt, solution)])[0]


# ----------------------------------------------------------------------------- metrics
def _auc(scores: list[float], labels: list[bool]) -> float | None:
    """ROC AUC (ties counted half); None with one class only."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def selection_metrics(samples: list[Sample], scores: list[float]) -> dict[str, float]:
    """Per problem, is the chosen sample right: the verifier's top score (first of ties),
    the first sample, the majority answer (ties: first seen), any sample (the oracle)."""
    by: dict[int, list[tuple[Sample, float]]] = {}
    for s, sc in zip(samples, scores, strict=True):
        by.setdefault(s.problem, []).append((s, sc))
    top = first = vote = oracle = 0
    for group in by.values():
        best = max(range(len(group)), key=lambda i: (group[i][1], -i))
        top += group[best][0].right
        first += group[0][0].right
        oracle += any(s.right for s, _ in group)
        answers = [s.answer for s, _ in group if s.answer is not None]
        if answers:
            winner = Counter(answers).most_common(1)[0][0]
            vote += next(s.right for s, _ in group if s.answer == winner)
    n = max(len(by), 1)
    return {"problems": len(by), "verifier_top": top / n, "first_sample": first / n,
            "majority_vote": vote / n, "oracle": oracle / n}  # fmt: skip


# ----------------------------------------------------------------------------- training
def fit_verifier(
    model: Any,
    tokenizer: Any,
    train: list[Sample],
    steps: int,
    batch_size: int,
    lr: float,
    weight_decay: float = 0.01,
    seed: int = 0,
    on_log: Any = None,
    pairwise: float = 0.0,
) -> Any:
    """Fine-tune ``model`` (in place) and a new head on ``train`` (the module docstring's
    loss, the classes weighted half each, AdamW, cosine decay to a tenth of ``lr``, gradient
    norm clipped at 1); returns the head, the model left in eval mode. ``on_log(step, loss,
    lr)`` every 50 steps and at the last.

    With ``pairwise > 0`` each batch is ``batch_size // 2`` pairs (a right and a wrong sample
    of the same problem) and the loss adds ``pairwise * softplus(v_wrong - v_right)`` at the
    last tokens: a ranking term that asks for the right sample *of that problem* to score
    higher, which the per-sample loss alone does not (it can be lowered by learning which
    problems are easy)."""
    import torch

    if not any(s.right for s in train) or all(s.right for s in train):
        raise PalestraError(
            f"the {len(train)} training samples are all right or all wrong: nothing to learn "
            "(another temperature, more problems, or another generator)"
        )
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model.train()
    head = _head(model.cfg.d_model)
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    pos_share = sum(s.right for s in train) / len(train)
    weight = {True: 0.5 / pos_share, False: 0.5 / (1 - pos_share)}
    by_problem: dict[int, tuple[list[Sample], list[Sample]]] = {}
    for s in train:
        by_problem.setdefault(s.problem, ([], []))[0 if s.right else 1].append(s)
    mixed = [group for group in by_problem.values() if group[0] and group[1]]
    if pairwise and not mixed:
        raise PalestraError("pairwise: no problem has both a right and a wrong sample")
    F = torch.nn.functional
    for step in range(1, steps + 1):
        lr_t = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - 1) / steps)))
        for g in opt.param_groups:
            g["lr"] = lr_t
        if pairwise:  # [right_1, wrong_1, right_2, wrong_2, ...]
            batch = []
            for _ in range(max(1, batch_size // 2)):
                rights, wrongs = mixed[rng.randrange(len(mixed))]
                batch += [rights[rng.randrange(len(rights))], wrongs[rng.randrange(len(wrongs))]]
        else:
            batch = [train[rng.randrange(len(train))] for _ in range(batch_size)]
        items = [(s.prompt, s.text) for s in batch]
        idx, mask, last = _batch(tokenizer, model.cfg.block_size, items)
        y = torch.tensor([float(s.right) for s in batch])  # [B]
        w = torch.tensor([weight[s.right] for s in batch])  # [B]
        v = head(model.hidden_states(idx)).squeeze(-1)  # [B, T]
        bce = F.binary_cross_entropy_with_logits(v, y[:, None].expand_as(v), reduction="none")
        per_seq = (bce * mask).sum(1) / mask.sum(1).clamp(min=1)  # [B]
        loss = (per_seq * w).mean()
        if pairwise:
            final = v[torch.arange(len(batch)), last]  # [B]
            loss = loss + pairwise * F.softplus(final[1::2] - final[0::2]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if on_log is not None and (step % 50 == 0 or step == steps):
            on_log(step, loss.item(), lr_t)
    model.eval()
    return head


def save_verifier(out: Path, model: Any, tokenizer: Any, head: Any, meta: dict) -> Path:
    """Write a verifier folder that :class:`LearnedVerifier` reads."""
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save(out / "tokenizer.json")
    state = {k: v.detach().contiguous() for k, v in head.state_dict().items()}
    save_file(state, str(out / "head.safetensors"))
    (out / "verifier.json").write_text(json.dumps(meta, indent=2))
    return out


def train_verifier(cfg: VerifierTrainConfig) -> Path:
    """Sample, label, fine-tune, evaluate, save (see the module docstring); the folder."""
    import torch

    from palestra.core.runs import Run
    from palestra.lm.backends import LocalBackend

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    run = Run.open("verifier", cfg, seed=cfg.seed, root=cfg.root, tensorboard=False)
    out = run.dir

    t0 = time.perf_counter()
    backend = LocalBackend(cfg.generator)
    problems = training_problems(cfg.task, cfg.problems, cfg.seed)
    if cfg.samples_from is not None:
        rows = [json.loads(line) for line in Path(cfg.samples_from).read_text().splitlines()]
        samples = [Sample(**row) for row in rows if row["problem"] < len(problems)]
    else:
        samples = collect_samples(backend, cfg.task, problems, cfg.k, cfg.temperature,
                                  cfg.max_tokens, cfg.seed, cfg.concurrency)  # fmt: skip
    sampling_s = time.perf_counter() - t0
    with (out / "samples.jsonl").open("w") as f:
        for s in samples:
            f.write(json.dumps(s.__dict__) + "\n")
    rng = random.Random(cfg.seed)
    order = list(range(len(problems)))
    rng.shuffle(order)
    held = set(order[: max(1, round(cfg.val_share * len(problems)))])
    train = [s for s in samples if s.problem not in held]
    val = [s for s in samples if s.problem in held]
    log: list[dict[str, float]] = []

    def on_log(step: int, loss: float, lr: float) -> None:
        log.append({"step": step, "loss": loss, "lr": lr})
        run.log(step, loss=loss, lr=lr)

    model, tokenizer = backend.model, backend.tokenizer
    backend.close()
    if not train:
        raise PalestraError("no training samples (more problems)")
    pos_share = sum(s.right for s in train) / len(train)
    head = fit_verifier(model, tokenizer, train, cfg.steps, cfg.batch_size, cfg.lr,
                        cfg.weight_decay, cfg.seed, on_log, cfg.pairwise)  # fmt: skip
    save_verifier(out, model, tokenizer, head, {"generator": str(cfg.generator)})
    verifier = LearnedVerifier(out)
    scores = verifier.scores([(s.prompt, s.text) for s in val])
    labels = [s.right for s in val]
    meta = {
        "generator": str(cfg.generator),
        "task": cfg.task,
        "samples": len(samples),
        "train_samples": len(train),
        "val_samples": len(val),
        "right_share_train": pos_share,
        "right_share_val": sum(labels) / max(len(labels), 1),
        "val_accuracy": sum((sc > 0.5) == y for sc, y in zip(scores, labels, strict=True))
        / max(len(labels), 1),
        "val_auc": _auc(scores, labels),
        "val_selection": selection_metrics(val, scores),
        "sampling_seconds": round(sampling_s, 1),
        "seconds": round(time.perf_counter() - t0, 1),
        "log": log,
    }
    (out / "verifier.json").write_text(json.dumps(meta, indent=2))
    run.close()
    return out
