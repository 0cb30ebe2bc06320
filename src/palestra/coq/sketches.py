"""An evolving population of proof sketches, scored by the checker.

After the 2026 agent's "evolutionary population of proof sketches". A sketch splits the goal
and adds facts before a decision procedure::

    intros.  PREP.                                                 -> goals g_1..g_m
    - FACT_1.  ...  FACT_j.  rewrite ?D_1, ..., ?D_k in *.  CLOSER.              # for g_1
    - ...                                                                          # for g_m

``PREP`` is nothing, ``split``, ``repeat split``, ``apply sqrt_lem_1`` (for ``sqrt e = c``:
``0 <= e``, ``0 <= c``, ``c * c = e``), a case split on every ``Rabs`` (``unfold Rabs in
*`` then ``Rcase_abs`` on each occurrence), or denominators cleared — in the hypotheses
(``H : l = r`` times the product ``D`` of its divisors, then ``field_simplify in H``; the side
goals ``d = 0 |- False`` closed from ``d <> 0`` or by ``lra``) and in the goal (``c1 = c2``
through ``Rmult_eq_reg_r D``: ``c1 * D = c2 * D`` simplified, and ``D <> 0`` left to the
body) — each offered only where the goal has that shape.
A fact is one of:

- a square of a term built from the statement: its real (or integer) variables and its
  numbers — ``x``, ``x - y``, ``x + y``, ``x - k``, ``x - k*y``, ``x - y - k``,
  ``x^2 - y^2`` — the hints a human gives ``nra`` (Positivstellensatz of degree 2, which
  multiplies hypotheses in pairs but does not invent squares);
- an instance of a universally quantified hypothesis ``H : forall x : R, ...`` at a small
  number (``pose proof (H (-2))``) or at a bundle of them (0, ±1, ±2, ±3): a polynomial
  identity ``forall x, p x = q x`` gives equations between its coefficients this way.

``D_i`` are the defining equations among the hypotheses (``forall x, f x = ...``), rewritten
after the facts so instances and hypotheses like ``f a = 0`` become polynomials. ``CLOSER``
is ``nra``/``nia`` (or ``lra``/``lia``).

**Scoring** (the checker's word only): a sketch is run in the session; its fitness is the share
of the goals after ``PREP`` that its tactic closes, minus a small cost per fact. Every goal
closed is archived with the facts and closer that closed it, so a proof can be assembled from
several individuals' parts; the search stops as soon as every goal of some ``PREP`` has one.

**Evolution**: the population starts with one-fact sketches ranked by how many of the
statement's symbols the term uses; each generation keeps the best half, fills the rest with
children — crossover (the parents' facts mixed, per goal) and mutation (a fact added, removed
or replaced, the closer or ``PREP`` changed) — and never evaluates a sketch twice.

**Lessons across problems**: :class:`Lessons` counts, per goal shape (the conclusion's
relation and type, the number of variables), which (closer, number of facts) closed goals,
and seeds later problems' populations with the closers that worked on that shape first. The
bench keeps one per run, so what one problem teaches reaches the next.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from palestra.coq.idetop import CoqError, CoqSession
from palestra.coq.proposers import _conclusion, _hypotheses, goal_text

__all__ = [
    "Lessons",
    "Sketch",
    "SketchResult",
    "definitions",
    "hint_terms",
    "instance_facts",
    "sketch_search",
]

_NUMBER = re.compile(r"(?<![\w.])(\d+)(?![\w.])")
_PREPS = ("", "split", "repeat split")
_RABS_CASES = (
    "unfold Rabs in *; repeat match goal with"
    " | H : context [Rcase_abs ?x] |- _ => destruct (Rcase_abs x)"
    " | |- context [Rcase_abs ?x] => destruct (Rcase_abs x) end"
)
_SQRT_EQ = "apply sqrt_lem_1"
# closes a side goal ``d = 0 |- False`` from ``0 < d``-like facts (lra) or ``d <> 0``
_NONZERO = (
    "match goal with |- False => first [lra | match goal with"
    " Hn : _ <> _ |- _ => apply Hn; lra end] end"
)
_FORALL_R = re.compile(r"^forall\s+([\w' ]+?)\s*:\s*R\s*,\s*(.*)$", re.S)
_INSTANCE_AT = ("0", "1", "(-1)", "2", "(-2)", "3", "(-3)")


def _vars(goal_state: str) -> tuple[list[str], str]:
    """The goal's variables of type R (else Z) and that type's name ('' when neither)."""
    hyps = _hypotheses(goal_state)
    for typ in ("R", "Z"):
        names = [n for n, t in hyps if t == typ]
        if names:
            return names, typ
    return [], ""


def hint_terms(goal_state: str, limit: int = 80) -> list[str]:
    """Candidate terms t (facts ``0 <= t^2``) from the goal's variables and numbers, most
    promising first: fewer pieces first, then terms whose variables the conclusion uses."""
    names, _ = _vars(goal_state)
    if not names:
        return []
    concl = _conclusion(goal_state)
    numbers = sorted({int(n) for n in _NUMBER.findall(concl) if 0 < int(n) <= 12} | {1, 2})
    terms: list[tuple[int, str]] = []
    for x in names:
        terms.append((0, x))
        terms += [(1, f"{x} - {k}") for k in numbers]
        terms += [(1, f"{x} + {k}") for k in numbers[:2]]
    for x, y in itertools.permutations(names, 2):
        if x < y:
            terms += [(1, f"{x} - {y}"), (1, f"{x} + {y}"), (3, f"{x}^2 - {y}^2")]
            terms += [(3, f"{x} * {y} - 1")]
        terms += [(2, f"{x} - {k} * {y}") for k in numbers if k > 1]
        terms += [(3, f"{x} - {k} * {y} {op} 1") for k in numbers if k > 1 for op in "+-"]
        terms += [(2, f"{x} - {y} - {k}") for k in numbers[:3]]
    used = set(re.findall(r"[A-Za-z_][\w']*", concl))

    def key(item: tuple[int, str]) -> tuple[int, int]:
        pieces, term = item
        missing = len(set(re.findall(r"[A-Za-z_][\w']*", term)) - used)
        return (pieces + 2 * missing, len(term))

    seen: set[str] = set()
    out = []
    for _, term in sorted(terms, key=key):
        if term not in seen:
            seen.add(term)
            out.append(term)
    return out[:limit]


def instance_facts(goal_state: str) -> list[str]:
    """``pose proof (H (t))`` for each hypothesis ``H : forall x : R, ...`` of one variable,
    bundles first (0, ±1; then up to ±3), then single instances."""
    out_bundles, out_single = [], []
    for name, typ in _hypotheses(goal_state):
        m = _FORALL_R.match(typ)
        if not m or len(m.group(1).split()) != 1:
            continue
        inst = [f"pose proof ({name} {t})" for t in _INSTANCE_AT]
        out_bundles += ["; ".join(inst[:3]), "; ".join(inst)]
        out_single += inst
    return out_bundles + out_single


def definitions(goal_state: str) -> list[str]:
    """Hypotheses ``forall x : R, f x = e`` with ``f`` a variable: rewritten in every fact."""
    out = []
    for name, typ in _hypotheses(goal_state):
        m = _FORALL_R.match(typ)
        if m and re.match(r"[\w']+ [\w']+ = ", m.group(2)):
            out.append(name)
    return out


def denominators(text: str) -> list[str]:
    """The non-constant divisors in ``text``: ``x`` of ``a / x``, ``(x - 2 * y)`` of
    ``a / (x - 2 * y)``, each once, in order."""
    out: list[str] = []
    for m in re.finditer(r"/\s*", text):
        rest = text[m.end() :]
        if rest.startswith("("):
            depth = 0
            for i, ch in enumerate(rest):
                depth += {"(": 1, ")": -1}.get(ch, 0)
                if depth == 0:
                    d = rest[: i + 1]
                    break
            else:
                continue
        else:
            word = re.match(r"[A-Za-z_][\w']*", rest)
            if not word:
                continue
            d = word.group(0)
        if re.search(r"[A-Za-z_]", d) and d not in out:
            out.append(d)
    return out


def _preps(goal_state: str) -> list[str]:
    concl = _conclusion(goal_state)
    preps = [p for p in _PREPS if p == "" or "/\\" in concl or "<->" in concl]
    if re.match(r"sqrt .* = [^=]+$", concl):
        preps.append(_SQRT_EQ)
    if "Rabs" in goal_state:
        preps.append(_RABS_CASES)
    real = _vars(goal_state)[1] == "R"
    hyps = _hypotheses(goal_state)
    # clear the denominators of equations among the hypotheses: H * (d_1 * ... * d_k), then
    # field_simplify; its side goals (d_i = 0 |- False) are closed from d_i <> 0 or lra
    clears = []
    for name, typ in hyps:
        ds = denominators(typ) if " = " in typ and not typ.startswith("forall") else []
        if real and ds:
            product = " * ".join(ds)
            clears.append(
                f"apply (f_equal (fun t => t * ({product}))) in {name}; "
                f"field_simplify in {name}; try {_NONZERO}"
            )
    if clears:
        preps.append("; ".join(clears))
    # clear the goal's denominators: c1 = c2 becomes c1 * D = c2 * D (field_simplify), and
    # D <> 0 is one more goal for the sketch's body (nra proves disequalities)
    ds = denominators(concl)
    if real and ds and re.fullmatch(r"[^=<>]+ = [^=<>]+", concl):
        product = " * ".join(ds)
        goal = f"apply (Rmult_eq_reg_r ({product})); [field_simplify | ]"
        preps.append(goal)
        if clears:
            preps.append("; ".join(clears) + "; " + goal)
    return preps


def _fact(term: str, typ: str) -> str:
    if term.startswith("pose proof"):
        return term
    if typ == "Z":
        return f"pose proof (Z.square_nonneg ({term}))"
    return f"pose proof (pow2_ge_0 ({term}))"


@dataclass(frozen=True)
class Sketch:
    """PREP, then the same facts and closer on every goal PREP leaves (a proof may take each
    goal's body from a different sketch: see the archive in :func:`sketch_search`)."""

    prep: str
    facts: tuple[str, ...]
    closer: str

    @property
    def key(self) -> tuple[str, tuple[str, ...], str]:
        """The same sketch whatever the order of its facts."""
        return (self.prep, tuple(sorted(self.facts)), self.closer)

    def body(self, typ: str, rewrites: Sequence[str] = ()) -> str:
        steps = [_fact(t, typ) for t in self.facts]
        if rewrites:
            steps.append("rewrite " + ", ".join(f"?{d}" for d in rewrites) + " in *")
        return "; ".join([*steps, self.closer])


@dataclass
class SketchResult:
    proof: list[str] | None  # the tactic sentences after intros, when every goal closed
    evaluated: int = 0
    generations: int = 0
    best_fitness: float = 0.0
    log: list[str] = field(default_factory=list)


class Lessons:
    """Which closers closed goals of which shape, carried across problems (a JSON file)."""

    @classmethod
    @functools.cache
    def load(cls, path: str) -> Lessons:
        """One instance per file and process, so a run's problems share what they teach."""
        return cls(path)

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self.wins: dict[str, Counter[str]] = {}
        if self.path and self.path.is_file():
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            self.wins = {k: Counter(v) for k, v in raw.items()}

    @staticmethod
    def shape(goal_state: str) -> str:
        concl = _conclusion(goal_state)
        rel = next((r for r in ("<=", "<>", ">=", "<", ">", "=") if f" {r} " in concl), "?")
        names, typ = _vars(goal_state)
        return f"{rel}:{typ or '-'}:{min(len(names), 4)}"

    def closers(self, goal_state: str, default: Sequence[str]) -> list[str]:
        won = self.wins.get(self.shape(goal_state), Counter())
        return sorted(default, key=lambda c: -won[c])

    def record(self, goal_state: str, closer: str) -> None:
        self.wins.setdefault(self.shape(goal_state), Counter())[closer] += 1
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.wins, indent=0), encoding="utf-8")


def sketch_search(
    coq: CoqSession,
    *,
    seconds: float,
    tactic_timeout: float = 2.0,
    population: int = 8,
    seed: int = 0,
    lessons: Lessons | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SketchResult:
    """Evolve sketches at the session's tip (a goal after ``Proof.``); the tip is restored.

    Returns the assembled proof (``intros.``, ``PREP.``, the bodies) when every goal of one
    ``PREP`` was closed by some sketch; the caller checks it (Qed, safe verify).
    """
    start = time.perf_counter()
    rng = random.Random(seed)
    base = coq.tip
    result = SketchResult(None)
    try:
        coq.add("intros.", timeout=tactic_timeout)
    except CoqError:
        return result
    root = coq.tip
    state = goal_text(coq.proof_state())
    instances = instance_facts(state)
    rewrites = definitions(state)
    # instances first (when a hypothesis is quantified, its instances are what the goal needs)
    terms = instances + hint_terms(state)
    _, typ = _vars(state)
    if instances and not typ:
        typ = "R"
    preps = _preps(state)
    if not terms and len(preps) == 1 and not rewrites:
        coq.edit_at(base)
        return result
    closers = ["nra", "lra"] if typ == "R" else ["nia", "lia"]
    if lessons is not None:
        closers = lessons.closers(state, closers)
    # archive[prep][goal index] = the body that closed it
    archive: dict[str, dict[int, str]] = {p: {} for p in preps}
    goal_count: dict[str, int] = {}
    seen: set[tuple[str, tuple[str, ...], str]] = set()

    def left() -> float:
        return seconds - (time.perf_counter() - start)

    def evaluate(s: Sketch) -> float:
        """Share of PREP's goals closed by the sketch (archiving each), minus a fact cost."""
        result.evaluated += 1
        coq.edit_at(root)
        if s.prep:
            try:
                coq.add(s.prep + ".", timeout=tactic_timeout)
            except CoqError:
                goal_count[s.prep] = 0
                return -1.0
        after_prep = coq.tip
        n = max(1, len(coq.proof_state().goals))
        goal_count[s.prep] = n
        closed = 0
        body = s.body(typ, rewrites)
        for i in range(n):
            if i in archive[s.prep]:
                closed += 1
                continue
            if left() <= 0:
                break
            coq.edit_at(after_prep)
            try:
                # focus goal i, run the body; closed when nothing is left under the focus
                coq.add(f"{i + 1}: {{", timeout=tactic_timeout)
                coq.add(body + ".", timeout=min(tactic_timeout, max(0.5, left())))
                if not coq.proof_state().goals:
                    archive[s.prep][i] = body
                    closed += 1
                    if lessons is not None:
                        lessons.record(state, s.closer)
            except CoqError:
                pass
        coq.edit_at(root)
        return closed / n - 0.01 * len(s.facts)

    def complete() -> str | None:
        for prep in preps:
            n = goal_count.get(prep)
            if n and len(archive[prep]) == n:
                return prep
        return None

    def new(s: Sketch) -> bool:
        if s.key in seen:
            return False
        seen.add(s.key)
        return True

    # the initial population: the closer alone, then one fact each, most promising first
    pop: list[Sketch] = [Sketch(p, (), closers[0]) for p in preps]
    pop += [Sketch(preps[0], (t,), closers[0]) for t in terms[: max(0, population - len(pop))]]
    scored: list[tuple[float, Sketch]] = []
    try:
        idle = 0  # generations in a row that had nothing new to evaluate
        while pop and left() > 0 and idle < 3:
            result.generations += 1
            fresh = [s for s in pop if new(s)]
            idle = 0 if fresh else idle + 1
            for s in fresh:
                if left() <= 0 or (should_stop is not None and should_stop()):
                    break
                scored.append((evaluate(s), s))
                done = complete()
                if done is not None:
                    result.proof = _assemble(done, archive[done], goal_count[done])
                    return result
            scored.sort(key=lambda fs: -fs[0])
            result.best_fitness = scored[0][0] if scored else 0.0
            parents = [s for _, s in scored[: max(2, population // 2)]]
            pop = []
            for _ in range(population * 4):
                if len(pop) >= population:
                    break
                a, b = rng.choice(parents), rng.choice(parents)
                child = _mutate(_crossover(a, b, rng), terms, closers, preps, rng)
                if child.key not in seen:
                    pop.append(child)
            if not pop:  # every neighbour seen: fresh two-fact sketches
                pop = [
                    Sketch(rng.choice(preps), tuple(rng.sample(terms, min(2, len(terms)))), c)
                    for c in closers[:1] * population
                ]
    finally:
        coq.edit_at(base)
    result.log.append(f"sketches: {result.evaluated} evaluated, best {result.best_fitness:.2f}")
    return result


def _crossover(a: Sketch, b: Sketch, rng: random.Random) -> Sketch:
    pool = list(dict.fromkeys(a.facts + b.facts))
    k = min(len(pool), max(1, (len(a.facts) + len(b.facts) + 1) // 2))
    facts = tuple(rng.sample(pool, k)) if pool else ()
    return Sketch(rng.choice((a.prep, b.prep)), facts, rng.choice((a.closer, b.closer)))


def _mutate(
    s: Sketch,
    terms: Sequence[str],
    closers: Sequence[str],
    preps: Sequence[str],
    rng: random.Random,
) -> Sketch:
    facts = list(s.facts)
    r = rng.random()
    if r < 0.45 or not facts:
        if terms:  # a goal may offer only PREPs and closers
            pick = terms[: max(8, len(terms) // 2)] if rng.random() < 0.7 else terms
            facts.append(rng.choice(pick))
    elif r < 0.65:
        facts.pop(rng.randrange(len(facts)))
    elif r < 0.9:
        facts[rng.randrange(len(facts))] = rng.choice(terms)
    prep, closer = s.prep, s.closer
    if rng.random() < 0.15:
        closer = rng.choice(closers)
    if rng.random() < 0.1:
        prep = rng.choice(preps)
    return Sketch(prep, tuple(dict.fromkeys(facts))[:4], closer)


def _assemble(prep: str, closed: dict[int, str], n: int) -> list[str]:
    """``intros.``, ``PREP.`` and each goal's body in goal order (a tactic acts on the first
    goal, and once it is closed the next one is first)."""
    steps = ["intros."]
    if prep:
        steps.append(prep + ".")
    return steps + [f"{closed[i]}." for i in range(n)]
