from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from palestra.core import bench as bench_mod
from palestra.core.bench import Bench, register_suite, render_markdown, run_suite
from palestra.core.config import arg
from palestra.core.errors import PalestraError


@dataclasses.dataclass
class SortOptions:
    n: int = arg(2000, "list length")


def _sort_suite(bench: Bench) -> None:
    """A real, tiny suite: Python's sorted() against a hand-written insertion sort."""
    import random
    import time

    rng = random.Random(bench.seed)
    xs = [rng.random() for _ in range(bench.options.n)]
    t0 = time.perf_counter()
    ours = sorted(xs)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    theirs: list[float] = []
    for x in xs[:300]:
        i = len(theirs)
        theirs.append(x)
        while i and theirs[i - 1] > x:
            theirs[i], theirs[i - 1] = theirs[i - 1], theirs[i]
            i -= 1
    t_theirs = (time.perf_counter() - t0) * len(xs) / 300
    assert ours[:1] == sorted(theirs)[:1] or ours[0] <= theirs[0]
    bench.figure(
        "time", t_ours, "s", peer="insertion sort", peer_value=t_theirs, higher_is_better=False
    )
    bench.table("sizes", ["n", "sorted"], [[bench.options.n, len(ours)]])
    with bench.plot("values", "sorted values", xlabel="rank") as ax:
        ax.plot(ours, label="sorted")
    bench.note("a test suite")


@pytest.fixture
def sort_suite():
    register_suite("test-sort", "sorting, for the bench tests", config=SortOptions)(_sort_suite)
    yield "test-sort"
    bench_mod._SUITES.pop("test-sort", None)


def test_suite_writes_json_and_markdown(tmp_path: Path, sort_suite: str) -> None:
    js, md = run_suite(
        sort_suite,
        seed=1,
        out_dir=tmp_path / "results",
        options=["n=500"],
        runs_root=tmp_path / "runs",
    )
    result = json.loads(js.read_text())
    assert result["suite"] == "test-sort" and result["mode"] == "full"
    assert result["options"] == {"n": 500}
    fig = result["figures"][0]
    assert fig["unit"] == "s" and fig["peer"] == "insertion sort"
    assert fig["ratio"] == pytest.approx(fig["value"] / fig["peer_value"])
    assert result["provenance"]["machine"]["cores"] >= 1
    text = md.read_text()
    assert "| time |" in text and "insertion sort" in text
    assert "![sorted values](test-sort_values.png)" in text
    assert (tmp_path / "results" / "test-sort_values.png").exists()
    runs = list((tmp_path / "runs" / "bench-test-sort").iterdir())
    assert len(runs) == 1 and (runs[0] / "result.json").exists()


def test_bad_suite_options_are_errors(tmp_path: Path, sort_suite: str) -> None:
    with pytest.raises(PalestraError, match="unknown key 'm'"):
        run_suite(sort_suite, out_dir=tmp_path, options=["m=3"], runs_root=tmp_path)
    with pytest.raises(PalestraError, match="expected KEY=VALUE"):
        run_suite(sort_suite, out_dir=tmp_path, options=["n"], runs_root=tmp_path)
    with pytest.raises(PalestraError, match="unknown bench suite 'nope'"):
        run_suite("nope", out_dir=tmp_path, runs_root=tmp_path)


def test_ratio_handles_missing_peer() -> None:
    b = bench_mod.Figure("x", 3.0, "s")
    assert b.ratio is None
    assert bench_mod.Figure("x", 3.0, "s", peer="p", peer_value=0.0).ratio is None
    assert bench_mod.Figure("x", 3.0, "s", peer="p", peer_value=1.5).ratio == 2.0


def test_negative_scores_are_compared_by_difference(tmp_path: Path, sort_suite: str) -> None:
    """Pong scores run from -21 to 21: 18.7 against a random policy's -20.4 is better, and
    their ratio (-0.92) would say the opposite."""
    fig = bench_mod.Figure("pong", 18.7, "points", peer="random", peer_value=-20.4)
    assert fig.ratio is None and fig.better is True
    assert bench_mod.Figure("x", -3.0, "points", peer="p", peer_value=-1.0).better is False
    assert bench_mod.Figure("x", 2.0, "s", peer="p", peer_value=3.0, higher_is_better=False).better
    js, _ = run_suite(sort_suite, out_dir=tmp_path, options=["n=50"], runs_root=tmp_path)
    result = {**json.loads(js.read_text()), "figures": [fig.to_dict()]}
    assert result["figures"][0]["better"] is True
    row = next(line for line in render_markdown(result).splitlines() if line.startswith("| pong"))
    assert "+39.1 (difference) ✓" in row


def test_builtin_suites_register_themselves() -> None:
    for name in bench_mod._BUILTIN:
        suite = bench_mod.get_suite(name)
        assert suite.name == name and suite.help == bench_mod._BUILTIN[name][1]
        assert suite.config is None or dataclasses.is_dataclass(suite.config)


def test_provenance_is_taken_when_the_run_starts(tmp_path: Path, monkeypatch) -> None:
    """Files the run itself writes (plots under results/) must not make it look "dirty"."""
    import palestra.core.bench as bench_mod

    states = iter([{"commit": "abc", "dirty": False}, {"commit": "abc", "dirty": True}])
    monkeypatch.setattr(bench_mod, "provenance", lambda: next(states))
    bench = bench_mod.Bench("t", out_dir=tmp_path)
    bench.figure("x", 1.0, "u")
    assert bench.result()["provenance"] == {"commit": "abc", "dirty": False}
