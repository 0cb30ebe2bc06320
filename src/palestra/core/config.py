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

A field also declares its bounds (``arg(1, "Steps.", min=1)``). A config dataclass inherits
:class:`Config`, which checks them, and that float fields are finite and integers fit in 64 bits,
whenever one is built: from a file, from the command line or in Python. A file is read with
limits (size, UTF-8, nesting, digits), so that no file gives more than a one-line error.

A group of fields that several commands share (a model's architecture, a training run's
bookkeeping: :class:`RunOptions`) is declared once, in a dataclass the commands' dataclasses
inherit from; :func:`with_defaults` gives a command other defaults for some of them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import math
import re
import reprlib
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from palestra.core.errors import ConfigError

__all__ = [
    "Config",
    "ConfigError",
    "Default",
    "FieldError",
    "RunOptions",
    "arg",
    "config_from_mapping",
    "config_to_dict",
    "load_config",
    "read_config_file",
    "with_defaults",
]

C = TypeVar("C")

MAX_FILE_BYTES = 1 << 20  # a config file larger than this is refused unread
MAX_NESTING = 64  # deepest nesting of [ and { in a config file
MAX_DIGITS = 4300  # longest run of digits in a config file (Python's own int parsing limit)
_INT64 = 1 << 63  # integer fields hold signed 64-bit values (numpy, torch and C take them)


class FieldError(ConfigError, ValueError):
    """A field's value breaks its declared bounds or its type's rules (``field`` names it).

    A :class:`ConfigError` for the CLI, and a ``ValueError`` like the other checks of a config's
    ``__post_init__``.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def arg(
    default: Any,
    help: str,
    *,
    positional: bool = False,
    recorded: bool = True,
    min: float | None = None,
    max: float | None = None,
    above: float | None = None,
    below: float | None = None,
    allow_inf: bool = False,
) -> Any:
    """A config field with its help text (shown by ``palestra CMD --help``) and its bounds.

    ``positional=True`` makes the CLI take it as an argument (``palestra prove FILE``)
    rather than an option. ``default=...`` (Ellipsis) makes the field required.
    ``recorded=False`` marks a field that says how to run, not what is run (``resume``, a
    progress bar): it is left out of a run's saved config, so resuming does not compare it.

    Bounds: ``min``/``max`` are inclusive, ``above``/``below`` exclusive (``above=0``: positive);
    on a tuple or list field they bound every item, and ``None`` (unset) always passes. A float
    must be finite, or, with ``allow_inf=True``, not NaN. :class:`Config` checks all of them.
    """
    bounds = {"min": min, "max": max, "above": above, "below": below}
    meta = {
        "help": help,
        "positional": positional,
        "recorded": recorded,
        "bounds": {k: v for k, v in bounds.items() if v is not None},
        "allow_inf": allow_inf,
    }
    return _field(default, meta)


def _field(default: Any, meta: Mapping[str, Any], kw_only: Any = dataclasses.MISSING) -> Any:
    if default is ...:
        return dataclasses.field(metadata=meta, kw_only=kw_only)
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(
            default_factory=lambda: type(default)(default), metadata=meta, kw_only=kw_only
        )
    return dataclasses.field(default=default, metadata=meta, kw_only=kw_only)


@dataclasses.dataclass(frozen=True)
class Default:
    """A default for :func:`with_defaults` that also changes whether the field is recorded, or
    its help where the subclass gives it another use:
    ``with_defaults(runs_root=Default(Path("runs"), recorded=False))``."""

    value: Any
    recorded: bool | None = None
    help: str | None = None


def with_defaults(**defaults: Any) -> Callable[[type[C]], type[C]]:
    """Give inherited config fields other defaults in a subclass; type, help and bounds stay the
    base's (a :class:`Default` also changes whether the field is recorded, or its help).

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
            base_field = inherited[name]
            meta = dict(base_field.metadata)
            if isinstance(default, Default):
                if default.recorded is not None:
                    meta["recorded"] = default.recorded
                if default.help is not None:
                    meta["help"] = default.help
                default = default.value
            own[name] = hints[name]
            setattr(cls, name, _field(default, meta, kw_only=base_field.kw_only))
        cls.__annotations__ = own
        return cls

    return apply


def _problem(value: Any, meta: Mapping[str, Any]) -> str | None:
    """What is wrong with one value of a field (None: nothing), as ``must be ...``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return "must be a number, got nan"
        if math.isinf(value) and not meta.get("allow_inf"):
            return f"must be finite, got {value}"
    elif not -_INT64 <= value < _INT64:
        return "must fit in 64 bits"
    bounds = meta.get("bounds", {})
    if "min" in bounds and value < bounds["min"]:
        return f"must be at least {bounds['min']}, got {value}"
    if "max" in bounds and value > bounds["max"]:
        return f"must be at most {bounds['max']}, got {value}"
    if "above" in bounds and value <= bounds["above"]:
        return f"must be above {bounds['above']}, got {value}"
    if "below" in bounds and value >= bounds["below"]:
        return f"must be below {bounds['below']}, got {value}"
    return None


class Config:
    """Base of the config dataclasses: building one checks every field declared with
    :func:`arg` against its bounds and its type's rules (finite floats, 64-bit integers), and
    raises :class:`FieldError` naming the first field that breaks them.

    This is the one place those checks live, and it runs however the config is built (a file,
    the command line, ``LMTrainConfig(steps=0)``). A subclass's ``__post_init__`` calls
    ``super().__post_init__()`` first, then checks what involves several fields.
    """

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if "bounds" not in f.metadata:  # not declared with arg()
                continue
            value = getattr(self, f.name)
            for item in value if isinstance(value, (tuple, list)) else (value,):
                problem = _problem(item, f.metadata)
                if problem:
                    raise FieldError(f"{f.name} {problem}", f.name)


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


_repr = reprlib.Repr()  # a value as an error message shows it: short, whatever a file held
_repr.maxlevel, _repr.maxstring, _repr.maxother, _repr.maxlist, _repr.maxdict = 3, 60, 60, 6, 4
_show = _repr.repr


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
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {_show(value)}")
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise ConfigError(f"{where}: expected one of {_type_name(tp)}, got {_show(value)}")
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {_show(value)}")
        args = get_args(tp)
        item = args[0] if args else Any
        items = [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table for {tp.__name__}, got {_show(value)}")
        return config_from_mapping(tp, value, where)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{where}: expected true or false, got {_show(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d[\d_]*", value.strip()):
            with contextlib.suppress(ValueError):  # "1__0", or more digits than Python reads
                return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where}: expected an integer, got {_show(value)}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            with contextlib.suppress(OverflowError):  # an integer beyond the floats
                return float(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return float(value)
        raise ConfigError(f"{where}: expected a number, got {_show(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {_show(value)}")
    if tp is Path:
        if isinstance(value, (str, Path)) and "\0" not in str(value):
            return Path(value)
        raise ConfigError(f"{where}: expected a path, got {_show(value)}")
    raise ConfigError(f"{where}: unsupported config type {_type_name(tp)}")


def _key_line(text: str | None, key: str) -> int | None:
    """The line where ``key`` is set in a TOML/JSON text, for error messages."""
    if not text:
        return None
    pattern = re.compile(rf"""^\s*(?:"{re.escape(key)}"|{re.escape(key)})\s*[=:]""")
    for number, line in enumerate(text.split("\n"), 1):
        if pattern.match(line):
            return number
    return None


def config_from_mapping(
    cls: type[C],
    data: Mapping[str, Any],
    source: str = "config",
    text: str | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
) -> C:
    """Build ``cls`` from ``data``; unknown keys, ill-typed values and broken bounds are errors.

    ``source`` names where the data came from (a file name, "command line"); ``text`` is
    the file's text, used to point errors at a line. ``overrides`` (options given on the
    command line) win over ``data``; an error in one names the command line.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    given: dict[str, tuple[str, str | None, str]] = {}  # field -> (origin, its text, key)
    sources = [(data, source, text), (overrides or {}, "command line", None)]
    for mapping, origin, origin_text in sources:
        for raw_key, value in mapping.items():
            key = raw_key.replace("-", "_")
            given[key] = (origin, origin_text, raw_key)
            if key not in fields:
                known = ", ".join(sorted(fields))
                raise ConfigError(
                    f"{_place(*given[key])}: unknown key {raw_key!r} for {cls.__name__}; "
                    f"known keys: {known}"
                )
            try:
                kwargs[key] = coerce(value, hints[key], raw_key)
            except ConfigError as e:
                raise ConfigError(f"{_place(*given[key])}: {e}") from None
    try:
        return cls(**kwargs)
    except FieldError as e:  # a bound: name the line that set the field
        where = _place(*given[e.field]) if e.field in given else source
        raise FieldError(f"{where}: {e}", e.field) from None
    except (TypeError, ValueError) as e:  # __post_init__ validation
        raise ConfigError(f"{source}: {e}") from None


def _place(origin: str, text: str | None, key: str) -> str:
    """Where ``key`` was given: ``FILE:LINE``, or ``origin`` alone where no line is found.
    Looked up for an error only: it reads every line of the file."""
    line = _key_line(text, key)
    return f"{origin}:{line}" if line else origin


def _line_at(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _check_shape(path: Path, text: str) -> None:
    """Refuse what would make the parsers recurse or crawl: brackets nested deeper than
    ``MAX_NESTING`` and digit runs longer than ``MAX_DIGITS``.

    A plain scan, before parsing: brackets and digits inside strings and comments count too,
    which no real config comes near.
    """
    if text.count("[") + text.count("{") > MAX_NESTING:
        depth = 0
        for m in re.finditer(r"[\[\]{}]", text):
            depth = depth + 1 if m.group() in "[{" else max(depth - 1, 0)
            if depth > MAX_NESTING:
                line = _line_at(text, m.start())
                raise ConfigError(f"{path}:{line}: nested deeper than {MAX_NESTING} levels")
    if long := re.search(rf"(?<![0-9_])[0-9][0-9_]{{{MAX_DIGITS},}}", text):
        line = _line_at(text, long.start())
        raise ConfigError(f"{path}:{line}: a number of more than {MAX_DIGITS} digits")


def _parse(path: Path, text: str) -> Any:
    """The TOML (or, for ``*.json``, JSON) ``text`` as Python values."""
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return tomllib.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}:{e.lineno}:{e.colno}: malformed JSON: {e.msg}") from None
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        pos = f"{m.group(1)}:{m.group(2)}" if m else "1"
        msg = re.sub(r"\s*\(at line.*\)", "", str(e))
        raise ConfigError(f"{path}:{pos}: malformed TOML: {msg}") from None
    except (ValueError, RecursionError) as e:  # past _check_shape's scan: still one line
        kind = "JSON" if path.suffix == ".json" else "TOML"
        raise ConfigError(f"{path}: malformed {kind}: {_show(str(e))}") from None


def read_config_file(path: str | Path) -> tuple[dict[str, Any], str]:
    """Read a TOML or JSON file into a dict (and its text, for error positions).

    Anything but a table of keys in UTF-8 text is a one-line :class:`ConfigError`: a file
    larger than ``MAX_FILE_BYTES``, bytes that are not UTF-8, nesting deeper than
    ``MAX_NESTING``, a number longer than ``MAX_DIGITS`` digits, malformed TOML or JSON, and
    a file that sets no key at all (an empty file is more likely a mistake than a wish).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config: {e.strerror or e}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: a config file may hold at most {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        byte = raw[e.start : e.start + 1].hex()
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{byte} at offset {e.start}: {e.reason})"
        ) from None
    _check_shape(path, text)
    data = _parse(path, text)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a table of keys")
    if not data:
        raise ConfigError(f"{path}: the config file sets no keys")
    return data, text


def load_config(
    cls: type[C], path: str | Path | None, *, overrides: Mapping[str, Any] | None = None
) -> C:
    """Build ``cls`` from a TOML or JSON config file (none where ``path`` is None) and the
    ``overrides`` given on the command line, which win over the file."""
    if path is None:
        return config_from_mapping(cls, {}, "command line", overrides=overrides)
    data, text = read_config_file(path)
    return config_from_mapping(cls, data, str(path), text, overrides=overrides)


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


@dataclasses.dataclass(kw_only=True)
class RunOptions(Config):
    """A training run's bookkeeping, declared once: its seed and threads, where it is recorded
    (:class:`palestra.core.runs.Run`), how often it checkpoints and whether it resumes.

    A trainer's config inherits it and names its own defaults with :func:`with_defaults`
    (``run_name`` at least). Keyword-only, so that the trainer's own fields keep their places
    in a positional call.
    """

    seed: int = arg(
        0, "Seed of everything random in the run (weights, data, environments, sampling).", min=0
    )
    threads: int = arg(1, "torch intra-op threads.", min=1)
    checkpoint_every: int = arg(
        200, "Checkpoint every this many iterations of the training loop (and at the end).", min=1
    )
    run_name: str = arg("run", "Runs are written to RUNS_ROOT/RUN_NAME/<timestamp>/.")
    runs_root: Path = arg(
        Path("runs"), "Folder holding all runs.", recorded=False
    )  # where a run lives is not what it is: a run moved or named by another path resumes
    resume: bool = arg(
        False, "Continue the newest run of RUN_NAME from its last checkpoint.", recorded=False
    )
