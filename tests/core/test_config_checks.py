"""Config fields declare their bounds (``arg(..., min=1)``) and :class:`Config` checks them
however a config is built; a training run's bookkeeping is declared once (``RunOptions``);
and no config file, however bad, gives more than one line ``error: FILE[:LINE]: ...`` and
exit status 2 through the real CLI.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import pkgutil
import subprocess
import sys
import tempfile
import typing
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import palestra
from palestra.core.config import (
    Config,
    ConfigError,
    Default,
    FieldError,
    RunOptions,
    arg,
    config_from_mapping,
    config_to_dict,
    load_config,
    with_defaults,
)
from palestra.lm.config import LMTrainConfig
from palestra.play.config import PlayTrainConfig
from palestra.sat.config import SatTrainConfig


@dataclasses.dataclass
class Limits(Config):
    count: int = arg(1, "a count", min=1)
    share: float = arg(0.5, "a share", above=0, max=1)
    rate: float = arg(0.0, "a rate", min=0, below=1)
    seconds: float = arg(1.0, "a limit that may be infinite", above=0, allow_inf=True)
    sizes: tuple[int, ...] = arg((1, 2), "sizes", min=1)
    cap: int | None = arg(None, "an optional cap", min=1)
    anything: float = arg(0.0, "any finite number")
    flag: bool = arg(False, "a bool is not a number")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": 0}, "count must be at least 1, got 0"),
        ({"share": 0.0}, "share must be above 0, got 0.0"),
        ({"share": 1.5}, "share must be at most 1, got 1.5"),
        ({"rate": 1.0}, "rate must be below 1, got 1.0"),
        ({"rate": -0.1}, "rate must be at least 0, got -0.1"),
        ({"sizes": (3, 0)}, "sizes must be at least 1, got 0"),
        ({"cap": 0}, "cap must be at least 1, got 0"),
        ({"anything": math.nan}, "anything must be a number, got nan"),
        ({"anything": math.inf}, "anything must be finite, got inf"),
        ({"anything": -math.inf}, "anything must be finite, got -inf"),
        ({"seconds": math.nan}, "seconds must be a number, got nan"),
        ({"count": 2**63}, "count must fit in 64 bits"),
        ({"count": -(2**63) - 1}, "count must fit in 64 bits"),
    ],
)
def test_bounds_are_checked_when_built_in_python(kwargs: dict, message: str) -> None:
    with pytest.raises(FieldError) as e:
        Limits(**kwargs)
    assert str(e.value) == message
    assert e.value.field == next(iter(kwargs))
    assert isinstance(e.value, ConfigError) and isinstance(e.value, ValueError)


def test_what_the_bounds_let_through() -> None:
    ok = Limits(count=2**63 - 1, share=1.0, rate=0.0, seconds=math.inf, cap=None, flag=True)
    assert ok.seconds == math.inf and ok.cap is None
    assert Limits(sizes=()).sizes == ()


def test_bounds_from_a_file_name_its_line_and_flags_name_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("share = 0.5\n\ncount = 0\n")
    with pytest.raises(FieldError, match=rf"^{path}:3: count must be at least 1, got 0$"):
        load_config(Limits, path)
    path.write_text("count = 2\n")
    data = {"count": 2}
    text = path.read_text()
    with pytest.raises(FieldError, match=r"^command line: count must be at least 1, got 0$"):
        config_from_mapping(Limits, data, str(path), text, overrides={"count": 0})
    with pytest.raises(FieldError, match=r"^command line: anything must be finite, got inf$"):
        config_from_mapping(Limits, {}, "command line", overrides={"anything": "inf"})
    cfg = config_from_mapping(Limits, data, str(path), text, overrides={"cap": "3"})
    assert (cfg.count, cfg.cap) == (2, 3)


@dataclasses.dataclass
@with_defaults(count=5, rate=Default(0.5, recorded=False, help="another use of the rate"))
class MoreLimits(Limits):
    pass


def test_with_defaults_keeps_bounds_and_may_change_recorded_and_help() -> None:
    assert (MoreLimits().count, MoreLimits().rate) == (5, 0.5)
    with pytest.raises(FieldError, match="count must be at least 1"):
        MoreLimits(count=0)
    fields = {f.name: f for f in dataclasses.fields(MoreLimits)}
    assert fields["rate"].metadata["help"] == "another use of the rate"
    assert fields["rate"].metadata["recorded"] is False
    assert fields["count"].metadata["help"] == "a count" and fields["count"].metadata["recorded"]
    assert "rate" not in config_to_dict(MoreLimits(), recorded_only=True)


# ----------------------------------------------------------------------- run bookkeeping
def test_run_options_are_declared_once_with_each_trainers_defaults() -> None:
    shared = {f.name for f in dataclasses.fields(RunOptions)}
    assert shared == {"seed", "threads", "checkpoint_every", "run_name", "runs_root", "resume"}
    for cls in (LMTrainConfig, PlayTrainConfig, SatTrainConfig):
        assert issubclass(cls, RunOptions)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for name in shared:  # the same help everywhere: declared in one place
            assert (
                fields[name].metadata["help"]
                == RunOptions.__dataclass_fields__[name].metadata["help"]
            )
    lm, play, sat = LMTrainConfig(), PlayTrainConfig(), SatTrainConfig()
    assert (lm.run_name, play.run_name, sat.run_name) == ("lm", "play", "sat-gnn")
    assert (lm.checkpoint_every, play.checkpoint_every, sat.checkpoint_every) == (200, 50, 500)
    assert (play.log_every, sat.log_every) == (1, 50)
    # what a saved config.json holds: not where the run lives (a moved run resumes)
    recorded = [set(config_to_dict(c, recorded_only=True)) for c in (lm, play, sat)]
    assert all("runs_root" not in keys and "seed" in keys for keys in recorded)
    assert all(not {"resume", "progress"} & keys for keys in recorded)
    with pytest.raises(FieldError, match="seed must be at least 0, got -1"):
        SatTrainConfig(seed=-1)
    with pytest.raises(FieldError, match="steps must be at least 1, got 0"):
        LMTrainConfig(steps=0)


# ----------------------------------------------------------------------- every config
def _config_classes() -> list[type]:
    """Every dataclass in palestra with a field declared by ``arg()``."""
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(palestra.__path__, "palestra."):
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional dependency (Coq, Ray, ...) that is not installed
            continue
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and dataclasses.is_dataclass(obj)
                and obj.__module__.startswith("palestra.")
                and any("bounds" in f.metadata for f in dataclasses.fields(obj))  # arg()
            ):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[k] for k in sorted(found)]


def _required(cls: type) -> dict[str, object]:
    hints = typing.get_type_hints(cls)
    out: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            out[f.name] = Path("x") if hints[f.name] is Path else "x"
    return out


def _breaking(bounds: dict, example: object) -> object:
    """A value just outside ``bounds`` (of the type of ``example``)."""
    step: float = 1 if isinstance(example, int) or example is None else 0.5
    if "min" in bounds:
        return bounds["min"] - step
    if "above" in bounds:
        return bounds["above"]
    if "max" in bounds:
        return bounds["max"] + step
    return bounds["below"]


def test_every_bounded_config_checks_its_bounds_when_built() -> None:
    classes = _config_classes()
    names = {c.__name__ for c in classes}
    assert {"LMTrainConfig", "ProveConfig", "SatBenchOptions", "TransformerShape"} <= names
    checked = 0
    for cls in classes:
        assert issubclass(cls, Config), f"{cls.__name__} declares fields with arg() but no Config"
        base = _required(cls)
        for f in dataclasses.fields(cls):
            bounds = f.metadata.get("bounds")
            if not bounds:
                continue
            default = cls(**base).__dict__[f.name]
            item = default[0] if isinstance(default, tuple) and default else default
            bad = _breaking(bounds, item if not isinstance(item, tuple) else 1)
            value = (bad,) if isinstance(default, tuple) else bad
            with pytest.raises(FieldError) as e:
                cls(**{**base, f.name: value})
            assert e.value.field == f.name, (cls.__name__, f.name, str(e.value))
            checked += 1
    assert checked > 100


@pytest.mark.parametrize("cls", [LMTrainConfig, PlayTrainConfig, SatTrainConfig])
def test_floats_of_every_training_config_are_finite(cls: type) -> None:
    hints = typing.get_type_hints(cls)
    floats = [f.name for f in dataclasses.fields(cls) if hints[f.name] in (float, float | None)]
    assert floats
    for name in floats:
        for bad in (math.nan, math.inf):
            with pytest.raises(FieldError, match=rf"^{name} must be"):
                cls(**{name: bad})


# ----------------------------------------------------------------------- bad files, real CLI
BIG = 1_000_000


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        (
            "latin1.toml",
            b"count = 2\nvariant = 'caf\xe9'\n",
            ":2: not UTF-8 text (byte 0xe9 at offset",
        ),
        ("binary.toml", bytes(range(256)) * 4, ":2: not UTF-8 text (byte 0x80 at offset 128"),
        ("deep.toml", b"n = " + b"[" * BIG, ":1: nested deeper than 64 levels"),
        ("tables.toml", b"n = " + b"{a = " * 5000, ":1: nested deeper than 64 levels"),
        ("deep.json", b'{"n":\n' + b"[" * BIG, ":2: nested deeper than 64 levels"),
        ("digits.toml", b"count = 1\nn = " + b"7" * 5000 + b"\n", ":2: a number of more than"),
        ("digits.json", b'{"n": ' + b"7" * 5000 + b"}", ":1: a number of more than"),
        ("wide.toml", b"n = 123456789012345678901234567890\n", ":1: n must fit in 64 bits"),
        ("empty.toml", b"", ": the config file sets no keys"),
        ("blank.toml", b"\n  \n# nothing set\n", ": the config file sets no keys"),
        ("empty.json", b"{}", ": the config file sets no keys"),
        ("list.json", b"[1, 2]", ": a config file must hold a table of keys"),
        ("huge.toml", b"# " + b"x" * (2 << 20), ": a config file may hold at most"),
        ("zero.toml", b"seed = 1\nn = 0\n", ":2: n must be at least 1, got 0"),
        ("float.toml", b"n = 1.5\n", ":1: n: expected an integer, got 1.5"),
        ("malformed.toml", b"n = = 2\n", ":1:5: malformed TOML"),
    ],
)
def test_bad_config_files_are_one_line_errors_through_the_cli(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    content: bytes,
    fragment: str,
) -> None:
    from palestra.cli import main

    path = tmp_path / name
    path.write_bytes(content)
    argv = ["palestra", "sat", "gen", "--config", str(path), "--out", str(tmp_path / "out")]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err
    assert e.value.code == 2, err
    assert err.startswith(f"error: {path}") and err.count("\n") == 1, err
    assert fragment in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["prove", "p.p", "--time-limit", "inf"],
            "command line: time_limit must be finite, got inf",
        ),
        (
            ["prove", "p.p", "--time-limit", "nan"],
            "command line: time_limit must be a number, got nan",
        ),
        (["prove", "p.p", "--jobs", "0"], "command line: jobs must be at least 1, got 0"),
        (["sat", "gen", "--n", "0"], "command line: n must be at least 1, got 0"),
        (["train", "lm", "--n-head", "0"], "command line: n_head must be at least 1, got 0"),
        (["train", "sat", "--seed", "-1"], "command line: seed must be at least 0, got -1"),
        (["play", "train", "--sticky", "1"], "command line: sticky must be below 1, got 1.0"),
        (
            ["lm", "serve", "r", "--port", "70000"],
            "command line: port must be at most 65535, got 70000",
        ),
    ],
)
def test_out_of_bounds_flags_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list, message: str
) -> None:
    from palestra.cli import main

    monkeypatch.setattr(sys, "argv", ["palestra", *args])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2
    assert capsys.readouterr().err == f"error: {message}\n"


def test_a_million_brackets_in_a_subprocess(tmp_path: Path) -> None:
    """The installed entry point, as a user meets it: no RecursionError, no traceback."""
    path = tmp_path / "deep.toml"
    path.write_bytes(b"n = " + b"[" * BIG)
    exe = Path(sys.executable).parent / "palestra"
    out = subprocess.run(
        [str(exe), "sat", "gen", "--config", str(path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 2
    assert out.stderr == f"error: {path}:1: nested deeper than 64 levels\n"


# ----------------------------------------------------------------------- fuzz the reader
_FIELDS = [f.name for f in dataclasses.fields(SatTrainConfig)]
_keys = st.sampled_from([*_FIELDS, "n-min", "unknown", '"n_max"', "a.b", "'seed'"])
_scalars = st.one_of(
    st.integers().map(str),
    st.text("0123456789_", min_size=1, max_size=60),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "true", "false", "1979-05-27", "0x1f"]),
    st.text(max_size=20).map(json.dumps),
    st.text(max_size=20).map(lambda s: f"'{s}'"),
)


def _compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(st.tuples(_keys, inner), max_size=3).map(
            lambda kv: "{" + ", ".join(f"{k} = {v}" for k, v in kv) + "}"
        ),
    )


_values = st.recursive(_scalars, _compound, max_leaves=12)
_lines = st.one_of(
    st.tuples(_keys, _values).map(lambda kv: f"{kv[0]} = {kv[1]}"),
    st.sampled_from(["[table]", "[[array]]", "# comment", "", "[" * 70, "= 1"]),
    st.text(max_size=30),
)
_toml_text = st.lists(_lines, max_size=12).map("\n".join)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, str) else repr(value)


_HINTS = typing.get_type_hints(SatTrainConfig)
_typed_values = {
    int: st.one_of(st.integers(min_value=-2, max_value=5000), st.integers()),
    float: st.floats(),
    bool: st.booleans(),
}
_settings = st.fixed_dictionaries(  # the config's own keys with values of their types: often valid
    {},
    optional={
        name: _typed_values.get(_HINTS[name], st.sampled_from(["hard", "neurosat", "x", "runs"]))
        for name in _FIELDS
    },
).map(lambda d: "\n".join(f"{k} = {_toml(v)}" for k, v in d.items()))
_json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_json_text = st.dictionaries(_keys, _json_values, max_size=8).map(json.dumps)


def _loads_or_config_error(content: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"c{suffix}"
        path.write_bytes(content)
        try:
            cfg = load_config(SatTrainConfig, path)
        except ConfigError as e:
            message = str(e)
            assert message.startswith(str(path)) and "\n" not in message, message
        else:
            assert isinstance(cfg, SatTrainConfig)


@pytest.mark.fuzz
@given(content=st.binary(max_size=600), suffix=st.sampled_from([".toml", ".json"]))
def test_fuzz_any_bytes_load_or_raise_config_error(content: bytes, suffix: str) -> None:
    _loads_or_config_error(content, suffix)


@pytest.mark.fuzz
@given(text=st.one_of(_settings, _toml_text))
def test_fuzz_toml_ish_text_loads_or_raises_config_error(text: str) -> None:
    _loads_or_config_error(text.encode("utf-8", "surrogatepass"), ".toml")


@pytest.mark.fuzz
@given(text=_json_text, cut=st.integers(min_value=0, max_value=400))
def test_fuzz_json_ish_text_loads_or_raises_config_error(text: str, cut: int) -> None:
    _loads_or_config_error(text.encode("utf-8", "surrogatepass"), ".json")
    _loads_or_config_error(text[:cut].encode("utf-8", "surrogatepass"), ".json")
