"""The settings of ``palestra lm serve`` (``ServeConfig``) and ``palestra lm attention``.

Kept free of torch (the CLI imports it at start-up to build its options); the server is
:mod:`palestra.lm.server`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from palestra.core.config import Config, arg

__all__ = ["AttentionConfig", "ServeConfig"]


@dataclass
class ServeConfig(Config):
    """Serve a trained language model over the OpenAI HTTP API (completions and chat)."""

    run_dir: Path = arg(
        ..., "A run directory of `palestra train lm` (or its model/ folder).", positional=True
    )
    host: str = arg("127.0.0.1", "Address to listen on (127.0.0.1: this machine only).")
    port: int = arg(8000, "TCP port to listen on (0: any free port).", min=0, max=65535)
    model_name: str | None = arg(
        None, "Model id clients must name; unset: RUN_NAME-STAMP of the run directory."
    )
    threads: int = arg(1, "torch intra-op threads for inference.", min=1)
    max_n: int = arg(128, "Most completions one request may ask for (parameter n).", min=1)
    batching: bool = arg(
        True,
        "Decode concurrent requests as one batch (continuous batching); --no-batching: one "
        "request at a time, the model calls serialized.",
    )
    max_batch: int = arg(
        256, "Most sequences (all requests' samples together) in one decoding batch.", min=1
    )
    max_body_bytes: int = arg(1 << 20, "Largest request body accepted, in bytes.", min=1)

    def __post_init__(self) -> None:
        super().__post_init__()  # the fields' bounds
        if self.model_name is not None and not self.model_name.strip():
            raise ValueError("model_name must not be empty")


@dataclass
class AttentionConfig(Config):
    """Show what each attention head of a trained model attends to at one token."""

    run_dir: Path = arg(
        ..., "A run directory of `palestra train lm` (or its model/ folder).", positional=True
    )
    text: str = arg(..., "The text to run (as the model sees it after <bos>; '\\n' = newline).")
    at: int = arg(-1, "Token index of the query (0 is <bos>; -1: the last token).")
    top: int = arg(3, "Keys to list per head, the most attended first.", min=1)
    seed: int = arg(0, "Seed of the position ids (models trained with random positions).")
    json: bool = arg(False, "Print JSON instead of a table.")
