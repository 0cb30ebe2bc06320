"""Branching by the literal-clause graph network (Jaszczur, Łuszczyk & Michalewski 2019).

At each decision the network reads the *current formula* (``BranchingView.clauses()``: the
unsatisfied clauses without their false literals), with its remaining variables renumbered
``1..m`` in ascending order, and scores every literal of those variables:

* ``NeuralHeuristic`` picks the literal of highest policy score, the network's guess of the
  literal whose fixing keeps the formula satisfiable;
* ``Hybrid`` does so only when the network's ``P(sat)`` of the current formula is at least
  ``threshold`` (0.3 in the paper), and otherwise asks the fallback (JW-OS by default): where
  the network believes the branch is refuted, its policy (trained on satisfiable formulas
  only) means little and a propagation-seeking heuristic closes the branch faster.
* ``Hybrid(..., lookahead=k)`` trusts the network as often, but uses its ``P(sat)`` head
  instead of its policy, one step ahead: it sets each of the fallback's ``k`` best literals
  (by the fallback's ``scores``) in turn, simplifies as DPLL does (unit propagation, pure
  literals), and takes the literal whose child formula the network finds likeliest
  satisfiable (a child refuted by propagation counts 0, an emptied one 1); where no child
  reaches ``threshold``, the fallback's own pick. It keeps JW-OS's propagation-seeking order
  and avoids the picks that look refuted. In CDCL, which counts decisions, it beats JW-OS
  where the paper's form ties (see the model README); it costs up to ``k + 1`` forward
  passes per decision. ``fail_first=True`` also looks ahead where the network is *not*
  trusted, and there takes the child it finds *least* likely satisfiable (fail first: close
  a refuted branch fast); in selection it won most of the unsatisfiable CDCL instances the
  other forms lose, at ``k + 1`` passes on every decision (not yet in the bench's figures).

Nothing is cached between calls: every pick is a fresh forward pass on the view's formula.
When every clause is satisfied but variables are still free (CDCL), the first free variable
is set true, as the other heuristics do. Inference uses ``torch.inference_mode`` with the
threads torch is given (set ``torch.set_num_threads(1)`` on a shared machine).

``load_model("default")`` loads the model shipped in ``palestra/data/models/sat_gnn``.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from palestra.sat.dpll import assume
from palestra.sat.heuristics import (
    BranchingView,
    Heuristic,
    JeroslowWang,
    first_free,
    top_literals,
)

if TYPE_CHECKING:
    from palestra.models.sat_gnn import SatGNN

__all__ = ["DEFAULT_MODEL", "Hybrid", "NeuralHeuristic", "load_model", "score_formula"]

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "data" / "models" / "sat_gnn"


def load_model(path: str | Path = "default", rounds: int = 0) -> SatGNN:
    """The network in folder ``path`` (``"default"``: the shipped one), in eval mode.

    ``rounds > 0`` runs that many message-passing rounds instead of the model's own
    ``config.json`` value: the rounds share their weights, so a model trained with ``r``
    rounds can run more at inference, which helps on larger formulas (as in NeuroSAT).
    """
    from palestra.models.sat_gnn import SatGNN

    if rounds < 0:
        raise ValueError(f"rounds must be >= 0 (0: the model's own), got {rounds}")
    folder = DEFAULT_MODEL if str(path) == "default" else Path(path)
    if not (folder / "model.safetensors").exists():
        raise FileNotFoundError(f"{folder}: no model.safetensors (train one: palestra train sat)")
    model = SatGNN.from_pretrained(folder)
    if rounds:
        model.cfg = dataclasses.replace(model.cfg, rounds=rounds)
    return model


def score_formula(model: SatGNN, clauses: list[list[int]]) -> tuple[np.ndarray, np.ndarray, float]:
    """Run ``model`` on one formula given as clauses over any variables.

    Returns ``(variables, scores, p_sat)``: the ascending variables occurring in ``clauses``
    ``[m]``, the policy logits ``[2, m]`` (row 0 the positive literals, row 1 the negative)
    and the network's probability that the formula is satisfiable.
    """
    import torch

    from palestra.models.sat_gnn import graph_from_arrays

    length = np.fromiter(map(len, clauses), dtype=np.int64, count=len(clauses))  # [Cl]
    flat = np.fromiter(
        itertools.chain.from_iterable(clauses), dtype=np.int64, count=int(length.sum())
    )  # [E]
    variables, inverse = np.unique(np.abs(flat), return_inverse=True)  # [m], [E]
    m = int(variables.shape[0])
    compact = np.where(flat > 0, inverse + 1, -(inverse + 1))  # DIMACS over 1..m
    g = graph_from_arrays(
        np.array([m], dtype=np.int64), compact, length, np.zeros(len(clauses), dtype=np.int64)
    )
    with torch.inference_mode():
        policy, sat = model(g)  # [2m], [1]
    return variables, policy.numpy().reshape(2, m), float(torch.sigmoid(sat[0]))


class NeuralHeuristic:
    """Branch on the literal the network scores highest (see the module docstring).

    ``last_p_sat`` holds the network's ``P(sat)`` of the formula at the latest pick.
    """

    def __init__(self, model: SatGNN) -> None:
        self.model = model.eval()
        self.last_p_sat: float | None = None
        self.calls = 0

    def evaluate(self, view: BranchingView) -> tuple[int, float]:
        """The network's literal and ``P(sat)`` for the view's current formula."""
        clauses = view.clauses()
        if not clauses:
            return first_free(view), 1.0
        self.calls += 1
        variables, scores, p_sat = score_formula(self.model, clauses)
        best = int(np.argmax(scores))  # row-major: positives first, then smaller variable
        sign, k = divmod(best, scores.shape[1])
        var = int(variables[k])
        return (-var if sign else var), p_sat

    def pick(self, view: BranchingView) -> int:
        lit, self.last_p_sat = self.evaluate(view)
        return lit


class Hybrid:
    """The network's pick where its ``P(sat) >= threshold``, else the fallback's.

    ``lookahead = k > 0``: where the network is trusted, the literal among the fallback's
    ``k`` best whose simplified child has the highest network ``P(sat)`` (see the module
    docstring). ``fail_first`` (with a lookahead): where it is not, the one whose child has
    the *lowest*, to close a branch believed refuted fast. ``network_picks`` and
    ``fallback_picks`` count the decisions each made.
    """

    def __init__(
        self,
        model: SatGNN,
        fallback: Heuristic | None = None,
        threshold: float = 0.3,
        lookahead: int = 0,
        fail_first: bool = False,
    ) -> None:
        self.neural = NeuralHeuristic(model)
        self.fallback = fallback if fallback is not None else JeroslowWang()
        self.threshold = threshold
        if lookahead < 0:
            raise ValueError(f"lookahead must be >= 0 (0: the policy's pick), got {lookahead}")
        if lookahead and not hasattr(self.fallback, "scores"):
            raise TypeError(
                f"lookahead={lookahead} needs a fallback with scores(view), "
                f"such as JW-OS or DLIS; got {type(self.fallback).__name__}"
            )
        if fail_first and not lookahead:
            raise ValueError("fail_first needs lookahead > 0")
        self.lookahead = lookahead
        self.fail_first = fail_first
        self.network_picks = self.fallback_picks = 0
        on_conflict = getattr(self.fallback, "on_conflict", None)
        if on_conflict is not None:  # only then: DPLL pays for on_conflict on every conflict
            self.on_conflict = on_conflict

    def pick(self, view: BranchingView) -> int:
        lit, p_sat = self.neural.evaluate(view)
        self.neural.last_p_sat = p_sat
        if p_sat >= self.threshold:
            if self.lookahead and view.clauses():
                lit, p_sat = self._look(view)
            if p_sat >= self.threshold:
                self.network_picks += 1
                return lit
        elif self.fail_first and view.clauses():
            self.network_picks += 1
            return self._look(view, lowest=True)[0]
        self.fallback_picks += 1
        return self.fallback.pick(view)

    def _look(self, view: BranchingView, lowest: bool = False) -> tuple[int, float]:
        """The literal among the fallback's best whose child has the highest ``P(sat)``
        (``lowest``: the lowest), and that ``P(sat)``."""
        clauses = view.clauses()
        scores = self.fallback.scores(view)  # type: ignore[attr-defined]
        best, best_p = 0, 2.0 if lowest else -1.0
        for lit in top_literals(scores, self.lookahead):  # ties: the fallback's order
            child, refuted = assume(clauses, lit)
            if refuted:
                p = 0.0
            elif not child:
                p = 1.0
            else:
                self.neural.calls += 1
                p = score_formula(self.neural.model, child)[2]
            if (p < best_p) if lowest else (p > best_p):
                best, best_p = lit, p
        return best, best_p
