"""``palestra bench rlcop`` end to end on the built-in M2k sample, at tiny budgets."""

from __future__ import annotations

import json
from pathlib import Path

from palestra.core.bench import run_suite

M2K = Path(__file__).resolve().parents[2] / "src" / "palestra" / "data" / "tptp" / "m2k"


def _bench(tmp_path: Path, *options: str) -> tuple[Path, Path]:
    """The quick suite on the built-in problems (a quarter held out), at tiny budgets."""
    return run_suite(
        "rlcop",
        quick=True,
        out_dir=tmp_path / "results",
        runs_root=tmp_path / "runs",
        options=[f"problems={M2K}", "test_share=0.25", f"runs={tmp_path / 'runs'}", *options],
    )


def test_quick_bench_reports_every_iteration(tmp_path: Path) -> None:
    js, md = _bench(
        tmp_path,
        "quick_train=8",
        "quick_test=4",
        "quick_iterations=2",
        "quick_inference_limit=1500",
        "quick_playouts_per_step=50",
        "rounds=5",
    )
    result = json.loads(js.read_text())
    names = [f["name"] for f in result["figures"]]
    for i in range(2):
        assert f"iteration {i}: proved on train" in names
        assert f"iteration {i}: proved on test" in names
    guided = next(f for f in result["figures"] if f["name"].startswith("iteration 1 (guided)"))
    assert guided["peer"] == "iteration 0 (unguided MCTS)" and guided["peer_value"] is not None
    assert "8 train / 4 test" in guided["setting"] and "1,500 inferences" in guided["setting"]
    for it in result["data"]["iterations"]:
        assert len(it["train"]) == 8 and len(it["test"]) == 4
    assert (tmp_path / "results" / "rlcop_proved_vs_iteration.png").stat().st_size > 1000
    assert "Per iteration" in md.read_text()


def test_a_trained_model_is_evaluated_without_training(tmp_path: Path) -> None:
    js, _md = _bench(tmp_path, "quick_test=3", "quick_inference_limit=2000", "model=default")
    result = json.loads(js.read_text())
    vs = {f["peer"]: f for f in result["figures"] if f["name"].endswith("proved on test")}
    assert set(vs) == {"unguided MCTS", "leanCoP [cut,comp(7)]"}
    assert "2,000 inferences" in vs["unguided MCTS"]["setting"]
    for rs in result["data"]["results"].values():
        assert len(rs) == 3
    assert not (tmp_path / "runs" / "rlcop").exists()  # nothing was trained
