"""Hashed ENIGMA-style features: walks, stable hashing, rows for states and actions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from palestra.prove.features import (
    DIM,
    N_DENSE,
    Featurizer,
    feature_index,
    literal_features,
    to_csr,
)
from palestra.prove.world import connection_world

BUILTIN = Path(__file__).resolve().parents[2] / "src" / "palestra" / "data" / "tptp" / "m2k"


def test_symbols_and_walks_of_a_literal() -> None:
    # ~p(f(X, a), X): variables collapsed (*) and named by first occurrence (X0)
    f = literal_features(("~p", ("f", 7, ("a",)), 7), "g")
    assert f["g|s|~p"] == 1 and f["g|s|f"] == 1 and f["g|s|a"] == 1
    assert f["g|w|~p/f"] == 1 and f["g|w|f/a"] == 1 and f["g|w|~p/f/a"] == 1
    assert f["g|w|~p/*"] == 1 and f["g|w|f/*"] == 1 and f["g|w|~p/f/*"] == 1
    assert f["g|v|~p/X0"] == 1 and f["g|v|~p/f/X0"] == 1
    assert "g|w|~p/f/a/x" not in f  # walks stop at length 3


def test_skolem_symbols_are_collapsed() -> None:
    f = literal_features(("r", ("^12",), ("^3", 1)), "p")
    assert f["p|s|^"] == 2 and f["p|w|r/^"] == 2


def test_hashing_is_stable_across_processes() -> None:
    # crc32, not hash(): fixed numbers, the same in a fresh interpreter (other hash seed)
    assert feature_index("g|s|p") == 28955
    assert feature_index("g|s|p", 2**20) == 138395
    code = "from palestra.prove.features import feature_index; print(feature_index('g|s|p'))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
        check=True,
    )
    assert out.stdout.strip() == "28955"
    assert N_DENSE <= feature_index("anything") < DIM


def test_rows_of_states_and_actions() -> None:
    state = connection_world(path=BUILTIN / "t12_yellow_0.p")
    state.apply(state.legal_actions()[0])
    feat = Featurizer()
    base = feat.state(state)
    assert base[0] == state.depth() and base[1] == state.open_goals()
    rows = feat.policy_rows(state)
    assert len(rows) == len(state.legal_actions())
    for row, action in zip(rows, state.legal_actions(), strict=True):
        assert row[4] == (1.0 if action.kind == "ext" else 0.0)
        assert all(row.get(k, 0.0) >= v for k, v in base.items() if k >= N_DENSE)
    x = to_csr(rows)
    assert x.shape == (len(rows), DIM)
    assert x.nnz <= sum(len(r) for r in rows)
    assert x[0, 1] == state.open_goals()
