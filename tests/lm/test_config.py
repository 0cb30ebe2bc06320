"""LMTrainConfig: torch-free import, validation through the config layer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from palestra.core.config import config_from_mapping
from palestra.core.errors import ConfigError
from palestra.lm.config import LMTrainConfig


def test_config_module_does_not_import_torch() -> None:
    code = "import sys, palestra.lm.config; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_config_from_mapping_checks_keys_and_values() -> None:
    cfg = config_from_mapping(LMTrainConfig, {"task": "addition", "steps": "50", "resume": "yes"})
    assert cfg.steps == 50 and cfg.resume is True
    with pytest.raises(ConfigError, match="unknown key 'learning_rate'"):
        config_from_mapping(LMTrainConfig, {"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="expected one of"):
        config_from_mapping(LMTrainConfig, {"task": "multiplication"})
    with pytest.raises(ConfigError, match="needs --data"):
        config_from_mapping(LMTrainConfig, {"task": "chars"})
    with pytest.raises(ConfigError, match="multiple of n_head"):
        config_from_mapping(LMTrainConfig, {"d_model": 30, "n_head": 4})
    # the model's own checks (TransformerFlags) run when the config is read
    with pytest.raises(ConfigError, match="token_heads and fire exclude each other"):
        config_from_mapping(LMTrainConfig, {"token_heads": 2, "fire": True})
    assert LMTrainConfig().block_size == 128  # its own default, the model's is 256


def test_config_makes_cli_options(tmp_path: Path) -> None:
    """The options ``palestra train lm`` will get from ``add_config_command``."""
    import typer
    from typer.testing import CliRunner

    from palestra.core.cli_config import add_config_command

    app = typer.Typer(rich_markup_mode=None)  # as palestra.cli: plain help, no truncation
    seen: list[LMTrainConfig] = []
    add_config_command(app, "lm", LMTrainConfig, seen.append)
    add_config_command(app, "other", LMTrainConfig, seen.append)  # typer needs two commands
    runner = CliRunner()
    result = runner.invoke(app, ["lm", "--help"])
    assert result.exit_code == 0 and "--checkpoint-every" in result.output
    (tmp_path / "lm.toml").write_text('task = "polynomial"\nsteps = 7\n')
    args = ["lm", "--config", str(tmp_path / "lm.toml"), "--n-kv-heads", "1", "--resume"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert seen[-1].task == "polynomial" and seen[-1].steps == 7
    assert seen[-1].n_kv_heads == 1 and seen[-1].resume is True
