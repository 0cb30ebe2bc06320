"""Checkpoints in the layout HF-style loaders expect: ``model.safetensors`` + ``config.json``.

Every model of the project saves and loads through these two functions, so the format is
the same everywhere (weights in safetensors, the config dataclass as JSON; unknown config
keys are errors when loading).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch.nn as nn

from palestra.core.config import config_from_mapping

__all__ = ["load_pretrained", "save_pretrained"]

M = TypeVar("M", bound=nn.Module)


def save_pretrained(model: nn.Module, cfg: Any, directory: str | Path) -> Path:
    """Write ``model``'s weights and its config dataclass ``cfg`` into ``directory``."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    config = dataclasses.asdict(cfg)
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return directory


def load_pretrained(
    make: Callable[[Any], M], config_cls: type, directory: str | Path, device: str = "cpu"
) -> M:
    """Build ``make(config)`` from ``directory``'s config.json and load its weights."""
    from safetensors.torch import load_file

    directory = Path(directory)
    config_path = directory / "config.json"
    cfg = config_from_mapping(config_cls, json.loads(config_path.read_text()), str(config_path))
    model = make(cfg)
    model.load_state_dict(load_file(str(directory / "model.safetensors"), device=device))
    return model.to(device)
