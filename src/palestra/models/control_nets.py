"""Networks for continuous control: MLP torsos, Gaussian policies, Q and V critics, and a
running observation normaliser.

* :class:`RunningNorm`: ``x -> clip((x - mean) / sqrt(var + eps), -c, c)`` with the mean and
  variance of every observation seen so far (Chan et al.'s parallel update), frozen after
  ``sample_limit`` observations as trax's ``Normalize`` is. Its statistics are buffers, so
  they travel in the state dict and a resumed run normalises as the killed one did.
* :class:`SquashedGaussianActor` (SAC, Haarnoja et al. 2018)::

      h = MLP(s);  mu, log_std = W_mu h, clamp(W_s h, -20, 2)
      u ~ N(mu, diag(exp(log_std)^2)),   a = tanh(u) * scale + bias
      log pi(a|s) = log N(u; mu, std) - sum_i log(scale_i (1 - tanh(u_i)^2) + 1e-6)

* :class:`GaussianActor` (AWR and QWR, as trax's ``Policy`` with a ``Gaussian`` head): the
  mean ``mu = W h`` (small initial weights), a fixed standard deviation (0.4 in the QWR
  configs) or a learned state-independent one; actions are clipped to the box by the
  environment loop, log-probabilities are those of the unclipped sample.
* :class:`QNetwork`: ``Q(s, a) = MLP([s, a])``, ``[B, obs] x [B, act] -> [B]``; also called
  on ``[B, n, ...]`` (n sampled actions per state) -> ``[B, n]``.
* :class:`VNetwork`: ``V(s) = MLP(s)``, ``[B, obs] -> [B]``.
* :class:`QEnsemble`: ``K`` independent Q-networks evaluated together (SAC's twin critics),
  each layer one batched matmul over the members: ``[B, obs] x [B, act] -> [K, B]``; each
  member is initialised as ``nn.Linear`` would be.

All torsos are ReLU MLPs with two hidden layers of 256 units by default, the width every
paper of the comparison uses on MuJoCo.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import nn

__all__ = [
    "GaussianActor",
    "QEnsemble",
    "QNetwork",
    "RunningNorm",
    "SquashedGaussianActor",
    "VNetwork",
    "mlp",
    "run_mlp",
]

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


def _fused_linear() -> Any:
    """oneDNN's linear with a fused activation (``torch.ops.mkldnn._linear_pointwise``, the
    kernel TorchInductor emits on CPU), or None where this build of torch lacks it."""
    try:
        op = torch.ops.mkldnn._linear_pointwise
        x = torch.ones(1, 2)
        op(x, torch.ones(1, 2), torch.zeros(1), "relu", [], "")
        return op
    except (AttributeError, RuntimeError):
        return None


_FUSED_LINEAR = _fused_linear() if torch.backends.mkldnn.is_available() else None


def run_mlp(net: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """``net(x)`` for an :func:`mlp`; without autograd on CPU each Linear + ReLU pair is one
    oneDNN call, which skips the activation's extra pass over memory (2x faster in bfloat16,
    where the separate ReLU is slow). Same values as ``net(x)`` (the tests compare)."""
    if _FUSED_LINEAR is None or torch.is_grad_enabled() or x.device.type != "cpu":
        return net(x)
    shape = x.shape
    h = x.reshape(-1, shape[-1])
    layers = list(net)
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.Linear):
            relu = i + 1 < len(layers) and isinstance(layers[i + 1], nn.ReLU)
            h = _FUSED_LINEAR(h, layer.weight, layer.bias, "relu" if relu else "none", [], "")
        elif not isinstance(layer, nn.ReLU):
            h = layer(h)
    return h.reshape(*shape[:-1], h.shape[-1])


def mlp(n_in: int, n_out: int, hidden: tuple[int, ...] = (256, 256)) -> nn.Sequential:
    """``n_in -> hidden... -> n_out`` with ReLUs between (none after the last layer)."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(n_in, width), nn.ReLU()]
        n_in = width
    layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class RunningNorm(nn.Module):
    """Normalise observations by the running mean and variance of those seen so far."""

    def __init__(
        self, dim: int, *, clip: float = 10.0, eps: float = 1e-5, sample_limit: int = 300_000
    ) -> None:
        super().__init__()
        self.clip, self.eps, self.sample_limit = clip, eps, sample_limit
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("var", torch.ones(dim, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Fold a batch ``[B, dim]`` into the statistics (until ``sample_limit``)."""
        if self.count >= self.sample_limit:
            return
        x = x.reshape(-1, self.mean.shape[0]).to(torch.float64)
        n = x.shape[0]
        batch_mean, batch_var = x.mean(0), x.var(0, unbiased=False)
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean += delta * n / total
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.var.copy_(m2 / total)
        self.count.fill_(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.count == 0:
            return x
        mean, std = self.mean.to(x.dtype), torch.sqrt(self.var + self.eps).to(x.dtype)
        return torch.clamp((x - mean) / std, -self.clip, self.clip)


class _Identity(nn.Module):
    def update(self, x: torch.Tensor) -> None:
        pass

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def make_norm(dim: int, enabled: bool) -> nn.Module:
    """A :class:`RunningNorm`, or an identity with the same ``update`` method."""
    return RunningNorm(dim) if enabled else _Identity()


class SquashedGaussianActor(nn.Module):
    """SAC's tanh-squashed Gaussian policy on a box ``[low, high]``."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        low: torch.Tensor,
        high: torch.Tensor,
        hidden: tuple[int, ...] = (256, 256),
    ) -> None:
        super().__init__()
        self.torso = mlp(obs_dim, hidden[-1], hidden[:-1])
        self.mu = nn.Linear(hidden[-1], act_dim)
        self.log_std = nn.Linear(hidden[-1], act_dim)
        self.register_buffer("scale", (high - low) / 2)
        self.register_buffer("bias", (high + low) / 2)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, obs] -> (mu, log_std)``, each ``[B, act]``."""
        h = torch.relu(self.torso(obs))
        return self.mu(h), torch.clamp(self.log_std(h), LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(action [B, act], log pi(action|s) [B], deterministic action [B, act])``."""
        mu, log_std = self(obs)
        std = log_std.exp()
        u = mu + std * torch.randn_like(mu)  # reparameterised
        y = torch.tanh(u)
        log_prob = (-0.5 * ((u - mu) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prob = log_prob - torch.log(self.scale * (1 - y**2) + 1e-6).sum(-1)
        return y * self.scale + self.bias, log_prob, torch.tanh(mu) * self.scale + self.bias


class GaussianActor(nn.Module):
    """A Gaussian policy ``N(mu(s), std^2)``: fixed ``std`` or, with ``std=None``, a learned
    state-independent log-std."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        std: float | None = 0.4,
        hidden: tuple[int, ...] = (256, 256),
        head_init: float = 0.01,
    ) -> None:
        super().__init__()
        self.net = mlp(obs_dim, act_dim, hidden)
        last = self.net[-1]
        assert isinstance(last, nn.Linear)
        nn.init.uniform_(last.weight, -head_init, head_init)
        nn.init.zeros_(last.bias)
        self.fixed_std = std
        self.log_std = nn.Parameter(torch.full((act_dim,), math.log(std or 1.0)))
        self.log_std.requires_grad_(std is None)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[..., obs] -> (mu, log_std)``, each ``[..., act]``."""
        mu = run_mlp(self.net, obs)
        return mu, self.log_std.expand_as(mu)

    @staticmethod
    def log_prob(mu: torch.Tensor, log_std: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``log N(action; mu, exp(log_std))`` summed over the action dims: ``[...]``."""
        z = (action - mu) / log_std.exp()
        return (-0.5 * z**2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


class QNetwork(nn.Module):
    """``Q(s, a)``: an MLP on the concatenated state and action."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (256, 256)) -> None:
        super().__init__()
        self.net = mlp(obs_dim + act_dim, 1, hidden)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``[..., obs], [..., act] -> [...]`` (``obs`` broadcast over sampled actions)."""
        obs = obs.expand(*action.shape[:-1], obs.shape[-1])
        return run_mlp(self.net, torch.cat([obs, action], -1)).squeeze(-1)


class VNetwork(nn.Module):
    """``V(s)``: an MLP on the state."""

    def __init__(self, obs_dim: int, hidden: tuple[int, ...] = (256, 256)) -> None:
        super().__init__()
        self.net = mlp(obs_dim, 1, hidden)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``[..., obs] -> [...]``."""
        return self.net(obs).squeeze(-1)


class QEnsemble(nn.Module):
    """``K`` Q-networks on ``[s, a]`` with stacked weights: ``[B, obs], [B, act] -> [K, B]``."""

    def __init__(
        self, obs_dim: int, act_dim: int, members: int = 2, hidden: tuple[int, ...] = (256, 256)
    ) -> None:
        super().__init__()
        sizes = [obs_dim + act_dim, *hidden, 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for n_in, n_out in itertools.pairwise(sizes):
            w, b = torch.empty(members, n_in, n_out), torch.empty(members, 1, n_out)
            for k in range(members):  # nn.Linear's initialisation, member by member
                layer = nn.Linear(n_in, n_out)
                w[k], b[k, 0] = layer.weight.detach().T, layer.bias.detach()
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, action], -1)  # [B, in]
        h = x.unsqueeze(0).expand(len(self.weights[0]), *x.shape)  # [K, B, in]
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w)  # [K, B, out]
            if i < last:
                h = torch.relu(h)
        return h.squeeze(-1)  # [K, B]
