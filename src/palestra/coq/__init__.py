"""The Coq pillar's checker layer: coqc, a coqidetop client, safe verify, a tactic portfolio.

    script.py     split_sentences, split_theorem, read_script       Coq text, no Coq needed
    coqc.py       check_file, run_coqc -> CoqcResult                whole-file check
    idetop.py     CoqSession, SessionPool, Goal, CoqError           coqidetop's XML protocol
    verify.py     safe_verify -> Verdict, ALLOWED_AXIOMS            acceptance of a proof
    portfolio.py  prove_with_portfolio -> PortfolioResult           closing tactics, then verify
    proposers.py  Proposer: PortfolioProposer, KNNProposer, LLMProposer   tactics to try
    extract.py    extract_tactics: (goal, tactic) pairs of library proofs   `extract-tactics`
    tactic_model.py  TacticModel: the learned proposer (kNN over proof states)
    hammer.py     run_hammer, hammer_preamble: CoqHammer with E and CVC4
    search.py     best_first_search, GoalCache, CoqProblem           search over proof states
    agent.py      run_episodes, prove_coq                            episodes, parallel workers
    config.py     ProveCoqConfig                                     `palestra prove-coq`
    bench.py      the `coq` bench suite (miniF2F valid vs the plain portfolio)

The modules below the checker layer are imported from their own paths (not re-exported here).

Importing this package has no side effects and starts no process; Coq itself (Debian packages
``coq``, ``libcoq-hammer``, ``libcoq-coquelicot``) is needed only when a check runs.
"""

from palestra.coq.coqc import CoqcError, CoqcResult, CoqNotFound, LoadPath, check_file, run_coqc
from palestra.coq.idetop import (
    CoqCrashed,
    CoqError,
    CoqSession,
    CoqTimeout,
    Goal,
    ProofState,
    SessionPool,
)
from palestra.coq.portfolio import (
    DEFAULT_TACTICS,
    HAMMER_TACTICS,
    Attempt,
    PortfolioConfig,
    PortfolioResult,
    prove_with_portfolio,
)
from palestra.coq.script import Sentence, split_preamble, split_sentences, split_theorem
from palestra.coq.verify import ALLOWED_AXIOMS, Verdict, safe_verify

__all__ = [
    "ALLOWED_AXIOMS",
    "DEFAULT_TACTICS",
    "HAMMER_TACTICS",
    "Attempt",
    "CoqCrashed",
    "CoqError",
    "CoqNotFound",
    "CoqSession",
    "CoqTimeout",
    "CoqcError",
    "CoqcResult",
    "Goal",
    "LoadPath",
    "PortfolioConfig",
    "PortfolioResult",
    "ProofState",
    "Sentence",
    "SessionPool",
    "Verdict",
    "check_file",
    "prove_with_portfolio",
    "run_coqc",
    "safe_verify",
    "split_preamble",
    "split_sentences",
    "split_theorem",
]
