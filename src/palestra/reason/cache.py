"""A response cache for model requests: one SQLite file, keyed by everything that decides an
answer.

    cache = ResponseCache("runs/cache.sqlite", model="qwen@http://127.0.0.1:8000/v1")
    for answer in complete_many(backend, requests, cache=cache): ...

The key of a :class:`~palestra.lm.backends.Request` is the SHA-256 of a canonical JSON of
``(model, chat?, prompt or messages, n, temperature, top_p, max_tokens, every stop string,
seed, sample index)``: two requests share an answer only when all of them agree. The value is
the list of completions (text, finish reason, token counts).

Safe under concurrency and ``kill -9``: SQLite commits each :meth:`ResponseCache.put` as one
transaction (write-ahead log), so a killed writer leaves the cache as it was before or after
that answer, never half of it; threads share one connection under a lock, and several
processes may use one file (SQLite's locking, with a busy timeout).

What it does not do: a request without a seed is neither looked up nor stored (a sampled
answer with no seed is not reproducible, and caching it would hand back the same "fresh"
sample forever); it does not expire entries, nor know whether the model behind a name has
changed (put a version in ``model`` where it may); it is not meant for a network file system.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from palestra.core.errors import PalestraError
from palestra.lm.backends import Completion, Request

__all__ = ["ResponseCache", "request_key"]


def request_key(model: str, request: Request) -> str:
    """The cache key of ``request`` to ``model`` (hex SHA-256 of its canonical JSON)."""
    sampling = dataclasses.asdict(request.sampling)
    stop = sampling["stop"]
    sampling["stop"] = [stop] if isinstance(stop, str) else list(stop or [])
    what = {
        "model": model,
        "chat": request.chat,
        "prompt": request.prompt,
        "sampling": sampling,
        "sample": request.sample,
    }
    text = json.dumps(what, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class ResponseCache:
    """Answers to requests to ``model``, stored in the SQLite file ``path`` (created)."""

    def __init__(self, path: str | Path, *, model: str) -> None:
        self.path = Path(path)
        self.model = model
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, completions TEXT)"
            )
            self._db.commit()
        except sqlite3.Error as e:
            raise PalestraError(f"{self.path}: cannot open the response cache: {e}") from None

    def get(self, request: Request) -> list[Completion] | None:
        """The stored completions of ``request``, or None (always None without a seed)."""
        if request.sampling.seed is None:
            return None
        key = request_key(self.model, request)
        with self._lock:
            row = self._db.execute(
                "SELECT completions FROM answers WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
        return [Completion(**c) for c in json.loads(row[0])]

    def put(self, request: Request, completions: list[Completion]) -> None:
        """Store ``completions`` as the answer to ``request`` (ignored without a seed)."""
        if request.sampling.seed is None:
            return
        key = request_key(self.model, request)
        value = json.dumps([dataclasses.asdict(c) for c in completions])
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?)", (key, value))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
