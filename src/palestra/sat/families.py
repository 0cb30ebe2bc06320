"""SAT families beyond SR(n): SATLIB loaders and seeded generators with known status.

Every instance is an :class:`Instance`: a formula, its family, and its satisfiability together
with where that answer comes from (``status_source``):

* ``satlib``: SATLIB's own labels (``uf*``, ``flat*`` satisfiable; ``uuf*`` unsatisfiable),
  read from ``palestra.core.data.locate("satlib")``;
* ``planted``: a graph colouring generated around a hidden colouring (satisfiable by
  construction);
* ``matching``: a pigeonhole-like matching formula, satisfiable iff its bipartite graph has a
  matching that saturates the pigeons, computed by augmenting paths (Kuhn's algorithm);
* ``bfs``: a grid-planning formula, satisfiable iff a breadth-first search over (cell, visited
  waypoints) reaches all waypoints within the horizon;
* ``solver``: MiniSat 2.2's answer (unplanted colourings, random 3-SAT generated here).

:func:`check_status` solves an instance with MiniSat and compares (the tests do so for every
generator; a SATISFIABLE answer's model is checked against the formula). The generators are
functions of their arguments and a ``numpy`` generator, so a seed reproduces an instance.

The encodings (DIMACS variables numbered as stated in each generator):

* **colouring** ``x(v, c)``, vertex ``v`` has colour ``c``: at least one colour per vertex,
  at most one (pairwise), and ``-x(u, c) | -x(w, c)`` for every edge and colour. No symmetry
  breaking (as the SATLIB ``flat`` files).
* **pigeonhole-like** ``p(i, j)``, pigeon ``i`` sits in hole ``j``, only for the holes
  ``j`` allowed to ``i`` (each pigeon a seeded random set of ``degree`` holes; ``degree =
  holes`` is the classic PHP): each pigeon sits somewhere, no hole holds two pigeons. With
  more pigeons than holes the matching principle makes it unsatisfiable and hard for
  resolution.
* **planning** ``at(cell, t)``, the agent is at ``cell`` at step ``t``: exactly one cell per
  step (pairwise at-most-one), the start cell at ``t = 0``, each step moves to a free
  neighbour or stays (``at(c, t) -> OR at(n, t + 1)``), and every waypoint is visited at some
  step (one clause per waypoint). Obstacles are cells never occupied.

Not here: industrial or crafted SAT-competition families; the status of an unplanted
colouring or a generated random 3-SAT formula is only MiniSat's word.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from palestra.core.errors import PalestraError
from palestra.sat.cnf import CNF

__all__ = [
    "FAMILIES",
    "Instance",
    "check_status",
    "colouring",
    "family_instances",
    "pigeonhole",
    "planning",
    "random_3sat",
    "satlib_family",
]


@dataclass(frozen=True)
class Instance:
    """A formula with its family and satisfiability (see the module docstring)."""

    name: str
    family: str
    cnf: CNF
    satisfiable: bool
    status_source: str  # satlib, planted, matching, bfs, solver


def _minisat_status(cnf: CNF) -> bool:
    from pysat.solvers import Minisat22

    with Minisat22(bootstrap_with=cnf.clauses) as s:
        ok = bool(s.solve())
        if ok and not cnf.check_model(_full_model(s.get_model(), cnf.num_vars)):
            raise RuntimeError("MiniSat returned an assignment that falsifies a clause")
    return ok


def _full_model(model: list[int] | None, n: int) -> list[int]:
    present = {abs(x): x for x in model or () if abs(x) <= n}
    return [present.get(v, -v) for v in range(1, n + 1)]


def check_status(inst: Instance) -> bool:
    """True when MiniSat's answer (its model checked) agrees with ``inst.satisfiable``."""
    return _minisat_status(inst.cnf) == inst.satisfiable


# ------------------------------------------------------------------------------ SATLIB
def satlib_family(
    name: str, k: int | None = None, seed: int = 0, root: str | Path | None = None
) -> list[Instance]:
    """``k`` seeded-random instances (all when ``None``) of SATLIB folder ``name`` (``uf50``,
    ``uuf225``, ``flat75-180``, ...), sorted by file name; files that do not parse (``flat30-1``
    lacks its header) are skipped."""
    from palestra.core.data import locate
    from palestra.sat.dimacs import DimacsError, read_dimacs

    folder = locate("satlib", root, part=name)
    if name.startswith("uuf"):
        satisfiable = False
    elif name.startswith(("uf", "flat")):
        satisfiable = True
    else:
        raise PalestraError(f"SATLIB family {name!r}: expected uf*, uuf* or flat*")
    files = sorted(folder.glob("*.cnf"))
    order = np.random.default_rng([seed, len(files)]).permutation(len(files))
    out: list[Instance] = []
    for i in order:
        if k is not None and len(out) >= k:
            break
        try:
            cnf = read_dimacs(files[i], strict=False)
        except DimacsError:
            continue
        out.append(Instance(files[i].stem, name, cnf, satisfiable, "satlib"))
    return sorted(out, key=lambda x: x.name)


# ------------------------------------------------------------------------ random 3-SAT
def random_3sat(n: int, rng: np.random.Generator, ratio: float = 4.26) -> Instance:
    """Uniform random 3-SAT with ``round(ratio * n)`` clauses of 3 distinct variables (the
    threshold ratio 4.26 by default); status by MiniSat."""
    m = round(ratio * n)
    clauses = []
    for _ in range(m):
        vs = rng.choice(n, size=3, replace=False) + 1
        signs = rng.random(3) < 0.5
        clauses.append([int(v) if s else -int(v) for v, s in zip(vs, signs, strict=True)])
    cnf = CNF(n, clauses)
    return Instance(f"r3sat-{n}", "random-3sat", cnf, _minisat_status(cnf), "solver")


# --------------------------------------------------------------------------- colouring
def colouring(
    vertices: int, edges: int, colours: int, rng: np.random.Generator, planted: bool = True
) -> Instance:
    """A random graph with ``edges`` distinct edges coloured with ``colours`` colours.

    ``planted``: the vertices get a hidden random colouring first and only edges between
    different colours are drawn, so the formula is satisfiable by construction; otherwise
    edges are uniform and MiniSat gives the status. Variable ``x(v, c) = v * colours + c + 1``.
    """
    if vertices < 2 or colours < 1:
        raise ValueError(f"need vertices >= 2 and colours >= 1, got {vertices}, {colours}")
    hidden = rng.integers(colours, size=vertices)
    chosen: set[tuple[int, int]] = set()
    limit = vertices * (vertices - 1) // 2
    while len(chosen) < min(edges, limit):
        u, w = (int(x) for x in rng.choice(vertices, size=2, replace=False))
        if planted and hidden[u] == hidden[w]:
            continue
        chosen.add((min(u, w), max(u, w)))

    def x(v: int, c: int) -> int:
        return v * colours + c + 1

    clauses = [[x(v, c) for c in range(colours)] for v in range(vertices)]
    for v in range(vertices):
        clauses += [[-x(v, a), -x(v, b)] for a, b in itertools.combinations(range(colours), 2)]
    for u, w in sorted(chosen):
        clauses += [[-x(u, c), -x(w, c)] for c in range(colours)]
    cnf = CNF(vertices * colours, clauses)
    name = f"col-{vertices}-{len(chosen)}-{colours}"
    if planted:
        return Instance(name, "colouring", cnf, True, "planted")
    return Instance(name, "colouring", cnf, _minisat_status(cnf), "solver")


# ------------------------------------------------------------------------- pigeonhole
def _max_matching(allowed: list[list[int]], holes: int) -> int:
    """Size of a maximum matching of pigeons to allowed holes (Kuhn's augmenting paths)."""
    owner = [-1] * holes

    def augment(i: int, seen: list[bool]) -> bool:
        for j in allowed[i]:
            if not seen[j]:
                seen[j] = True
                if owner[j] < 0 or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return sum(augment(i, [False] * holes) for i in range(len(allowed)))


def pigeonhole(
    pigeons: int, holes: int, rng: np.random.Generator, degree: int | None = None
) -> Instance:
    """Pigeons into holes, each pigeon allowed ``degree`` seeded-random holes (all when
    ``None``: the classic PHP). Satisfiable iff a matching saturates the pigeons.
    Variable ``p(i, j) = i * holes + j + 1``."""
    if pigeons < 1 or holes < 1:
        raise ValueError(f"need pigeons, holes >= 1, got {pigeons}, {holes}")
    d = holes if degree is None else min(max(degree, 1), holes)
    allowed = [
        sorted(int(j) for j in rng.choice(holes, size=d, replace=False)) for _ in range(pigeons)
    ]

    def p(i: int, j: int) -> int:
        return i * holes + j + 1

    clauses = [[p(i, j) for j in allowed[i]] for i in range(pigeons)]
    for j in range(holes):
        sitters = [i for i in range(pigeons) if j in allowed[i]]
        clauses += [[-p(a, j), -p(b, j)] for a, b in itertools.combinations(sitters, 2)]
    satisfiable = _max_matching(allowed, holes) == pigeons
    name = f"php-{pigeons}-{holes}-{d}"
    return Instance(name, "pigeonhole", CNF(pigeons * holes, clauses), satisfiable, "matching")


# --------------------------------------------------------------------------- planning
def _bfs_steps(
    free: np.ndarray, start: tuple[int, int], waypoints: list[tuple[int, int]]
) -> int | None:
    """Fewest steps from ``start`` that visit every waypoint (moves: 4-neighbours or stay),
    by breadth-first search over (cell, visited set); None when impossible."""
    h, w = free.shape
    index = {c: k for k, c in enumerate(waypoints)}
    full = (1 << len(waypoints)) - 1

    def mark(cell: tuple[int, int], mask: int) -> int:
        return mask | (1 << index[cell]) if cell in index else mask

    first = (start, mark(start, 0))
    dist = {first: 0}
    queue = deque([first])
    while queue:
        (cell, mask) = state = queue.popleft()
        if mask == full:
            return dist[state]
        r, c = cell
        for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            nr, nc = r + dr, c + dc
            if 0 <= nr < h and 0 <= nc < w and free[nr, nc]:
                nxt = ((nr, nc), mark((nr, nc), mask))
                if nxt not in dist:
                    dist[nxt] = dist[state] + 1
                    queue.append(nxt)
    return None


def planning(
    size: int,
    waypoints: int,
    rng: np.random.Generator,
    obstacles: float = 0.2,
    slack: int = 0,
) -> Instance:
    """An agent on a ``size x size`` grid with a share ``obstacles`` of blocked cells must
    visit ``waypoints`` cells within a horizon of ``T`` steps (see the module docstring).

    ``T`` is the BFS optimum plus ``slack`` (satisfiable) or, for negative ``slack``, the
    optimum minus ``-slack`` (unsatisfiable); when no tour exists at all, ``T`` is ``2 *
    size`` and the instance is unsatisfiable. Variable ``at(cell, t) = t * cells + cell + 1``
    over the free cells.
    """
    if size < 2 or waypoints < 1:
        raise ValueError(f"need size >= 2 and waypoints >= 1, got {size}, {waypoints}")
    free = rng.random((size, size)) >= obstacles
    cells = [(r, c) for r in range(size) for c in range(size) if free[r, c]]
    if len(cells) < waypoints + 1:
        free[:] = True
        cells = [(r, c) for r in range(size) for c in range(size)]
    picks = rng.choice(len(cells), size=waypoints + 1, replace=False)
    start, goals = cells[int(picks[0])], [cells[int(i)] for i in picks[1:]]
    best = _bfs_steps(free, start, goals)
    horizon = 2 * size if best is None else max(best + slack, 0)
    satisfiable = best is not None and best <= horizon
    pos = {cell: k for k, cell in enumerate(cells)}
    nc = len(cells)

    def at(cell: tuple[int, int], t: int) -> int:
        return t * nc + pos[cell] + 1

    def moves(cell: tuple[int, int]) -> list[tuple[int, int]]:
        r, c = cell
        nbrs = [(r + dr, c + dc) for dr, dc in ((0, 0), (0, 1), (1, 0), (0, -1), (-1, 0))]
        return [x for x in nbrs if x in pos]

    clauses: list[list[int]] = [[at(start, 0)]]
    for t in range(horizon + 1):
        clauses.append([at(cell, t) for cell in cells])
        clauses += [[-at(a, t), -at(b, t)] for a, b in itertools.combinations(cells, 2)]
        if t < horizon:
            clauses += [[-at(cell, t)] + [at(n, t + 1) for n in moves(cell)] for cell in cells]
    clauses += [[at(g, t) for t in range(horizon + 1)] for g in goals]
    name = f"plan-{size}-{waypoints}-T{horizon}"
    return Instance(name, "planning", CNF(nc * (horizon + 1), clauses), satisfiable, "bfs")


# ------------------------------------------------------------------------ family sets
FAMILIES = ("random-3sat", "colouring", "pigeonhole", "planning")


def family_instances(family: str, count: int, seed: int, scale: str = "train") -> list[Instance]:
    """``count`` seeded instances of a generated ``family`` at a ``scale``: ``"train"``
    (small, for labelling and training) or ``"test"`` (larger, for the bench), with satisfiable
    and unsatisfiable members mixed."""
    if family not in FAMILIES:
        raise PalestraError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
    if scale not in ("train", "test"):
        raise PalestraError(f"unknown scale {scale!r}; expected train or test")
    rng = np.random.default_rng([seed, FAMILIES.index(family), scale == "test"])
    big = scale == "test"
    out = []
    for i in range(count):
        if family == "random-3sat":
            inst = random_3sat(int(rng.integers(180, 231) if big else rng.integers(30, 81)), rng)
        elif family == "colouring":
            v = int(rng.integers(200, 301) if big else rng.integers(20, 46))
            inst = colouring(v, round(v * 2.3), 3, rng, planted=bool(i % 2 == 0))
        elif family == "pigeonhole":
            holes = int(rng.integers(8, 11) if big else rng.integers(4, 8))
            extra = int(rng.integers(0, 2))  # 0: as many pigeons as holes
            deg = int(rng.integers(3, holes + 1))
            inst = pigeonhole(holes + extra, holes, rng, degree=deg)
        else:
            size = int(rng.integers(7, 9) if big else rng.integers(4, 7))
            slack = 1 if i % 2 == 0 else -1
            goals = int(rng.integers(5, 8) if big else rng.integers(2, 4))
            inst = planning(size, goals, rng, slack=slack)
        out.append(
            Instance(
                f"{inst.name}-s{seed}-{i}",
                inst.family,
                inst.cnf,
                inst.satisfiable,
                inst.status_source,
            )
        )
    return out
