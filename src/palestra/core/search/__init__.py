"""Search algorithms over the world contract (``palestra.core.world``)."""

from __future__ import annotations

from palestra.core.search.mcts import Node, NodeStats, SearchResult, mcts, uct_score

__all__ = ["Node", "NodeStats", "SearchResult", "mcts", "uct_score"]
