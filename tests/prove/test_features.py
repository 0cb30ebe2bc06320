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
    assert feature_index("g|s|p") == 4123
    assert feature_index("g|s|p", 2**20) == 157307
    # the action's parts hash into the upper half, the state's into the lower one
    assert feature_index("ac|s|p") == 33690 >= DIM // 2 + N_DENSE
    code = "from palestra.prove.features import feature_index; print(feature_index('g|s|p'))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
        check=True,
    )
    assert out.stdout.strip() == "4123"
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
        assert row[DIM // 2] == (1.0 if action.kind == "ext" else 0.0)
        assert {k: v for k, v in row.items() if k < DIM // 2} == base  # no collisions
        # the fast path's arrays hold the same row, sorted
        bi, bv = feat.state_arrays(base)
        ai, av = feat.action_arrays(state, action)
        assert list(bi) + list(ai) == sorted(row)
        assert list(bv) + list(av) == [row[k] for k in sorted(row)]
    x = to_csr(rows)
    assert x.shape == (len(rows), DIM)
    assert x.nnz <= sum(len(r) for r in rows)
    assert x[0, 1] == state.open_goals()


def test_cached_path_features_equal_fresh_ones() -> None:
    # the path sums are cached on ground path nodes; states along random lines (shared
    # path nodes, bindings made later) must get the same rows as from a fresh featurizer
    import random

    rng = random.Random(0)
    shared = Featurizer()
    for name in ("t12_yellow_0", "t29_xboole_1", "t14_relat_1"):
        start = connection_world(path=BUILTIN / f"{name}.p")
        for _ in range(30):
            state = start.clone()
            for _ in range(12):
                if state.is_terminal():
                    break
                assert shared.state(state) == Featurizer().state(state)
                state.apply(rng.choice(state.legal_actions()))
