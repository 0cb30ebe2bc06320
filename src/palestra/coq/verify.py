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
   ``Admitted``) and the candidate are compiled as modules ``Original`` and ``Candidate`` (the
   candidate cannot ``Require`` the original: it is not on the candidate's load path), and a
   file that imports neither compares them, in two ways; one must succeed:

   - ``"printed"`` (tried first): with ``Set Printing All`` (no notations, implicit arguments
     and coercions shown, numbers as constructors) the theorem's type and every name the
     original declares at top level (its type, and its body where it has one: definitions,
     fixpoints, inductive types with their constructors) print the same once ``Original.c``
     is read as ``Candidate.c``. This also covers constants that cannot unfold —
     ``Parameter``, ``Axiom``, an ``Admitted`` lemma, an ``Inductive`` — whose two copies are
     different constants. A constant this reader does not see declared keeps its
     ``Original.`` prefix and the printed forms differ, which sends the check to the second
     way; it never makes two statements equal.
   - ``"conversion"``: ``Candidate.thm : (type of Original.thm)`` type-checks (definitions
     unfold), so an honest candidate whose added ``Require`` lines change only how the
     statement elaborates, not what it means, still passes.

   A notation, scope or shadowing trick that makes the same text mean something else fails
   both.
5. **Assumptions.** ``Print Assumptions Candidate.thm`` in ``Check.v`` lists only
   :data:`ALLOWED_AXIOMS` and the names the caller passes in ``allow_axioms`` (empty by
   default), and none of Coq's unsafe flags. Whatever the *statement file* assumes — an
   ``Axiom``/``Parameter``/``Conjecture``/``Hypothesis``/``Variable``/``Context`` outside a
   section, a ``Lemma`` or ``Definition`` closed with ``Admitted``, an ``Instance`` or
   ``Declare Instance`` without a proof, a ``Program`` obligation admitted, a field of a
   ``Declare Module`` — is a constant of ``Candidate`` that the proof (or the statement)
   depends on, and Coq lists it as ``Candidate.NAME``: it is rejected unless ``allow_axioms``
   names it (``cheat``, ``M.cheat``). A file cannot hide its theorem in a section, module or
   functor: ``coqc`` refuses a file that ends inside one, and a theorem in a closed one is not
   ``Candidate.thm``. Coq reports ``Unset Guard Checking``, ``#[bypass_check(...)]``,
   ``Unset Universe Checking`` and definitional UIP in the same list (``f is assumed to be
   guarded.``); those are rejected always.

The standard allow-list, as Coq 8.16's standard library names them:

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

A library's axiom is matched by its qualified name (``Classical_Prop.classic`` as Coq prints
it, against the full name); a name the statement file declares never matches the standard
list, however its modules are named (Coq prints it under ``Candidate.``).

What it does not protect against: ``coqc`` runs unsandboxed (see :mod:`palestra.coq.coqc`); a
bug in Coq's kernel or printer (the ``"printed"`` comparison trusts ``Set Printing All`` to
show the elaborated terms); libraries on the load path (their axioms are listed, their code is
trusted), and plugins the statement file loads with ``Declare ML Module`` (they run inside Coq
and can change what it checks); and what the statement file makes its theorem mean — its own
notations and definitions are the statement, so an accepted proof shows that the theorem *as
the file states it* holds from the allowed axioms, not that it says what its name suggests.
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
    THEOREM_KEYWORDS,
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
    statement_check: Literal["printed", "conversion"] = "printed"
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


_SECTIONS = ("Section Variables", "Axioms", "Opaque constants", "Transparent constants")
_ENTRY = re.compile(r"^(\S+)(?: : .*)?$")  # "name : type", or "name" (type below)


def parse_assumptions(output: str) -> tuple[list[str], list[str]]:
    """``(axiom names, everything else)`` from ``Print Assumptions`` output.

    Coq prints ``Closed under the global context``, or sections such as ``Axioms:`` whose
    entries start at column 0 (``name : type``, the type possibly on indented lines after).
    Coq 8.16 lists its unsafe flags among the axioms as sentences (``f is assumed to be
    guarded.``, ``T is assumed to be positive.``, ``c relies on an unsafe hierarchy.``,
    ``relies on definitional UIP.``): those, any other section and any line that is not an
    entry go to the second list.
    """
    axioms: list[str] = []
    others: list[str] = []
    section = None
    for line in output.splitlines():
        if not line.strip() or line.startswith("Closed under the global context"):
            continue
        if line[0].isspace():
            continue  # the type of the entry above, continued
        head = line.rstrip()
        if head.endswith(":") and (head[:-1] in _SECTIONS or "." not in head):
            section = head[:-1]  # printed names are qualified; section headers are not
            if section != "Axioms":
                others.append(section)
            continue
        entry = _ENTRY.match(head)
        if section == "Axioms" and entry:
            axioms.append(entry.group(1))
        else:
            others.append(head)
    return axioms, others


def _allowed(name: str, allowed: Collection[str]) -> bool:
    return any(a == name or a.endswith("." + name) for a in allowed)


_STATEMENT_MODULE = "Candidate."


def _statement_assumption(name: str) -> str | None:
    """The name as the statement file declares it, when Coq printed one of its constants."""
    return name[len(_STATEMENT_MODULE) :] if name.startswith(_STATEMENT_MODULE) else None


# what the original's text may declare, for the printed comparison (step 4 of the module doc)
_ATTRIBUTES = re.compile(
    r"^(?:#\[[^\]]*\]\s*|(?:Local|Global|Polymorphic|Monomorphic|Cumulative|NonCumulative"
    r"|Private|Program|Unset\s+Universe\s+Checking\s+in)\s+)*"
)
_ASSUMPTION_WORDS = frozenset(
    {
        "Parameter", "Parameters", "Axiom", "Axioms", "Conjecture", "Conjectures",
        "Hypothesis", "Hypotheses", "Variable", "Variables", "Context",
    }
)  # fmt: skip
_NAMED_WORDS = _ASSUMPTION_WORDS | frozenset(
    {
        "Definition", "Fixpoint", "CoFixpoint", "Let", "Instance", "Inductive",
        "CoInductive", "Variant", "Record", "Structure", "Class", *THEOREM_KEYWORDS,
    }
)  # fmt: skip
_BINDER_NAMES = re.compile(r"[({\[]\s*((?:[\w']+\s+)*[\w']+)\s*:")


def _declarations(sentences: Sequence[str]) -> list[str]:
    """The names the original's normalized sentences before its theorem declare at top
    level, with the constructors and fields of its types (best effort: a name missed here
    makes the printed comparison fail; one too many makes ``Check.v`` fail). Names inside a
    module or section are not top level."""
    names: list[str] = []
    depth = 0  # open Module / Module Type / Section blocks
    for text in sentences:
        body = _ATTRIBUTES.sub("", text)
        m = re.match(r"([A-Za-z_][\w']*)\s*(.*)", body, re.S)
        if not m:
            continue
        word, rest = m.groups()
        if word in ("Module", "Section") and ":=" not in rest:
            depth += 1
        elif word == "End":
            depth = max(0, depth - 1)
        if word not in _NAMED_WORDS or depth:
            continue
        if word in _ASSUMPTION_WORDS and rest[:1] in "({[":
            found = [n for group in _BINDER_NAMES.findall(rest) for n in group.split()]
        elif word in _ASSUMPTION_WORDS:
            found = re.findall(r"[A-Za-z_][\w']*", rest.split(":", 1)[0])
        else:
            first = re.match(r"[A-Za-z_][\w']*", rest)
            found = [first.group(0)] if first else []
            if found and word in _TYPE_WORDS:
                found += _constructors(found[0], rest)
        names.extend(n for n in found if n not in names)
    return names


_TYPE_WORDS = frozenset({"Inductive", "CoInductive", "Variant", "Record", "Structure", "Class"})


def _constructors(type_name: str, rest: str) -> list[str]:
    """The constructors (``| c : T``) or record fields (``mk { f : T; ... }``) declared in the
    text after ``Inductive``/``Record`` ``type_name``."""
    _, _, body = rest.partition(":=")
    if "{" in body:  # a record: its constructor (or Build_R) and its fields
        head, _, fields = body.partition("{")
        made = re.findall(r"[A-Za-z_][\w']*", head)
        return (made[:1] or [f"Build_{type_name}"]) + re.findall(
            r"(?:^|;)\s*([A-Za-z_][\w']*)\s*:", fields
        )
    return re.findall(r"(?:^|\|)\s*([A-Za-z_][\w']*)", body.strip())


def _rename(printed: str, names: Collection[str]) -> str:
    """``Original.c`` read as ``Candidate.c`` for the compared names; whitespace collapsed."""
    text = " ".join(printed.split())
    if not names:
        return text
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.sub(
        rf"(?<![\w'.])Original\.({alternatives})(?![\w'])(?!\.[\w'])", r"Candidate.\1", text
    )


def safe_verify(
    original: str,
    candidate: str,
    *,
    timeout: float = 60.0,
    load_paths: Sequence[LoadPath] = (),
    allowed_axioms: Collection[str] = ALLOWED_AXIOMS,
    allow_axioms: Collection[str] = (),
    memory_mb: int | None = None,
) -> Verdict[CoqEvidence]:
    """Check ``candidate`` (text) against the statement file ``original`` (text).

    ``allowed_axioms`` is the standard list; ``allow_axioms`` adds the caller's own: names the
    statement file declares (``cheat``, as in ``Axiom cheat : False.``; ``M.cheat`` inside a
    module) or a library axiom's full name. ``timeout`` bounds each ``coqc`` run (three, or
    four when the printed comparison fails and conversion is tried). Raises
    :class:`PalestraError` when the original has no theorem or does not compile; every
    problem with the candidate is a rejecting :class:`Verdict`.
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

    compared = [name, *(n for n in _declarations(orig_prefix) if n != name)]

    with tempfile.TemporaryDirectory(prefix="palestra-verify-") as tmp:
        d = Path(tmp)
        (d / "statement").mkdir()
        (d / "candidate").mkdir()
        statement_path = LoadPath(d / "statement", "PalestraStatement")
        candidate_path = LoadPath(d / "candidate", "Palestra")
        cut = orig.statement.start + len(orig.statement.text)
        original_v = d / "statement" / "Original.v"
        original_v.write_text(original[:cut] + "\nAdmitted.\n", encoding="utf-8")
        candidate_v = d / "candidate" / "Candidate.v"
        candidate_v.write_text(candidate, encoding="utf-8")
        head = ["From PalestraStatement Require Original.", "From Palestra Require Candidate."]
        tail = [f"Print Assumptions Candidate.{name}."]
        printed = ["Set Printing All.", "Set Printing Width 1000000."]
        for k, n in enumerate(compared):
            command = "Check" if k == 0 else "Print"
            printed.append(f'Redirect "palestra_original_{k}" {command} Original.{n}.')
            printed.append(f'Redirect "palestra_candidate_{k}" {command} Candidate.{n}.')
        printed.append("Unset Printing All.")
        (d / "Check.v").write_text("\n".join([*head, *printed, *tail]) + "\n", encoding="utf-8")
        conversion = (
            f"Definition palestra_same_statement := (Candidate.{name} : "
            f"ltac:(let t := type of Original.{name} in exact t))."
        )
        (d / "Convert.v").write_text("\n".join([*head, conversion, *tail]) + "\n", "utf-8")

        def compile_(path: Path, paths: Sequence[LoadPath]) -> CoqcResult:
            return run_coqc(
                path, load_paths=[*paths, *load_paths], timeout=timeout, memory_mb=memory_mb
            )

        def same_print() -> bool:
            for k in range(len(compared)):
                try:
                    was = (d / f"palestra_original_{k}.out").read_text(encoding="utf-8")
                    now = (d / f"palestra_candidate_{k}.out").read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    return False
                if _rename(was, compared) != _rename(now, ()):
                    return False
            return True

        ran = compile_(original_v, [statement_path])
        if not ran.ok:
            first = ran.errors[0] if ran.errors else None
            where = f"line {first.line}, column {first.column + 1}: " if first else ""
            raise PalestraError(
                "the statement file does not compile: "
                + (f"{where}{first.message}" if first else ran.stderr.strip()[-200:])
                + (" (timed out)" if ran.timed_out else "")
            )
        ran = compile_(candidate_v, [candidate_path])
        if not ran.ok:
            first = ran.errors[0] if ran.errors else None
            detail = f"line {first.line}: {first.message}" if first else ran.stderr.strip()[-200:]
            return reject(
                "timed out in coqc" if ran.timed_out else f"coqc rejects the candidate: {detail}",
                errors=tuple(ran.errors),
                timed_out=ran.timed_out,
            )
        statement_check: Literal["printed", "conversion"] = "printed"
        ran = compile_(d / "Check.v", [statement_path, candidate_path])
        if not (ran.ok and same_print()):
            statement_check = "conversion"
            ran = compile_(d / "Convert.v", [statement_path, candidate_path])
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
        return reject(
            f"unsafe assumptions: {others[0]}",
            axioms=tuple(axioms),
            statement_check=statement_check,
        )
    allowed_by_caller = set(allow_axioms)
    assumed: list[str] = []  # allowed only because the caller named them
    refused: list[str] = []  # assumptions of the statement file itself, not allowed
    for axiom in axioms:
        local = _statement_assumption(axiom)
        if local is not None:
            allowed = local in allowed_by_caller or axiom in allowed_by_caller
            (assumed if allowed else refused).append(local)
        elif not _allowed(axiom, allowed_axioms):
            if not _allowed(axiom, allowed_by_caller):
                return reject(
                    f"uses axiom {axiom}", axioms=tuple(axioms), statement_check=statement_check
                )
            assumed.append(axiom)
    if refused:
        return reject(
            f"uses axiom {', '.join(refused)}, which the statement file itself assumes "
            "(not in the allow-list)",
            axioms=tuple(axioms),
            statement_check=statement_check,
        )
    return Verdict.accept(
        CoqEvidence(
            name,
            axioms=tuple(axioms),
            statement_check=statement_check,
            seconds=time.perf_counter() - start,
        ),
        reason=f"accepted, assuming {', '.join(assumed)} (allowed by the caller)"
        if assumed
        else "accepted",
    )
