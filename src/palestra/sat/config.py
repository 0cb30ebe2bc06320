"""Configs of the neural SAT commands: ``palestra train sat``, ``palestra sat solve``,
``palestra sat gen``.

Kept free of torch and python-sat (the CLI imports it at start-up to build its options); the
code is in :mod:`palestra.sat.train` and :mod:`palestra.sat.solve`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from palestra.core.config import Config, Default, RunOptions, arg, with_defaults

__all__ = ["NetworkOptions", "SatGenConfig", "SatSolveConfig", "SatTrainConfig"]


@dataclass
@with_defaults(
    run_name="sat-gnn", checkpoint_every=500, runs_root=Default(Path("runs"), recorded=False)
)
class SatTrainConfig(RunOptions):
    """Train the literal-clause graph network (Jaszczur et al. 2019) on labelled SR(n) pairs.

    ``--seed``, ``--run-name``, ``--resume``, ... are the fields of
    :class:`~palestra.core.config.RunOptions` (the seed: data, initialisation and batching).
    """

    # --- data
    variant: Literal["neurosat", "hard", "mixed"] = arg(
        "hard",
        "SR(n) clause widths: NeuroSAT's, the paper's 'hard' (at least 3), or 'mixed' (each"
        " pair either, at random).",
    )
    n_min: int = arg(10, "Fewest variables of a training formula.", min=1)
    n_max: int = arg(40, "Most variables of a training formula.", min=1)
    pairs: int = arg(
        4000, "SR(n) SAT/UNSAT pairs to generate and label (cached in the run).", min=2
    )
    states: int = arg(
        2, "Also label this many formulas met below the root by DPLL (JW-OS) per formula.", min=0
    )
    paths: int = arg(
        0,
        "Also label this many states of a random correct DPLL path of each satisfiable member,"
        " each with the refuted formula a wrong pick there leaves.",
        min=0,
    )
    workers: int = arg(
        1, "Processes that generate and label the data (same data for any count).", min=1
    )
    # --- model (see palestra.models.sat_gnn.SatGNNConfig)
    dim: int = arg(64, "Width of literal and clause embeddings.", min=1)
    heads: int = arg(4, "Heads of the gated attention.", min=1)
    rounds: int = arg(12, "Message-passing rounds.", min=1)
    init: str = arg("", "Start from this model folder (same architecture) instead of random.")
    # --- optimisation
    steps: int = arg(6000, "Optimizer steps.", min=1)
    batch_size: int = arg(32, "Formulas per step (both members of 16 pairs).", min=2)
    lr: float = arg(1e-3, "Learning rate (Adam), cosine-decayed to lr/10.", above=0)
    grad_clip: float = arg(1.0, "Clip the gradient norm to this (0: no clipping).", min=0)
    rank_weight: float = arg(
        0.0,
        "Weight of the top-1 term: -log of the softmax mass the policy puts on the literals"
        " that keep a satisfiable formula satisfiable.",
        min=0,
    )
    refute_weight: float = arg(
        0.0,
        "Weight of the same term on unsatisfiable formulas, towards Jeroslow-Wang's choice"
        " (what refutes them fast).",
        min=0,
    )
    log_every: int = arg(50, "Log training metrics every this many steps.", min=1)

    def __post_init__(self) -> None:
        super().__post_init__()  # the fields' bounds
        if self.n_min > self.n_max:
            raise ValueError(f"need 1 <= n_min <= n_max, got {self.n_min}..{self.n_max}")
        if self.batch_size % 2:
            raise ValueError(f"batch_size must be even and >= 2, got {self.batch_size}")
        if self.dim % self.heads:
            raise ValueError(f"dim={self.dim} is not a multiple of heads={self.heads}")


@dataclass(kw_only=True)
class NetworkOptions(Config):
    """The network of the neural and hybrid heuristics, as ``palestra sat solve`` and
    ``palestra bench sat`` take it."""

    model: str = arg("default", "Network folder for neural/hybrid; 'default' = the shipped one.")
    rounds: int = arg(0, "Message-passing rounds of the network (0: the model's own).", min=0)
    threshold: float = arg(
        0.3, "Hybrid: use the network when its P(sat) >= threshold.", min=0, max=1
    )
    lookahead: int = arg(
        0,
        "Hybrid: choose among JW-OS's best N literals by the network's P(sat) of each child.",
        min=0,
    )
    fail_first: bool = arg(
        False, "Hybrid with a lookahead: where P(sat) is low, the child least likely satisfiable."
    )


@dataclass
class SatSolveConfig(NetworkOptions):
    """Solve a DIMACS CNF file; every model is checked, every UNSAT answer of cadical and cdcl
    comes with a checked DRUP proof.

    By default CaDiCaL 1.9.5 (python-sat) answers on its own (``--solver cadical``); the
    research solvers are this package's ``cdcl`` and ``dpll`` and ``cadical-guided`` (CaDiCaL
    branching by ``--heuristic`` through python-sat's user propagator). The network's options
    (``--model``, ``--lookahead``, ...) are those of :class:`NetworkOptions`.
    """

    file: Path = arg(..., "DIMACS CNF file.", positional=True)
    solver: Literal["cadical", "cdcl", "dpll", "cadical-guided"] = arg(
        "cadical",
        "cadical (python-sat's CaDiCaL 1.9.5, its own branching: the fast answer), or a"
        " research solver branching by --heuristic: cdcl or dpll (this package's), or"
        " cadical-guided (CaDiCaL, the heuristic as its guide).",
    )
    heuristic: Literal["dlis", "jw", "vsids", "random", "neural", "hybrid"] | None = arg(
        None,
        "Branching of the research solvers: dlis, jw (one-sided Jeroslow-Wang, the default),"
        " vsids, random, neural, hybrid. Not with --solver cadical.",
    )
    engine: Literal["c", "python"] = arg(
        "c",
        "CDCL: the compiled core (c) or the Python reference (python); same search, same"
        " counts. Heuristics without a C version (neural, hybrid) run in Python.",
    )
    max_steps: int | None = arg(
        None,
        "Budget: CaDiCaL conflicts, DPLL steps, CDCL decisions, or CaDiCaL guided decisions"
        " (default: none, but 1000 for cadical-guided).",
        min=1,
    )
    check_proof: bool = arg(
        True, "Check UNSAT proofs (off: an UNSAT answer is printed as unchecked)."
    )
    strict: bool = arg(True, "Reject DIMACS whose clause count differs from the header.")
    json: bool = arg(False, "Print one JSON object instead of SAT-competition output.")
    seed: int = arg(0, "Seed of the random heuristic.", min=0)
    # --- amortised guidance (palestra.sat.neurocore): --solver cadical or cdcl (VSIDS)
    guide: Literal["none", "network"] = arg(
        "none",
        "network: the solver refocused by the core network every --interval conflicts (NeuroCore):"
        " CaDiCaL (--solver cadical) or the compiled CDCL's VSIDS (--solver cdcl).",
    )
    interval: int = arg(2000, "Guide: conflicts between network queries.", min=1)
    scale: float = arg(1.0, "Guide: focus decisions = scale x the predicted core size.", min=0)
    max_queries: int = arg(10, "Guide: network queries at most (then CaDiCaL alone).", min=0)
    core_model: str = arg("default", "Guide: core network folder; 'default' = the shipped one.")

    def __post_init__(self) -> None:
        super().__post_init__()  # the fields' bounds
        if self.lookahead and self.heuristic != "hybrid":
            raise ValueError(
                f"lookahead applies to --heuristic hybrid only, not {self.heuristic!r}"
            )
        if self.fail_first and not self.lookahead:
            raise ValueError("fail_first needs --lookahead > 0")
        if self.solver == "cadical" and self.heuristic is not None:
            raise ValueError(
                "--solver cadical branches on its own; a --heuristic needs --solver"
                " cdcl, dpll or cadical-guided"
            )
        if self.guide == "network" and self.solver not in ("cadical", "cdcl"):
            raise ValueError("--guide network refocuses CaDiCaL or CDCL: --solver cadical or cdcl")
        if self.guide == "network" and self.heuristic not in (None, "vsids"):
            raise ValueError("--guide network refocuses VSIDS: no --heuristic but vsids")

    @property
    def branching(self) -> str:
        """The heuristic the solver runs: ``cadical`` (its own) or ``heuristic`` (jw)."""
        if self.solver == "cadical":
            return "cadical"
        return self.heuristic or "jw"


@dataclass
class SatGenConfig(Config):
    """Write SR(n) SAT/UNSAT pairs as DIMACS files (``sr<n>-<i>-sat.cnf``, ``...-unsat.cnf``)."""

    n: int = arg(40, "Variables per formula.", min=1)
    count: int = arg(10, "Pairs to write.", min=1)
    variant: Literal["neurosat", "hard"] = arg("neurosat", "SR(n) clause-width variant.")
    seed: int = arg(0, "Seed.", min=0)
    out: Path = arg(Path("sr"), "Output folder.")
