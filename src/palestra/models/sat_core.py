"""A NeuroCore-style network: per-variable unsat-core and phase scores of a CNF formula
(Selsam & Bjørner 2019, "Guiding high-performance SAT solvers with unsat-core predictions").

It reuses the literal-clause graph and the gated-attention message passing of
:mod:`palestra.models.sat_gnn` (``graph_from_arrays``, ``GatedAttention``; see that module for
the graph and the round), with its own, smaller heads:

* ``core[v]``: the logit of "variable ``v`` occurs in the unsat core" (NeuroCore's target),
  read from the concatenated embeddings of ``v`` and ``-v``; trained on unsatisfiable
  formulas, with the variables of a core found by a solver as the positives;
* ``phase[v]``: the logit of "``v`` is true in the model found", trained on satisfiable
  formulas (a model's polarity, a weak but cheap target: formulas have many models).

NeuroCore's network was small and run rarely; so is this one (the shipped
``sat_core`` model: width 32, 4 rounds). Cast to bfloat16 (``model.to(torch.bfloat16)``,
which ``avx512_bf16`` CPUs run natively) it computes in bfloat16 and returns float32 logits.

Not here: the satisfiability head and per-literal policy of ``SatGNN``; the network says
nothing about whether a formula is satisfiable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from palestra.models.pretrained import load_pretrained, save_pretrained
from palestra.models.sat_gnn import GatedAttention, SatGraph

__all__ = ["SatCoreConfig", "SatCoreGNN"]


@dataclass
class SatCoreConfig:
    """The architecture; a saved model's values are in its ``config.json``."""

    dim: int = 32  # width of literal and clause embeddings
    heads: int = 4  # attention heads of the gated aggregation
    rounds: int = 4  # message-passing rounds (weights shared across rounds)

    def __post_init__(self) -> None:
        if self.dim % self.heads:
            raise ValueError(f"dim={self.dim} is not a multiple of heads={self.heads}")
        if self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")


def _mlp(d_in: int, d: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d), nn.ReLU(), nn.Linear(d, d_out))


class SatCoreGNN(nn.Module):
    """Message passing over the literal-clause graph, then per-variable core and phase logits."""

    def __init__(self, cfg: SatCoreConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or SatCoreConfig()
        d = cfg.dim
        self.lit_init = nn.Parameter(torch.randn(d) / math.sqrt(d))
        self.clause_init = nn.Parameter(torch.randn(d) / math.sqrt(d))
        self.lit_feat = nn.Linear(2, d, bias=False)
        self.clause_feat = nn.Linear(2, d, bias=False)
        self.to_clause = GatedAttention(d, cfg.heads)
        self.to_lit = GatedAttention(d, cfg.heads)
        self.clause_update = _mlp(2 * d, d, d)
        self.lit_update = _mlp(3 * d, d, d)
        self.clause_norm = nn.LayerNorm(d)
        self.lit_norm = nn.LayerNorm(d)
        self.core_head = _mlp(2 * d, d, 1)
        self.phase_head = _mlp(2 * d, d, 1)

    def forward(self, g: SatGraph) -> tuple[torch.Tensor, torch.Tensor]:
        """Core and phase logits per variable, ``[V]`` each (variables of formula ``b`` in
        order, formula after formula), float32 whatever the weights' dtype (``model.to(
        torch.bfloat16)`` runs the rounds in bfloat16)."""
        dtype = self.lit_init.dtype
        L = self.lit_init + self.lit_feat(g.lit_feat.to(dtype))  # [Lit, D]
        C = self.clause_init + self.clause_feat(g.clause_feat.to(dtype))  # [Cl, D]
        for _ in range(self.cfg.rounds):
            A_c = self.to_clause(L, C, g.edge_lit, g.edge_clause)  # [Cl, D]
            C = self.clause_norm(C + self.clause_update(torch.cat([C, A_c], dim=1)))
            A_l = self.to_lit(C, L, g.edge_clause, g.edge_lit)  # [Lit, D]
            L = self.lit_norm(L + self.lit_update(torch.cat([L, A_l, L[g.flip]], dim=1)))
        pos = _positive_literals(g)  # [V]
        pair = torch.cat([L[pos], L[g.flip[pos]]], dim=1)  # [V, 2D]
        return self.core_head(pair).squeeze(1).float(), self.phase_head(pair).squeeze(1).float()

    def loss(
        self,
        g: SatGraph,
        core_label: torch.Tensor,  # [V] float 0/1
        core_mask: torch.Tensor,  # [V] bool: variables of unsatisfiable formulas
        phase_label: torch.Tensor,  # [V] float 0/1
        phase_mask: torch.Tensor,  # [V] bool: variables of satisfiable formulas
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """BCE of the core head on unsatisfiable formulas' variables plus BCE of the phase head
        on satisfiable ones'; metrics: both losses and accuracies."""
        core, phase = self(g)
        zero = core.new_zeros(())
        core_loss = (
            F.binary_cross_entropy_with_logits(core[core_mask], core_label[core_mask])
            if bool(core_mask.any())
            else zero
        )
        phase_loss = (
            F.binary_cross_entropy_with_logits(phase[phase_mask], phase_label[phase_mask])
            if bool(phase_mask.any())
            else zero
        )
        with torch.no_grad():
            core_acc = ((core[core_mask] > 0).float() == core_label[core_mask]).float().mean()
            phase_acc = ((phase[phase_mask] > 0).float() == phase_label[phase_mask]).float().mean()
        metrics = {
            "core_loss": core_loss.item(),
            "phase_loss": phase_loss.item(),
            "core_acc": float(core_acc) if bool(core_mask.any()) else float("nan"),
            "phase_acc": float(phase_acc) if bool(phase_mask.any()) else float("nan"),
        }
        return core_loss + phase_loss, metrics

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``model.safetensors`` and ``config.json`` into ``directory``."""
        return save_pretrained(self, self.cfg, directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> SatCoreGNN:
        """Load a model written by :meth:`save_pretrained` (unknown config keys are errors)."""
        return load_pretrained(cls, SatCoreConfig, directory).eval()


def _positive_literals(g: SatGraph) -> torch.Tensor:
    """Node index of every positive literal ``v`` of every formula, in order: ``[V]``."""
    n = g.num_vars  # [B]
    var_formula = torch.repeat_interleave(torch.arange(n.shape[0]), n)  # [V]
    first_var = torch.cumsum(n, 0) - n  # [B]
    local = torch.arange(int(n.sum())) - first_var[var_formula]  # [V]
    return g.lit_offset[var_formula] + local
