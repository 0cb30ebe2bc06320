"""Safe verify: is a candidate file an honest proof of the original file's theorem?

The original is a statement file (miniF2F style: preamble, definitions, ``Theorem name : T.``,
``Proof.`` and ``Admitted.`` or nothing). A candidate is accepted only when all of these hold:

1. **Shape.** The candidate's sentences before the theorem contain the original's (comments
   dropped, whitespace normalized), preceded by nothing but ``Require`` lines; the theorem's
   statement sentence is the same text; its proof ends with its only ``Qed.`` or
   ``Defined.`` and nothing follows.
2. **No escape hatches.** No sentence the candidate added uses ``Admitted``, ``admit``,
   ``give_up`` or ``Abort``, or is one of the commands in :data:`FORBIDDEN_COMMANDS` (``Axiom``,
   ``Parameter``, ``Conjecture``, ``Hypothesis``, ``Variable``, ``Context``, ``Set``/``Unset``
   (e.g. ``Unset Guard Checking``), ``Notation``, ``Declare ML Module``, ``Load``, ...). Added
   sentences before the theorem may only be ``Require`` lines, helper lemmas with their proofs,
   ``Definition``/``Fixpoint``/``Ltac`` — and a helper's name may not occur in the statement
   (no shadowing of ``PI`` or of the original's definitions).
3. **Coq accepts it.** ``coqc`` compiles the candidate (so ``Qed`` checked the proof term; a
   tactic that "succeeds" without closing the goal makes ``Qed`` fail).
4. **Same statement, semantically.** The original (cut after its statement, closed with
   ``Admitted``) and the candidate are compiled as modules ``Original`` and ``Candidate``, and
   ``Check.v`` — which imports neither — type-checks
   ``Candidate.thm : (type of Original.thm)``, so a notation, scope or shadowing trick that
   makes the same text mean something else is caught. When the original itself declares
   ``Parameter``/``Axiom`` constants, the two copies of those constants differ and this check
   cannot be made: ``statement_check`` is then ``"textual"`` (steps 1-2 only).
5. **Axioms.** ``Print Assumptions Candidate.thm`` in ``Check.v`` lists only
   :data:`ALLOWED_AXIOMS` (plus the axioms the original itself declares), and no other
   assumption section (type-in-type, unguarded fixpoints, ...).

The allow-list, as Coq 8.16's standard library names them:

    Coq.Reals.ClassicalDedekindReals.sig_forall_dec       \\  the axioms behind Coq's
    Coq.Reals.ClassicalDedekindReals.sig_not_dec          /   classical real numbers
    Coq.Logic.FunctionalExtensionality.functional_extensionality_dep
    Coq.Logic.Classical_Prop.classic                       excluded middle
    Coq.Logic.PropExtensionality.propositional_extensionality
    Coq.Logic.ProofIrrelevance.proof_irrelevance
    Coq.Logic.Eqdep.Eq_rect_eq.eq_rect_eq                  (Eqdep; implied by classic)
    Coq.Logic.JMeq.JMeq_eq
    Coq.Logic.ClassicalEpsilon.constructive_indefinite_description
    Coq.Logic.IndefiniteDescription.constructive_indefinite_description

What it does not protect against: ``coqc`` runs unsandboxed (see :mod:`palestra.coq.coqc`); a
bug in Coq's kernel; libraries on the load path (their axioms are listed, their code is
trusted); a candidate that ``Require``\\ s a library with global side effects on elaboration
when the statement check is only textual.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from palestra.coq.coqc import CoqcError, CoqcResult, LoadPath, run_coqc
from palestra.coq.script import (
    Sentence,
    normalize,
    split_theorem,
    strip_comments,
    theorem_name,
)
from palestra.core.errors import PalestraError
from palestra.core.verdict import Verdict

__all__ = [
    "ALLOWED_AXIOMS",
    "FORBIDDEN_COMMANDS",
    "CoqEvidence",
    "Verdict",
    "parse_assumptions",
    "safe_verify",
]

ALLOWED_AXIOMS: frozenset[str] = frozenset(
    {
        "Coq.Reals.ClassicalDedekindReals.sig_forall_dec",
        "Coq.Reals.ClassicalDedekindReals.sig_not_dec",
        "Coq.Logic.FunctionalExtensionality.functional_extensionality_dep",
        "Coq.Logic.Classical_Prop.classic",
        "Coq.Logic.PropExtensionality.propositional_extensionality",
        "Coq.Logic.ProofIrrelevance.proof_irrelevance",
        "Coq.Logic.Eqdep.Eq_rect_eq.eq_rect_eq",
        "Coq.Logic.JMeq.JMeq_eq",
        "Coq.Logic.ClassicalEpsilon.constructive_indefinite_description",
        "Coq.Logic.IndefiniteDescription.constructive_indefinite_description",
    }
)

FORBIDDEN_COMMANDS: frozenset[str] = frozenset(
    {
        "Admitted", "Abort", "Axiom", "Axioms", "Parameter", "Parameters", "Conjecture",
        "Hypothesis", "Hypotheses", "Variable", "Variables", "Context", "Declare", "Load",
        "Set", "Unset", "Local", "Global", "Export", "Notation", "Infix", "Reserved",
        "Open", "Close", "Bind", "Delimit", "Arguments", "Coercion", "Instance", "Existing",
        "Canonical", "Module", "Section", "End", "Include", "Extract", "Extraction",
        "Redirect", "Time", "Fail", "Succeed", "Primitive", "Register", "Inductive",
        "CoInductive", "Variant", "Record", "Structure", "Class", "Program", "Obligation",
        "Next", "Equations", "Let", "Polymorphic", "Monomorphic", "Universe", "Universes",
        "Constraint", "Strategy",
    }
)  # fmt: skip

_ESCAPE_WORDS = re.compile(r"\b(?:admit|give_up|Admitted|Abort|admit_dependent)\b")
_ALLOWED_INSERTED = frozenset(
    {"Require", "From", "Import", "Definition", "Fixpoint", "Ltac", "Proof", "Qed", "Defined"}
)
_TERMINATORS = ("Qed", "Defined")
_REQUIRE = re.compile(r"^(?:From\s+[\w.]+\s+)?Require\b")
_DECLARED = re.compile(r"^(?:Definition|Fixpoint|Ltac)\s+([\w']+)")


@dataclass(frozen=True)
class CoqEvidence:
    """What safe verify saw: the theorem, the axioms the proof uses, coqc's errors on the
    candidate (lines of the candidate), how the statement was compared, time."""

    theorem: str
    axioms: tuple[str, ...] = ()
    errors: tuple[CoqcError, ...] = ()
    statement_check: Literal["conversion", "textual"] = "conversion"
    timed_out: bool = False
    seconds: float = 0.0


def _first_word(sentence: str) -> str:
    text = normalize(sentence)
    text = re.sub(r"^(?:\d+|all|\[[\w']+\])\s*:\s*", "", text)  # goal selectors
    m = re.match(r"[A-Za-z_][\w']*", text)
    return m.group(0) if m else ""


def _identifiers(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][\w']*", re.sub(r'"(?:[^"]|"")*"', " ", strip_comments(text))))


def _check_added(sentences: Sequence[Sentence], where: str) -> str | None:
    """The first problem with sentences the candidate added, or None."""
    for s in sentences:
        code = re.sub(r'"(?:[^"]|"")*"', '""', strip_comments(s.text))
        m = _ESCAPE_WORDS.search(code)
        if m:
            return f"{where} uses {m.group(0)} (line {s.line})"
        word = _first_word(s.text)
        if word in FORBIDDEN_COMMANDS:
            return f"{where} adds a forbidden command {word} (line {s.line})"
    return None


def parse_assumptions(output: str) -> tuple[list[str], list[str]]:
    """``(axiom names, other section headers)`` from ``Print Assumptions`` output.

    Coq prints ``Closed under the global context`` or sections such as ``Axioms:`` whose
    entries start at column 0 (``name : type``, the type possibly on indented lines after).
    """
    axioms: list[str] = []
    others: list[str] = []
    section = None
    for line in output.splitlines():
        if not line.strip() or line.startswith("Closed under the global context"):
            continue
        if line[0].isspace():
            continue
        if line.rstrip().endswith(":") and " : " not in line:
            section = line.strip()[:-1]
            if section != "Axioms":
                others.append(section)
            continue
        name = line.split(" : ", 1)[0].strip()
        if section == "Axioms":
            axioms.append(name)
        elif section is not None:
            others.append(f"{section}: {name}")
    return axioms, others


def _allowed(name: str, allowed: Collection[str]) -> bool:
    return any(a == name or a.endswith("." + name) for a in allowed)


def safe_verify(
    original: str,
    candidate: str,
    *,
    timeout: float = 60.0,
    load_paths: Sequence[LoadPath] = (),
    allowed_axioms: Collection[str] = ALLOWED_AXIOMS,
    memory_mb: int | None = None,
) -> Verdict[CoqEvidence]:
    """Check ``candidate`` (text) against the statement file ``original`` (text).

    ``timeout`` bounds each of the three ``coqc`` runs. Raises :class:`PalestraError` when the
    original has no theorem; every problem with the candidate is a rejecting :class:`Verdict`.
    """
    start = time.perf_counter()
    orig = split_theorem(original)
    if orig is None:
        raise PalestraError("original file has no Theorem/Lemma statement")
    name = orig.name

    def reject(reason: str, **kw: Any) -> Verdict[CoqEvidence]:
        seconds = time.perf_counter() - start
        return Verdict.reject(reason, CoqEvidence(name, seconds=seconds, **kw))

    cand = split_theorem(candidate, name)
    if cand is None:
        return reject(f"theorem {name} not found in the candidate")
    if normalize(cand.statement.text) != normalize(orig.statement.text):
        return reject(f"statement of {name} changed (line {cand.statement.line})")
    orig_prefix = [normalize(s.text) for s in orig.prefix]
    cand_prefix = [normalize(s.text) for s in cand.prefix]
    # the candidate may put Require lines before the original's text (tactic libraries whose
    # import would otherwise reopen scopes after the original's ``Open Scope``)
    lead = 0
    while cand_prefix[lead : lead + len(orig_prefix)] != orig_prefix:
        if lead >= len(cand_prefix) or not _REQUIRE.match(cand_prefix[lead]):
            return reject("the text before the theorem differs from the original")
        lead += 1

    # sentences the candidate added before the theorem: requires and helper lemmas only
    inserted = cand.prefix[:lead] + cand.prefix[lead + len(orig_prefix) :]
    problem = _check_added(inserted, "an added sentence") or _check_added(cand.proof, "the proof")
    if problem:
        return reject(problem)
    statement_ids = _identifiers(cand.statement.text)
    in_lemma = False
    for s in inserted:
        word = _first_word(s.text)
        declared = theorem_name(s.text)
        m = _DECLARED.match(normalize(s.text))
        new_name = declared or (m.group(1) if m else None)
        if new_name is not None and new_name in statement_ids:
            return reject(f"added declaration {new_name} shadows a name in the statement")
        if declared is not None:
            in_lemma = True
        elif word in _TERMINATORS:
            in_lemma = False
        elif not in_lemma and word not in _ALLOWED_INSERTED:
            return reject(f"unsupported command {word or s.text[:20]!r} before the theorem")
    if in_lemma:
        return reject("an added lemma before the theorem has no Qed")
    ends = [k for k, s in enumerate(cand.proof) if _first_word(s.text) in _TERMINATORS]
    if not ends:
        return reject(f"the proof of {name} does not end with Qed or Defined")
    if ends != [len(cand.proof) - 1]:
        return reject(f"text follows the end of the proof of {name}")

    original_assumed = [
        re.match(r"(?:Parameters?|Axioms?|Conjecture|Hypothes[ie]s|Variables?)\s+([\w']+)", t)
        for t in orig_prefix
    ]
    assumed = {f"Candidate.{m.group(1)}" for m in original_assumed if m}
    statement_check: Literal["conversion", "textual"] = "textual" if assumed else "conversion"

    with tempfile.TemporaryDirectory(prefix="palestra-verify-") as tmp:
        d = Path(tmp)
        paths = [LoadPath(d, "Palestra"), *load_paths]
        cut = orig.statement.start + len(orig.statement.text)
        (d / "Original.v").write_text(original[:cut] + "\nAdmitted.\n", encoding="utf-8")
        (d / "Candidate.v").write_text(candidate, encoding="utf-8")
        check = ["From Palestra Require Original Candidate."]
        if statement_check == "conversion":
            check.append(
                f"Definition palestra_same_statement := (Candidate.{name} : "
                f"ltac:(let t := type of Original.{name} in exact t))."
            )
        check.append(f"Print Assumptions Candidate.{name}.")
        (d / "Check.v").write_text("\n".join(check) + "\n", encoding="utf-8")

        def compile_(file: str) -> CoqcResult:
            return run_coqc(d / file, load_paths=paths, timeout=timeout, memory_mb=memory_mb)

        ran = compile_("Original.v")
        if not ran.ok:
            raise PalestraError(
                f"original statement does not compile: {ran.errors[0] if ran.errors else ''}"
                + (" (timed out)" if ran.timed_out else "")
            )
        ran = compile_("Candidate.v")
        if not ran.ok:
            first = ran.errors[0] if ran.errors else None
            detail = f"line {first.line}: {first.message}" if first else ran.stderr.strip()[-200:]
            return reject(
                "timed out in coqc" if ran.timed_out else f"coqc rejects the candidate: {detail}",
                errors=tuple(ran.errors),
                timed_out=ran.timed_out,
            )
        ran = compile_("Check.v")
        if not ran.ok:
            return reject(
                "statement differs from the original after elaboration"
                if not ran.timed_out
                else "timed out checking the statement",
                errors=tuple(ran.errors),
                timed_out=ran.timed_out,
                statement_check=statement_check,
            )
        axioms, others = parse_assumptions(ran.stdout)
    if others:
        return reject(f"unsafe assumptions: {others[0]}", axioms=tuple(axioms))
    bad = [a for a in axioms if not _allowed(a, allowed_axioms) and a not in assumed]
    if bad:
        return reject(f"uses axiom {bad[0]}", axioms=tuple(axioms))
    return Verdict.accept(
        CoqEvidence(
            name,
            axioms=tuple(axioms),
            statement_check=statement_check,
            seconds=time.perf_counter() - start,
        )
    )
