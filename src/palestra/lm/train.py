"""Train a small transformer language model on a scratchpad task or a text file.

    palestra train lm --task addition-scratchpad --steps 2000
    palestra train lm --task addition-scratchpad --steps 2000 --resume   # after a crash

One file, top to bottom: tokenizer and data (batches seeded by their index), model, AdamW
with linear warm-up and cosine decay, gradient clipping, periodic evaluation (held-out loss;
for scratchpad tasks also greedy-decoded exact match and answer accuracy), metrics and atomic
checkpoints in a run directory (:mod:`palestra.core.runs`). The loop itself,
:func:`train_steps`, with its optimizer, schedule and corpus batches, is also the one
``bench lm-arch`` trains its models with.

Resuming is exact: a checkpoint holds the model, the optimizer, the RNG states (torch, numpy,
python ``random``) and the data position; the learning rate follows from the step. Batch ``i``
is drawn from a ``random.Random`` seeded by ``(seed, i)``, so the data position is just the
number of batches consumed, and a resumed run sees the very batches the uninterrupted run
would have seen. With the same thread count the final weights equal those of a run that was
never stopped.

The run directory gets ``model/`` (``model.safetensors``, ``config.json``,
``tokenizer.json``) and ``summary.json`` at the end.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch
import torch.nn as nn

from palestra.core.errors import PalestraError
from palestra.core.progress import step_bar
from palestra.core.runs import Run, rng_state, set_rng_state
from palestra.lm.config import LMTrainConfig
from palestra.lm.longcontext import LONG_TASKS, LongContextData
from palestra.lm.scratchpad import ScratchpadTask, exact_match, make_task
from palestra.lm.splice import PackedData
from palestra.lm.tokenizers import (
    EOS,
    PAD,
    ByteTokenizer,
    CharTokenizer,
    DigitTokenizer,
    Tokenizer,
)
from palestra.models.architecture import flag_values
from palestra.models.transformer import IGNORE_INDEX, Transformer, TransformerConfig

__all__ = [
    "CorpusData",
    "complete",
    "learning_rate",
    "lr_factor",
    "make_optimizer",
    "train",
    "train_steps",
]


# ----------------------------------------------------------------------------- data
def encode_example(
    tokenizer: Tokenizer, prompt: str, target: str, block_size: int
) -> tuple[list[int], list[int]]:
    """``<bos> prompt target <eos>`` as inputs and next-token targets, the prompt's targets
    masked (the loss is on the target and its ``<eos>``); an example longer than
    ``block_size`` is a ``PalestraError``."""
    p = tokenizer.encode(prompt, bos=True)
    t = tokenizer.encode(target, eos=True)
    if len(p) + len(t) - 1 > block_size:
        raise PalestraError(
            f"an example of {len(p) + len(t)} tokens does not fit block_size="
            f"{block_size}; raise --block-size or make the task easier"
        )
    seq = p + t
    return seq[:-1], [IGNORE_INDEX] * (len(p) - 1) + t  # y[j] = seq[j+1], prompt masked


def pad_batch(pairs: list[tuple[list[int], list[int]]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Examples of :func:`encode_example` right-padded into ``x [B, T]`` and ``y [B, T]``."""
    T = max(len(x) for x, _ in pairs)
    x = torch.tensor([x + [PAD] * (T - len(x)) for x, _ in pairs])  # [B, T]
    y = torch.tensor([y + [IGNORE_INDEX] * (T - len(y)) for _, y in pairs])  # [B, T]
    return x, y


class TaskData:
    """Batches of ``<bos> prompt target <eos>`` with the loss on the target only."""

    def __init__(self, cfg: LMTrainConfig, task: ScratchpadTask, tokenizer: Tokenizer) -> None:
        self.cfg, self.task, self.tokenizer = cfg, task, tokenizer
        rng = random.Random(f"{cfg.seed}/eval-examples")
        self.eval_examples = [task.sample(rng) for _ in range(cfg.eval_examples)]

    def _batch(self, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = [
            encode_example(self.tokenizer, *self.task.sample(rng), self.cfg.block_size)
            for _ in range(self.cfg.batch_size)
        ]
        return pad_batch(pairs)

    def batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._batch(random.Random(f"{self.cfg.seed}/train/{index}"))

    def eval_batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._batch(random.Random(f"{self.cfg.seed}/eval/{index}"))


class CorpusData:
    """Random windows of ``block_size + 1`` tokens of a text (inputs and next-token targets):
    training batches from its training part, held-out batches and windows from the other.

    Batch ``i`` draws its window starts from ``random.Random(f"{seed}/train/{i}")``, so every
    batch can be made on its own, which is what resuming needs. Given ``steps``, the starts of
    all ``steps`` batches are drawn at once instead, ``torch.randint`` from a generator seeded
    with ``seed``: the order ``bench lm-arch`` has always used, kept so that its figures
    reproduce.
    """

    def __init__(
        self,
        train: list[int],
        val: list[int],
        block_size: int,
        batch_size: int,
        seed: int,
        *,
        steps: int | None = None,
        source: str = "the text",
    ) -> None:
        self.block_size, self.batch_size, self.seed = block_size, batch_size, seed
        self.train = torch.tensor(train)  # [N_train] token ids
        self.val = torch.tensor(val)  # [N_val] token ids
        for part, data in (("training", self.train), ("held-out", self.val)):
            if len(data) <= block_size + 1:
                raise PalestraError(
                    f"{source}: the {part} part has {len(data)} tokens, fewer than "
                    f"block_size + 2 = {block_size + 2}; use a longer text or a smaller block"
                )
        self.starts: torch.Tensor | None = None  # [steps, B], when drawn at once
        if steps is not None:
            g = torch.Generator().manual_seed(seed)
            high = len(self.train) - block_size - 1
            self.starts = torch.randint(high, (steps, batch_size), generator=g)
        self.eval_examples: list[tuple[str, str]] = []

    def _windows(
        self, data: torch.Tensor, starts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        window = data[starts[:, None] + torch.arange(self.block_size + 1)]  # [B, T+1]
        return window[:, :-1], window[:, 1:]  # [B, T] each

    def _random_starts(self, data: torch.Tensor, rng: random.Random) -> torch.Tensor:
        high = len(data) - self.block_size - 1
        return torch.tensor([rng.randrange(high) for _ in range(self.batch_size)])  # [B]

    def batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and next-token targets of training batch ``index``: ``[B, T]`` each."""
        if self.starts is not None:
            return self._windows(self.train, self.starts[index])
        rng = random.Random(f"{self.seed}/train/{index}")
        return self._windows(self.train, self._random_starts(self.train, rng))

    def eval_batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = random.Random(f"{self.seed}/eval/{index}")
        return self._windows(self.val, self._random_starts(self.val, rng))

    def val_windows(self, count: int) -> torch.Tensor:
        """``count`` held-out windows of ``T + 1`` tokens, evenly spaced from the start of the
        held-out part to its end (non-overlapping when they fit; 0: all that fit)."""
        span = self.block_size + 1
        fit = len(self.val) // span
        if count == 0 or count >= fit:
            starts = torch.arange(fit) * span
        else:
            starts = torch.linspace(0, len(self.val) - span, count).long()
        return self.val[starts[:, None] + torch.arange(span)]  # [count, T+1]


def make_tokenizer(cfg: LMTrainConfig, default: str, corpus: str | None) -> Tokenizer:
    kind = default if cfg.tokenizer == "auto" else cfg.tokenizer
    if kind == "digit":
        return DigitTokenizer()
    if kind == "char":
        if corpus is None:
            raise PalestraError("the char tokenizer is built from a corpus: use task 'chars'")
        return CharTokenizer.from_corpus(corpus)
    return ByteTokenizer()


# ----------------------------------------------------------------------------- evaluation
@torch.no_grad()
def complete(
    model: Transformer, tokenizer: Tokenizer, prompts: list[str], max_new_tokens: int
) -> list[str]:
    """Greedy completions of ``prompts``, each cut at its first ``<eos>``.

    Prompts of the same token length are decoded as one batch, so no padding is needed.
    """
    encoded = [tokenizer.encode(p, bos=True) for p in prompts]
    outputs = [""] * len(prompts)
    by_length: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(i)
    for length, rows in by_length.items():
        n_new = min(max_new_tokens, model.cfg.block_size - length)
        if n_new < 1:
            continue
        idx = torch.tensor([encoded[i] for i in rows])  # [b, length]
        positions = torch.Generator().manual_seed(length)  # random position ids, if the model
        out = model.generate(  # uses them, are the same on every call: evaluation repeats
            idx, n_new, temperature=0.0, generator=positions, stop_token=EOS
        )  # [b, length + new]
        for i, new in zip(rows, out[:, length:].tolist(), strict=True):
            new = new[: new.index(EOS)] if EOS in new else new
            outputs[i] = tokenizer.decode(new)
    return outputs


@torch.no_grad()
def evaluate(
    model: Transformer,
    data: TaskData | CorpusData | LongContextData | PackedData,
    tokenizer: Tokenizer,
    task: ScratchpadTask | None,
    cfg: LMTrainConfig,
) -> dict[str, float]:
    """Held-out loss; for a scratchpad task also exact match (the whole target, scratchpad
    included) and answer accuracy (the final line checked against the prompt)."""
    model.eval()
    losses = [model(*data.eval_batch(i))[1].item() for i in range(cfg.eval_batches)]
    metrics = {"val_loss": sum(losses) / len(losses)}
    if task is not None and data.eval_examples:
        prompts = [p for p, _ in data.eval_examples]
        longest = max(len(tokenizer.encode(t, eos=True)) for _, t in data.eval_examples)
        outputs = complete(model, tokenizer, prompts, longest)
        n = len(prompts)
        metrics["exact_match"] = (
            sum(exact_match(o, t) for o, (_, t) in zip(outputs, data.eval_examples, strict=True))
            / n
        )
        metrics["answer_accuracy"] = (
            sum(task.check(p, o) for p, o in zip(prompts, outputs, strict=True)) / n
        )
    model.train()
    return metrics


# ----------------------------------------------------------------------------- optimisation
def lr_factor(step: int, warmup: int, steps: int, min_ratio: float) -> float:
    """The lr multiplier for optimizer step ``step`` (0-based): linear warm-up from
    ``1/warmup`` to 1, then cosine decay to ``min_ratio`` at the last step."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - 1 - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def learning_rate(
    step: int,
    lr: float,
    warmup: int,
    steps: int,
    min_ratio: float,
    schedule: Literal["train-lm", "lm-arch"] = "train-lm",
) -> float:
    """The learning rate of optimizer step ``step`` (0-based): ``lr * lr_factor(...)``.

    ``schedule="lm-arch"`` is the variant ``bench lm-arch`` was measured with, kept so that its
    figures reproduce bit for bit: its cosine would reach ``min_ratio`` one step after the
    last (``lr_factor(step, warmup, steps + 1, ...)``), and its warm-up computes
    ``lr * (step + 1) / warmup``, which rounds differently from ``lr * ((step + 1) / warmup)``.
    """
    if schedule == "train-lm":
        return lr * lr_factor(step, warmup, steps, min_ratio)
    if step < warmup:
        return lr * (step + 1) / warmup
    return lr * lr_factor(step, warmup, steps + 1, min_ratio)


def make_optimizer(
    model: nn.Module, lr: float, weight_decay: float, beta2: float
) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices and embeddings, none on norm gains and biases."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, beta2))


class Step(NamedTuple):
    """What one optimizer step did; ``seconds`` is its wall time, the batch included."""

    step: int  # 1-based: the number of steps done
    loss: float
    lr: float
    grad_norm: float
    seconds: float


def train_steps(
    model: nn.Module,
    data: TaskData | CorpusData | LongContextData | PackedData,
    optimizer: torch.optim.Optimizer,
    lr_at: Callable[[int], float],
    steps: int,
    grad_clip: float,
    start: int = 0,
) -> Iterator[Step]:
    """The training loop: optimizer steps ``start + 1 .. steps``, one :class:`Step` each.

    Step ``s`` sets the learning rate ``lr_at(s - 1)``, takes batch ``data.batch(s - 1)``
    (``model(x, y)`` returns the logits and the mean loss), clips the gradient's global norm
    to ``grad_clip`` (0: no clipping) and steps the optimizer. Whatever the caller does between
    steps (evaluation, checkpoints) is not in ``seconds``.
    """
    clip = grad_clip if grad_clip > 0 else math.inf
    model.train()
    for step in range(start + 1, steps + 1):
        begin = time.perf_counter()
        lr = lr_at(step - 1)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = data.batch(step - 1)  # [B, T] each
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        seconds = time.perf_counter() - begin
        yield Step(step, loss.item(), lr, grad_norm.item(), seconds)


# ----------------------------------------------------------------------------- palestra train lm
def train(cfg: LMTrainConfig) -> Path:
    """Train (or, with ``cfg.resume``, continue training); return the run directory."""
    torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    # data and tokenizer
    task: ScratchpadTask | None = None
    if cfg.task == "chars":
        assert cfg.data is not None  # checked by LMTrainConfig
        corpus = Path(cfg.data).read_text(encoding="utf-8")
        tokenizer = make_tokenizer(cfg, "char", corpus)
        tokens = tokenizer.encode(corpus)
        split = int(0.9 * len(tokens))  # the first 90% for training, the rest held out
        data: TaskData | CorpusData | LongContextData | PackedData = CorpusData(
            tokens[:split],
            tokens[split:],
            cfg.block_size,
            cfg.batch_size,
            cfg.seed,
            source=str(cfg.data),
        )
    elif cfg.task == "stdlib-code":  # documents of the stdlib corpus, packed (SPLiCe or not)
        data = PackedData.stdlib(
            cfg.packing, cfg.block_size, cfg.batch_size, cfg.seed, cfg.splice_k, cfg.doc_chars
        )
        tokenizer = data.tokenizer
    elif cfg.task in LONG_TASKS:  # documents of several chunks for a memory model
        context = cfg.block_size * (cfg.memory_chunks if cfg.memory_layers else 1)
        tokenizer = make_tokenizer(cfg, "byte", None)
        if not isinstance(tokenizer, ByteTokenizer):
            raise PalestraError(f"task {cfg.task} reads bytes: use --tokenizer byte or auto")
        data = LongContextData(cfg.task, context, cfg.batch_size, cfg.seed)
    else:
        task = make_task(
            cfg.task,
            digits=cfg.digits,
            degree=cfg.degree,
            statements=cfg.statements,
            shuffle_digits=cfg.shuffle_digits,
            reasoning_steps=cfg.reasoning_steps,
        )
        tokenizer = make_tokenizer(cfg, task.tokenizer, None)
        data = TaskData(cfg, task, tokenizer)

    model = Transformer(TransformerConfig(vocab_size=tokenizer.vocab_size, **flag_values(cfg)))
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay, cfg.beta2)

    def lr_at(step: int) -> float:
        return learning_rate(step, cfg.lr, cfg.warmup, cfg.steps, cfg.min_lr_ratio)

    with Run.open(cfg.run_name, cfg, seed=cfg.seed, root=cfg.runs_root, resume=cfg.resume) as run:
        start = 0
        checkpoint = run.load_checkpoint() if run.resumed else None
        if checkpoint is not None:
            start, state = checkpoint
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])  # the lr follows from the step
            set_rng_state(state["rng"])
            if state["data"]["position"] != start:
                raise RuntimeError(f"{run.dir}: checkpoint's data position does not match")
        tokenizer.save(run.dir / "tokenizer.json")

        with step_bar(cfg.task, cfg.steps, completed=start, enabled=cfg.progress) as update_bar:
            for done in train_steps(model, data, optimizer, lr_at, cfg.steps, cfg.grad_clip, start):
                step = done.step
                metrics = {"loss": done.loss, "lr": done.lr, "grad_norm": done.grad_norm}
                if step % cfg.eval_every == 0 or step == cfg.steps:
                    metrics.update(evaluate(model, data, tokenizer, task, cfg))
                run.log(step, **metrics)
                if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                    state = {
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "rng": rng_state(),
                        "data": {"position": step},  # batches consumed
                    }
                    run.save_checkpoint(step, state)
                update_bar(step, f"{cfg.task} loss {done.loss:.3f}")

        model.save_pretrained(run.dir / "model")
        tokenizer.save(run.dir / "model" / "tokenizer.json")
        history = run.metrics()
        final = history[-1] if history else {}
        run.write_json(
            "summary.json",
            {"steps": cfg.steps, "parameters": model.num_params(), "final": final},
        )
    return run.dir
