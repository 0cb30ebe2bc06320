"""``LMTrainConfig``: the settings of ``palestra train lm``, one flat dataclass.

Kept free of torch (the CLI imports it at start-up to build its options); the trainer is
:mod:`palestra.lm.train`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from palestra.core.config import arg

__all__ = ["LMTask", "LMTrainConfig"]

LMTask = Literal[
    "addition",
    "addition-scratchpad",
    "long-addition",
    "long-addition-scratchpad",
    "polynomial",
    "polynomial-scratchpad",
    "program",
    "program-trace",
    "chars",
]


@dataclass
class LMTrainConfig:
    """Train a small transformer language model on a scratchpad task or a text file."""

    # --- data
    task: LMTask = arg(
        "addition-scratchpad",
        "What to learn: a scratchpad task (Nye et al. 2021) with or without its scratchpad, "
        "or 'chars' for a character model of the text file --data.",
    )
    data: Path | None = arg(None, "Text file for task 'chars'.")
    tokenizer: Literal["auto", "byte", "char", "digit"] = arg(
        "auto", "auto: digit for arithmetic, byte for programs, char (from --data) for chars."
    )
    digits: int = arg(3, "Addition, long addition: operands have 1..digits digits.")
    shuffle_digits: bool = arg(
        False,
        "Long addition: each training operand's tagged digits above the units digit in random "
        "order, so a column can be found only by its tag (test prompts stay in order).",
    )
    degree: int = arg(3, "Polynomial: degree 1..degree.")
    statements: int = arg(4, "Program: top-level statements per generated program.")
    # --- model (see palestra.models.transformer.TransformerConfig)
    n_layer: int = arg(4, "Transformer blocks.")
    n_head: int = arg(4, "Query heads per block.")
    n_kv_heads: int | None = arg(None, "Key/value heads: unset = n_head, 1 = multi-query.")
    d_model: int = arg(128, "Width of the residual stream.")
    block_size: int = arg(
        128, "Longest sequence (prompt + target) in tokens; program-trace needs about 400."
    )
    mlp: Literal["swiglu", "geglu", "gelu"] = arg("swiglu", "MLP kind.")
    parallel_block: bool = arg(False, "PaLM's parallel attention + MLP block.")
    rope: bool = arg(True, "Rotary position embeddings (else learned absolute ones).")
    random_positions: int = arg(
        0,
        "0: positions 0..T-1. N >= block_size: each sequence gets a sorted random sample of "
        "positions from 0..N-1 (randomized positional encodings, Ruoss et al. 2023), which "
        "helps length generalisation.",
    )
    no_positions: bool = arg(
        False, "NoPE: no position information at all, only the causal mask (overrides rope)."
    )
    nope_heads: int = arg(
        0,
        "Heads per layer without rotary positions (content-only lookups next to RoPE heads).",
    )
    rope_window: int = arg(
        0,
        "> 0: the rotary heads attend only to the last rope_window tokens (local steps), the "
        "--nope-heads stay global.",
    )
    token_heads: int = arg(
        0,
        "Heads per layer (the last ones) that look keys up by token identity: queries and "
        "keys are embeddings of the tokens, no positions, never the query's own token.",
    )
    attn_sinks: bool = arg(
        False,
        "A learned sink logit per head (a zero key and value that takes leftover attention); "
        "windowed heads stop seeing <bos>.",
    )
    fire: bool = arg(
        False,
        "FIRE relative positions (Li et al. 2024): a learned per-head attention bias of the "
        "log distance divided by the log of the query's position; overrides --rope.",
    )
    canon: int = arg(
        0,
        "> 0: a causal depthwise convolution of this width before attention in every block "
        "(Canon layers): each token mixes in its last canon-1 predecessors without attention.",
    )
    attn_log_scale: bool = arg(
        False,
        "Scalable-Softmax: scale query i's attention logits by a learned s_h * log(i + 1), so "
        "attention stays sharp on sequences longer than the trained ones.",
    )
    dropout: float = arg(0.0, "Dropout probability.")
    # --- optimisation
    steps: int = arg(2000, "Optimizer steps.")
    batch_size: int = arg(32, "Sequences per step.")
    lr: float = arg(1e-3, "Peak learning rate (AdamW).")
    min_lr_ratio: float = arg(0.1, "Cosine decay ends at lr * min_lr_ratio.")
    warmup: int = arg(100, "Linear warm-up steps.")
    weight_decay: float = arg(0.1, "AdamW weight decay on matrices (not norms).")
    beta2: float = arg(0.99, "AdamW beta2.")
    grad_clip: float = arg(1.0, "Clip the gradient's global norm to this (0: off).")
    # --- evaluation and records
    eval_every: int = arg(200, "Evaluate every this many steps (and at the end).")
    eval_batches: int = arg(4, "Held-out batches for the validation loss.")
    eval_examples: int = arg(64, "Held-out prompts for exact match (scratchpad tasks).")
    checkpoint_every: int = arg(200, "Checkpoint every this many steps (and at the end).")
    seed: int = arg(0, "Seed for the initial weights and the data stream.")
    threads: int = arg(1, "torch intra-op threads.")
    run_name: str = arg("lm", "Runs are written to RUNS_ROOT/RUN_NAME/<timestamp>/.")
    runs_root: Path = arg(Path("runs"), "Folder holding all runs.")
    resume: bool = arg(
        False, "Continue the newest run of RUN_NAME from its last checkpoint.", recorded=False
    )
    progress: bool = arg(True, "Show a progress bar on stderr.", recorded=False)

    def __post_init__(self) -> None:
        if self.task == "chars" and self.data is None:
            raise ValueError("task 'chars' needs --data FILE")
        if self.task != "chars" and self.data is not None:
            raise ValueError(f"--data is only for task 'chars', not {self.task!r}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} is not a multiple of n_head={self.n_head}")
        if self.n_kv_heads is not None and self.n_head % self.n_kv_heads:
            raise ValueError(f"n_head={self.n_head} is not a multiple of n_kv_heads")
        for name in ("steps", "batch_size", "eval_every", "checkpoint_every", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.random_positions and self.random_positions < self.block_size:
            raise ValueError("random_positions must be 0 or at least block_size")
        if self.no_positions and self.random_positions:
            raise ValueError("no_positions and random_positions exclude each other")
        if self.digits < 1 or self.degree < 1 or self.statements < 1:
            raise ValueError("digits, degree and statements must be at least 1")
