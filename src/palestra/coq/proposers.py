"""Tactic proposers: given a printed goal state and the tactics so far, what to try next.

One contract, :class:`Proposer`::

    proposer.propose(goal_state, history, feedback="") -> [Proposal(tactic, score), ...]

``goal_state`` is the goal list as Coq prints it (:func:`goal_text`), ``history`` the tactics
already run on the path from ``Proof.``, ``feedback`` the checker's last error (and the
lessons of failed episodes) for a proposer that can read it. A proposal's ``tactic`` is one
tactic sentence or, for a whole-proof proposer, several; the caller runs it sentence by
sentence. ``score`` is in (0, 1], higher first; the list is sorted by it.

Four proposers (and :class:`MixedProposer`, several merged):

- :class:`PortfolioProposer`: a fixed list of closing tactics (``lia``, ``nia``, ``lra``,
  ``nra``, ``ring``, ``field``, ``sauto``, ...) and structural ones (``intros``, ``split``,
  ``induction n``, ``destruct H``, ``simpl``, ``field_simplify``, ``unfold f``...) ranked by
  cheap features of the goal (a ``forall`` or ``->`` ranks ``intros`` first, real numbers rank
  ``lra``/``nra`` before ``lia``, a ``nat`` variable proposes ``induction``).
- :class:`KNNProposer`: k nearest neighbours over (goal features, next tactic) pairs mined from
  Coq's standard library proofs, in the spirit of Tactician (Blaauwbroek et al., 2020); see
  :func:`build_knn_index` for how the pairs are approximated without replaying the library.
- :class:`LLMProposer`: asks any :class:`palestra.lm.backends.Backend` for next tactics or a
  whole proof, with the checker's error and the lessons in the prompt.
- :class:`~palestra.coq.tactic_model.TacticModel` (``learned``): k nearest proof states of
  Coq's libraries, stepped out by :mod:`palestra.coq.extract`, with hypothesis arguments
  re-bound to the query's hypotheses.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from palestra.coq.script import normalize, split_sentences, split_theorem, theorem_name

if TYPE_CHECKING:
    import numpy as np

    from palestra.coq.idetop import ProofState
    from palestra.lm.backends import Backend

__all__ = [
    "CLOSING_TACTICS",
    "KNN_INDEX_DIR",
    "KNNProposer",
    "LLMProposer",
    "MixedProposer",
    "PortfolioProposer",
    "Proposal",
    "Proposer",
    "build_knn_index",
    "featurize",
    "goal_text",
    "make_proposer",
    "stdlib_theories",
]

KNN_INDEX_DIR = Path(__file__).resolve().parents[1] / "data" / "models" / "coq_knn"

# Closing tactics, in the order the plain portfolio (palestra.coq.portfolio) tries them,
# plus CoqHammer's offline reconstruction tactics.
CLOSING_TACTICS: tuple[str, ...] = (
    "lia",
    "lra",
    "nia",
    "nra",
    "ring",
    "field",
    "reflexivity",
    "auto",
    "easy",
    "tauto",
    "congruence",
    "assumption",
    "discriminate",
    "sauto",
    "hauto",
)


@dataclass(frozen=True)
class Proposal:
    """A tactic (or a script of several sentences) to try, with its score in (0, 1]."""

    tactic: str
    score: float


@runtime_checkable
class Proposer(Protocol):
    """What a search or an agent asks for at a proof state."""

    name: str

    def propose(
        self, goal_state: str, history: Sequence[str], feedback: str = ""
    ) -> list[Proposal]: ...


def goal_text(state: ProofState) -> str:
    """The goal list as one text: every goal's hypotheses, a bar, its conclusion.

    This is also the key of the goal cache (:class:`palestra.coq.search.GoalCache`): two states
    print the same exactly when their goals (focused, then unfocused and shelved) do.
    """
    parts = []
    for goal in (*state.goals, *state.background, *state.shelved):
        parts.append("\n".join([*goal.hypotheses, "=" * 8, " ".join(goal.conclusion.split())]))
    return "\n\n".join(parts)


def _ranked(scored: dict[str, float], limit: int) -> list[Proposal]:
    if not scored:
        return []
    top = max(scored.values())
    items = sorted(scored.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [Proposal(t, max(1e-6, s / top)) for t, s in items]


# --------------------------------------------------------------------------------- portfolio
_HYP = re.compile(r"^([\w'₀-₉]+(?:\s*,\s*[\w'₀-₉]+)*)\s*:\s*(.*)$", re.S)
_DEFINED = re.compile(r"^(?:Definition|Fixpoint)\s+([\w']+)", re.M)


def _hypotheses(goal_state: str) -> list[tuple[str, str]]:
    """``(name, type)`` of the first goal's hypotheses (``a, b : nat`` gives two)."""
    first = goal_state.split("\n\n", 1)[0]
    hyps, _, _ = first.partition("=" * 8)
    out = []
    for line in hyps.splitlines():
        m = _HYP.match(line.strip())
        if m:
            for name in m.group(1).split(","):
                out.append((name.strip(), " ".join(m.group(2).split())))
    return out


def _conclusion(goal_state: str) -> str:
    first = goal_state.split("\n\n", 1)[0]
    return first.partition("=" * 8)[2].strip()


class PortfolioProposer:
    """Closing and structural tactics, ranked by features of the goal's text.

    ``definitions`` are names whose ``unfold`` is worth proposing (the problem's own
    ``Definition``/``Fixpoint`` names; :meth:`for_source` finds them). ``hammer`` adds
    ``sauto``/``hauto`` (CoqHammer's offline tactics; the session must load
    ``From Hammer Require Import Tactics``).
    """

    name = "portfolio"

    def __init__(self, definitions: Sequence[str] = (), *, hammer: bool = True) -> None:
        self.definitions = tuple(definitions)
        self.hammer = hammer

    @classmethod
    def for_source(cls, source: str, *, hammer: bool = True) -> PortfolioProposer:
        return cls(_DEFINED.findall(source), hammer=hammer)

    def propose(
        self, goal_state: str, history: Sequence[str], feedback: str = ""
    ) -> list[Proposal]:
        concl = _conclusion(goal_state)
        hyps = _hypotheses(goal_state)
        real = " R" in f" {goal_state}" or "%R" in goal_state or re.search(r"\bR\b", goal_state)
        integer = re.search(r"\b(?:Z|nat|N|positive)\b", goal_state) or "%Z" in goal_state
        scores: dict[str, float] = {}

        def add(tactic: str, score: float) -> None:
            scores[tactic] = max(scores.get(tactic, 0.0), score)

        # closing tactics first: a proof found at depth 1 is the cheapest
        arith = ["lia", "nia"] if not real else ["lra", "nra", "field", "nia"]
        if integer and real:
            arith += ["lia"]
        if not integer and not real:
            arith = ["lia", "lra"]
        for k, t in enumerate(arith):
            add(t, 0.9 - 0.05 * k)
        for k, t in enumerate(("ring", "reflexivity", "auto", "easy", "tauto", "congruence")):
            add(t, 0.6 - 0.03 * k)
        if integer and re.search(r"\bmod\b|\bZ\.(?:modulo|div)\b", goal_state):
            # Z's mod and div as equations with bounds (nat's are zify's already)
            add("Z.div_mod_to_equations; lia", 0.8)
            add("Z.div_mod_to_equations; nia", 0.7)
        if any(t == concl for _, t in hyps):
            add("assumption", 0.95)
        if self.hammer:
            add("sauto", 0.5)
            add("hauto", 0.35)
        # structural tactics
        if concl.startswith("forall") or "->" in concl or concl.startswith("~"):
            add("intros", 0.97)
        if "/\\" in concl or "<->" in concl:
            add("split", 0.92)
        if "\\/" in concl:
            add("left", 0.4)
            add("right", 0.4)
        if concl.startswith("exists"):
            add("eexists", 0.3)
            # a small witness first: it also makes an implication under exists vacuous
            add("exists 0", 0.32)
            add("exists 1", 0.28)
        for name, typ in hyps:
            if typ == "nat":
                add(f"induction {name}", 0.55)
                add(f"destruct {name}", 0.3)
            elif "/\\" in typ or typ.startswith("exists") or "\\/" in typ:
                add(f"destruct {name}", 0.7)
            elif re.fullmatch(r"[\w']+ = .*", typ) and name.startswith(("H", "h")):
                add(f"rewrite {name}", 0.3)
            elif re.fullmatch(r"forall [^,]+, .+ = .+", typ):
                # a function's defining equation (f x = ...): unfold it everywhere at once
                add(f"rewrite !{name} in *", 0.62)
                add(f"rewrite {name}", 0.4)
                head = re.match(r"forall [^,]+, ([\w']+) ", typ)
                if head and re.search(rf"\bmap {re.escape(head.group(1))}\b", concl):
                    # under map the binder hides f's argument from rewrite: map_ext
                    add(f"rewrite (map_ext _ _ {name})", 0.75)
            if real and "/" in typ and " = " in typ and not typ.startswith("forall"):
                add(f"field_simplify in {name}", 0.3)
        words = set(re.findall(r"[\w']+", concl))
        if not real and not concl.startswith("forall") and not words & {n for n, _ in hyps}:
            add("vm_compute; reflexivity", 0.7)  # a closed computation: run it in the VM
        if re.search(r"\bCi\b|: C\b|%C", goal_state):  # Coquelicot's C = R * R
            add("apply injective_projections; simpl; ring", 0.75)
            add("apply injective_projections; simpl; field", 0.4)
        if "Rabs" in concl:  # |c| of a closed term, or of a term of known sign
            add("unfold Rabs; destruct (Rcase_abs _); lra", 0.6)
            add("unfold Rabs; destruct (Rcase_abs _); nra", 0.4)
        for d in self.definitions:
            if re.search(rf"\b{re.escape(d)}\b", goal_state):
                add(f"unfold {d}", 0.65)
        add("simpl", 0.5)
        add("subst", 0.45 if any("=" in t for _, t in hyps) else 0.2)
        if real:
            add("field_simplify", 0.4)
            add("intros; nra", 0.3)
        add("ring_simplify", 0.35)
        if history and history[-1].startswith(("intros", "simpl", "subst", "induction")):
            scores.pop(history[-1], None)  # the same structural step twice makes no progress
        return _ranked(scores, 40)


# --------------------------------------------------------------------------------------- kNN
_TOKEN = re.compile(r"[A-Za-z_][\w'.]*|\d+|->|<->|<=|>=|<>|/\\|\\/|[^\s\w]")
_BUCKETS = 1 << 16
# Tactics that exist in any Coq session with the usual imports. A stdlib proof's tactic is
# kept only when its first word is one of these: module-local Ltac (``order``, ``fsetdec``,
# ``nzsimpl``) would fail everywhere else.
_KNOWN_HEADS = frozenset(
    """
    intro intros revert clear clearbody rename move set pose remember assert enough cut
    specialize generalize exact eexact apply eapply simple rapply refine assumption eassumption
    split esplit left right eleft eright exists eexists constructor econstructor reflexivity
    symmetry transitivity etransitivity f_equal rewrite erewrite replace subst destruct
    edestruct induction elim case inversion inversion_clear injection discriminate congruence
    contradiction contradict exfalso absurd trivial auto eauto easy now tauto intuition
    firstorder lia lra nia nra psatz ring field ring_simplify field_simplify unfold fold simpl
    cbn cbv compute vm_compute native_compute lazy red hnf change pattern case_eq decide
    omega zify auto_solve lazymatch match try repeat do solve first progress idtac fail
    assert_fails dependent functional cofix fix exact_no_check apply_all_once
    rewrite_all sauto hauto qauto
    """.split()  # noqa: SIM905
)


def _tokens(text: str) -> list[str]:
    out = []
    for tok in _TOKEN.findall(text):
        if tok.isdigit():
            out.append(tok if len(tok) == 1 else "NUM")
        elif tok in ("(", ")", ",", ":", "=" * 8):
            continue
        else:
            out.append(tok.rsplit(".", 1)[-1] if "." in tok.strip(".") else tok)
    return out


def featurize(text: str) -> list[int]:
    """Hashed token unigrams and bigrams of ``text``: sorted unique ids in ``[0, 2**16)``.

    Tokens are identifiers (the last part of a qualified name), operators and numbers (one
    digit kept, longer ones made ``NUM``); parentheses, commas and colons are dropped, so
    ``forall n : nat, n + 0 = n`` and the printed goal ``n : nat |- n + 0 = n`` share most
    n-grams. crc32 is the hash: stable across processes and Python versions.
    """
    toks = _tokens(text)
    grams = set(toks) | {f"{a} {b}" for a, b in itertools.pairwise(toks)}
    return sorted({zlib.crc32(g.encode()) % _BUCKETS for g in grams})


def _head(tactic: str) -> str:
    text = re.sub(r"^(?:\d+|all)\s*:\s*", "", tactic)
    m = re.match(r"[A-Za-z_][\w']*", text)
    return m.group(0) if m else ""


def stdlib_theories() -> Path | None:
    """The ``theories/`` folder of Coq's standard library sources, where installed."""
    for base in ("/usr/lib/ocaml/coq/theories", "/usr/lib/coq/theories", "/usr/lib/coq/stdlib"):
        if list(Path(base).glob("Init/*.v")):
            return Path(base)
    return None


def _proof_pairs(text: str) -> list[tuple[str, list[str]]]:
    """``(statement, tactics)`` of every ``Lemma ... Proof. ... Qed.`` block of a file."""
    sentences = [normalize(s.text) for s in split_sentences(text)]
    blocks = []
    i = 0
    while i < len(sentences):
        if theorem_name(sentences[i]) is None:
            i += 1
            continue
        statement = sentences[i]
        j = i + 1
        if j < len(sentences) and re.match(r"Proof\b", sentences[j]):
            j += 1
        body = []
        while j < len(sentences) and _head(sentences[j]) not in ("Qed", "Defined", "Admitted"):
            if theorem_name(sentences[j]) or _head(sentences[j]) in ("Abort", "End", "Section"):
                break
            body.append(sentences[j])
            j += 1
        if j < len(sentences) and _head(sentences[j]) in ("Qed", "Defined"):
            tactics = [t for t in body if re.match(r"[A-Za-z]", re.sub(r"^\d+\s*:\s*", "", t))]
            blocks.append((statement, tactics))
        i = max(j, i + 1)
    return blocks


def build_knn_index(
    theories: str | Path | None = None,
    out_dir: str | Path = KNN_INDEX_DIR,
    *,
    min_count: int = 2,
    max_tactic_chars: int = 100,
    max_features: int = 96,
) -> dict[str, Any]:
    """Mine (goal features, next tactic) pairs from the standard library's proofs; save them.

    Replaying the library in ``coqidetop`` to print the goal before every tactic would take
    hours here, so the goal is approximated: the features of step ``k`` of a proof are the
    n-grams of the lemma's *statement* (the goal before the first tactic) and, separately, the
    first word of the previous tactic (``intros``, ``induction``...) and the step number
    (0, 1, 2, 3+). A query's printed goal is featurized the same way, so after ``intros`` the
    hypotheses and conclusion still share most n-grams with the statement.

    Only tactics that occur at least ``min_count`` times in the library, are at most
    ``max_tactic_chars`` long and start with a tactic every session has (:data:`_KNOWN_HEADS`)
    are kept: those generalize, and they keep the index small (``index.npz`` + ``meta.json``,
    well under 3 MB). Returns the metadata written.
    """
    import numpy as np

    theories = Path(theories) if theories is not None else stdlib_theories()
    if theories is None or not theories.is_dir():
        raise FileNotFoundError("Coq's standard library sources (theories/*.v) not found")
    start = time.perf_counter()
    files = sorted(theories.rglob("*.v"))
    blocks = []
    for f in files:
        blocks.extend(_proof_pairs(f.read_text(encoding="utf-8", errors="replace")))
    counts = Counter(t for _, tactics in blocks for t in tactics)

    def keep(t: str) -> bool:
        return (
            counts[t] >= min_count
            and len(t) <= max_tactic_chars
            and _head(t) in _KNOWN_HEADS
            and "Focus" not in t
        )

    tactic_ids: dict[str, int] = {}
    heads: dict[str, int] = {"": 0}
    lemma_features: list[np.ndarray] = []
    step_lemma, step_prev, step_index, step_tactic = [], [], [], []
    for statement, tactics in blocks:
        kept = [(k, t) for k, t in enumerate(tactics) if keep(t)]
        if not kept:
            continue
        lemma = len(lemma_features)
        body = statement.split(":", 1)[1] if ":" in statement else statement
        lemma_features.append(np.array(featurize(body)[:max_features], dtype=np.uint16))
        for k, t in kept:
            prev = _head(tactics[k - 1]) if k else ""
            step_lemma.append(lemma)
            step_prev.append(heads.setdefault(prev, len(heads)))
            step_index.append(min(k, 3))
            step_tactic.append(tactic_ids.setdefault(t, len(tactic_ids)))
    indptr = np.cumsum([0] + [len(f) for f in lemma_features]).astype(np.int32)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out / "index.npz",
        lemma_indptr=indptr,
        lemma_features=np.concatenate(lemma_features),
        step_lemma=np.array(step_lemma, dtype=np.uint16),
        step_prev=np.array(step_prev, dtype=np.uint16),
        step_index=np.array(step_index, dtype=np.uint8),
        step_tactic=np.array(step_tactic, dtype=np.uint16),
    )
    meta = {
        "source": str(theories),
        "files": len(files),
        "proofs": len(blocks),
        "lemmas": len(lemma_features),
        "pairs": len(step_tactic),
        "tactics": sorted(tactic_ids, key=tactic_ids.__getitem__),
        "previous_heads": sorted(heads, key=heads.__getitem__),
        "min_count": min_count,
        "max_tactic_chars": max_tactic_chars,
        "max_features": max_features,
        "buckets": _BUCKETS,
        "build_seconds": round(time.perf_counter() - start, 1),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=0) + "\n", encoding="utf-8")
    return meta


class KNNProposer:
    """The tactics of the ``k`` most similar library proof steps, weighted by similarity.

    Similarity of a query ``(goal, history)`` to a stored step of lemma ``L``::

        sim = cos_tfidf(ngrams(goal), ngrams(statement(L)))
              + w_prev  * [head(history[-1]) == head of the step's previous tactic]
              + w_index * [min(len(history), 3) == the step's index]

    (binary term frequencies, ``idf = log(1 + lemmas / df)``). A tactic's score is the sum of
    the similarities of the neighbours that used it, divided by the best.
    """

    name = "knn"

    def __init__(
        self,
        index_dir: str | Path = KNN_INDEX_DIR,
        *,
        k: int = 48,
        limit: int = 16,
        w_prev: float = 0.25,
        w_index: float = 0.1,
    ) -> None:
        import numpy as np

        path = Path(index_dir)
        if not (path / "index.npz").is_file():
            raise FileNotFoundError(f"no kNN index at {path}; build it with build_knn_index()")
        data = np.load(path / "index.npz")
        self.meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        self.tactics: list[str] = self.meta["tactics"]
        self._heads = {h: i for i, h in enumerate(self.meta["previous_heads"])}
        self.k, self.limit, self.w_prev, self.w_index = k, limit, w_prev, w_index
        indptr = data["lemma_indptr"]
        feats = data["lemma_features"].astype(np.int64)
        n_lemmas = len(indptr) - 1
        rows = np.repeat(np.arange(n_lemmas), np.diff(indptr))
        df = np.bincount(feats, minlength=_BUCKETS)
        self._idf = np.log1p(n_lemmas / np.maximum(df, 1))
        norms = np.sqrt(np.bincount(rows, weights=self._idf[feats] ** 2, minlength=n_lemmas))
        self._norm = np.maximum(norms, 1e-9)
        # inverted index: feature -> lemmas holding it
        order = np.argsort(feats, kind="stable")
        self._post_lemma = rows[order]
        self._post_start = np.searchsorted(feats[order], np.arange(_BUCKETS + 1))
        self._step_lemma = data["step_lemma"].astype(np.int64)
        self._step_prev = data["step_prev"]
        self._step_index = data["step_index"]
        self._step_tactic = data["step_tactic"]
        self._n_lemmas = n_lemmas

    def similarities(self, goal_state: str) -> np.ndarray:
        """Cosine similarity (tf-idf) of the goal's n-grams to every lemma statement."""
        import numpy as np

        query = np.array(featurize(goal_state.replace("=" * 8, " ")), dtype=np.int64)
        sims = np.zeros(self._n_lemmas)
        if len(query) == 0:
            return sims
        w = self._idf[query] ** 2
        for f, wf in zip(query, w, strict=True):
            lemmas = self._post_lemma[self._post_start[f] : self._post_start[f + 1]]
            sims[lemmas] += wf
        qnorm = math.sqrt(float(w.sum()))
        return sims / (self._norm * qnorm)

    def propose(
        self, goal_state: str, history: Sequence[str], feedback: str = ""
    ) -> list[Proposal]:
        import numpy as np

        lemma_sim = self.similarities(goal_state)
        prev = self._heads.get(_head(history[-1]) if history else "", -1)
        sims = (
            lemma_sim[self._step_lemma]
            + self.w_prev * (self._step_prev == prev)
            + self.w_index * (self._step_index == min(len(history), 3))
        )
        k = min(self.k, len(sims))
        nearest = np.argpartition(-sims, k - 1)[:k]
        votes: dict[str, float] = {}
        for i in nearest:
            t = self.tactics[int(self._step_tactic[i])].rstrip(".")
            votes[t] = votes.get(t, 0.0) + float(sims[i])
        return _ranked(votes, self.limit)


# --------------------------------------------------------------------------------------- LLM
_FENCE = re.compile(r"```(?:coq)?\s*(.*?)(?:```|$)", re.S)


class LLMProposer:
    """Ask a language model for the next tactic (``mode="tactic"``) or a whole proof.

    The prompt holds the statement (``set_statement``), the goal, the proof so far and the
    ``feedback`` (the checker's last error and the lessons of failed episodes); the model's
    text is cut at ``Qed.``/a code fence and split into sentences. ``n`` samples are asked at
    ``temperature``; duplicates merge and a proposal's score is its share of the samples.
    A prompt longer than ``max_prompt_chars`` keeps its end (the goal, the question). A
    backend error (refused request, server gone) gives no proposals and is kept in
    :attr:`errors`: the search goes on with what it has.
    """

    name = "llm"

    def __init__(
        self,
        backend: Backend,
        *,
        mode: str = "tactic",
        n: int = 4,
        temperature: float = 0.8,
        max_tokens: int = 128,
        max_prompt_chars: int = 6000,
        seed: int | None = 0,
        chat: bool = False,
    ) -> None:
        if mode not in ("tactic", "proof"):
            raise ValueError(f"mode must be 'tactic' or 'proof', got {mode!r}")
        self.backend = backend
        self.mode = mode
        self.n, self.temperature, self.max_tokens = n, temperature, max_tokens
        self.max_prompt_chars = max_prompt_chars
        self.seed = seed
        self.chat = chat
        self.statement = ""
        self.calls = 0
        self.prompts: list[str] = []  # the last few prompts sent, for inspection
        self.feedback: list[str] = []  # the feedback given with each request
        self.errors: list[str] = []

    def set_statement(self, statement: str) -> None:
        self.statement = statement

    def prompt(self, goal_state: str, history: Sequence[str], feedback: str = "") -> str:
        parts = ["(* Prove the theorem in Coq. *)"]
        if feedback:
            lines = " ".join(feedback.split())
            parts.append(f"(* Checker feedback and lessons: {lines} *)")
        if self.statement:
            parts.append(self.statement)
        parts.append("Proof.")
        parts.extend(f"  {t}." if not t.endswith(".") else f"  {t}" for t in history)
        if self.mode == "tactic":
            goal = goal_state.replace("\n", " ; ")
            parts.append(f"  (* goal: {goal} *)")
            parts.append("  (* next tactic: *)")
        text = "\n".join(parts) + "\n  "
        return text[-self.max_prompt_chars :]

    def parse(self, text: str) -> str:
        """The proof text of a reply: code fences opened, cut at ``Qed.``, one tactic in
        ``tactic`` mode; ``""`` when nothing usable is left."""
        fenced = _FENCE.search(text)
        if fenced:
            text = fenced.group(1)
        text = re.split(r"\b(?:Qed|Defined|Admitted|Abort)\.", text)[0]
        sentences = [normalize(s.text) for s in split_sentences(text)]
        sentences = [s for s in sentences if s and not re.match(r"(?:Proof|Theorem|Lemma)\b", s)]
        if not sentences:
            return ""
        if self.mode == "tactic":
            sentences = sentences[:1]
        return " ".join(s if s.endswith(".") else s + "." for s in sentences)

    def propose(
        self, goal_state: str, history: Sequence[str], feedback: str = ""
    ) -> list[Proposal]:
        from palestra.core.errors import PalestraError

        prompt = self.prompt(goal_state, history, feedback)
        self.prompts = [*self.prompts[-7:], prompt]
        self.feedback.append(feedback)
        seed = None if self.seed is None else self.seed + self.calls
        self.calls += 1
        try:
            if self.chat:
                completions = self.backend.chat(
                    [{"role": "user", "content": prompt}],
                    n=self.n,
                    temperature=self.temperature,
                    max_tokens=self.max_tokens,
                    seed=seed,
                )
            else:
                completions = self.backend.complete(
                    prompt,
                    n=self.n,
                    temperature=self.temperature,
                    max_tokens=self.max_tokens,
                    stop=["Qed.", "\n\n\n"],
                    seed=seed,
                )
        except (PalestraError, OSError) as e:
            self.errors.append(" ".join(str(e).split())[:300])
            return []
        votes: Counter[str] = Counter()
        for c in completions:
            script = self.parse(c.text)
            if script:
                votes[script] += 1
        total = max(1, sum(votes.values()))
        return [Proposal(t, v / total) for t, v in votes.most_common()]


class MixedProposer:
    """Several proposers' lists merged: each score times its weight, the best per tactic."""

    def __init__(self, parts: Sequence[tuple[Proposer, float]], limit: int = 40) -> None:
        self.parts = list(parts)
        self.limit = limit
        self.name = "+".join(p.name for p, _ in self.parts)

    def propose(
        self, goal_state: str, history: Sequence[str], feedback: str = ""
    ) -> list[Proposal]:
        scores: dict[str, float] = {}
        for proposer, weight in self.parts:
            for p in proposer.propose(goal_state, history, feedback):
                scores[p.tactic] = max(scores.get(p.tactic, 0.0), weight * p.score)
        return _ranked(scores, self.limit)


def make_proposer(
    kind: str,
    source: str = "",
    *,
    llm_url: str | None = None,
    llm_model: str | None = None,
    seed: int = 0,
    hammer: bool = True,
    llm_mode: str = "proof",
    llm_max_prompt_chars: int = 6000,
    llm_max_tokens: int = 128,
    tactic_index: str | Path | None = None,
    learned_weight: float = 0.5,
) -> Proposer:
    """The proposer called ``kind`` (portfolio, knn, llm, learned, portfolio+learned) for the
    problem ``source``; ``learned`` reads the index at ``tactic_index``
    (:mod:`palestra.coq.tactic_model`), weighted by ``learned_weight`` beside the portfolio."""
    if kind == "portfolio":
        return PortfolioProposer.for_source(source, hammer=hammer)
    if kind in ("learned", "portfolio+learned"):
        from palestra.coq.tactic_model import TacticModel

        if tactic_index is None:
            raise ValueError("the learned proposer needs tactic_index")
        learned = TacticModel.load(str(tactic_index))
        if kind == "learned":
            return learned
        portfolio = PortfolioProposer.for_source(source, hammer=hammer)
        return MixedProposer([(portfolio, 1.0), (learned, learned_weight)])
    if kind == "knn":
        return KNNProposer()
    if kind == "llm":
        if not llm_url or not llm_model:
            raise ValueError("the llm proposer needs llm_url and llm_model")
        from palestra.lm.backends import OpenAIBackend

        proposer = LLMProposer(
            OpenAIBackend(llm_url, llm_model, retries=1),
            mode=llm_mode,
            seed=seed,
            max_prompt_chars=llm_max_prompt_chars,
            max_tokens=llm_max_tokens,
        )
        split = split_theorem(source) if source else None
        if split is not None:
            proposer.set_statement(normalize(split.statement.text))
        return proposer
    raise ValueError(
        f"unknown proposer {kind!r}; known: portfolio, knn, llm, learned, portfolio+learned"
    )


if __name__ == "__main__":  # python -m palestra.coq.proposers: rebuild the kNN index
    print(json.dumps({k: v for k, v in build_knn_index().items() if k != "tactics"}, indent=1))
