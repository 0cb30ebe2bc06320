"""Turn a config dataclass into a typer command: one option per field, plus ``--config``.

Precedence: field defaults < the ``--config`` file < options given on the command line.
Options are generated, not written by hand, so the dataclass stays the single place where a
command's settings, their types, defaults and help live.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Optional, get_args, get_origin

import typer

from palestra.core.config import load_config

__all__ = ["add_config_command"]


def _cli_type(tp: Any) -> Any:
    """The annotation typer should see for the field type ``tp``."""
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in get_args(tp) if a is not type(None)]
        return _cli_type(inner[0]) if len(inner) == 1 else str
    if origin is Literal or tp in (int, float, str, bool, Path):
        return tp  # typer checks Literal choices itself
    return str  # tuples and lists: comma-separated, coerced by the config layer


def _path_checks(tp: Any) -> dict[str, Any]:
    """Path options are not checked by click (it would print a usage block): the command's
    own reader opens them and reports a problem as one line."""
    return {"readable": False} if tp is Path else {}


def _default_text(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        d = f.default
    elif f.default_factory is not dataclasses.MISSING:
        d = f.default_factory()
    else:
        return ""
    if isinstance(d, (tuple, list)):
        d = ",".join(map(str, d))
    return f" (default: {d})"


def add_config_command(
    app: typer.Typer,
    name: str,
    cls: type,
    run: Callable[[Any], None],
    *,
    help: str | None = None,
) -> None:
    """Register ``palestra ... NAME`` that builds ``cls`` and calls ``run(config)``."""
    hints = typing.get_type_hints(cls)
    params: list[inspect.Parameter] = []
    annotations: dict[str, Any] = {}
    positional: list[inspect.Parameter] = []
    for f in dataclasses.fields(cls):
        tp = _cli_type(hints[f.name])
        text = f.metadata.get("help", "")
        if f.metadata.get("positional"):
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            default = typer.Argument(
                ... if required else None, help=text, show_default=False, **_path_checks(tp)
            )
            annotation = tp if required else Optional[tp]  # noqa: UP045 (typer needs Optional)
            positional.append(
                inspect.Parameter(
                    f.name,
                    inspect.Parameter.POSITIONAL_OR_KEYWORD,
                    default=default,
                    annotation=annotation,
                )
            )
        else:
            flag = "--" + f.name.replace("_", "-")
            if tp is bool:
                flag = f"{flag}/--no-{flag[2:]}"
            default = typer.Option(
                None, flag, help=text + _default_text(f), show_default=False, **_path_checks(tp)
            )
            annotation = Optional[tp]  # noqa: UP045
            params.append(
                inspect.Parameter(
                    f.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
                )
            )
        annotations[f.name] = annotation
    config_param = inspect.Parameter(
        "config",
        inspect.Parameter.KEYWORD_ONLY,
        default=typer.Option(
            None, "--config", help="TOML or JSON file with these options (flags override it)."
        ),
        annotation=Optional[Path],  # noqa: UP045
    )
    annotations["config"] = Optional[Path]  # noqa: UP045

    def command(**kwargs: Any) -> None:
        path = kwargs.pop("config")
        given = {k: v for k, v in kwargs.items() if v is not None}
        run(load_config(cls, path, overrides=given))

    command.__signature__ = inspect.Signature(positional + params + [config_param])  # type: ignore[attr-defined]
    command.__annotations__ = annotations
    command.__doc__ = help or cls.__doc__
    command.__name__ = name.replace("-", "_")
    app.command(name)(command)
