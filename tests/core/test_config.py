from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import pytest

from palestra.core.config import (
    ConfigError,
    arg,
    config_from_mapping,
    config_to_dict,
    load_config,
    with_defaults,
)


@dataclasses.dataclass
class TrainConfig:
    steps: int = arg(100, "optimizer steps")
    lr: float = arg(1e-3, "learning rate")
    algo: Literal["ppo", "ba3c"] = arg("ppo", "algorithm")
    resume: bool = arg(False, "resume")
    games: tuple[str, ...] = arg(("Pong",), "games")
    out: Path = arg(Path("runs"), "output")
    limit: int | None = arg(None, "optional limit")


def test_defaults_and_coercion() -> None:
    cfg = config_from_mapping(
        TrainConfig, {"steps": "200", "lr": 3, "games": "Pong,Breakout", "limit": "7"}
    )
    assert cfg.steps == 200 and cfg.lr == 3.0 and cfg.limit == 7
    assert cfg.games == ("Pong", "Breakout")
    assert cfg.algo == "ppo"


def test_unknown_key_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "cfg.toml"
    path.write_text("steps = 5\n\nlearning_rate = 0.1\n")
    with pytest.raises(ConfigError) as e:
        load_config(TrainConfig, path)
    msg = str(e.value)
    assert msg.startswith(f"{path}:3: unknown key 'learning_rate' for TrainConfig")
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('steps = "many"\n', "steps: expected an integer"),
        ('algo = "dqn"\n', "expected one of 'ppo' | 'ba3c'"),
        ("resume = 3\n", "expected true or false"),
    ],
)
def test_wrong_types_are_errors(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "cfg.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        load_config(TrainConfig, path)


def test_malformed_toml_and_json_name_position(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = 5\nlr = = 2\n")
    with pytest.raises(ConfigError, match=r"bad\.toml:2:\d+: malformed TOML"):
        load_config(TrainConfig, bad)
    badj = tmp_path / "bad.json"
    badj.write_text('{"steps": 5,\n "lr": }')
    with pytest.raises(ConfigError, match=r"bad\.json:2:\d+: malformed JSON"):
        load_config(TrainConfig, badj)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(TrainConfig, tmp_path / "missing.toml")


def test_json_config_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "cfg.json"
    path.write_text('{"steps": 9, "algo": "ba3c", "out": "x/y"}')
    cfg = load_config(TrainConfig, path)
    assert cfg.out == Path("x/y") and cfg.algo == "ba3c"
    d = config_to_dict(cfg)
    assert d["out"] == "x/y" and d["games"] == ["Pong"]
    assert config_from_mapping(TrainConfig, d) == cfg


@dataclasses.dataclass
class Shape:
    width: int = arg(128, "residual width")
    layers: int = arg(4, "blocks", recorded=False)


@dataclasses.dataclass
@with_defaults(layers=6)
class BenchConfig(Shape):
    steps: int = arg(10, "steps")


def test_with_defaults_changes_inherited_defaults_only() -> None:
    assert [f.name for f in dataclasses.fields(BenchConfig)] == ["width", "layers", "steps"]
    assert BenchConfig().layers == 6 and Shape().layers == 4 and BenchConfig().width == 128
    layers = dataclasses.fields(BenchConfig)[1]
    assert layers.metadata["help"] == "blocks" and layers.metadata["recorded"] is False
    cfg = config_from_mapping(BenchConfig, {"layers": "2", "width": 8})
    assert (cfg.width, cfg.layers, cfg.steps) == (8, 2, 10)
    with pytest.raises(TypeError, match="not a field it inherits"):
        with_defaults(steps=3)(type("Other", (Shape,), {"__annotations__": {}}))
    with pytest.raises(TypeError, match="not a field it inherits"):
        with_defaults(width=3)(type("Own", (Shape,), {"__annotations__": {"width": int}}))
