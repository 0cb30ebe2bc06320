"""Monte-Carlo tree search with priors and committed big steps, as in rlCoP.

rlCoP (Kaliszyk, Urban, Michalewski, Olšák, "Reinforcement Learning of Theorem Proving",
NeurIPS 2018) searches a connection tableau with MCTS. One *playout* descends from the root
choosing at each node the child ``i`` maximising the UCT score with priors

    UCT(i) = w_i / n_i + cp * p_i * sqrt(ln(N) / n_i)

(``w_i`` the summed values of the playouts through child ``i``, ``n_i`` its visits, ``N`` the
parent's visits, ``p_i`` the child's prior; rlCoP uses ``cp = 1`` unguided and ``cp = 2``
guided). Unvisited children come first, in decreasing prior (or, with ``fpu`` set, score
``fpu + cp * p_i * sqrt(ln N)``). The playout ends at a new leaf: the leaf's state is made
(one ``apply``), its actions get priors from the evaluator, and its value is the evaluator's
or, by default, the outcome of one random rollout of at most ``rollout_depth`` actions; the
value is added to every node on the way back. After every ``playouts_per_step`` playouts the
search commits a *big step*: the most visited child of the root becomes the root (its subtree
is kept). The attempt ends when a winning terminal state is reached (in the tree or in a
rollout), when every line from the root is lost, or when the budget is spent.

The budget counts every ``apply`` the search makes, in the tree and in its own rollouts; in
the connection world (``palestra.prove.world``) one ``apply`` is one leanCoP inference, so
the budget is rlCoP's global inference limit. A user evaluator's own work (a rollout inside
``value``) is not seen and not counted.

A departure from rlCoP: a node whose state is terminal and lost is marked *dead*, and so is
a node all of whose children are dead; selection skips dead children (an MCTS-solver style
pruning, which spends no playouts on lines known to fail).

Generic over the world contract (``legal_actions / apply / is_terminal / reward / clone``);
seeded (the same seed and evaluator give the same search).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from palestra.core.evaluator import Evaluator
from palestra.core.world import State

__all__ = ["Node", "NodeStats", "SearchResult", "mcts", "uct_score"]


class Node:
    """A node of the search tree; its state is made when the node is first visited."""

    __slots__ = ("action", "children", "dead", "depth", "n", "parent", "prior", "state", "w")

    def __init__(
        self, parent: Node | None, action: Any, prior: float, depth: int, state: State | None
    ) -> None:
        self.parent = parent
        self.action = action
        self.prior = prior
        self.depth = depth  # actions from the initial state of the attempt
        self.state = state
        self.n = 0
        self.w = 0.0
        self.children: list[Node] | None = None  # None: not expanded
        self.dead = False

    def value(self) -> float:
        return self.w / self.n if self.n else 0.0


def uct_score(child: Node, parent_n: int, cp: float, fpu: float | None = None) -> float:
    """``w/n + cp * prior * sqrt(ln(N) / n)``; unvisited: ``inf`` or ``fpu`` with ``n = 1``."""
    if child.n == 0:
        if fpu is None:
            return math.inf
        return fpu + cp * child.prior * math.sqrt(math.log(max(parent_n, 1)))
    return child.w / child.n + cp * child.prior * math.sqrt(math.log(parent_n) / child.n)


@dataclass
class NodeStats:
    """Statistics of one node for training: its state, actions and children's visits."""

    state: State
    depth: int
    actions: list[Any]
    visits: list[int]
    values: list[float]  # mean value of each child (0 where unvisited)
    big_step: bool  # a committed root (else a node on the winning line below the last root)


@dataclass
class SearchResult:
    """The outcome of one :func:`mcts` attempt."""

    solved: bool
    solution: State | None  # the winning terminal state
    inferences: int  # applies made (the connection world: leanCoP inferences)
    playouts: int
    big_steps: int
    exhausted: bool  # every line from the root was lost
    nodes: list[NodeStats] = field(default_factory=list)
    root_actions: list[Any] = field(default_factory=list)  # the committed big steps


def mcts(
    state: State,
    evaluator: Evaluator | None = None,
    *,
    cp: float = 1.0,
    playouts_per_step: int = 2000,
    budget: int = 200_000,
    rollout_depth: int = 50,
    fpu: float | None = None,
    min_visits: int = 10,
    backtrack: bool = False,
    seed: int = 0,
) -> SearchResult:
    """Search from ``state`` (left unchanged) by MCTS with big steps; see the module docstring.

    ``evaluator``: priors and values (``None``: uniform priors and random rollouts of at most
    ``rollout_depth`` actions, whose applies count against ``budget``). ``min_visits``: nodes
    on the winning line below the last root are reported in ``nodes`` when visited at least
    that often (the committed roots always are). ``backtrack``: when every line below a
    committed root is lost, return to the root before it (the dead child is skipped from then
    on) instead of giving up; the attempt then ends only when the first root is dead too.
    """
    rng = random.Random(seed)
    root = Node(None, None, 1.0, 0, state.clone())
    former: list[Node] = []  # the roots before the current one (backtrack)
    spent = 0
    playouts = 0
    since_step = 0
    big_steps = 0
    nodes: list[NodeStats] = []
    root_actions: list[Any] = []
    solution: State | None = None
    solution_node: Node | None = None

    def priors(s: State, actions: list[Any]) -> list[float]:
        if evaluator is None:
            return [1.0 / len(actions)] * len(actions)
        return list(evaluator.prior(s))

    def expand(node: Node) -> None:
        s = node.state
        assert s is not None
        actions = s.legal_actions()
        ps = priors(s, actions) if actions else []
        node.children = [
            Node(node, a, p, node.depth + 1, None) for a, p in zip(actions, ps, strict=True)
        ]

    def kill(node: Node | None) -> None:
        while node is not None and not node.dead:
            if (
                node.children is not None
                and node.children
                and not all(c.dead for c in node.children)
            ):
                return
            node.dead = True
            node = node.parent

    def stats(node: Node, big_step: bool) -> NodeStats:
        ch = node.children or []
        assert node.state is not None
        return NodeStats(
            node.state,
            node.depth,
            [c.action for c in ch],
            [c.n for c in ch],
            [c.value() for c in ch],
            big_step,
        )

    while spent < budget and solution is None:
        if root.dead:
            if not former:
                break
            root = former.pop()  # its committed child is dead; kill() went up to it
            continue
        # ---- selection: descend through expanded nodes -------------------------------
        node = root
        path = [root]
        while node.children is not None and node.children:
            best = None
            best_score = -math.inf
            n_parent = node.n
            for c in node.children:
                if c.dead:
                    continue
                sc = uct_score(c, n_parent, cp, fpu)
                if sc > best_score or (
                    sc == best_score and best is not None and c.prior > best.prior
                ):
                    best, best_score = c, sc
            if best is None:  # all children dead (kill() marks this node too)
                break
            node = best
            path.append(node)
            if node.state is None:
                parent_state = node.parent.state  # type: ignore[union-attr]
                assert parent_state is not None
                s = parent_state.clone()
                s.apply(node.action)
                spent += 1
                node.state = s
                break
        s = node.state
        assert s is not None
        # ---- evaluation --------------------------------------------------------------
        if s.is_terminal():
            value = s.reward()
            if value >= 1.0:
                solution, solution_node = s, node
            else:
                node.children = []
                kill(node)
        else:
            if node.children is None:
                expand(node)
            if evaluator is not None:
                value = float(evaluator.value(s))
            else:
                r = s.clone()
                value = 0.0
                for _ in range(rollout_depth):
                    if r.is_terminal() or spent >= budget:
                        break
                    r.apply(rng.choice(r.legal_actions()))
                    spent += 1
                if r.is_terminal() and r.reward() >= 1.0:
                    value = 1.0
                    solution = r
                    solution_node = node
        # ---- backup ------------------------------------------------------------------
        for p in path:
            p.n += 1
            p.w += value
        playouts += 1
        since_step += 1
        # ---- big step ----------------------------------------------------------------
        if solution is None and since_step >= playouts_per_step and not root.dead:
            since_step = 0
            live = [c for c in root.children or [] if c.n > 0 and not c.dead]
            if not live:
                continue
            nodes.append(stats(root, True))
            best = max(live, key=lambda c: (c.n, c.w))  # max keeps the first of equals
            root_actions.append(best.action)
            if backtrack:
                former.append(root)
            else:
                best.parent = None
            root = best
            big_steps += 1

    if solution_node is not None:  # the winning line below the last root, top down
        line = []
        node = solution_node
        while node is not None:
            line.append(node)
            node = None if node is root else node.parent
        for node in reversed(line):
            if node.n >= min_visits and node.children:
                nodes.append(stats(node, False))
    return SearchResult(
        solved=solution is not None,
        solution=solution,
        inferences=spent,
        playouts=playouts,
        big_steps=big_steps,
        exhausted=root.dead and solution is None,
        nodes=nodes,
        root_actions=root_actions,
    )
