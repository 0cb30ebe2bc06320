"""Unit propagation by two watched literals: the one kernel of CDCL and the DRUP checker.

**Representation** (MiniSat's, with DIMACS literals). Per-literal arrays have length ``2n + 1``
and are indexed by the literal itself: Python's negative indices put ``-v`` at ``2n + 1 - v``,
which never meets a positive index. ``value[lit]`` is 1 (true), -1 (false) or 0;
``watches[lit]`` lists the clauses watching ``lit``, visited when ``lit`` becomes false;
``reason[v]`` (per variable) is the clause that implied ``v``'s literal, or None. A clause is a
list whose first two literals are the watched ones; a clause that implied a literal has it in
position 0. ``trail`` lists the true literals in the order they were set, and ``trail[qhead:]``
is the propagation queue: literals set whose consequences are not yet drawn.

**Two watched literals** (Moskewicz et al. 2001). When ``lit`` becomes false, each clause ``c``
watching it either has its other watch true (keep), or gets a new non-false literal to watch
(move), or is unit (its other watch is implied, with ``c`` as its reason) or falsified (a
conflict). The watch invariant, that a clause watches two non-false literals unless it is
satisfied, unit or falsified, survives backtracking, so undoing assignments never touches the
watches.

The callers keep their own state around it: ``cdcl.py`` gives each implied literal the current
decision level and counts propagations as the queue literals consumed; ``drup.py`` propagates
at the top level and under the negated literals of a lemma (a RUP check).
"""

from __future__ import annotations

__all__ = ["propagate"]


def propagate(
    value: list[int],
    watches: list[list[list[int]]],
    trail: list[int],
    qhead: int,
    reason: list[list[int] | None],
) -> tuple[int, list[int] | None]:
    """Propagate the queue ``trail[qhead:]`` to a fixpoint or to the first falsified clause.

    Implied literals are set in ``value``, get their clause in ``reason`` and join ``trail``.
    Returns the new queue head and the falsified clause, or None. On a conflict the queue head
    stops just past the literal whose watches found it: the literals behind it stay queued.
    """
    while qhead < len(trail):
        false_lit = -trail[qhead]
        qhead += 1
        ws = watches[false_lit]
        conflict = None
        i = j = 0  # ws[:j] keeps the clauses still watching false_lit
        end = len(ws)
        while i < end:
            c = ws[i]
            i += 1
            other = c[0]
            if other == false_lit:  # keep the false watch in position 1
                other = c[1]
                c[0] = other
                c[1] = false_lit
            if value[other] == 1:  # satisfied: keep watching
                ws[j] = c
                j += 1
                continue
            for k in range(2, len(c)):
                lit = c[k]
                if value[lit] != -1:  # a new watch: move
                    c[1] = lit
                    c[k] = false_lit
                    watches[lit].append(c)
                    break
            else:
                ws[j] = c
                j += 1
                if value[other] == -1:  # falsified: keep the rest of the list as it is
                    conflict = c
                    ws[j:] = ws[i:end]
                    j += end - i
                    i = end
                else:  # unit: imply the other watch
                    value[other] = 1
                    value[-other] = -1
                    reason[other if other > 0 else -other] = c
                    trail.append(other)
        del ws[j:]
        if conflict is not None:
            return qhead, conflict
    return qhead, None
