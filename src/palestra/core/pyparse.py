"""``parse_python``: ``ast.parse`` that is safe to call from several threads at once.

CPython 3.11's parser keeps per-interpreter recursion bookkeeping that two threads parsing at
the same time can corrupt (``SystemError: AST constructor recursion depth mismatch``, seen in
Palestra's threaded answer checking), and ``warnings.catch_warnings`` swaps a global filter
list. Every parse of untrusted or data-set source goes through one lock here; parses are
microseconds, so the lock costs nothing measurable.
"""

from __future__ import annotations

import ast
import threading
import warnings
from typing import Literal

__all__ = ["parse_python"]

_LOCK = threading.Lock()


def parse_python(source: str, mode: Literal["exec", "eval"] = "exec") -> ast.AST:
    """``ast.parse(source, mode=mode)`` under a process-wide lock, without the syntax and
    deprecation warnings data sets' strings raise (``"\\w"`` in MBPP's regexes). Raises
    ``SyntaxError`` (and ``ValueError`` for NUL bytes) as ``ast.parse`` does."""
    with _LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return ast.parse(source, mode=mode)
