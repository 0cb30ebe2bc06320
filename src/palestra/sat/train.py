"""``palestra train sat``: train the literal-clause graph network on labelled SR(n) formulas.

The recipe of Jaszczur, Łuszczyk & Michalewski 2019, scaled to one CPU thread::

    data:  pairs SR(n), n ~ U[n_min, n_max], variant "hard" (or "neurosat", or "mixed": each
           pair either); both members labelled by MiniSat (satisfiable? and, per literal,
           satisfiable with that literal fixed true?); optionally more formulas per pair:
           `states`: formulas DPLL with JW-OS meets below the root, many of them
                     unsatisfiable (refuted branches);
           `paths`:  formulas on a random *correct* DPLL path of the satisfiable member (what
                     a heuristic meets while it is right) and, after each, the formula a wrong
                     pick there leaves (unsatisfiable: what it meets after a mistake)
           all renumbered 1..m and labelled the same way
    step:  both members of batch/4 pairs and batch/2 extra formulas (without extras: both
           members of batch/2 pairs), one graph;
           loss = sum over rounds of BCE(sat) + BCE(policy on satisfiable formulas)
                  + rank_weight * top-1 term on satisfiable formulas (softmax mass on the
                    literals that keep them satisfiable: the heuristic only uses its top pick)
                  + refute_weight * the same on unsatisfiable formulas towards JW-OS's pick;
           Adam, cosine decay to lr/10 after a short warm-up, gradient clipping

``init`` starts from a saved model of the same width and heads (a second stage of training;
it may run more or fewer rounds, which share their weights).
The labelled data is generated once (in ``workers`` processes; the same data for any count)
and cached as ``data.npz`` in the run directory, so a resumed run trains on exactly the same
formulas. 5% of the pairs are held out (their extra formulas are not trained on either); the
metrics of their members are logged (``val_*``) at every checkpoint. The final model is
written with safetensors to ``<run>/model/`` (``model.safetensors`` + ``config.json``), whose
path ``train`` returns.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from palestra.core.runs import Run, atomic_write_bytes
from palestra.models.sat_gnn import SatGNN, SatGNNConfig, SatGraph, build_graph
from palestra.sat.cnf import CNF
from palestra.sat.config import SatTrainConfig
from palestra.sat.dpll import solve_dpll
from palestra.sat.generators import LabeledCNF, generate_sr_pair, label
from palestra.sat.heuristics import BranchingView, JeroslowWang

__all__ = ["LabeledSet", "generate_dataset", "train"]


@dataclass
class LabeledSet:
    """Labelled formulas stored flat; formula ``2i`` and ``2i + 1`` are the SAT and UNSAT
    members of pair ``i``; search states, if any, follow the pairs."""

    num_vars: np.ndarray  # [F]
    clause_start: np.ndarray  # [F + 1] index into clause_len
    clause_len: np.ndarray  # [Cl]
    lit_start: np.ndarray  # [Cl + 1] index into lits
    lits: np.ndarray  # [E] DIMACS literals
    sat: np.ndarray  # [F] bool
    label_start: np.ndarray  # [F + 1] index into labels
    labels: np.ndarray  # [sum 2 n] bool, positives first per formula
    source: np.ndarray  # [F] the pair each formula comes from (search states too)

    def __len__(self) -> int:
        return int(self.num_vars.shape[0])

    def formula(self, i: int) -> tuple[int, list[list[int]]]:
        c0, c1 = int(self.clause_start[i]), int(self.clause_start[i + 1])
        starts = self.lit_start[c0 : c1 + 1]
        lits = self.lits[starts[0] : starts[-1]].tolist()
        base = int(starts[0])
        clauses = [lits[a - base : b - base] for a, b in itertools.pairwise(starts)]
        return int(self.num_vars[i]), clauses

    def batch(self, idx: np.ndarray) -> tuple[SatGraph, torch.Tensor, torch.Tensor]:
        """The graph of formulas ``idx`` with its sat labels ``[B]`` and literal labels."""
        g = build_graph([self.formula(int(i)) for i in idx])
        sat = torch.from_numpy(self.sat[idx].astype(np.float32))
        start = self.label_start
        lab = np.concatenate([self.labels[start[i] : start[i + 1]] for i in idx])
        return g, sat, torch.from_numpy(lab.astype(np.float32))

    def save(self, path: Path) -> None:
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, **{k: getattr(self, k) for k in self.__dataclass_fields__})
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: Path) -> LabeledSet:
        with np.load(path) as z:
            return cls(**{k: z[k] for k in cls.__dataclass_fields__})


class _Recorder:
    """A JW-OS heuristic that keeps a copy of every formula it is asked about."""

    def __init__(self) -> None:
        self.jw = JeroslowWang()
        self.formulas: list[list[list[int]]] = []

    def pick(self, view: BranchingView) -> int:
        self.formulas.append([list(c) for c in view.clauses()])
        return self.jw.pick(view)


def _renumbered(clauses: list[list[int]]) -> CNF:
    """``clauses`` with their variables renumbered ``1..m`` in ascending order: the formula
    the network is shown (``palestra.sat.neural.score_formula`` does the same)."""
    variables = sorted({abs(x) for c in clauses for x in c})
    new = {v: j + 1 for j, v in enumerate(variables)}
    return CNF(len(variables), [[new[x] if x > 0 else -new[-x] for x in c] for c in clauses])


def _search_states(cnf: CNF, k: int, rng: np.random.Generator) -> list[CNF]:
    """Up to ``k`` formulas met by DPLL with JW-OS below the root, variables renumbered
    ``1..m``: the kind of formula the heuristic is asked about during a search."""
    rec = _Recorder()
    solve_dpll(cnf, rec, max_steps=200)
    met = rec.formulas[1:]
    return [
        _renumbered(met[i])
        for i in sorted(rng.choice(len(met), size=min(k, len(met)), replace=False))
    ]


def _path_states(cnf: CNF, k: int, rng: np.random.Generator) -> list[tuple[CNF, LabeledCNF | None]]:
    """Formulas on a random *correct* DPLL path of satisfiable ``cnf``, and their refuted
    siblings: the formulas a branching heuristic meets when it is right, and just after its
    first mistake.

    The path starts at the root and, after unit propagation and pure literals (as DPLL
    does them), sets a random literal of a model ``M`` of the formula (a pure literal against
    ``M`` flips ``M`` there, which keeps it a model), until the formula is empty. ``k``
    formulas of the path, at random depths, are returned, and after each of them the formula
    that setting a literal *against* every model (a wrong pick) and propagating leaves, when
    propagation does not already refute it. Variables are renumbered ``1..m``.
    """
    from pysat.solvers import Minisat22

    from palestra.sat.dpll import _propagate, _restrict

    with Minisat22(bootstrap_with=cnf.clauses) as solver:
        if not solver.solve():
            return []
        model = {abs(x): x for x in solver.get_model() or ()}
    path: list[list[list[int]]] = []
    formula = [list(c) for c in cnf.clauses]
    while True:
        formula, trail, conflict = _propagate(formula, ())
        if conflict:  # cannot happen on a model's path; stop rather than loop
            break
        for lit in trail:
            model[abs(lit)] = lit
        if not formula:
            break
        path.append(formula)
        free = sorted({abs(x) for c in formula for x in c})
        var = free[int(rng.integers(len(free)))]
        formula = _restrict(formula, {model[var]})
    out: list[tuple[CNF, LabeledCNF | None]] = []
    for i in sorted(rng.choice(len(path), size=min(k, len(path)), replace=False)):
        state = _renumbered(path[i])
        lab = label(state)
        out.append((state, lab))
        wrong = np.argwhere(~lab.literal_sat)  # [w, 2] rows (sign, variable index)
        if len(wrong):
            sign, v = wrong[int(rng.integers(len(wrong)))]
            lit = int(v) + 1 if sign == 0 else -(int(v) + 1)
            child, _, conflict = _propagate(_restrict(state.clauses, {lit}), ())
            if not conflict and child:
                out.append((_renumbered(child), None))
    return out


_Labelled = tuple[int, CNF, bool, np.ndarray]  # (pair, formula, satisfiable, literal labels)


def _pairs_chunk(args: tuple) -> tuple[list[_Labelled], list[_Labelled]]:
    """Pairs ``first .. first + count - 1`` labelled: both members, and their extra states;
    chunk ``c`` draws from ``default_rng([seed, c])`` whichever process runs it."""
    first, count, n_min, n_max, variant, seed, chunk, states, paths = args
    rng = np.random.default_rng([seed, chunk])
    members: list[tuple[int, CNF, LabeledCNF | None]] = []
    extra: list[tuple[int, CNF, LabeledCNF | None]] = []
    for i in range(first, first + count):
        n = int(rng.integers(n_min, n_max + 1))
        v = variant if variant != "mixed" else ("hard" if rng.random() < 0.5 else "neurosat")
        pair = generate_sr_pair(n, rng, v)  # type: ignore[arg-type]
        members += [(i, pair.sat, None), (i, pair.unsat, None)]
        if states:
            for cnf in (pair.sat, pair.unsat):
                extra += [(i, s, None) for s in _search_states(cnf, states, rng)]
        if paths:
            extra += [(i, s, lab) for s, lab in _path_states(pair.sat, paths, rng)]

    def labelled(fs: list[tuple[int, CNF, LabeledCNF | None]]) -> list[_Labelled]:
        out = []
        for i, cnf, lab in fs:
            lab = lab or label(cnf)
            out.append((i, cnf, lab.satisfiable, lab.literal_sat.reshape(-1)))
        return out

    return labelled(members), labelled(extra)


_CHUNK = 25  # pairs per generation task


def generate_dataset(
    pairs: int,
    n_min: int,
    n_max: int,
    variant: str,
    seed: int,
    states: int = 0,
    paths: int = 0,
    workers: int = 1,
) -> LabeledSet:
    """``pairs`` SR(n) pairs, ``n ~ U[n_min, n_max]``, both members labelled by MiniSat
    (formulas ``2i``, ``2i + 1``), followed by up to ``states`` labelled search states of each
    member (``_search_states``) and ``paths`` states of each satisfiable member's correct path
    with their refuted siblings (``_path_states``). ``source`` gives each formula's pair.

    Pairs are drawn and labelled in chunks of 25, chunk ``c`` from ``default_rng([seed, c])``,
    so the data is the same for any number of ``workers`` (processes).
    """
    tasks = [
        (c * _CHUNK, min(_CHUNK, pairs - c * _CHUNK), n_min, n_max, variant, seed, c, states, paths)
        for c in range((pairs + _CHUNK - 1) // _CHUNK)
    ]
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            chunks = pool.map(_pairs_chunk, tasks, chunksize=1)
    else:
        chunks = [_pairs_chunk(t) for t in tasks]
    formulas = [f for members, _ in chunks for f in members]
    formulas += [f for _, extra in chunks for f in extra]

    clause_len = np.asarray(
        [len(c) for _, cnf, _, _ in formulas for c in cnf.clauses], dtype=np.int32
    )
    lits = [x for _, cnf, _, _ in formulas for c in cnf.clauses for x in c]
    num_vars = [cnf.num_vars for _, cnf, _, _ in formulas]
    n_clauses = [len(cnf.clauses) for _, cnf, _, _ in formulas]
    return LabeledSet(
        num_vars=np.asarray(num_vars, dtype=np.int32),
        clause_start=np.concatenate([[0], np.cumsum(n_clauses)]).astype(np.int64),
        clause_len=clause_len,
        lit_start=np.concatenate([[0], np.cumsum(clause_len)]).astype(np.int64),
        lits=np.asarray(lits, dtype=np.int32),
        sat=np.asarray([s for _, _, s, _ in formulas], dtype=bool),
        label_start=np.concatenate([[0], np.cumsum([2 * n for n in num_vars])]).astype(np.int64),
        labels=np.concatenate([lab for _, _, _, lab in formulas]).astype(bool),
        source=np.asarray([i for i, _, _, _ in formulas], dtype=np.int32),
    )


def _lr(cfg: SatTrainConfig, step: int) -> float:
    warmup = min(100, cfg.steps // 10)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    t = (step - warmup) / max(1, cfg.steps - warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


@torch.no_grad()
def evaluate(
    model: SatGNN, data: LabeledSet, pairs: np.ndarray, batch_pairs: int, **loss_kw: float
) -> dict:
    """Mean metrics of the last round over the formulas of ``pairs`` (``loss_kw`` go to
    ``SatGNN.loss``)."""
    model.eval()
    totals: dict[str, float] = {}
    count = 0
    for k in range(0, len(pairs), batch_pairs):
        chunk = pairs[k : k + batch_pairs]
        idx = np.stack([2 * chunk, 2 * chunk + 1], axis=1).reshape(-1)
        g, sat, lab = data.batch(idx)
        _, m = model.loss(g, sat, lab, **loss_kw)
        for key, v in m.items():
            totals[key] = totals.get(key, 0.0) + v * len(chunk)
        count += len(chunk)
    model.train()
    return {f"val_{k}": v / max(count, 1) for k, v in totals.items()}


def train(cfg: SatTrainConfig) -> Path:
    """Train (or resume) a run; returns the folder of the final model."""
    torch.set_num_threads(cfg.threads)
    run = Run.open(cfg.run_name, cfg, seed=cfg.seed, root=cfg.runs_root, resume=cfg.resume)
    with run:
        data_path = run.dir / "data.npz"
        if data_path.exists():
            data = LabeledSet.load(data_path)
        else:
            t0 = time.time()
            data = generate_dataset(
                cfg.pairs,
                cfg.n_min,
                cfg.n_max,
                cfg.variant,
                cfg.seed,
                states=cfg.states,
                paths=cfg.paths,
                workers=cfg.workers,
            )
            data.save(data_path)
            print(f"generated {len(data)} labelled formulas in {time.time() - t0:.0f} s")

        torch.manual_seed(cfg.seed)
        model = SatGNN(SatGNNConfig(dim=cfg.dim, heads=cfg.heads, rounds=cfg.rounds))
        if cfg.init:
            start = SatGNN.from_pretrained(cfg.init)
            # Only the rounds may differ: they share their weights.
            if replace(start.cfg, rounds=cfg.rounds) != model.cfg:
                raise ValueError(f"{cfg.init}: architecture {start.cfg} differs from {model.cfg}")
            model.load_state_dict(start.state_dict())
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        n_pairs = cfg.pairs
        n_val = max(1, n_pairs // 20) if n_pairs >= 20 else 0
        val_pairs = np.arange(n_pairs - n_val, n_pairs)
        train_pairs = np.arange(n_pairs - n_val)
        states = np.flatnonzero(data.source[2 * n_pairs :] < n_pairs - n_val) + 2 * n_pairs
        n_states = min(cfg.batch_size // 2, len(states))
        half = (cfg.batch_size - n_states) // 2  # pairs per batch
        rng = np.random.default_rng(cfg.seed + 1)
        step = 0
        if run.resumed and (ckpt := run.load_checkpoint()) is not None:
            step, state = ckpt
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            rng.bit_generator.state = state["rng"]
            print(f"resumed {run.dir} at step {step}")

        loss_kw = {"rank_weight": cfg.rank_weight, "refute_weight": cfg.refute_weight}
        model.train()
        t_last = time.time()
        while step < cfg.steps:
            chunk = rng.choice(train_pairs, size=min(half, len(train_pairs)), replace=False)
            idx = np.stack([2 * chunk, 2 * chunk + 1], axis=1).reshape(-1)
            if n_states:
                idx = np.concatenate([idx, rng.choice(states, size=n_states, replace=False)])
            g, sat, lab = data.batch(idx)
            for group in opt.param_groups:
                group["lr"] = _lr(cfg, step)
            loss, metrics = model.loss(g, sat, lab, **loss_kw)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            if step % cfg.log_every == 0 or step == cfg.steps:
                now = time.time()
                metrics["lr"] = _lr(cfg, step - 1)
                metrics["sec_per_step"] = (now - t_last) / cfg.log_every
                t_last = now
                run.log(step, **metrics)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                if n_val:
                    run.log(step, **evaluate(model, data, val_pairs, half, **loss_kw))
                state = {
                    "model": model.state_dict(),
                    "opt": opt.state_dict(),
                    "rng": rng.bit_generator.state,
                }
                run.save_checkpoint(step, state)
        return model.save_pretrained(run.dir / "model")
