"""A message-passing network over the literal-clause graph of CNF formulas (Jaszczur, Łuszczyk
& Michalewski 2019, "Neural heuristics for SAT solving"; after NeuroSAT, Selsam et al. 2019).

One file, read top to bottom: the batched graph (``SatGraph``, ``build_graph``), the gated
attention aggregation, the model with its heads and loss, ``save_pretrained`` /
``from_pretrained``.

**Graph.** A batch of formulas is one disjoint graph. Formula ``b`` with ``n_b`` variables owns
``2 n_b`` literal nodes, positives first (``v`` at ``offset + v - 1``, ``-v`` at
``offset + n_b + v - 1``, NeuroSAT's order) and one node per clause. Each occurrence of a literal
in a clause is an edge ``(edge_lit[e], edge_clause[e])``. Nothing depends on the order of
variables or clauses, so renaming the variables permutes the literal outputs.

**Rounds.** Literal embeddings ``L`` and clause embeddings ``C`` start from a learned vector plus
a projection of cheap invariant features (clause: ``1/|c|``, ``2^-|c|``; literal: occurrences and
the Jeroslow-Wang score ``sum 2^-|c|``). Each of ``rounds`` rounds (weights shared across rounds,
as in NeuroSAT) does::

    C := LN(C + MLP_c([C, A_c]))            A_c = sum over l in c of V(L_l) * g(c, l)
    L := LN(L + MLP_l([L, A_l, L_flip]))    A_l = sum over c containing l of V'(C_c) * g'(l, c)

where ``g(c, l) = sigmoid(Q(C_c) . K(L_l) / sqrt(d_head))`` per head: gated attention, a sum
of values each scaled by an independent sigmoid gate (no softmax, so a node's in-degree is still
visible), and ``L_flip`` is the complementary literal's embedding. MLPs have three layers.

**Heads.** After every round: ``policy[l]`` the logit of "the formula with ``l`` set true is
satisfiable", and ``sat[b]`` the logit of "formula ``b`` is satisfiable", from the mean literal
embedding of ``b``. The loss sums over rounds the BCE of ``sat`` against the label and, for the
satisfiable formulas only, the mean BCE of ``policy`` against the per-literal labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from palestra.models.pretrained import load_pretrained, save_pretrained

__all__ = ["SatGNN", "SatGNNConfig", "SatGraph", "build_graph", "graph_from_arrays", "top_literals"]


@dataclass
class SatGNNConfig:
    """The architecture; the shipped model's values are in its ``config.json``."""

    dim: int = 64  # width of literal and clause embeddings
    heads: int = 4  # attention heads of the gated aggregation
    rounds: int = 12  # message-passing rounds (weights shared across rounds)

    def __post_init__(self) -> None:
        if self.dim % self.heads:
            raise ValueError(f"dim={self.dim} is not a multiple of heads={self.heads}")
        if self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")


@dataclass
class SatGraph:
    """A batch of formulas as one graph (see the module docstring); all tensors are int64
    indices except the features."""

    num_vars: torch.Tensor  # [B] variables of each formula
    lit_offset: torch.Tensor  # [B] index of each formula's first literal node
    lit_formula: torch.Tensor  # [Lit] formula of each literal node
    flip: torch.Tensor  # [Lit] node of the complementary literal
    edge_lit: torch.Tensor  # [E] literal end of each occurrence
    edge_clause: torch.Tensor  # [E] clause end of each occurrence
    lit_feat: torch.Tensor  # [Lit, 2] float
    clause_feat: torch.Tensor  # [Cl, 2] float
    num_clauses: int

    @property
    def num_formulas(self) -> int:
        return int(self.num_vars.shape[0])

    @property
    def num_literals(self) -> int:
        return int(self.flip.shape[0])


def build_graph(formulas: Sequence[tuple[int, Sequence[Sequence[int]]]]) -> SatGraph:
    """Batch ``(num_vars, clauses)`` pairs (DIMACS literals) into one ``SatGraph``."""
    flat: list[int] = []
    lengths: list[int] = []
    clause_formula: list[int] = []
    for b, (_, clauses) in enumerate(formulas):
        for c in clauses:
            flat.extend(c)
            lengths.append(len(c))
        clause_formula.extend([b] * len(clauses))
    return graph_from_arrays(
        np.array([n for n, _ in formulas], dtype=np.int64),
        np.asarray(flat, dtype=np.int64),
        np.asarray(lengths, dtype=np.int64),
        np.asarray(clause_formula, dtype=np.int64),
    )


def graph_from_arrays(
    num_vars: np.ndarray,  # [B] variables of each formula
    lits: np.ndarray,  # [E] DIMACS literals of all clauses, one after the other
    length: np.ndarray,  # [Cl] clause lengths
    clause_formula: np.ndarray,  # [Cl] formula of each clause
) -> SatGraph:
    """The ``SatGraph`` of formulas given as flat int64 arrays (what ``build_graph`` and the
    heuristics' single-formula path both use)."""
    lits_per = 2 * num_vars
    B = num_vars.shape[0]
    lit_offset = np.zeros(B, dtype=np.int64)
    if B > 1:
        lit_offset[1:] = np.cumsum(lits_per)[:-1]
    total_lits = int(lits_per.sum())
    num_clauses = int(length.shape[0])
    edge_clause = np.repeat(np.arange(num_clauses, dtype=np.int64), length)  # [E]
    edge_formula = np.repeat(clause_formula, length)  # [E]
    var = np.abs(lits) - 1
    edge_lit = lit_offset[edge_formula] + var + np.where(lits < 0, num_vars[edge_formula], 0)

    lit_formula = np.repeat(np.arange(B, dtype=np.int64), lits_per)  # [Lit]
    local = np.arange(total_lits, dtype=np.int64) - lit_offset[lit_formula]
    n_of = num_vars[lit_formula]
    flip = lit_offset[lit_formula] + (local + n_of) % np.maximum(2 * n_of, 1)

    jw_clause = np.exp2(-length.astype(np.float64))  # [Cl] Jeroslow-Wang weight 2^-|c|
    clause_feat = np.stack([1.0 / np.maximum(length, 1), jw_clause], axis=1)  # [Cl, 2]
    occ = np.bincount(edge_lit, minlength=total_lits).astype(np.float64)
    jw = np.bincount(edge_lit, weights=jw_clause[edge_clause], minlength=total_lits)
    lit_feat = np.stack([np.log1p(occ), jw * 4.0], axis=1)  # [Lit, 2]

    t = torch.from_numpy
    return SatGraph(
        num_vars=t(num_vars.astype(np.int64)),
        lit_offset=t(lit_offset),
        lit_formula=t(lit_formula),
        flip=t(flip),
        edge_lit=t(edge_lit),
        edge_clause=t(edge_clause),
        lit_feat=t(lit_feat.astype(np.float32)),
        clause_feat=t(clause_feat.astype(np.float32)),
        num_clauses=num_clauses,
    )


def _mlp(d_in: int, d: int, d_out: int) -> nn.Sequential:
    """Three linear layers with ReLU between them."""
    return nn.Sequential(
        nn.Linear(d_in, d), nn.ReLU(), nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d_out)
    )


class GatedAttention(nn.Module):
    """``A_dst = sum over edges (src, dst) of V(x_src) * sigmoid(Q(x_dst) . K(x_src) / sqrt(d_h))``
    per head, summed with ``index_add_``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(dim, 2 * dim, bias=False)

    def forward(
        self, x_src: torch.Tensor, x_dst: torch.Tensor, src: torch.Tensor, dst: torch.Tensor
    ) -> torch.Tensor:
        d = x_src.shape[1]
        h = self.heads
        k, v = self.kv(x_src).chunk(2, dim=1)  # [Ns, D] each
        q = self.q(x_dst)  # [Nd, D]
        qe = q.index_select(0, dst).view(-1, h, d // h)  # [E, H, Dh]
        ke = k.index_select(0, src).view(-1, h, d // h)  # [E, H, Dh]
        gate = torch.sigmoid((qe * ke).sum(-1) / math.sqrt(d // h))  # [E, H]
        msg = (v.index_select(0, src).view(-1, h, d // h) * gate.unsqueeze(-1)).view(-1, d)
        out = x_dst.new_zeros(x_dst.shape)  # [Nd, D]
        return out.index_add_(0, dst, msg)


class SatGNN(nn.Module):
    """Literal and clause embeddings refined by rounds of gated-attention message passing,
    with a satisfiability head and a per-literal policy head (see the module docstring)."""

    def __init__(self, cfg: SatGNNConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or SatGNNConfig()
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
        self.policy_head = _mlp(d, d, 1)
        self.sat_head = _mlp(d, d, 1)

    def forward(
        self, g: SatGraph, rounds: int | None = None, all_rounds: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Policy logits and sat logits: ``[Lit]`` and ``[B]`` after the last round, or
        ``[R, Lit]`` and ``[R, B]`` for every round with ``all_rounds``."""
        rounds = rounds or self.cfg.rounds
        L = self.lit_init + self.lit_feat(g.lit_feat)  # [Lit, D]
        C = self.clause_init + self.clause_feat(g.clause_feat)  # [Cl, D]
        counts = torch.bincount(g.lit_formula, minlength=g.num_formulas).clamp(min=1)
        policies, sats = [], []
        for r in range(rounds):
            A_c = self.to_clause(L, C, g.edge_lit, g.edge_clause)  # [Cl, D]
            C = self.clause_norm(C + self.clause_update(torch.cat([C, A_c], dim=1)))
            A_l = self.to_lit(C, L, g.edge_clause, g.edge_lit)  # [Lit, D]
            L = self.lit_norm(L + self.lit_update(torch.cat([L, A_l, L[g.flip]], dim=1)))
            if all_rounds or r == rounds - 1:
                pooled = L.new_zeros(g.num_formulas, L.shape[1]).index_add_(0, g.lit_formula, L)
                pooled = pooled / counts.unsqueeze(1).to(L.dtype)  # [B, D]
                policies.append(self.policy_head(L).squeeze(1))  # [Lit]
                sats.append(self.sat_head(pooled).squeeze(1))  # [B]
        if all_rounds:
            return torch.stack(policies), torch.stack(sats)  # [R, Lit], [R, B]
        return policies[-1], sats[-1]

    def loss(
        self,
        g: SatGraph,
        sat_label: torch.Tensor,  # [B] float 0/1
        lit_label: torch.Tensor,  # [Lit] float 0/1 (ignored for unsatisfiable formulas)
        rank_weight: float = 0.0,
        refute_weight: float = 0.0,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Summed over rounds: BCE(sat) + BCE(policy) on the satisfiable formulas' literals,
        plus ``rank_weight`` times the top-1 term: for each satisfiable formula, ``-log`` of the
        softmax mass (over its literals) on the literals labelled 1, which a branching
        heuristic needs most, since it only ever uses the top literal; plus ``refute_weight``
        times the same term on the *unsatisfiable* formulas, with Jeroslow-Wang's choice (the
        literals of highest ``sum 2^-|c|``, the graph's second literal feature) as the
        literals to put mass on: no literal keeps such a formula satisfiable, and what a
        branching heuristic should then do is refute it fast, which JW-OS does well.

        Also returns metrics of the last round: ``sat_acc`` and ``policy_acc``, the share of
        satisfiable formulas whose top-scored literal keeps them satisfiable.
        """
        policy, sat = self(g, all_rounds=True)  # [R, Lit], [R, B]
        R = policy.shape[0]
        lit_mask = sat_label[g.lit_formula] > 0.5  # [Lit]
        sat_loss = F.binary_cross_entropy_with_logits(
            sat, sat_label.expand(R, -1), reduction="none"
        ).mean(1)  # [R]
        if bool(lit_mask.any()):
            pol_loss = F.binary_cross_entropy_with_logits(
                policy[:, lit_mask], lit_label[lit_mask].expand(R, -1), reduction="none"
            ).mean(1)  # [R]
        else:
            pol_loss = torch.zeros_like(sat_loss)
        loss = (sat_loss + pol_loss).sum()
        rank_loss = torch.zeros_like(sat_loss)
        if rank_weight > 0 and bool(lit_mask.any()):
            rank_loss = _top1_loss(policy, g, lit_mask, lit_label > 0.5)  # [R]
            loss = loss + rank_weight * rank_loss.sum()
        refute_loss = torch.zeros_like(sat_loss)
        unsat_lits = ~lit_mask
        if refute_weight > 0 and bool(unsat_lits.any()):
            refute_loss = _top1_loss(policy, g, unsat_lits, _jw_choice(g) & unsat_lits)  # [R]
            loss = loss + refute_weight * refute_loss.sum()
        with torch.no_grad():
            sat_acc = ((sat[-1] > 0).float() == sat_label).float().mean().item()
            top = top_literals(policy[-1], g)  # [B]
            hit = lit_label[top] > 0.5
            sat_mask = sat_label > 0.5
            policy_acc = hit[sat_mask].float().mean().item() if bool(sat_mask.any()) else 0.0
        metrics = {
            "loss": loss.item(),
            "sat_loss": sat_loss[-1].item(),
            "policy_loss": pol_loss[-1].item(),
            "rank_loss": rank_loss[-1].item(),
            "refute_loss": refute_loss[-1].item(),
            "sat_acc": sat_acc,
            "policy_acc": policy_acc,
        }
        return loss, metrics

    # ------------------------------------------------------------------------- checkpoints
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``model.safetensors`` and ``config.json`` into ``directory``."""
        return save_pretrained(self, self.cfg, directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> SatGNN:
        """Load a model written by :meth:`save_pretrained` (unknown config keys are errors)."""
        return load_pretrained(cls, SatGNNConfig, directory).eval()


def _segment_logsumexp(x: torch.Tensor, seg: torch.Tensor, num: int) -> torch.Tensor:
    """``logsumexp`` of ``x [R, N]`` over the entries of each segment ``seg [N]``: ``[R, num]``
    (``-inf`` for empty segments)."""
    R = x.shape[0]
    idx = seg.expand(R, -1)
    m = x.new_full((R, num), float("-inf")).scatter_reduce(1, idx, x, reduce="amax")
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m)).detach()
    s = x.new_zeros((R, num)).scatter_add(1, idx, torch.exp(x - m.gather(1, idx)))
    return m + torch.log(s)


def _top1_loss(
    policy: torch.Tensor,  # [R, Lit] logits
    g: SatGraph,
    sat_lits: torch.Tensor,  # [Lit] bool: literal of a satisfiable formula
    good: torch.Tensor,  # [Lit] bool: the formula with that literal set stays satisfiable
) -> torch.Tensor:
    """Mean over satisfiable formulas of ``-log sum_good softmax(policy)``, per round ``[R]``."""
    B = g.num_formulas
    seg = g.lit_formula
    all_ = _segment_logsumexp(policy, seg, B)  # [R, B]
    pos = _segment_logsumexp(policy.masked_fill(~good, float("-inf")), seg, B)  # [R, B]
    has = torch.zeros(B, dtype=torch.bool).index_fill_(0, seg[sat_lits & good], True)  # [B]
    return (all_ - pos)[:, has].mean(1)


def _jw_choice(g: SatGraph) -> torch.Tensor:
    """``[Lit]`` bool: the literals of highest Jeroslow-Wang score in their formula."""
    jw = g.lit_feat[:, 1]
    best = jw.new_full((g.num_formulas,), float("-inf")).scatter_reduce(
        0, g.lit_formula, jw, reduce="amax"
    )
    return jw >= best[g.lit_formula] - 1e-6


def top_literals(policy: torch.Tensor, g: SatGraph) -> torch.Tensor:
    """The node of the highest-scored literal of each formula, ``[B]`` (first on ties)."""
    B = g.num_formulas
    best = torch.full((B,), float("-inf"), dtype=policy.dtype)
    best = best.scatter_reduce(0, g.lit_formula, policy, reduce="amax")
    is_best = policy >= best[g.lit_formula]  # [Lit]
    idx = torch.arange(policy.shape[0])
    first = torch.full((B,), policy.shape[0], dtype=torch.long)
    return first.scatter_reduce(0, g.lit_formula[is_best], idx[is_best], reduce="amin")
