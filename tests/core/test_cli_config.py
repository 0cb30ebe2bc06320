from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import pytest
import typer
from typer.testing import CliRunner

from palestra.core.cli_config import add_config_command
from palestra.core.config import arg
from palestra.core.errors import ConfigError


@dataclasses.dataclass
class ProveLikeConfig:
    """Prove a file."""

    file: Path = arg(..., "problem file", positional=True)
    time_limit: float = arg(10.0, "seconds")
    strategy: Literal["cut", "nocut"] = arg("cut", "strategy")
    json: bool = arg(False, "print JSON")
    games: tuple[str, ...] = arg(("a", "b"), "names")


def make_app(seen: list) -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """root"""

    add_config_command(app, "prove", ProveLikeConfig, seen.append)
    return app


def invoke(args: list[str]) -> tuple[object, list]:
    seen: list = []
    result = CliRunner().invoke(make_app(seen), args)
    return result, seen


def test_defaults_flags_and_positional() -> None:
    result, seen = invoke(["prove", "p.p", "--time-limit", "2.5", "--json", "--games", "x,y"])
    assert result.exit_code == 0, result.output
    assert seen == [ProveLikeConfig(Path("p.p"), 2.5, "cut", True, ("x", "y"))]


def test_bool_flags_have_a_negative_form(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("json = true\n")
    result, seen = invoke(["prove", "p.p", "--config", str(cfg), "--no-json"])
    assert result.exit_code == 0, result.output
    assert seen[0].json is False


def test_config_file_then_flags_override(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('time_limit = 3\nstrategy = "nocut"\n')
    result, seen = invoke(["prove", "p.p", "--config", str(cfg), "--strategy", "cut"])
    assert result.exit_code == 0, result.output
    assert seen[0].time_limit == 3.0 and seen[0].strategy == "cut"


def test_choices_are_checked_by_the_cli() -> None:
    result, seen = invoke(["prove", "p.p", "--strategy", "wild"])
    assert result.exit_code == 2 and not seen


def test_unknown_key_in_file_names_file_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("time_limit = 3\ntimelimit = 4\n")
    result, _ = invoke(["prove", "p.p", "--config", str(cfg)])
    assert isinstance(result.exception, ConfigError)
    assert str(result.exception).startswith(f"{cfg}:2: unknown key 'timelimit'")


def test_help_shows_fields_and_defaults() -> None:
    result, _ = invoke(["prove", "--help"])
    assert result.exit_code == 0
    for text in ("--time-limit", "(default: 10.0)", "--config", "problem file [required]"):
        assert text in result.output


@pytest.mark.parametrize("bad", ["--time-limit=abc"])
def test_bad_values_fail(bad: str) -> None:
    result, seen = invoke(["prove", "p.p", bad])
    assert result.exit_code == 2 and not seen
