"""Named data sets: the search order (option, PALESTRA_DATA, checkout), one-line errors,
checksums, ``palestra data list``, and a bench that runs on PALESTRA_DATA alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from palestra.cli import app
from palestra.core import data
from palestra.core.bench import run_suite
from palestra.core.data import DATASETS, DataNotFound, find, locate, tree_digest

SAMPLE_M2K = Path(data.__file__).resolve().parents[1] / "data" / "tptp" / "m2k"


@pytest.fixture
def no_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Palestra installed away from this workplace: no ../shared/data to fall back on."""
    monkeypatch.setattr(data, "_checkout_data", lambda: None)
    monkeypatch.delenv("PALESTRA_DATA", raising=False)


@pytest.fixture
def user_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_checkout: None) -> Path:
    """A user's data root with a copy of the built-in M2k sample as its m2k set."""
    root = tmp_path / "data"
    shutil.copytree(SAMPLE_M2K, root / "tptp" / "m2k")
    monkeypatch.setenv("PALESTRA_DATA", str(root))
    return root


def test_search_order(user_data: Path, tmp_path: Path) -> None:
    found = find("m2k")
    assert found is not None and found.where == "PALESTRA_DATA"
    assert found.path == user_data / "tptp" / "m2k"
    mine = tmp_path / "elsewhere"
    mine.mkdir()
    assert find("m2k", mine).where == "option"  # an explicit path wins
    assert locate("m2k", mine) == mine
    assert find("satlib") is None  # not in this root, and no checkout to fall back on


def test_missing_set_is_one_line_with_where_to_put_it(no_checkout: None) -> None:
    with pytest.raises(DataNotFound) as e:
        locate("gsm8k")
    message = str(e.value)
    assert "\n" not in message
    assert "$PALESTRA_DATA/math/gsm8k" in message and "openai/grade-school-math" in message
    with pytest.raises(DataNotFound, match="nowhere"):
        locate("m2k", "/nowhere/at/all")
    with pytest.raises(Exception, match="unknown data set 'm2q'"):
        locate("m2q")


def test_tree_digest_sees_any_change(tmp_path: Path) -> None:
    shutil.copytree(SAMPLE_M2K, tmp_path / "a")
    digest, count = tree_digest(tmp_path / "a")
    assert count == len(list(SAMPLE_M2K.glob("*"))) and tree_digest(SAMPLE_M2K)[0] == digest
    first = sorted((tmp_path / "a").iterdir())[0]
    first.write_text(first.read_text() + "\n")
    assert tree_digest(tmp_path / "a")[0] != digest
    first.rename(tmp_path / "a" / "renamed.p")
    assert tree_digest(tmp_path / "a")[0] != digest


def test_recorded_checksums_match_the_workplace_copy() -> None:
    checked = 0
    for name in ("m2k", "leancop21-golden", "humaneval", "mbpp", "gsm8k"):
        found = find(name)
        if found is None or found.where != "checkout":
            continue
        digest, count = tree_digest(found.path)
        assert (digest, count) == (DATASETS[name].sha256, DATASETS[name].files), name
        checked += 1
    if not checked:
        pytest.skip("no ../shared/data beside this checkout")


def test_data_list_and_verify_commands(user_data: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["data", "list"], env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    assert f"PALESTRA_DATA: {user_data / 'tptp' / 'm2k'}" in listed.output
    assert "missing: $PALESTRA_DATA/sat/satlib" in listed.output
    verified = runner.invoke(app, ["data", "verify", "m2k"])
    assert verified.exit_code == 1  # the built-in sample is not the recorded M2k
    count = len(list(SAMPLE_M2K.iterdir()))
    assert f"m2k: differs from the recorded copy ({count} files" in verified.output
    missing = runner.invoke(app, ["data", "verify", "satlib"])
    assert missing.exit_code == 1 and "satlib: missing" in missing.output


def test_bench_runs_on_palestra_data_without_shared(user_data: Path, tmp_path: Path) -> None:
    js, _ = run_suite(
        "prover",
        quick=True,
        out_dir=tmp_path / "results",
        runs_root=tmp_path / "runs",
        options=["quick_sample=3", "time_limit=0", "inference_limit=2000"],
    )
    result = json.loads(js.read_text())
    names = {r["problem"] for r in result["data"]["results"]["[cut,comp(7)]"]}
    assert len(names) == 3
    assert names <= {p.stem for p in (user_data / "tptp" / "m2k").glob("*.p")}


def test_bench_without_its_data_says_where_to_put_it(no_checkout: None, tmp_path: Path) -> None:
    with pytest.raises(DataNotFound, match=r"\$PALESTRA_DATA/tptp/m2k"):
        run_suite("prover", quick=True, out_dir=tmp_path / "r", runs_root=tmp_path / "runs")
