"""Gradient-boosted trees (LightGBM models) scored on sparse rows without LightGBM's overhead.

rlCoP's search scores the actions of every state it expands with its policy model, and the
state with its value model: a few rows at a time, tens of thousands of times per proof
attempt. ``Booster.predict`` spends about a millisecond per call in Python, LightGBM's C
prediction entry point 15-40 microseconds before it reads a tree; the trees themselves take
a microsecond or two. :class:`Forest` copies the trees of a trained booster
(``Booster.dump_model()``) into flat arrays and scores CSR rows in the compiled ``_forest``
extension, or in Python where the extension is not built (the same numbers, slower).

The scores are LightGBM's: the raw sum of the trees' leaves (``raw``), and the objective's
transform (``predict``: the logistic function for ``binary`` and ``cross_entropy``, identity
for regression). A test checks both against ``Booster.predict`` on random rows.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["Forest"]

_MISSING = {"None": 0, "Zero": 1, "NaN": 2}
_LOGISTIC = ("binary", "cross_entropy", "xentropy")


def _extension() -> ModuleType | None:
    try:
        from palestra.models import _forest
    except ImportError:
        return None
    return _forest


class Forest:
    """The trees of one LightGBM booster as flat arrays; see the module docstring."""

    def __init__(self, model: dict[str, Any], dim: int, *, compiled: bool = True) -> None:
        objective = str(model.get("objective", "regression")).split()[0]
        self.logistic = objective in _LOGISTIC
        self.dim = dim
        root, node_base, leaf_base = [], [], []
        split: list[int] = []
        thr: list[float] = []
        left: list[int] = []
        right: list[int] = []
        flags: list[int] = []
        leaf: list[float] = []
        for info in model["tree_info"]:
            node_base.append(len(split))
            leaf_base.append(len(leaf))
            nb, lb = len(split), len(leaf)

            def add(t: dict[str, Any], nb: int = nb, lb: int = lb) -> int:
                """Number the subtree in pre-order (children after their parent)."""
                if "leaf_value" in t:
                    leaf.append(float(t["leaf_value"]))
                    return ~(len(leaf) - 1 - lb)
                if t.get("decision_type", "<=") != "<=":
                    raise ValueError(f"unsupported split {t.get('decision_type')!r}")
                k = len(split)
                split.append(int(t["split_feature"]))
                thr.append(float(t["threshold"]))
                flags.append(int(bool(t["default_left"])) | _MISSING[t["missing_type"]] << 1)
                left.append(0)
                right.append(0)
                left[k] = add(t["left_child"])
                right[k] = add(t["right_child"])
                return k - nb

            root.append(add(info["tree_structure"]))
        self.n_trees = len(root)
        self._arrays = (
            np.asarray(root, dtype=np.int32),
            np.asarray(node_base, dtype=np.int32),
            np.asarray(leaf_base, dtype=np.int32),
            np.asarray(split, dtype=np.int32),
            np.asarray(thr, dtype=np.float64),
            np.asarray(left, dtype=np.int32),
            np.asarray(right, dtype=np.int32),
            np.asarray(flags, dtype=np.int8),
            np.asarray(leaf, dtype=np.float64),
        )
        if split and max(split) >= dim:
            raise ValueError(f"the model splits on column {max(split)}, beyond dim {dim}")
        ext = _extension() if compiled else None
        self._ext = ext
        self._capsule = ext.new(*self._arrays, dim) if ext is not None else None

    @classmethod
    def from_booster(cls, booster: Any, dim: int, *, compiled: bool = True) -> Forest:
        """The trees of a ``lightgbm.Booster``."""
        return cls(booster.dump_model(), dim, compiled=compiled)

    @property
    def compiled(self) -> bool:
        return self._capsule is not None

    def raw(self, indptr: Any, indices: Any, values: Any) -> np.ndarray:
        """The summed leaf values of each CSR row (int32 ``indptr``/``indices``, float64
        ``values``; absent columns are 0.0)."""
        ip = np.asarray(indptr, dtype=np.int32)
        idx = np.asarray(indices, dtype=np.int32)
        val = np.asarray(values, dtype=np.float64)
        out = np.empty(len(ip) - 1, dtype=np.float64)
        if self._capsule is not None:
            self._ext.predict(self._capsule, ip, idx, val, out)  # type: ignore[union-attr]
            return out
        for r in range(len(out)):
            row: dict[int, float] = {}
            for j in range(ip[r], ip[r + 1]):
                row[int(idx[j])] = row.get(int(idx[j]), 0.0) + float(val[j])
            out[r] = self._score(row)
        return out

    def predict(self, indptr: Any, indices: Any, values: Any) -> np.ndarray:
        """:meth:`raw` through the objective's transform (LightGBM's ``predict``)."""
        raw = self.raw(indptr, indices, values)
        return 1.0 / (1.0 + np.exp(-raw)) if self.logistic else raw

    def _score(self, row: dict[int, float]) -> float:
        root, node_base, leaf_base, split, thr, left, right, flags, leaf = self._arrays
        total = 0.0
        for t in range(self.n_trees):
            c = int(root[t])
            nb = int(node_base[t])
            while c >= 0:
                k = nb + c
                fv = row.get(int(split[k]), 0.0)
                missing = (int(flags[k]) >> 1) & 3
                if (missing == 1 and abs(fv) <= 1e-35) or (missing == 2 and math.isnan(fv)):
                    go_left = bool(flags[k] & 1)
                else:
                    go_left = fv <= thr[k]
                c = int(left[k] if go_left else right[k])
            total += float(leaf[int(leaf_base[t]) + ~c])
        return total
