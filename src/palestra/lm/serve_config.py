"""``ServeConfig``: the settings of ``palestra lm serve RUN_DIR``, one flat dataclass.

Kept free of torch (the CLI imports it at start-up to build its options); the server is
:mod:`palestra.lm.server`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from palestra.core.config import arg

__all__ = ["ServeConfig"]


@dataclass
class ServeConfig:
    """Serve a trained language model over the OpenAI HTTP API (completions and chat)."""

    run_dir: Path = arg(
        ..., "A run directory of `palestra train lm` (or its model/ folder).", positional=True
    )
    host: str = arg("127.0.0.1", "Address to listen on (127.0.0.1: this machine only).")
    port: int = arg(8000, "TCP port to listen on (0: any free port).")
    model_name: str | None = arg(
        None, "Model id clients must name; unset: RUN_NAME-STAMP of the run directory."
    )
    threads: int = arg(1, "torch intra-op threads for inference.")
    max_n: int = arg(8, "Most completions one request may ask for (parameter n).")
    max_body_bytes: int = arg(1 << 20, "Largest request body accepted, in bytes.")

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        for name in ("threads", "max_n", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.model_name is not None and not self.model_name.strip():
            raise ValueError("model_name must not be empty")
