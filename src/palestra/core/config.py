"""Typed, flat config dataclasses: one per entry point, unknown keys are errors.

A command's settings live in one ``@dataclass`` whose fields carry their help text
(``arg(default, "help")``). The same dataclass is filled from three places, later ones winning:

1. the field defaults,
2. a config file (``--config FILE``, TOML or JSON, keys are field names),
3. options given on the command line (``palestra.cli`` generates one option per field).

Values are checked against the field types (``int``, ``float``, ``bool``, ``str``, ``Path``,
``Literal[...]``, ``X | None``, ``tuple[X, ...]``/``list[X]``); a wrong type or an unknown key
raises :class:`ConfigError` with a one-line message naming the file and, where it can be found,
the line (``cfg.toml:3: unknown key 'lr' for TrainConfig; known keys: ...``).

A group of fields that several commands share (a model's architecture) is declared once, in a
dataclass the commands' dataclasses inherit from; :func:`with_defaults` gives a command other
defaults for some of them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from palestra.core.errors import ConfigError

__all__ = [
    "ConfigError",
    "arg",
    "config_from_mapping",
    "config_to_dict",
    "load_config",
    "read_config_file",
    "with_defaults",
]

C = TypeVar("C")


def arg(default: Any, help: str, *, positional: bool = False, recorded: bool = True) -> Any:
    """A config field with its help text (shown by ``palestra CMD --help``).

    ``positional=True`` makes the CLI take it as an argument (``palestra prove FILE``)
    rather than an option. ``default=...`` (Ellipsis) makes the field required.
    ``recorded=False`` marks a field that says how to run, not what is run (``resume``, a
    progress bar): it is left out of a run's saved config, so resuming does not compare it.
    """
    meta = {"help": help, "positional": positional, "recorded": recorded}
    if default is ...:
        return dataclasses.field(metadata=meta)
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def with_defaults(**defaults: Any) -> Callable[[type[C]], type[C]]:
    """Give inherited config fields other defaults in a subclass; type and help stay the base's.

    Written under ``@dataclass``, so that it runs first::

        @dataclass
        @with_defaults(block_size=128)
        class LMTrainConfig(TransformerFlags): ...

    A field keeps its place among the inherited ones. Naming a field that is not inherited, or
    one the class declares itself, is a ``TypeError``.
    """

    def apply(cls: type[C]) -> type[C]:
        inherited: dict[str, dataclasses.Field] = {}
        hints: dict[str, Any] = {}
        for base in reversed(cls.__mro__[1:]):  # the nearest base wins
            if dataclasses.is_dataclass(base):
                inherited.update({f.name: f for f in dataclasses.fields(base)})
                hints.update(typing.get_type_hints(base))
        own = dict(inspect.get_annotations(cls))  # the class's own, not its bases'
        for name, default in defaults.items():
            if name not in inherited or name in own:
                raise TypeError(f"{cls.__name__}: {name!r} is not a field it inherits")
            meta = inherited[name].metadata
            own[name] = hints[name]
            field = arg(
                default,
                meta.get("help", ""),
                positional=meta.get("positional", False),
                recorded=meta.get("recorded", True),
            )
            setattr(cls, name, field)
        cls.__annotations__ = own
        return cls

    return apply


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; convert where it is lossless."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            with contextlib.suppress(ConfigError):  # try the next member of the union
                return coerce(value, option, where)
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise ConfigError(f"{where}: expected one of {_type_name(tp)}, got {value!r}")
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = get_args(tp)
        item = args[0] if args else Any
        items = [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table for {tp.__name__}, got {value!r}")
        return config_from_mapping(tp, value, where)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d[\d_]*", value.strip()):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise ConfigError(f"{where}: expected a path, got {value!r}")
    raise ConfigError(f"{where}: unsupported config type {_type_name(tp)}")


def _key_line(text: str | None, key: str) -> int | None:
    """The line where ``key`` is set in a TOML/JSON text, for error messages."""
    if not text:
        return None
    pattern = re.compile(rf"""^\s*(?:"{re.escape(key)}"|{re.escape(key)})\s*[=:]""")
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return None


def config_from_mapping(
    cls: type[C], data: Mapping[str, Any], source: str = "config", text: str | None = None
) -> C:
    """Build ``cls`` from ``data``; unknown keys and ill-typed values are errors.

    ``source`` names where the data came from (a file name, "command line"); ``text`` is
    the file's text, used to point errors at a line.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = raw_key.replace("-", "_")
        line = _key_line(text, raw_key)
        where = f"{source}:{line}" if line else source
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(
                f"{where}: unknown key {raw_key!r} for {cls.__name__}; known keys: {known}"
            )
        kwargs[key] = coerce(value, hints[key], f"{where}: {raw_key}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:  # __post_init__ validation
        raise ConfigError(f"{source}: {e}") from None


def read_config_file(path: str | Path) -> tuple[dict[str, Any], str]:
    """Read a TOML or JSON file into a dict (and its text, for error positions)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config: {e.strerror}") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{e.lineno}:{e.colno}: malformed JSON: {e.msg}") from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
            pos = f"{m.group(1)}:{m.group(2)}" if m else "1"
            msg = re.sub(r"\s*\(at line.*\)", "", str(e))
            raise ConfigError(f"{path}:{pos}: malformed TOML: {msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a table of keys")
    return data, text


def load_config(cls: type[C], path: str | Path) -> C:
    """Read a TOML or JSON config file into ``cls``."""
    data, text = read_config_file(path)
    return config_from_mapping(cls, data, str(path), text)


def config_to_dict(cfg: Any, *, recorded_only: bool = False) -> dict[str, Any]:
    """A JSON-able dict of a config (paths as strings, tuples as lists).

    ``recorded_only`` leaves out the fields marked ``arg(..., recorded=False)``.
    """

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {
                f.name: plain(getattr(v, f.name))
                for f in dataclasses.fields(v)
                if not recorded_only or f.metadata.get("recorded", True)
            }
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return plain(cfg)
