"""``LMTrainConfig``: the settings of ``palestra train lm``, one flat dataclass.

Kept free of torch (the CLI imports it at start-up to build its options); the trainer is
:mod:`palestra.lm.train`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from palestra.core.config import RunOptions, arg, with_defaults
from palestra.lm.longcontext import LONG_TASKS
from palestra.lm.scratchpad import TASK_NAMES
from palestra.models.architecture import TransformerFlags

__all__ = ["LMTask", "LMTrainConfig"]

# the scratchpad tasks, a character model of a text, or a long-context task
LMTask = Literal[(*TASK_NAMES, "chars", "stdlib-code", *LONG_TASKS)]


@dataclass
@with_defaults(block_size=128, run_name="lm")
class LMTrainConfig(TransformerFlags, RunOptions):
    """Train a small transformer language model on a scratchpad task or a text file.

    The model's options (``--n-layer``, ``--token-heads``, ...) are the fields of
    :class:`~palestra.models.architecture.TransformerFlags`, with their checks; ``--seed``,
    ``--run-name``, ``--resume``, ... those of :class:`~palestra.core.config.RunOptions`.
    """

    # --- data
    task: LMTask = arg(
        "addition-scratchpad",
        "What to learn: a scratchpad task (Nye et al. 2021) with or without its scratchpad, "
        "'wordproblems' (palestra.reason.wordproblems: three answer styles, byte tokens; a "
        "--block-size of about 512), 'rulechains' (palestra.reason.rulechains: direct, "
        "chain of thought, selection and inference prompts; --block-size 640), 'chars' for "
        "a character model of the text file --data, 'stdlib-code' for a character model of "
        "the standard-library corpus packed into --block-size examples of documents "
        "(--packing random or splice) "
        "(program-trace needs a --block-size of about 400), or a long-context task "
        "(palestra.lm.longcontext: dict-lookup, passkey, needle; with --memory-layers the "
        "documents are --memory-chunks chunks of --block-size).",
    )
    data: Path | None = arg(None, "Text file for task 'chars'.")
    tokenizer: Literal["auto", "byte", "char", "digit"] = arg(
        "auto", "auto: digit for arithmetic, byte for programs, char (from --data) for chars."
    )
    digits: int = arg(3, "Addition, long addition: operands have 1..digits digits.", min=1)
    shuffle_digits: bool = arg(
        False,
        "Long addition: each training operand's tagged digits above the units digit in random "
        "order, so a column can be found only by its tag (test prompts stay in order).",
    )
    degree: int = arg(3, "Polynomial: degree 1..degree.", min=1)
    statements: int = arg(4, "Program: top-level statements per generated program.", min=1)
    reasoning_steps: int = arg(
        4,
        "Wordproblems: 1..this many arithmetic steps per problem (quantities of 1..--digits "
        "digits; the instruction picks the style: direct, step by step or calculator); "
        "rulechains: traces of 1..this many steps (at most 3).",
        min=1,
    )
    memory_chunks: int = arg(
        2,
        "Long-context tasks with --memory-layers: training documents of this many --block-size "
        "chunks (the memory layers attend to the earlier ones).",
        min=1,
    )
    packing: Literal["random", "splice"] = arg(
        "random",
        "stdlib-code: how examples are packed from documents: random, or splice (SPLiCe: a "
        "random root and its BM25 neighbours, palestra.lm.splice).",
    )
    splice_k: int = arg(
        1, "stdlib-code with splice packing: neighbours retrieved per document.", min=1
    )
    doc_chars: int = arg(
        800, "stdlib-code: longest document (top-level units of the files, grouped).", min=80
    )
    # --- optimisation
    steps: int = arg(2000, "Optimizer steps.", min=1)
    batch_size: int = arg(32, "Sequences per step.", min=1)
    lr: float = arg(1e-3, "Peak learning rate (AdamW).", above=0)
    min_lr_ratio: float = arg(0.1, "Cosine decay ends at lr * min_lr_ratio.", min=0)
    warmup: int = arg(100, "Linear warm-up steps.", min=0)
    weight_decay: float = arg(0.1, "AdamW weight decay on matrices (not norms).", min=0)
    beta2: float = arg(0.99, "AdamW beta2.", min=0, below=1)
    grad_clip: float = arg(1.0, "Clip the gradient's global norm to this (0: off).", min=0)
    # --- evaluation and records
    eval_every: int = arg(200, "Evaluate every this many steps (and at the end).", min=1)
    eval_batches: int = arg(4, "Held-out batches for the validation loss.", min=1)
    eval_examples: int = arg(64, "Held-out prompts for exact match (scratchpad tasks).", min=0)
    progress: bool = arg(True, "Show a progress bar on stderr.", recorded=False)

    def __post_init__(self) -> None:
        super().__post_init__()  # the fields' bounds, then the model's checks
        if self.task == "chars" and self.data is None:
            raise ValueError("task 'chars' needs --data FILE")
        if self.task != "chars" and self.data is not None:
            raise ValueError(f"--data is only for task 'chars', not {self.task!r}")
        if self.memory_layers and self.memory_crossbatch > self.batch_size:
            raise ValueError(
                f"memory_crossbatch={self.memory_crossbatch} exceeds the {self.batch_size} "
                "documents of a batch"
            )
