"""``train(cfg)``: run the recipe that ``cfg.algo`` names (:mod:`palestra.play.ppo` or
:mod:`palestra.play.ba3c`); what ``palestra play train`` calls."""

from __future__ import annotations

from pathlib import Path

from palestra.play.config import PlayTrainConfig

__all__ = ["train"]


def train(cfg: PlayTrainConfig) -> Path:
    """Train with PPO or BA3C per ``cfg.algo``; return the run directory."""
    if cfg.algo == "ppo":
        from palestra.play.ppo import train as train_ppo

        return train_ppo(cfg)
    from palestra.play.ba3c import train as train_ba3c

    return train_ba3c(cfg)
