"""The compiled tree scorer gives LightGBM's own predictions, and rejects malformed input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from palestra.models import forest as forest_module
from palestra.models.forest import Forest

lgb = pytest.importorskip("lightgbm")


def _booster(objective: str, dim: int, *, zeros_missing: bool = False) -> tuple:
    x = sp.random(1500, dim, density=min(0.3, 40 / dim), format="csr", random_state=1)
    x.data = np.round(x.data * 4) - 1  # negative values, zeros stored explicitly, ties
    signal = np.asarray(x[:, : dim // 2].sum(axis=1)).ravel()
    y = signal > np.median(signal)
    target = y.astype(float) if objective != "regression" else signal
    params = {
        "objective": objective,
        "num_leaves": 15,
        "min_data_in_leaf": 3,
        "verbose": -1,
        "num_threads": 1,
        "zero_as_missing": zeros_missing,
    }
    return lgb.train(params, lgb.Dataset(x, target), num_boost_round=30), x


@pytest.mark.parametrize("objective", ["cross_entropy", "binary", "regression"])
@pytest.mark.parametrize("zeros_missing", [False, True])
def test_scores_equal_lightgbm(objective: str, zeros_missing: bool) -> None:
    dim = 200
    booster, x = _booster(objective, dim, zeros_missing=zeros_missing)
    rows = x[:300]
    want = booster.predict(rows)
    want_raw = booster.predict(rows, raw_score=True)
    for compiled in (True, False):
        f = Forest.from_booster(booster, dim, compiled=compiled)
        if compiled:
            assert f.compiled == (forest_module._extension() is not None)
        got = f.predict(rows.indptr, rows.indices, rows.data)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
        np.testing.assert_allclose(
            f.raw(rows.indptr, rows.indices, rows.data), want_raw, atol=1e-12
        )


def test_the_compiled_scorer_is_built() -> None:
    # `pip install -e .` builds it (setup.py); the Python path is the fallback only
    assert forest_module._extension() is not None


def test_a_one_leaf_tree_and_an_empty_row() -> None:
    model = {
        "objective": "regression",
        "tree_info": [
            {"tree_structure": {"leaf_value": 0.25}},
            {
                "tree_structure": {
                    "split_feature": 3,
                    "threshold": 0.5,
                    "decision_type": "<=",
                    "default_left": True,
                    "missing_type": "None",
                    "left_child": {"leaf_value": -1.0},
                    "right_child": {"leaf_value": 2.0},
                }
            },
        ],
    }
    for compiled in (True, False):
        f = Forest(model, 8, compiled=compiled)
        got = f.predict([0, 0, 1], np.array([3], dtype=np.int32), np.array([1.0]))
        assert got.tolist() == [-0.75, 2.25]


def test_malformed_input_is_refused() -> None:
    booster, _ = _booster("binary", 50)
    f = Forest.from_booster(booster, 50)
    if not f.compiled:
        pytest.skip("the compiled scorer is not built")
    with pytest.raises(ValueError, match="out of range"):
        f.predict([0, 1], np.array([50], dtype=np.int32), np.array([1.0]))
    with pytest.raises(ValueError, match="inconsistent"):
        f.predict([0, 2], np.array([1], dtype=np.int32), np.array([1.0]))
    with pytest.raises(ValueError, match="beyond dim"):
        Forest.from_booster(booster, 2)
    from palestra.models import _forest

    bad_child = [np.array(a) for a in ([0], [0], [0], [0], [0.5], [0], [-1], [0], [1.0, 2.0])]
    dtypes = (np.int32,) * 4 + (np.float64, np.int32, np.int32, np.int8, np.float64)
    with pytest.raises(ValueError, match="malformed"):  # node 0's left child is itself
        _forest.new(*(a.astype(t) for a, t in zip(bad_child, dtypes, strict=True)), 4)
