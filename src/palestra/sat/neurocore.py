"""Amortised neural guidance, after NeuroCore (Selsam & Bjørner 2019): of CaDiCaL 1.9.5
through python-sat's user propagator, and of this package's compiled CDCL through its own
guide hook (``solve_cdcl_guided``, the section at the end of this docstring).

NeuroCore queries a small network *periodically*, not at every decision: it predicts which
variables occur in an unsat core of the current formula and writes those scores into the
CDCL solver's VSIDS activities, which the solver then bumps and decays as usual. The
network's cost is thus paid a few times per run, and the solver's own heuristic keeps
working between queries.

**Mechanism.** python-sat's CaDiCaL does not expose its activities (nor do MiniSat's or
Glucose's bindings: only ``set_phases``). What it does expose is the IPASIR-UP user
propagator (whose ``decide`` may answer any decision) and ``conf_budget`` /
``solve_limited``. So ``solve_neurocore`` runs CaDiCaL in *chunks* of ``interval``
conflicts. The first chunk is CaDiCaL alone, so that a formula it solves within ``interval``
conflicts never pays for the network. A chunk ends with the solver back at level 0 (a
restart), and then::

    if queries < max_queries:
        F := the formula simplified by the root-level units the solver has fixed
        (core, phase) := network(F)                       one forward pass
        order := free variables by core score, best first; sign by phase score
        k := min(ceil(scale * sum_v core[v]), max_focus)  scale x the expected core size
        the propagator's decide() answers the first k decisions of the next chunk from
        `order` (skipping assigned variables), and returns 0 (CaDiCaL decides) after them
    after max_queries: the last chunk runs unbounded, CaDiCaL deciding alone

The first ``k`` decisions after a restart are exactly what the top of a VSIDS order decides,
so this is NeuroCore's "write the scores into the activities" for the part of the order the
solver acts on before its own bumping takes over. ``scale`` plays the role of NeuroCore's
score scaling (how long the network's order persists); ``set_phases=True`` also gives every
variable the network's phase through CaDiCaL's ``phase`` (forced phases, which replace phase
saving for those variables: off by default).

The propagator stays connected and active for the whole run: python-sat 1.9's
``enable_propagator`` / ``disable_propagator`` did not toggle it between solve calls here (the
first state set stuck), so it cannot be switched off between focus phases. Its callbacks
(``on_assignment`` for every observed variable, ``on_new_level``, ``on_backtrack``,
``decide``: a few Python calls per decision) and observing every variable, which *freezes*
it and so switches off CaDiCaL's variable elimination, are a fixed cost that the ``model=None``
control (the same chunks and propagator without a network) measures. The root-level units
(``fixed`` assignments) simplify the next query's formula; learnt clauses are not shown to
the network (python-sat does not export them).

Every model is checked against the input formula (``RuntimeError`` otherwise); an UNSAT
answer is CaDiCaL's word (no proof is produced with a propagator connected). Exceptions in a
callback are stored, the guidance stops, and they are re-raised once the solver returns.

**Inside the compiled CDCL** (``solve_cdcl_guided``, ``core_guide``): the paper's own
integration. The CDCL (``cdcl``/``ccdcl``: VSIDS, Luby restarts, DRUP proof) calls the
``cdcl.GuideHook`` callback once a decision is due and ``first`` (then ``interval``)
conflicts have passed; the callback simplifies the formula by the root-level values the
solver passes (optionally appending its last ``learnt`` learnt clauses, as the paper fed
learnt clauses), runs the network (``rounds`` message-passing rounds: fewer is cheaper, same
weights), and returns the weights ``m * softmax(itau * core logit)`` over the ``m`` variables
left; the solver sets its bump back to 1 and each free variable's score to ``scale *
weight`` (the paper's ``activity := scale * n * softmax``, ``var_inc := 1``), and with
``phases`` takes the phase head's sign as the preferred literal. Nothing is frozen, no
propagator runs, the search between queries is the plain compiled loop. A due query is
skipped while the network has used more than ``max_share`` of the solve's time so far (the
paper spaced its queries by wall time for the same reason). Models are checked here; an
UNSAT answer carries the solver's DRUP proof, which ``palestra sat solve`` and the bench
check.

Training (``train_neurocore``): formulas of the generated families and small SATLIB sets
labelled by MiniSat: for an unsatisfiable formula, the variables of an unsat core found with
one selector per clause (``get_core``, shrunk by re-solving on the core twice; not minimal),
for a satisfiable one the polarities of a model. This is NeuroCore's core target plus a phase
target; one family (planning by default) is held out and reported separately.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

from palestra.core.config import RunOptions, arg, with_defaults
from palestra.core.errors import PalestraError
from palestra.sat.cnf import CNF, SolveResult, Status

if TYPE_CHECKING:
    from palestra.models.sat_core import SatCoreGNN
    from palestra.sat.config import SatSolveConfig
    from palestra.sat.families import Instance

__all__ = [
    "DEFAULT_CORE_MODEL",
    "CoreGuideOptions",
    "GuideStats",
    "NeuroCoreOptions",
    "NeuroCoreTrainConfig",
    "core_guide",
    "core_labels",
    "core_logits",
    "load_core_model",
    "score_variables",
    "solve_cdcl_guided",
    "solve_guided",
    "solve_neurocore",
    "train_neurocore",
    "with_rounds",
]

DEFAULT_CORE_MODEL = Path(__file__).resolve().parents[1] / "data" / "models" / "sat_core"


# ------------------------------------------------------------------------------ network
def load_core_model(path: str | Path = "default", quantize: str = "") -> SatCoreGNN:
    """The core network in folder ``path`` (``"default"``: the shipped one), in eval mode;
    ``quantize="bf16"`` casts its weights to bfloat16, ``"int8"`` applies dynamic int8
    quantisation to its linear layers (``""``: float32)."""
    from palestra.models.sat_core import SatCoreGNN

    folder = DEFAULT_CORE_MODEL if str(path) == "default" else Path(path)
    if not (folder / "model.safetensors").exists():
        raise PalestraError(f"{folder}: no model.safetensors (train one: train_neurocore)")
    model = SatCoreGNN.from_pretrained(folder)
    if quantize in ("int8", "bf16"):
        import torch

        if quantize == "bf16":
            return model.to(torch.bfloat16)
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, torch.qint8)
    if quantize:
        raise PalestraError(f"unknown quantisation {quantize!r}; expected bf16, int8 or ''")
    return model


def score_variables(
    model: SatCoreGNN, clauses: list[list[int]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One forward pass on ``clauses`` (any variables): ``(variables, core, phase)``, the
    ascending variables occurring in them ``[m]`` and their core and phase probabilities."""
    length = np.fromiter(map(len, clauses), dtype=np.int64, count=len(clauses))  # [Cl]
    flat = np.fromiter(
        itertools.chain.from_iterable(clauses), dtype=np.int64, count=int(length.sum())
    )  # [E]
    variables, core, phase = core_logits(model, flat, length)
    return variables, 1.0 / (1.0 + np.exp(-core)), 1.0 / (1.0 + np.exp(-phase))


def core_logits(
    model: SatCoreGNN, flat: np.ndarray, length: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One forward pass on the clauses ``flat`` (int64 DIMACS literals ``[E]``, clause after
    clause) of lengths ``length`` ``[Cl]``: ``(variables, core, phase)``, the ascending
    variables occurring ``[m]`` and their core and phase logits (float64)."""
    import torch

    from palestra.models.sat_gnn import graph_from_arrays

    variables, inverse = np.unique(np.abs(flat), return_inverse=True)  # [m], [E]
    compact = np.where(flat > 0, inverse + 1, -(inverse + 1))
    g = graph_from_arrays(
        np.array([len(variables)], dtype=np.int64),
        compact,
        length,
        np.zeros(len(length), dtype=np.int64),
    )
    with torch.inference_mode():
        core, phase = model(g)  # [m], [m]
    return variables, core.double().numpy(), phase.double().numpy()


def with_rounds(model: SatCoreGNN, rounds: int) -> SatCoreGNN:
    """``model`` running ``rounds`` message-passing rounds (0: its own; the weights are shared
    across rounds, so fewer rounds is the same network, cheaper)."""
    import copy
    from dataclasses import replace

    if rounds <= 0 or rounds == model.cfg.rounds:
        return model
    m = copy.deepcopy(model)
    m.cfg = replace(m.cfg, rounds=rounds)
    return m


# ------------------------------------------------------------------------------ guidance
@dataclass(kw_only=True)
class NeuroCoreOptions:
    """Options of the amortised guidance (see the module docstring)."""

    interval: int = 2000  # conflicts between network queries (a chunk)
    scale: float = 1.0  # focus decisions per query = ceil(scale * expected core size)
    max_queries: int = 10  # network queries at most; then CaDiCaL alone
    max_focus: int = 64  # cap on the focus decisions per query
    set_phases: bool = False  # also force the network's phases on every variable

    def __post_init__(self) -> None:
        if self.interval < 1 or self.max_queries < 0 or self.max_focus < 0 or self.scale < 0:
            raise PalestraError(
                "need interval >= 1, max_queries >= 0, max_focus >= 0 and scale >= 0, got "
                f"{self.interval}, {self.max_queries}, {self.max_focus}, {self.scale}"
            )


@dataclass
class GuideStats:
    """What the guidance did: queries, their total and per-query seconds, focus decisions
    made, chunks run, and the seconds of the whole solve."""

    queries: int = 0
    query_seconds: list[float] = field(default_factory=list)
    focus_decisions: int = 0
    decide_calls: int = 0
    skipped: int = 0  # CDCL hook: due queries skipped by the time share
    reused: int = 0  # CDCL hook: due queries answered from the previous pass (same formula)
    chunks: int = 0
    seconds: float = 0.0

    @property
    def network_share(self) -> float:
        """Share of the solve's wall time spent in the network (graph build and pass)."""
        return sum(self.query_seconds) / self.seconds if self.seconds > 0 else 0.0


def _propagator_class() -> type:
    from pysat.engines import Propagator

    class _Focus(Propagator):
        """Answers the first ``k`` decisions of a chunk from ``order``; keeps root units."""

        def __init__(self, solver: object, n: int) -> None:
            super().__init__()
            self.solver = solver
            self.assigned = bytearray(n + 1)
            self.fixed: list[int] = []
            self.trail: list[int] = []
            self.trail_lim: list[int] = []
            self.order: list[int] = []
            self.k = 0
            self.made = 0
            self.calls = 0
            self.error: BaseException | None = None

        def start_chunk(self, order: list[int], k: int) -> None:
            for lit in self.trail:  # a new solve call begins at level 0
                self.assigned[abs(lit)] = 0
            self.trail.clear()
            self.trail_lim.clear()
            self.order, self.k, self.made = order, k, 0

        def on_assignment(self, lit: int, fixed: bool = False) -> None:
            if fixed:
                if not self.assigned[abs(lit)] or lit not in self.fixed:
                    self.fixed.append(lit)
                self.assigned[abs(lit)] = 1
            elif not self.assigned[abs(lit)]:
                self.assigned[abs(lit)] = 1
                self.trail.append(lit)

        def on_new_level(self) -> None:
            self.trail_lim.append(len(self.trail))

        def on_backtrack(self, to: int) -> None:
            if to >= len(self.trail_lim):
                return
            start = self.trail_lim[to]
            for lit in self.trail[start:]:
                self.assigned[abs(lit)] = 0
            del self.trail[start:]
            del self.trail_lim[to:]

        def check_model(self, model: list[int]) -> bool:
            return True

        def decide(self) -> int:
            self.calls += 1
            try:
                while self.made < self.k and self.order:
                    lit = self.order.pop(0)
                    if not self.assigned[abs(lit)]:
                        self.made += 1
                        return lit
            except Exception as e:  # re-raised by solve_neurocore once the solver returns
                self.error = e
            self.k = 0
            return 0

        def propagate(self) -> list[int]:
            return []

        def provide_reason(self, lit: int) -> list[int]:
            return []

        def add_clause(self) -> list[int]:
            return []

    return _Focus


def _simplified(clauses: list[list[int]], units: list[int]) -> list[list[int]]:
    """``clauses`` without those satisfied by ``units`` and without the false literals."""
    true = set(units)
    out = []
    for c in clauses:
        if any(x in true for x in c):
            continue
        out.append([x for x in c if -x not in true])
    return [c for c in out if c]


def solve_neurocore(
    cnf: CNF, model: SatCoreGNN | None, opts: NeuroCoreOptions | None = None
) -> tuple[SolveResult, GuideStats]:
    """Solve ``cnf`` with CaDiCaL 1.9.5 refocused by ``model`` every ``opts.interval``
    conflicts (see the module docstring); ``model=None`` runs the same chunks and propagator
    without a network (the control). Returns the checked result and the guidance's stats."""
    from pysat.solvers import Cadical195

    opts = opts or NeuroCoreOptions()
    cnf.validate()
    stats = GuideStats()
    t0 = time.perf_counter()
    n = cnf.num_vars
    with Cadical195(bootstrap_with=cnf.clauses) as solver:
        guide = _propagator_class()(solver, n)
        solver.connect_propagator(guide)
        for v in range(1, n + 1):
            solver.observe(v)
        answer = None
        while answer is None:
            # Chunk 0 is CaDiCaL alone (an easy formula never pays for the network); chunks
            # 1..max_queries follow a query each (the control: none); the last is unbounded.
            bounded = stats.chunks <= opts.max_queries
            guiding = model is not None and bounded and stats.chunks >= 1
            order: list[int] = []
            k = 0
            if guiding:
                tq = time.perf_counter()
                formula = _simplified(cnf.clauses, guide.fixed)
                if formula:
                    variables, core, phase = score_variables(model, formula)
                    ranked = np.argsort(-core, kind="stable")
                    order = [
                        int(variables[i]) if phase[i] >= 0.5 else -int(variables[i]) for i in ranked
                    ]
                    k = min(math.ceil(opts.scale * float(core.sum())), opts.max_focus)
                    if opts.set_phases:
                        solver.set_phases(order)
                stats.queries += 1
                stats.query_seconds.append(time.perf_counter() - tq)
            guide.start_chunk(order, k)
            stats.chunks += 1
            # Budgets apply to the next solve call only; -1 lifts them (the last chunk).
            solver.conf_budget(opts.interval if bounded else -1)
            answer = solver.solve_limited()
            stats.focus_decisions += guide.made
            if guide.error is not None:
                break
        solver_stats = solver.accum_stats()
        raw = solver.get_model() if answer else None
        stats.decide_calls = guide.calls
        solver.disconnect_propagator()
    stats.seconds = time.perf_counter() - t0
    if guide.error is not None:
        raise guide.error
    status = Status.SATISFIABLE if answer else Status.UNSATISFIABLE
    result_model = None
    if raw is not None:
        present = {abs(x): x for x in raw if abs(x) <= n}
        result_model = [present.get(v, -v) for v in range(1, n + 1)]
        verdict = cnf.check_model(result_model)
        if not verdict:
            raise RuntimeError(f"guided CaDiCaL returned a falsifying model: {verdict.reason}")
    result = SolveResult(
        "cadical-neurocore",
        status,
        result_model,
        int(solver_stats.get("decisions", 0)),
        int(solver_stats.get("conflicts", 0)),
        stats.seconds,
        propagations=int(solver_stats.get("propagations", 0)),
        guided=stats.focus_decisions,
        checked=result_model is not None,
    )
    return result, stats


# ------------------------------------------------------------------ guidance of our own CDCL
@dataclass(kw_only=True)
class CoreGuideOptions:
    """Options of NeuroCore inside the compiled CDCL (``solve_cdcl_guided``)."""

    # Defaults: the bench's tuned options (results/sat-guided/sat-guided-cdcl.md).
    interval: int = 500  # conflicts between network queries
    first: int = 500  # conflicts before the first query (0: at the first decision, the paper)
    max_queries: int = 10  # network queries at most; then VSIDS alone
    scale: float = 1.0  # activity := scale * m * softmax(itau * core logit)
    itau: float = 1.0  # inverse temperature of the softmax
    rounds: int = 2  # message-passing rounds (0: the model's own; the shipped one has 4)
    learnt: int = 0  # also show the network the last this many learnt clauses
    restart: bool = False  # restart after each query
    phases: bool = False  # also set the preferred literal by the phase head
    shuffle: bool = False  # the control: the network's scores, randomly permuted (seeded)
    max_share: float = 0.2  # skip a due query that would take the network above this share
    max_core_share: float = 1.0  # no focus when the predicted core has more of the variables
    proof: bool = True  # record the DRUP proof (check it with drup.check_drup)
    max_conflicts: int | None = None

    def __post_init__(self) -> None:
        if (
            self.interval < 1
            or min(self.first, self.max_queries, self.learnt, self.rounds) < 0
            or self.scale < 0
            or self.itau < 0
            or not 0 < self.max_share <= 1
            or not 0 <= self.max_core_share <= 1
        ):
            raise PalestraError(
                "need interval >= 1, 0 < max_share <= 1, 0 <= max_core_share <= 1 and first,"
                " max_queries, learnt, rounds, scale, itau >= 0"
            )


def _flat(clauses: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    length = np.fromiter(map(len, clauses), dtype=np.int64, count=len(clauses))  # [Cl]
    flat = np.fromiter(
        itertools.chain.from_iterable(clauses), dtype=np.int64, count=int(length.sum())
    )  # [E]
    return flat, length


def _simplify_flat(
    flat: np.ndarray, length: np.ndarray, root: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The clauses ``(flat, length)`` under the root values ``root[n + 1]`` (1, -1, 0):
    satisfied clauses dropped, false literals removed (no clause becomes empty: the solver
    would have stopped)."""
    if len(length) == 0:
        return flat, length
    sign = np.where(flat > 0, 1, -1).astype(np.int8)
    val = root[np.abs(flat)] * sign  # [E] 1 true, -1 false, 0 free
    starts = np.concatenate([[0], np.cumsum(length)[:-1]])  # [Cl]
    sat = np.maximum.reduceat(val, starts) > 0  # [Cl]
    keep = (val == 0) & ~np.repeat(sat, length)  # [E]
    new_len = np.add.reduceat(keep.astype(np.int64), starts)[~sat]
    return flat[keep], new_len[new_len > 0]


def core_guide(
    model: SatCoreGNN, cnf: CNF, opts: CoreGuideOptions, stats: GuideStats
) -> Callable[[bytes, bytes | None], tuple[np.ndarray, np.ndarray | None] | None]:
    """The ``GuideHook`` callback of NeuroCore: simplify ``cnf`` by the solver's root-level
    values (and append the learnt clauses it passes, simplified alike), run the network,
    and return the weights ``m * softmax(itau * core logit)`` over the ``m`` variables that
    occur (0 for the others) and, with ``opts.phases``, the phase head's signs.

    Amortisation: a due query is skipped (None) when the guidance's seconds so far (passes,
    and preparing the formulas) plus the predicted seconds of this pass exceed
    ``opts.max_share`` of the seconds since this callback was made; the prediction is linear
    in the formula's literal occurrences, its rate from the last pass, or before any from a
    pass on at most 2,000 of the clauses (counted as guidance time); it is first checked
    with the last formula's size, before any work. The same formula (root values and learnt
    clauses unchanged) gets the previous answer without a pass. A pass whose predicted core
    holds more than ``opts.max_core_share`` of the variables (``sigmoid(logit) > 0.5``) is
    answered None: the network then gives no focus. With ``opts.shuffle`` (the control, as
    the paper's random mode) the scores are randomly permuted among the variables before
    use: the same distribution and cost, no information. Counts passes, skips, reuses and
    seconds in ``stats``."""
    net = with_rounds(model, opts.rounds)
    n = cnf.num_vars
    t_start = time.perf_counter()
    rate: list[float] = []  # seconds per literal occurrence of the last pass
    last_size = [0]  # literal occurrences of the last formula passed
    formula: list[np.ndarray] = []  # the flattened clauses, made at the first need
    rng = np.random.default_rng(0)
    cache: dict[tuple[bytes, bytes | None], tuple[np.ndarray, np.ndarray | None] | None] = {}

    def timed_pass(flat: np.ndarray, length: np.ndarray) -> tuple:
        t0 = time.perf_counter()
        out = core_logits(net, flat, length)
        dt = time.perf_counter() - t0
        stats.query_seconds.append(dt)
        rate[:] = [dt / max(len(flat), 1)]
        return out

    def over_budget(predicted: float) -> bool:
        spent = sum(stats.query_seconds)
        return spent + predicted > opts.max_share * (time.perf_counter() - t_start)

    def callback(root: bytes, learnt: bytes | None) -> tuple[np.ndarray, np.ndarray | None] | None:
        key = (root, learnt)
        if key in cache:
            stats.reused += 1
            return cache[key]
        if over_budget(rate[0] * last_size[0] if rate else 0.0):  # before any work
            stats.skipped += 1
            return None
        t0 = time.perf_counter()
        if not formula:
            formula.extend(_flat(cnf.clauses))
        values = np.frombuffer(root, dtype=np.int8)  # [n + 1]
        flat, length = _simplify_flat(formula[0], formula[1], values)
        if learnt:
            lits = np.frombuffer(learnt, dtype=np.int32).astype(np.int64)
            ends = np.flatnonzero(lits == 0)
            l_len = np.diff(np.concatenate([[-1], ends])) - 1
            l_flat, l_len = _simplify_flat(lits[lits != 0], l_len, values)
            flat, length = np.concatenate([flat, l_flat]), np.concatenate([length, l_len])
        stats.query_seconds.append(time.perf_counter() - t0)  # preparing counts as guidance
        if not len(length):
            return None
        if not rate and len(length) > 2000:  # calibrate on a prefix
            timed_pass(flat[: int(length[:2000].sum())], length[:2000])
        last_size[0] = len(flat)
        if over_budget(rate[0] * len(flat) if rate else 0.0):
            stats.skipped += 1
            return None
        variables, core, phase = timed_pass(flat, length)
        if opts.shuffle:
            order = rng.permutation(len(variables))
            core, phase = core[order], phase[order]
        stats.queries += 1
        answer: tuple[np.ndarray, np.ndarray | None] | None = None
        if float(np.mean(core > 0)) <= opts.max_core_share:
            weights = np.zeros(n + 1)
            z = opts.itau * core
            p = np.exp(z - z.max())
            weights[variables] = len(variables) * p / p.sum()
            phases = None
            if opts.phases:
                phases = np.zeros(n + 1, dtype=np.int8)
                phases[variables] = np.where(phase >= 0, 1, -1)
            answer = (weights, phases)
        cache[key] = answer
        return answer

    return callback


def solve_cdcl_guided(
    cnf: CNF, model: SatCoreGNN | None, opts: CoreGuideOptions | None = None
) -> tuple[SolveResult, GuideStats]:
    """Solve ``cnf`` with the compiled CDCL (VSIDS, Luby restarts) whose activities the core
    network ``model`` refocuses (``cdcl.GuideHook``: NeuroCore's update, see the module
    docstring); ``model=None`` is the same solver unguided (the plain baseline). A model is
    checked here (``RuntimeError`` if it falsifies a clause); an UNSAT answer carries its
    DRUP proof (``opts.proof``) for ``drup.check_drup``."""
    from palestra.sat.cdcl import CDCLConfig, GuideHook, solve_cdcl

    t0 = time.perf_counter()
    opts = opts or CoreGuideOptions()
    stats = GuideStats()
    hook = None
    if model is not None:
        hook = GuideHook(
            core_guide(model, cnf, opts, stats),
            interval=opts.interval,
            first=opts.first,
            max_queries=opts.max_queries,
            scale=opts.scale,
            learnt=opts.learnt,
            restart=opts.restart,
        )
    config = CDCLConfig(
        vsids=True,
        restarts=True,
        proof=opts.proof,
        max_conflicts=opts.max_conflicts,
        guide=hook,
    )
    result = solve_cdcl(cnf, None, config)
    # The wall time of the whole call: the guidance's set-up counts.
    result = replace(result, seconds=time.perf_counter() - t0)
    stats.seconds = result.seconds
    if result.model is not None:
        verdict = cnf.check_model(result.model)
        if not verdict:
            raise RuntimeError(f"guided CDCL returned a falsifying model: {verdict.reason}")
        result = replace(result, checked=True)
    return replace(result, solver="cdcl-neurocore" if model is not None else "cdcl"), stats


# ------------------------------------------------------------------------------ training
def core_labels(cnf: CNF) -> tuple[bool, np.ndarray]:
    """``(satisfiable, label[n])``: for an unsatisfiable ``cnf`` the variables of an unsat
    core (MiniSat with one selector per clause, re-solved on its core twice to shrink it),
    for a satisfiable one the polarities of MiniSat's model (True: positive)."""
    from pysat.solvers import Minisat22

    n = cnf.num_vars
    label = np.zeros(n, dtype=bool)
    with Minisat22() as s:
        selectors = list(range(n + 1, n + 1 + len(cnf.clauses)))
        for c, sel in zip(cnf.clauses, selectors, strict=True):
            s.add_clause([*c, -sel])
        if s.solve(assumptions=selectors):
            for x in s.get_model() or ():
                if 0 < x <= n:
                    label[x - 1] = True
            return True, label
        core = s.get_core() or selectors
        for _ in range(2):
            if s.solve(assumptions=core):
                break
            core = s.get_core() or core
    for sel in core:
        for x in cnf.clauses[sel - n - 1]:
            label[abs(x) - 1] = True
    return False, label


@dataclass
@with_defaults(run_name="sat-core", checkpoint_every=1000)
class NeuroCoreTrainConfig(RunOptions):
    """Train the core network (``palestra.models.sat_core``) on generated families and small
    SATLIB sets, one family held out."""

    per_family: int = arg(300, "Generated training formulas per family.", min=1)
    satlib_sets: tuple[str, ...] = arg(
        ("uf50", "uuf50", "uf75", "uuf75", "flat30-60", "flat50-115"),
        "Small SATLIB sets trained on (their instances; the bench tests larger sets).",
    )
    per_satlib: int = arg(100, "Formulas per SATLIB set.", min=0)
    held_out: str = arg("planning", "Family never trained on (reported separately).")
    dim: int = arg(32, "Width of the embeddings.", min=1)
    heads: int = arg(4, "Attention heads.", min=1)
    rounds: int = arg(4, "Message-passing rounds.", min=1)
    steps: int = arg(2000, "Optimizer steps.", min=1)
    batch_size: int = arg(16, "Formulas per step.", min=1)
    lr: float = arg(2e-3, "Adam learning rate (cosine-decayed to lr/10).", above=0)
    max_seconds: float = arg(600.0, "Stop training after this many seconds.", above=0)
    log_every: int = arg(100, "Log every this many steps.", min=1)


def _training_formulas(cfg: NeuroCoreTrainConfig) -> list[Instance]:
    from palestra.sat.families import FAMILIES, family_instances, satlib_family

    out: list[Instance] = []
    for fam in FAMILIES:
        out += family_instances(fam, cfg.per_family, cfg.seed, scale="train")
    for name in cfg.satlib_sets:
        out += satlib_family(name, cfg.per_satlib, cfg.seed)
    return out


def _batch(
    items: list[tuple[CNF, bool, np.ndarray]],
) -> tuple:
    import torch

    from palestra.models.sat_gnn import build_graph

    g = build_graph([(cnf.num_vars, cnf.clauses) for cnf, _, _ in items])
    label = torch.from_numpy(np.concatenate([lab for _, _, lab in items]).astype(np.float32))
    unsat = torch.from_numpy(
        np.concatenate([np.full(cnf.num_vars, not sat) for cnf, sat, _ in items])
    )
    return g, label, unsat, label, ~unsat


def train_neurocore(cfg: NeuroCoreTrainConfig) -> tuple[Path, dict[str, dict[str, float]]]:
    """Label, train within ``cfg.max_seconds``, evaluate per family on held-out formulas (a
    tenth of each trained family's, and the whole held-out family); returns the model folder
    and the per-family metrics (also logged to the run)."""
    import torch

    from palestra.core.runs import Run
    from palestra.models.sat_core import SatCoreConfig, SatCoreGNN

    torch.set_num_threads(cfg.threads)
    run = Run.open(cfg.run_name, cfg, seed=cfg.seed, root=cfg.runs_root, resume=False)
    with run:
        t0 = time.time()
        formulas = _training_formulas(cfg)
        labelled = [(x.family, (x.cnf, *core_labels(x.cnf))) for x in formulas]
        rng = np.random.default_rng(cfg.seed)
        train_items, val = [], {}
        for fam, item in labelled:
            if fam == cfg.held_out:
                val.setdefault(f"{fam} (held out)", []).append(item)
            elif rng.random() < 0.1:
                val.setdefault(fam, []).append(item)
            else:
                train_items.append(item)
        print(f"labelled {len(labelled)} formulas in {time.time() - t0:.0f} s")
        torch.manual_seed(cfg.seed)
        model = SatCoreGNN(SatCoreConfig(dim=cfg.dim, heads=cfg.heads, rounds=cfg.rounds))
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        t_train = time.time()
        step = 0
        while step < cfg.steps and time.time() - t_train < cfg.max_seconds:
            idx = rng.choice(len(train_items), size=cfg.batch_size, replace=False)
            lr = cfg.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * step / cfg.steps)))
            for group in opt.param_groups:
                group["lr"] = lr
            loss, metrics = model.loss(*_batch([train_items[i] for i in idx]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if step % cfg.log_every == 0:
                run.log(step, lr=lr, **metrics)
        model.eval()
        results = {fam: evaluate_core(model, items) for fam, items in val.items()}
        results["_train"] = {"steps": step, "seconds": time.time() - t_train}
        for fam, m in results.items():
            run.log(step, **{f"{fam}/{k}": v for k, v in m.items()})
        return model.save_pretrained(run.dir / "model"), results


def evaluate_core(model: SatCoreGNN, items: list[tuple[CNF, bool, np.ndarray]]) -> dict[str, float]:
    """Mean metrics over ``items`` (formula, satisfiable, label): core and phase accuracy,
    and ``core_top_precision``: the share of the unsatisfiable formulas' top-``|core|``
    variables by core score that are in the labelled core (the order the guide decides in),
    against ``core_base``, the share of variables in the core (a random order's)."""
    import torch

    core_hit, core_n, phase_hit, phase_n, top, base = 0, 0, 0, 0, [], []
    with torch.inference_mode():
        for k in range(0, len(items), 16):
            chunk = items[k : k + 16]
            g, label, unsat, _, _ = _batch(chunk)
            core, phase = model(g)
            u = unsat.numpy()
            lab = label.numpy() > 0.5
            c, p = core.numpy(), phase.numpy()
            core_hit += int(((c > 0) == lab)[u].sum())
            core_n += int(u.sum())
            phase_hit += int(((p > 0) == lab)[~u].sum())
            phase_n += int((~u).sum())
            start = 0
            for cnf, sat, lab_f in chunk:
                scores = c[start : start + cnf.num_vars]
                start += cnf.num_vars
                size = int(lab_f.sum())
                if not sat and 0 < size < cnf.num_vars:
                    best = np.argsort(-scores, kind="stable")[:size]
                    top.append(float(lab_f[best].mean()))
                    base.append(size / cnf.num_vars)
    return {
        "core_acc": core_hit / core_n if core_n else float("nan"),
        "phase_acc": phase_hit / phase_n if phase_n else float("nan"),
        "core_top_precision": float(np.mean(top)) if top else float("nan"),
        "core_base": float(np.mean(base)) if base else float("nan"),
        "formulas": float(len(items)),
    }


def solve_guided(cfg: SatSolveConfig, out: TextIO | None = None) -> SolveResult:
    """``palestra sat solve FILE --guide network``: read, solve with ``solve_neurocore``
    (``--solver cadical``) or ``solve_cdcl_guided`` (``--solver cdcl``: the compiled CDCL,
    VSIDS and Luby restarts, first query after ``cfg.interval`` conflicts) with
    ``cfg.interval``, ``cfg.scale``, ``cfg.max_queries``, ``cfg.core_model``, check the
    answer (a CDCL refutation by its DRUP proof) and print it as ``palestra.sat.solve.solve``
    does."""
    import json
    import sys

    import torch

    from palestra.sat.dimacs import read_dimacs
    from palestra.sat.solve import check_answer, format_competition

    torch.set_num_threads(1)  # a pass is small: threads only add overhead
    cnf = read_dimacs(cfg.file, strict=cfg.strict)
    net = load_core_model(cfg.core_model)
    if cfg.solver == "cdcl":
        copts = CoreGuideOptions(
            interval=cfg.interval,
            first=cfg.interval,
            scale=cfg.scale,
            max_queries=cfg.max_queries,
            proof=cfg.check_proof,
            max_conflicts=cfg.max_steps,
        )
        result, stats = solve_cdcl_guided(cnf, net, copts)
    else:
        opts = NeuroCoreOptions(interval=cfg.interval, scale=cfg.scale, max_queries=cfg.max_queries)
        result, stats = solve_neurocore(cnf, net, opts)
    result = check_answer(cnf, result, check_proof=cfg.check_proof)
    out = out or sys.stdout
    if cfg.json:
        record = {
            "file": str(cfg.file),
            "heuristic": "neurocore",
            **result.to_json(),
            "queries": stats.queries,
            "query_seconds": sum(stats.query_seconds),
        }
        out.write(json.dumps(record) + "\n")
    else:
        out.write(
            format_competition(result, "neurocore").replace(
                "\ns ",
                f"\nc {stats.queries} network queries, "
                f"{sum(stats.query_seconds):.3f} s in the network\ns ",
                1,
            )
        )
    return result
