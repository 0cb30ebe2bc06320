"""FLoP: PPO on the connection calculus, learning from one training proof with a curriculum.

Zombori, Csiszárik, Michalewski, Kaliszyk, Urban, "Towards Finding Longer Proofs" (2019). The
agent walks the connection world of rlCoP (:mod:`palestra.prove.world`: the leftmost open
goal is closed by an extension or a reduction, no backtracking) one action at a time and is
rewarded 1 when the tableau closes. Proofs are long and plain exploration rarely closes one,
so FLoP learns from a known proof in the manner of Backplay (Resnick et al. 2018) and of
"Learning Montezuma's Revenge from a Single Demonstration" (Salimans and Chen 2018):

- **environment** (:class:`FlopEnv`): an episode of a training problem with a proof of
  ``n`` steps starts from the state after the proof's first ``t`` actions (replayed) and
  ends when the tableau closes (reward 1), when the current goal has no legal action, after
  ``max_steps`` steps, or once the proof so far is ``proof_slack`` steps longer than the
  known proof (FLoP's ``known_proof_max_exploration``; reward 0 for all of these). A problem
  without a proof starts at the root and ends after ``max_steps`` at the latest.
- **curriculum** (:class:`Curriculum`, one per training problem, FLoP's "local" schedule):
  ``t`` starts at ``n - 1`` (one step to go). After each episode the success rate, a moving
  average ``r <- decay * r + (1 - decay) * success``, is updated; once it exceeds
  ``advance_at``, or after ``stage_episodes`` episodes at this start, ``t`` moves one step
  back toward the root and the rate and the count restart at 0. At ``t = 0`` it stays.
- **features** (:class:`FlopFeatures`): rlCoP-style, hashed. The symbols and term walks of
  a literal (:func:`palestra.prove.features.literal_features`) are hashed by ``crc32`` into
  ``dim`` columns, separately for the current goal, the path (summed), the other open goals
  (the nearest ``TODO_WINDOW``, summed) and, per action, the literal connected to and the
  rest of its clause (an extension, as written in the matrix) or the path literal (a
  reduction); counts are squashed by ``log1p``. A few numbers follow: path depth, open
  goals, legal actions; kind, length and groundness of the action's clause.
- **agent** (:class:`FlopNet`): the state's features go through a two-layer MLP, each
  action's through one layer; an action's logit is an MLP of both (and their product), the
  value a linear head on the state's; a softmax over the legal actions is the policy.
- **learner**: PPO (clipped surrogate, GAE, entropy bonus, Adam) on batches of whole
  episodes, ``batch_steps`` steps or more each.

FLoP's defaults (its RA-1 experiment): decay 0.6, advance at 0.9, 20,000 episodes per stage,
40 steps per episode, no slack beyond the proof's length, discount 0.95, entropy 0.01.
Departures: a smaller network (hidden 64, 256 columns per part; FLoP: 3x512 on 1,024) and a
larger learning rate, so that a CPU run of minutes learns something; the training proof is
found by Palestra's own prover (``proof="auto"``) rather than shipped.

A training run lives in a run directory (:class:`palestra.core.runs.Run`, name ``flop``)::

    problems.json         the training problems and their proofs' lengths
    checkpoints/          network, optimiser, curricula, random state: ``--resume``
    models/step_<N>.pt    the network every ``snapshot_every`` steps; model.pt the last
    metrics.jsonl         per update: steps, episodes, success rate, curriculum starts, losses
    proofs.jsonl          proofs found from the root during training, each checked

Evaluation (:func:`prove_file`, :func:`evaluate`): one greedy attempt, then attempts that
sample the policy until the time limit, each up to ``max_steps`` steps; a proof counts only
after :func:`palestra.prove.checker.check` accepted it.

What it does not do: FLoP's "no proof" experiments on M2k, its MCTS evaluation, its
lemma-aware fCoP calculus (rlCoP's world has no lemma step), Ray rollouts (attempts in
evaluation run on :mod:`palestra.core.jobs`; training is one process).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from palestra.core.errors import PalestraError
from palestra.core.runs import Run, atomic_write_bytes
from palestra.prove.attempt import ProofAttempt, room_to_pickle
from palestra.prove.features import literal_features
from palestra.prove.flop_config import FlopConfig, FlopEvalConfig
from palestra.prove.proof import ConnectionProof
from palestra.prove.world import Action, ConnectionState, connection_world

__all__ = [
    "DEFAULT_TRAIN",
    "Curriculum",
    "FlopEnv",
    "FlopFeatures",
    "FlopNet",
    "TrainingProblem",
    "evaluate",
    "find_proof",
    "load_agent",
    "proof_actions",
    "prove_file",
    "replay",
    "train",
]

DEFAULT_TRAIN = "robinson_1m1__1"  # 1 * 1 = 1 in RA-1 (robinson/simple/final)
TODO_WINDOW = 16  # open goals (besides the current one) whose features are summed
_CACHE_MAX = 100_000


# ---------------------------------------------------------------------------------------
# the training proof: found by Palestra's prover, turned into world actions


def proof_actions(state: ConnectionState, proof: ConnectionProof) -> list[Action]:
    """The world actions of ``proof`` (a proof of ``state``'s matrix), in proof order.

    Extensions map to the world's entry of (clause, connected literal), reductions to
    their path position; a lemma step has no world action (a :class:`PalestraError`).
    """
    cm = state.problem.cm
    entry_of: dict[tuple[int, int], int] = {}
    for e, (c, i) in enumerate(cm.entries):
        entry_of[(cm.source[c], i)] = e
    out: list[Action] = []
    for step in proof.steps():
        if step.rule == "extension":
            key = (step.clause, step.connected)
            if key not in entry_of:
                raise PalestraError(f"proof step {step.id}: clause {step.clause} not in the matrix")
            out.append(Action("ext", entry_of[key]))  # type: ignore[index]
        elif step.rule == "reduction":
            out.append(Action("red", int(step.ancestor)))  # type: ignore[arg-type]
        else:
            raise PalestraError(
                f"proof step {step.id} is a lemma step, which rlCoP's world has no action for; "
                "supply a proof without lemmata"
            )
    return out


def replay(start: ConnectionState, actions: Iterable[Action]) -> ConnectionState:
    """The state after ``actions`` from ``start`` (left unchanged); an illegal one is an
    error naming its position."""
    st = start.clone()
    for k, a in enumerate(actions):
        if a not in st.legal_actions():
            raise PalestraError(f"proof action {k} ({a}) is not legal in the world")
        st.apply(a)
    return st


def find_proof(path: Path, settings: str, seconds: float) -> ConnectionProof:
    """A proof of ``path`` by Palestra's prover (``settings`` as its one strategy, the
    world's clausal form), checked; a one-line error when none is found in time."""
    from palestra.prove.run import prove_paths

    (result,) = prove_paths([path], strategy=settings, time_limit=seconds, jobs=1)
    if not result.proved or result.proof is None:
        raise PalestraError(
            f"{path}: Palestra's prover found no proof with {settings} in {seconds:g} s "
            f"({result.status}); pass a proof folder or another training problem"
        )
    return ConnectionProof.from_dict(result.proof)


def _read_proof(folder: Path, name: str) -> ConnectionProof:
    path = folder / f"{name}.json"
    if not path.exists():
        raise PalestraError(f"{path}: no proof of {name} in the proof folder")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return ConnectionProof.from_dict(record.get("proof", record))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise PalestraError(f"{path}: not a proof JSON ({e})") from None


@dataclass
class TrainingProblem:
    """A training problem: its start state and, when known, the proof's actions."""

    path: Path
    start: ConnectionState
    proof: list[Action] | None


def training_problems(cfg: FlopConfig) -> list[TrainingProblem]:
    """The training problems of ``cfg`` with their proofs (replayed to a closed tableau)."""
    from palestra.core.data import locate

    files = list(cfg.train)
    if not files:
        files = [locate("flop-robinson") / "simple" / "final" / f"{DEFAULT_TRAIN}.p"]
    out = []
    for f in files:
        f = Path(f)
        if not f.is_file():
            raise PalestraError(f"{f}: no such training problem")
        start = connection_world(path=f, settings=cfg.settings, max_depth=cfg.max_depth)
        actions = None
        if cfg.proof != "none":
            if cfg.proof == "auto":
                proof = find_proof(f, cfg.settings, cfg.proof_seconds)
            else:
                proof = _read_proof(Path(cfg.proof), f.stem)
            actions = proof_actions(start, proof)
            if not replay(start, actions).is_proved():
                raise PalestraError(f"{f}: the proof does not close the tableau in the world")
        out.append(TrainingProblem(f, start, actions))
    return out


# ---------------------------------------------------------------------------------------
# features


class FlopFeatures:
    """Hashed feature vectors of states and actions (see the module docstring).

    Literal vectors are cached by the resolved literal, an extension's by its entry, a
    path's sums by the path node once everything on it is ground (a ground literal no
    longer changes).
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.state_size = 3 * dim + 3
        self.action_size = 2 * dim + 3
        self._lits: dict[tuple, Any] = {}
        self._problem: object = None
        self._entries: dict[int, Any] = {}
        self._paths: dict[int, tuple[tuple, Any]] = {}

    def _lit(self, lit: tuple, part: str) -> tuple[Any, bool]:
        import numpy as np

        key = (part, lit)
        got = self._lits.get(key)
        if got is None:
            if len(self._lits) > _CACHE_MAX:
                self._lits.clear()
            v = np.zeros(self.dim, dtype=np.float32)
            for f, c in literal_features(lit, part).items():
                v[zlib.crc32(f.encode("utf-8")) % self.dim] += c
            got = self._lits[key] = (v, _ground(lit))
        return got

    def _reset(self, problem: object) -> None:
        if self._problem is not problem:
            self._problem = problem
            self._entries = {}
            self._paths = {}

    def _path(self, state: ConnectionState) -> Any:
        import numpy as np

        f = state.frames
        p = f[3] if f is not None else None
        todo = []
        total = np.zeros(self.dim, dtype=np.float32)
        while p is not None:
            hit = self._paths.get(id(p))
            if hit is not None and hit[0] is p:
                total = hit[1]
                break
            todo.append(p)
            p = p[3]
        ground = True
        for p in reversed(todo):
            v, g = self._lit(state.resolve_lit(p[0], p[1]), "p")
            total = total + v
            ground = ground and g
            if ground:
                if len(self._paths) > _CACHE_MAX:
                    self._paths.clear()
                self._paths[id(p)] = (p, total)  # the node is kept: its id stays valid
        return total

    def state(self, state: ConnectionState) -> Any:
        """The state's vector: goal, path, open goals (log1p of hashed counts), 3 numbers."""
        import numpy as np

        self._reset(state.problem)
        out = np.zeros(self.state_size, dtype=np.float32)
        d = self.dim
        f = state.frames
        if f is not None:
            out[:d] = self._lit(state.resolve_lit(f[0][f[1]], f[2]), "g")[0]
            out[d : 2 * d] = self._path(state)
            todo = out[2 * d : 3 * d]
            n, first = 0, True
            while f is not None and n < TODO_WINDOW:
                lits, j, off = f[0], f[1], f[2]
                for lit in lits[j + 1 if first else j :]:
                    if n == TODO_WINDOW:
                        break
                    todo += self._lit(state.resolve_lit(lit, off), "t")[0]
                    n += 1
                first = False
                f = f[4]
            np.log1p(out[: 3 * d], out=out[: 3 * d])
        out[3 * d] = math.log1p(state.depth())
        out[3 * d + 1] = math.log1p(state.open_goals())
        out[3 * d + 2] = math.log1p(len(state.legal_actions()))
        return out

    def action(self, state: ConnectionState, action: Action) -> Any:
        """One action's vector: connected literal, rest of its clause, kind/length/ground."""
        import numpy as np

        self._reset(state.problem)
        d = self.dim
        if action.kind == "ext":
            got = self._entries.get(action.ref)
            if got is None:
                lits = state.action_lits(action)
                got = np.zeros(self.action_size, dtype=np.float32)
                got[:d] = self._lit(lits[0], "ac")[0]
                for lit in lits[1:]:
                    got[d : 2 * d] += self._lit(lit, "ar")[0]
                np.log1p(got[: 2 * d], out=got[: 2 * d])
                got[2 * d] = 1.0
                got[2 * d + 1] = math.log1p(len(lits))
                got[2 * d + 2] = float(state.problem.entry[action.ref][2])
                self._entries[action.ref] = got
            return got
        out = np.zeros(self.action_size, dtype=np.float32)
        lits = state.action_lits(action)
        if lits:
            out[:d] = np.log1p(self._lit(lits[0], "ap")[0])
        return out

    def actions(self, state: ConnectionState, actions: list[Action]) -> Any:
        import numpy as np

        return np.stack([self.action(state, a) for a in actions])


def _ground(t: Any) -> bool:
    stack = [t]
    while stack:
        t = stack.pop()
        if type(t) is int:
            return False
        stack.extend(t[1:])
    return True


# ---------------------------------------------------------------------------------------
# the network


def _net_class() -> type:
    import torch
    from torch import nn

    class FlopNet(nn.Module):
        """Policy logits over a state's legal actions and the state's value."""

        def __init__(self, state_size: int, action_size: int, hidden: int) -> None:
            super().__init__()
            self.sizes = (state_size, action_size, hidden)
            self.state_net = nn.Sequential(
                nn.Linear(state_size, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
            )
            self.action_net = nn.Sequential(nn.Linear(action_size, hidden), nn.ReLU())
            self.score = nn.Sequential(
                nn.Linear(3 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1)
            )
            self.value_head = nn.Linear(hidden, 1)

        def forward(self, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """``s`` [B, S], ``a`` [B, N, A]: logits [B, N] and values [B]."""
            hs = self.state_net(s)
            ha = self.action_net(a)
            hsx = hs.unsqueeze(1).expand_as(ha)
            logits = self.score(torch.cat([hsx, ha, hsx * ha], dim=-1)).squeeze(-1)
            return logits, self.value_head(hs).squeeze(-1)

    return FlopNet


def FlopNet(state_size: int, action_size: int, hidden: int) -> Any:
    """The network (built lazily so that importing this module does not import torch)."""
    return _net_class()(state_size, action_size, hidden)


# ---------------------------------------------------------------------------------------
# the curriculum and the environment


@dataclass
class Curriculum:
    """Where episodes of one problem start: after ``start`` actions of its proof."""

    start: int
    episodes: int = 0
    success: float = 0.0
    decay: float = 0.6
    advance_at: float = 0.9
    stage_episodes: int = 20_000
    advances: list[int] = field(default_factory=list)  # episode counts at which it moved

    def record(self, solved: bool, total_episodes: int = 0) -> bool:
        """Count an episode's outcome; True when the start moved one step back."""
        self.episodes += 1
        self.success = self.decay * self.success + (1.0 - self.decay) * float(solved)
        if self.start > 0 and (
            self.success > self.advance_at or self.episodes >= self.stage_episodes
        ):
            self.start -= 1
            self.episodes = 0
            self.success = 0.0
            self.advances.append(total_episodes)
            return True
        return False


class FlopEnv:
    """Episodes on the training problems: start state (by the curriculum), step, outcome."""

    def __init__(self, problems: list[TrainingProblem], cfg: FlopConfig) -> None:
        self.problems = problems
        self.cfg = cfg
        self.curricula = [
            Curriculum(
                max(len(p.proof) - 1, 0) if p.proof else 0,
                decay=cfg.success_decay,
                advance_at=cfg.advance_at,
                stage_episodes=cfg.stage_episodes,
            )
            for p in problems
        ]
        self._starts: dict[tuple[int, int], ConnectionState] = {}

    def start(self, index: int) -> tuple[ConnectionState, int]:
        """A fresh start state of problem ``index`` and the episode's step limit."""
        p = self.problems[index]
        t = self.curricula[index].start if p.proof else 0
        key = (index, t)
        if key not in self._starts:
            self._starts = {key: replay(p.start, (p.proof or [])[:t])}
        limit = self.cfg.max_steps
        if p.proof:
            limit = min(limit, len(p.proof) - t + self.cfg.proof_slack)
        return self._starts[key].clone(), max(limit, 1)

    def state_dict(self) -> list[dict[str, Any]]:
        return [dataclasses.asdict(c) for c in self.curricula]

    def load_state_dict(self, saved: list[dict[str, Any]]) -> None:
        self.curricula = [Curriculum(**c) for c in saved]


# ---------------------------------------------------------------------------------------
# acting


def _policy(net: Any, feats: FlopFeatures, state: ConnectionState) -> tuple[Any, Any, float]:
    """The state's vector, its actions' matrix, the action probabilities, the value."""
    import torch

    s = feats.state(state)
    a = feats.actions(state, state.legal_actions())
    with torch.no_grad():
        logits, value = net(torch.from_numpy(s)[None], torch.from_numpy(a)[None])
        probs = torch.softmax(logits[0], dim=0).numpy()
    return (s, a), probs, float(value[0])


def _choose(probs: Any, rng: random.Random | None) -> int:
    if rng is None:
        return int(probs.argmax())
    x = rng.random()
    acc = 0.0
    for i, p in enumerate(probs):
        acc += float(p)
        if x < acc:
            return i
    return len(probs) - 1


@dataclass
class Episode:
    """One episode's steps (inputs, choice, log-probability, value) and outcome."""

    problem: int
    start: int
    inputs: list[tuple[Any, Any]] = field(default_factory=list)
    choices: list[int] = field(default_factory=list)
    logps: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    solved: bool = False
    final: ConnectionState | None = None


def run_episode(
    net: Any, feats: FlopFeatures, env: FlopEnv, index: int, rng: random.Random
) -> Episode:
    """One sampled episode of training problem ``index`` from its curriculum's start."""
    state, limit = env.start(index)
    ep = Episode(index, env.curricula[index].start if env.problems[index].proof else 0)
    for _ in range(limit):
        if state.is_proved() or not state.legal_actions():
            break
        inputs, probs, value = _policy(net, feats, state)
        k = _choose(probs, rng)
        ep.inputs.append(inputs)
        ep.choices.append(k)
        ep.logps.append(math.log(max(float(probs[k]), 1e-12)))
        ep.values.append(value)
        state.apply(state.legal_actions()[k])
    ep.solved = state.is_proved()
    ep.final = state
    return ep


# ---------------------------------------------------------------------------------------
# learning


def _advantages(ep: Episode, gamma: float, lam: float) -> tuple[list[float], list[float]]:
    """GAE advantages and returns; reward 1 at the last step of a solved episode."""
    n = len(ep.choices)
    adv = [0.0] * n
    ret = [0.0] * n
    gae = 0.0
    for k in reversed(range(n)):
        reward = 1.0 if (ep.solved and k == n - 1) else 0.0
        nxt = ep.values[k + 1] if k + 1 < n else 0.0  # every episode ends terminal
        delta = reward + gamma * nxt - ep.values[k]
        gae = delta + gamma * lam * gae
        adv[k] = gae
        ret[k] = gae + ep.values[k]
    return adv, ret


def ppo_update(
    net: Any, opt: Any, episodes: list[Episode], cfg: FlopConfig, rng: random.Random
) -> dict[str, float]:
    """PPO epochs over the steps of ``episodes``; the mean losses."""
    import numpy as np
    import torch

    steps = []
    for ep in episodes:
        adv, ret = _advantages(ep, cfg.gamma, cfg.lam)
        for k in range(len(ep.choices)):
            steps.append((ep.inputs[k], ep.choices[k], ep.logps[k], adv[k], ret[k]))
    if not steps:
        return {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0}
    advs = np.asarray([s[3] for s in steps], dtype=np.float32)
    mean, std = float(advs.mean()), float(advs.std()) + 1e-8
    totals = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0}
    batches = 0
    order = list(range(len(steps)))
    for _ in range(cfg.epochs):
        rng.shuffle(order)
        for b in range(0, len(order), cfg.minibatch):
            idx = order[b : b + cfg.minibatch]
            n_max = max(steps[i][0][1].shape[0] for i in idx)
            a = np.zeros((len(idx), n_max, feats_size(steps[idx[0]])), dtype=np.float32)
            mask = np.zeros((len(idx), n_max), dtype=bool)
            for r, i in enumerate(idx):
                m = steps[i][0][1]
                a[r, : m.shape[0]] = m
                mask[r, : m.shape[0]] = True
            s = torch.from_numpy(np.stack([steps[i][0][0] for i in idx]))
            logits, values = net(s, torch.from_numpy(a))
            logits = logits.masked_fill(~torch.from_numpy(mask), -1e9)
            logp_all = torch.log_softmax(logits, dim=1)
            choice = torch.tensor([steps[i][1] for i in idx])
            logp = logp_all.gather(1, choice[:, None]).squeeze(1)
            old = torch.tensor([steps[i][2] for i in idx], dtype=torch.float32)
            adv = (torch.tensor([steps[i][3] for i in idx]) - mean) / std
            ret = torch.tensor([steps[i][4] for i in idx], dtype=torch.float32)
            ratio = torch.exp(logp - old)
            surrogate = torch.min(ratio * adv, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * adv)
            policy_loss = -surrogate.mean()
            value_loss = ((values - ret) ** 2).mean()
            p_all = torch.softmax(logits, dim=1)
            entropy = -(p_all * logp_all).masked_fill(~torch.from_numpy(mask), 0).sum(1).mean()
            loss = policy_loss + cfg.value_coef * value_loss - cfg.entropy * entropy
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 0.5)
            opt.step()
            totals["policy_loss"] += policy_loss.item()
            totals["value_loss"] += value_loss.item()
            totals["entropy"] += entropy.item()
            batches += 1
    return {k: v / max(batches, 1) for k, v in totals.items()}


def feats_size(step: tuple) -> int:
    return int(step[0][1].shape[1])


# ---------------------------------------------------------------------------------------
# the training loop


def _model_blob(net: Any, cfg: FlopConfig, steps: int) -> dict[str, Any]:
    return {
        "state_dict": net.state_dict(),
        "sizes": list(net.sizes),
        "dim": cfg.dim,
        "settings": cfg.settings,
        "max_depth": cfg.max_depth,
        "steps": steps,
    }


def _save_model(path: Path, blob: dict[str, Any]) -> None:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(blob, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _append(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def train(
    cfg: FlopConfig,
    *,
    problems: list[TrainingProblem] | None = None,
    stop_after: int | None = None,
    on_update: Callable[[dict[str, float]], None] | None = None,
) -> Path:
    """Train a FLoP agent; returns the run directory.

    ``problems`` replaces the training problems of ``cfg`` (already with their proofs);
    ``stop_after`` returns after that many PPO updates in this call (checkpointed: a
    ``resume`` continues exactly there). ``cfg.steps`` is not part of the recorded config,
    so a finished run continues to a larger ``steps`` with ``resume``.
    """
    import torch

    torch.set_num_threads(1)
    problems = training_problems(cfg) if problems is None else problems
    with Run.open("flop", cfg, seed=cfg.seed, root=cfg.runs, resume=cfg.resume) as run:
        torch.manual_seed(cfg.seed)
        feats = FlopFeatures(cfg.dim)
        net = FlopNet(feats.state_size, feats.action_size, cfg.hidden)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
        env = FlopEnv(problems, cfg)
        rng = random.Random(cfg.seed)
        steps = updates = episodes = root_proofs = 0
        ck = run.load_checkpoint() if run.resumed else None
        if ck is not None:
            state = ck[1]
            net.load_state_dict(state["net"])
            opt.load_state_dict(state["opt"])
            env.load_state_dict(state["curricula"])
            rng.setstate(state["rng"])
            torch.set_rng_state(state["torch_rng"])
            steps, updates = state["steps"], state["updates"]
            episodes, root_proofs = state["episodes"], state["root_proofs"]
        else:
            (run.dir / "proofs.jsonl").unlink(missing_ok=True)
        run.write_json(
            "problems.json",
            [
                {"problem": p.path.stem, "file": str(p.path), "proof_steps": len(p.proof or [])}
                for p in problems
            ],
        )
        (run.dir / "models").mkdir(exist_ok=True)
        done_here = 0
        bar = None
        if cfg.progress:
            from palestra.core.progress import progress_bar

            bar = progress_bar("flop training steps", cfg.steps)
        tick = bar.__enter__() if bar is not None else None
        try:
            if tick is not None:
                for _ in range(min(steps, cfg.steps)):
                    tick()
            while steps < cfg.steps and (stop_after is None or done_here < stop_after):
                batch: list[Episode] = []
                n = 0
                solved = 0
                while n < cfg.batch_steps:
                    index = rng.randrange(len(problems))
                    ep = run_episode(net, feats, env, index, rng)
                    episodes += 1
                    env.curricula[index].record(ep.solved, episodes)
                    batch.append(ep)
                    n += max(len(ep.choices), 1)
                    solved += ep.solved
                    if ep.solved and ep.start == 0:
                        root_proofs += 1
                        assert ep.final is not None
                        _proof, verdict = checked_proof(ep.final)
                        _append(
                            run.dir / "proofs.jsonl",
                            {
                                "step": steps + n,
                                "problem": problems[index].path.stem,
                                "length": ep.final.inferences,
                                "checked": verdict.accepted,
                            },
                        )
                losses = ppo_update(net, opt, batch, cfg, rng)
                before = steps
                steps += n
                updates += 1
                done_here += 1
                metrics = {
                    "episodes": float(episodes),
                    "success": solved / len(batch),
                    "episode_steps": n / len(batch),
                    "curriculum_start": sum(c.start for c in env.curricula) / len(env.curricula),
                    "root_proofs": float(root_proofs),
                    **losses,
                }
                run.log(steps, **metrics)
                if on_update is not None:
                    on_update({"steps": float(steps), **metrics})
                if tick is not None:
                    for _ in range(min(steps, cfg.steps) - min(before, cfg.steps)):
                        tick()
                for mark in range(
                    (before // cfg.snapshot_every + 1) * cfg.snapshot_every,
                    steps + 1,
                    cfg.snapshot_every,
                ):
                    path = run.dir / "models" / f"step_{mark:09d}.pt"
                    _save_model(path, _model_blob(net, cfg, steps))
                if updates % cfg.checkpoint_every == 0 or steps >= cfg.steps:
                    _save_model(run.dir / "model.pt", _model_blob(net, cfg, steps))
                    run.save_checkpoint(
                        steps,
                        {
                            "net": net.state_dict(),
                            "opt": opt.state_dict(),
                            "curricula": env.state_dict(),
                            "rng": rng.getstate(),
                            "torch_rng": torch.get_rng_state(),
                            "steps": steps,
                            "updates": updates,
                            "episodes": episodes,
                            "root_proofs": root_proofs,
                        },
                    )
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
        run.write_json(
            "summary.json",
            {
                "steps": steps,
                "updates": updates,
                "episodes": episodes,
                "root_proofs": root_proofs,
                "curricula": env.state_dict(),
            },
        )
        return run.dir


# ---------------------------------------------------------------------------------------
# proving with a trained agent


def _deep(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a thread with a large stack and recursion limit: building and
    checking a proof recurse once per tableau level, and FLoP's proofs can be thousands of
    levels deep (the limit is restored after)."""
    import sys
    import threading

    out: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            out.append(fn(*args))
        except BaseException as e:  # handed to the caller
            errors.append(e)

    old_limit, old_size = sys.getrecursionlimit(), threading.stack_size()
    sys.setrecursionlimit(max(old_limit, 200_000))
    threading.stack_size(1 << 30)
    try:
        t = threading.Thread(target=target)
        t.start()
        t.join()
    finally:
        threading.stack_size(old_size)
        sys.setrecursionlimit(old_limit)
    if errors:
        raise errors[0]
    return out[0]


def checked_proof(state: ConnectionState) -> tuple[ConnectionProof, Any]:
    """The closed tableau of ``state`` as a proof, and the checker's verdict on it."""
    from palestra.prove.checker import check

    def both() -> tuple[ConnectionProof, Any]:
        proof = state.proof()
        return proof, check(state.problem.matrix, proof)

    return _deep(both)


_AGENTS: dict[str, tuple[Any, FlopFeatures, dict[str, Any]]] = {}


def model_file(model: str | Path) -> Path:
    """A model file: itself, or a run directory's ``model.pt``."""
    path = Path(model)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise PalestraError(f"{model}: no FLoP model (a flop run directory or a .pt file)")
    return path


def load_agent(model: str | Path) -> tuple[Any, FlopFeatures, dict[str, Any]]:
    """The network, its featurizer and its settings (cached per process)."""
    import torch

    path = model_file(model)
    key = str(path.resolve())
    if key not in _AGENTS:
        blob = torch.load(path, map_location="cpu", weights_only=False)
        feats = FlopFeatures(blob["dim"])
        net = FlopNet(*blob["sizes"])
        net.load_state_dict(blob["state_dict"])
        net.eval()
        _AGENTS[key] = (net, feats, blob)
    return _AGENTS[key]


def prove_file(
    path: str | Path,
    model: str | Path,
    *,
    time_limit: float = 10.0,
    max_steps: int = 100_000,
    seed: int = 0,
    greedy_only: bool = False,
) -> ProofAttempt:
    """Prove one problem with a trained agent: a greedy attempt, then sampled attempts
    until ``time_limit`` seconds; a found proof is returned only after the checker."""
    import torch

    torch.set_num_threads(1)
    path = Path(path)
    t0 = time.perf_counter()
    net, feats, blob = load_agent(model)
    start = connection_world(path=path, settings=blob["settings"], max_depth=blob["max_depth"])
    rng = random.Random((seed * 1_000_003 + zlib.crc32(path.stem.encode())) % 2**31)
    inferences = attempts = 0
    found: ConnectionState | None = None
    deadline = t0 + time_limit
    while found is None and time.perf_counter() < deadline:
        state = start.clone()
        greedy = attempts == 0
        attempts += 1
        for _ in range(max_steps):
            if state.is_proved() or not state.legal_actions():
                break
            if time.perf_counter() >= deadline:
                break
            _inputs, probs, _v = _policy(net, feats, state)
            state.apply(state.legal_actions()[_choose(probs, None if greedy else rng)])
        inferences += state.inferences
        if state.is_proved():
            found = state
        if greedy_only:
            break
    seconds = round(time.perf_counter() - t0, 3)
    result = ProofAttempt(
        problem=path.stem,
        file=str(path),
        status="Theorem" if found else "GaveUp",
        inferences=inferences,
        seconds=seconds,
        playouts=attempts,
        guided=True,
    )
    if found is not None:
        proof, verdict = checked_proof(found)
        result = dataclasses.replace(
            result,
            checked=verdict.accepted,
            proof=_deep(proof.to_dict),
            big_steps=found.inferences,  # the proof's length (steps of the tableau)
        )
        if not verdict.accepted:
            result = dataclasses.replace(result, error=verdict.reason).rejected()
    return result


def proof_length(result: ProofAttempt) -> int | None:
    """Steps of a found proof (extensions and reductions), None when there is none."""
    if not result.proved or result.proof is None:
        return None
    return len(_deep(ConnectionProof.from_dict, result.proof).steps())


def evaluate(
    files: list[Path],
    model: str | Path,
    *,
    time_limit: float = 10.0,
    max_steps: int = 100_000,
    jobs: int = 1,
    seed: int = 0,
    greedy_only: bool = False,
    progress: str | None = None,
) -> list[ProofAttempt]:
    """:func:`prove_file` on every file, ``jobs`` in parallel (forked jobs with a deadline:
    a problem whose job dies or overruns is ``Error``/``Timeout``); results in input order."""
    from palestra.core.jobs import run_jobs

    load_agent(model)  # loaded here once, inherited by every fork

    def one(f: Path) -> ProofAttempt:
        r = prove_file(
            f, model, time_limit=time_limit, max_steps=max_steps, seed=seed, greedy_only=greedy_only
        )
        if jobs > 1 and r.proof is not None and not room_to_pickle(r.proof):
            r = dataclasses.replace(r, proof=None)  # too deep to send back; big_steps stays
        return r

    out: list[ProofAttempt | None] = [None] * len(files)
    if jobs <= 1:
        for i, f in enumerate(files):
            out[i] = one(f)
        return out  # type: ignore[return-value]
    for r in run_jobs(one, files, workers=jobs, deadline_s=time_limit + 60.0, progress=progress):
        f = files[r.key]
        out[r.key] = (
            r.value
            if r.ok
            else ProofAttempt(
                f.stem, str(f), "Timeout" if r.status == "timeout" else "Error", error=r.error
            )
        )
    return out  # type: ignore[return-value]


def run_prove_flop(cfg: FlopEvalConfig) -> int:
    """``palestra prove-flop``: SZS lines (or JSON) per problem; exit 0."""
    import typer

    from palestra.core.data import problem_files

    target = Path(cfg.problems)
    if target.is_dir():
        files = problem_files("flop-robinson", target, sample=cfg.sample, seed=cfg.seed)
    elif target.is_file():
        files = [target]
    else:
        raise PalestraError(f"{target}: no such file or folder")
    model_file(cfg.model)
    results = evaluate(
        files,
        cfg.model,
        time_limit=cfg.time_limit,
        max_steps=cfg.max_steps,
        jobs=cfg.jobs,
        seed=cfg.seed,
    )
    for r in results:
        if cfg.out is not None:
            _append(Path(cfg.out), r.to_json())
        if cfg.json:
            typer.echo(r.to_json_line())
        else:
            length = proof_length(r)
            extra = f", proof of {length} steps checked" if length else ""
            typer.echo(f"% SZS status {r.status} for {r.problem} ({r.seconds:.1f} s{extra})")
    solved = sum(r.proved for r in results)
    if not cfg.json:
        typer.echo(f"% {solved} of {len(results)} proved")
    return 0
