"""Sparse feed-forward layer of the Terraformer (Jaszczur et al. 2021, "Sparse is Enough in
Scaling Transformers", section 3.1).

The ``d_ff`` hidden units of a ReLU feed-forward layer are split into ``N = d_ff / B`` blocks of
``B`` units, and a controller keeps exactly one unit per block:

    Y = (max(0, x W1 + b1) * Controller(x)) W2 + b2

The controller is low-rank, ``logits = (x C1) C2`` with ``C1: D -> r`` and ``C2: r -> N*B``,
reshaped to ``[N, B]``. Its output is a one-hot vector per block:

- at inference, ``argmax`` over each block;
- in training, Gumbel-softmax with the straight-through estimator (Jang et al. 2017): the
  forward pass uses the hard one-hot of ``argmax(logits + g)`` (``g`` Gumbel noise), the
  backward pass the gradient of ``softmax((logits + g) / tau)``, so the controller learns.

Training computes the dense layer and multiplies by the mask (same cost as dense, but simple
and batched). Decoding (:meth:`SparseFF.decode`) computes only the ``N`` chosen units: it
gathers the chosen rows of ``W1`` and ``W2`` and costs ``2 * D * N`` multiply-adds instead of
``2 * D * d_ff``, i.e. ``1/B`` of dense, plus the controller's ``D * r + r * d_ff``. At batch 1
the layer is memory-bound, so reading ``1/B`` of the weights is what makes it faster.

Both weight matrices are stored as ``[d_ff, D]`` (one row per hidden unit), so the chosen
units are contiguous rows of each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["SparseFF", "SparseFFConfig", "decode_macs", "decode_speed", "dense_macs"]


@dataclass
class SparseFFConfig:
    d_model: int = 128
    d_ff: int = 512
    block: int = 32  # B: units per block; one of them is active
    rank: int = 32  # r: width of the low-rank controller
    gumbel_tau: float = 1.0  # softmax temperature of the straight-through gradient
    bias: bool = True

    def __post_init__(self) -> None:
        if self.d_ff % self.block:
            raise ValueError(f"d_ff={self.d_ff} is not a multiple of block={self.block}")

    @property
    def n_blocks(self) -> int:
        return self.d_ff // self.block


def dense_macs(cfg: SparseFFConfig) -> int:
    """Multiply-adds per token of the dense layer: ``x W1`` and ``h W2``."""
    return 2 * cfg.d_model * cfg.d_ff


def decode_macs(cfg: SparseFFConfig) -> dict[str, int]:
    """Multiply-adds per token of :meth:`SparseFF.decode`: the feed-forward on the ``N`` chosen
    units (``1/B`` of dense) and the low-rank controller."""
    return {
        "ff": 2 * cfg.d_model * cfg.n_blocks,
        "controller": cfg.d_model * cfg.rank + cfg.rank * cfg.d_ff,
    }


class SparseFF(nn.Module):
    """``forward(x [..., D])``: masked dense (training: Gumbel straight-through; eval: argmax).
    ``decode(x [..., D])``: the same function at eval, computing only the chosen units."""

    def __init__(self, cfg: SparseFFConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, f = cfg.d_model, cfg.d_ff
        self.w1 = nn.Parameter(torch.randn(f, d) * d**-0.5)  # [F, D], row u: unit u's input
        self.b1 = nn.Parameter(torch.zeros(f)) if cfg.bias else None  # [F]
        self.w2 = nn.Parameter(torch.randn(f, d) * f**-0.5)  # [F, D], row u: unit u's output
        self.b2 = nn.Parameter(torch.zeros(d)) if cfg.bias else None  # [D]
        self.controller_down = nn.Linear(d, cfg.rank, bias=False)  # C1
        self.controller_up = nn.Linear(cfg.rank, f, bias=cfg.bias)  # C2

    def controller_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``(x C1) C2`` reshaped to one row of ``B`` logits per block: ``[..., N, B]``."""
        logits = self.controller_up(self.controller_down(x))  # [..., F]
        return logits.unflatten(-1, (self.cfg.n_blocks, self.cfg.block))  # [..., N, B]

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """The one-hot choice per block, flattened to ``[..., F]``. In training the hard
        Gumbel-softmax sample, whose gradient is that of the soft sample (straight-through)."""
        logits = self.controller_logits(x)  # [..., N, B]
        if self.training:
            onehot = F.gumbel_softmax(logits, tau=self.cfg.gumbel_tau, hard=True, dim=-1)
        else:
            onehot = F.one_hot(logits.argmax(dim=-1), self.cfg.block).to(x.dtype)
        return onehot.flatten(-2)  # [..., F]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Dense-equivalent computation: every unit is computed, all but one per block zeroed."""
        h = F.relu(F.linear(x, self.w1, self.b1))  # [..., F]
        h = h * self.mask(x)  # [..., F], N nonzero
        y = h @ self.w2  # [..., D]
        return y if self.b2 is None else y + self.b2

    @torch.no_grad()
    def chosen_units(self, x: torch.Tensor) -> torch.Tensor:
        """Index in ``0 .. F-1`` of the argmax unit of each block: ``[..., N]``."""
        choice = self.controller_logits(x).argmax(dim=-1)  # [..., N]
        offsets = torch.arange(self.cfg.n_blocks, device=x.device) * self.cfg.block  # [N]
        return choice + offsets  # [..., N]

    @torch.no_grad()
    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """Inference with only the chosen units: ``relu(x W1[:, u] + b1[u]) W2[u, :] + b2``
        over the ``N`` chosen units ``u``; equals :meth:`forward` in eval mode."""
        shape = x.shape
        x = x.reshape(-1, shape[-1])  # [M, D]
        units = self.chosen_units(x)  # [M, N]
        if x.size(0) == 1:  # batch-1 decoding: plain matrix-vector products on the rows
            u = units[0]  # [N]
            # index_select rather than w1[u]: the same gather, several times faster on CPU
            w1, w2 = self.w1.index_select(0, u), self.w2.index_select(0, u)  # [N, D] each
            h = F.relu(F.linear(x, w1, None if self.b1 is None else self.b1[u]))  # [1, N]
            y = h @ w2  # [1, D]
        else:
            h = torch.bmm(self.w1[units], x[:, :, None])[..., 0]  # [M, N, D] @ [M, D, 1]
            if self.b1 is not None:
                h = h + self.b1[units]  # [M, N]
            y = torch.bmm(F.relu(h)[:, None, :], self.w2[units])[:, 0]  # [M, D]
        if self.b2 is not None:
            y = y + self.b2
        return y.reshape(shape)  # [..., D]

    @torch.no_grad()
    def dense(self, x: torch.Tensor) -> torch.Tensor:
        """The ordinary dense ReLU layer on the same weights (all units; a speed baseline)."""
        y = F.relu(F.linear(x, self.w1, self.b1)) @ self.w2  # [..., D]
        return y if self.b2 is None else y + self.b2


def decode_speed(
    d_model: int,
    d_ff: int,
    block: int,
    rank: int = 32,
    steps: int = 200,
    warmup: int = 20,
    device: str = "cpu",
) -> dict[str, float]:
    """Tokens per second of one layer at batch 1, one token at a time, for the sparse decoding
    path (controller included) and the dense layer of the same size. A micro-benchmark, not a
    test: the numbers depend on the machine, threads and the allocator."""
    layer = SparseFF(SparseFFConfig(d_model=d_model, d_ff=d_ff, block=block, rank=rank))
    layer = layer.to(device).eval()
    xs = torch.randn(steps + warmup, 1, d_model, device=device)  # one token per step
    result = {}
    for name, fn in (("sparse", layer.decode), ("dense", layer.dense)):
        with torch.inference_mode():
            for i in range(warmup):
                fn(xs[i])
            if device != "cpu":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for i in range(warmup, warmup + steps):
                fn(xs[i])
            if device != "cpu":
                torch.cuda.synchronize()
            result[f"{name}_tok_s"] = steps / (time.perf_counter() - start)
    result["speedup"] = result["sparse_tok_s"] / result["dense_tok_s"]
    return result
