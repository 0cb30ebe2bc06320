"""Continuous batching: one decoding thread runs every sequence of every request together.

A :class:`~palestra.lm.backends.LocalBackend` asked from several threads at once (the server's
connections, an evaluation's thread pool) hands each request's
:class:`~palestra.lm.backends.Generation` to its :class:`Scheduler`. The scheduler's thread
owns the model and loops:

1. **join**: every request waiting (first come, first served, while the batch has fewer than
   ``max_batch`` rows; a request larger than that runs when the batch is empty) is prefilled
   on its own, its prompt run once through an ordinary
   :class:`~palestra.models.transformer.KVCache`, copied into one row of the
   :class:`~palestra.models.transformer.SlotCache` per sample, and its first tokens sampled;
2. **leave**: the rows of finished samples and of requests whose consumer went away
   (:meth:`Generation.cancel`, e.g. a client that disconnected mid-stream) are freed;
3. **step**: one forward pass gives every row in the batch its next token's logits, each row
   at its own position; each request samples its own rows, then its deltas go to its consumer.

A request's texts do not depend on what else is in the batch: each request samples with its
own ``torch.Generator`` (seeded by its ``seed``), over its own unfinished samples in sample
order, exactly as the one-at-a-time path does; the batch changes only which rows share a
matrix product, which changes a logit in its last bits at most.

What it does not do: it does not batch prefills of different requests (each prompt runs alone,
once), preempt or swap out rows when memory runs short (``max_batch`` bounds the rows; the
cache of a row is ``block_size`` positions long from the start), or decode models whose
attention cannot take rows of different lengths (:meth:`SlotCache.supports`; those keep the
one-at-a-time path). A consumer that stops reading without closing its iterator keeps its
rows until its samples finish.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Any

import torch

from palestra.models.transformer import KVCache, SlotCache

if TYPE_CHECKING:
    from palestra.lm.backends import Generation, LocalBackend

__all__ = ["Scheduler"]

IDLE_RELEASE_S = 1.0  # with nothing to decode for this long, the cache's memory is given back


class Scheduler:
    """The decoding thread of one :class:`~palestra.lm.backends.LocalBackend` (see the module
    docstring). :meth:`submit` queues a generation; its deltas then arrive through the
    generation's own queue. ``stats`` counts steps, rows and requests (for tests and benches).
    """

    def __init__(self, backend: LocalBackend, max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.backend = backend
        self.max_batch = max_batch
        self.stats = dict.fromkeys(
            ("steps", "row_steps", "peak_rows", "admitted", "finished", "cancelled", "failed"), 0
        )
        self._waiting: deque[Generation] = deque()
        self._rows: list[tuple[Generation, int]] = []  # (generation, sample) of each cache row
        self._cache: SlotCache | None = None
        # what the consumers get once the rows that ended have left (so a consumer that has
        # its answer never sees its rows still in the batch)
        self._outgoing: list[tuple[Generation, Any]] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def active_rows(self) -> int:
        """Rows in the decoding batch now."""
        return len(self._rows)

    def submit(self, generation: Generation) -> None:
        """Queue ``generation``; it joins the batch at the next step."""
        from palestra.lm.backends import BackendError

        with self._cond:
            if self._closed:
                raise BackendError("the model backend is closed", status=503, type="server_error")
            self._waiting.append(generation)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="palestra-decode", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread; generations still waiting or decoding get a :class:`BackendError`."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # -- the loop
    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._waiting or self._rows or self._closed):
                    if not self._cond.wait(IDLE_RELEASE_S) and self._cache is not None:
                        self._cache.clear()
                if self._closed:
                    break
                joining = self._take_waiting()
            for generation in joining:
                self._join(generation)
            self._leave()
            if self._rows:
                self._step()
                self._leave()
        self._shut_down()

    def _take_waiting(self) -> list[Generation]:
        """The waiting generations that fit in the batch now (call holding the lock)."""
        joining: list[Generation] = []
        rows = len(self._rows)
        while self._waiting:
            generation = self._waiting[0]
            if generation.cancelled:
                self._waiting.popleft()
                self.stats["cancelled"] += 1
                generation.post_end()
                continue
            if rows and rows + generation.n > self.max_batch:
                break
            joining.append(self._waiting.popleft())
            rows += generation.n
        return joining

    def _join(self, generation: Generation) -> None:
        """Prefill ``generation``'s prompt, copy it into one row per sample, sample the first
        tokens. A failure here fails this generation only."""
        backend = self.backend
        model = backend.model
        try:
            if self._cache is None or self._cache.cfg is not model.cfg:
                self._cache = SlotCache(model.cfg)
            idx = torch.tensor([generation.prompt_ids], dtype=torch.long)  # [1, T]
            prefill = KVCache(model.cfg, 1, idx.device, idx.size(1))
            with backend.lock, torch.no_grad():
                logits, _ = model(idx, cache=prefill)  # [1, T, V]
            first = self._cache.add(prefill, generation.n)
        except Exception as e:
            self.stats["failed"] += 1
            generation.post(e)
            return
        self.stats["admitted"] += 1
        self._rows.extend((generation, i) for i in range(generation.n))
        rows = list(range(first, first + generation.n))
        last = logits[0, -1].expand(generation.n, -1)  # [n, V]: the samples share the prompt
        self._advance(generation, list(range(generation.n)), rows, last)

    def _step(self) -> None:
        """One forward pass for every row, then each generation samples its own rows."""
        assert self._cache is not None
        backend = self.backend
        tokens = torch.tensor([[g.tokens[i][-1]] for g, i in self._rows])  # [B, 1]
        try:
            with backend.lock, torch.no_grad():
                logits, _ = backend.model(tokens, cache=self._cache)  # [B, 1, V]
        except Exception as e:  # every generation in the batch fails; the thread goes on
            failed = {g for g, _ in self._rows}
            self.stats["failed"] += len(failed)
            self._rows.clear()
            self._cache.clear()
            for generation in failed:
                generation.post(e)
            return
        self.stats["steps"] += 1
        self.stats["row_steps"] += len(self._rows)
        self.stats["peak_rows"] = max(self.stats["peak_rows"], len(self._rows))
        by_generation: dict[Generation, list[tuple[int, int]]] = {}
        for row, (generation, i) in enumerate(self._rows):
            by_generation.setdefault(generation, []).append((i, row))
        for generation, owned in by_generation.items():
            owned.sort()  # sample order, whatever rows the samples sit in
            samples, rows = [i for i, _ in owned], [r for _, r in owned]
            self._advance(generation, samples, rows, logits[rows, 0])  # [k, V]

    def _advance(
        self, generation: Generation, samples: list[int], rows: list[int], logits: torch.Tensor
    ) -> None:
        """Sample the next token of ``samples`` (in ``rows``) from ``logits [k, V]``; hand
        the deltas to the generation's consumer."""
        deltas = []
        for i, token in zip(samples, generation.sample(logits), strict=True):
            delta = generation.advance(i, token)
            if delta is not None:
                deltas.append(delta)
        if deltas:
            self._outgoing.append((generation, deltas))
        if generation.done:
            self.stats["finished"] += 1
            self._outgoing.append((generation, None))

    def _leave(self) -> None:
        """Free the rows of finished samples and of cancelled generations, last row first;
        then send the consumers what the step gave them."""
        assert self._cache is not None or not self._rows
        gone = set()
        free = []
        for row, (generation, i) in enumerate(self._rows):
            if generation.cancelled and not generation.done:
                gone.add(generation)
                free.append(row)
            elif generation.finish_reasons[i] is not None:
                free.append(row)
        for row in reversed(free):
            assert self._cache is not None
            moved = self._cache.free(row)
            if moved is not None:
                self._rows[row] = self._rows[moved]
            self._rows.pop()
        for generation in gone:
            self.stats["cancelled"] += 1
            generation.post_end()
        for generation, item in self._outgoing:
            if item is None:
                generation.post_end()
            else:
                generation.post(item)
        self._outgoing.clear()

    def _shut_down(self) -> None:
        from palestra.lm.backends import BackendError

        error = BackendError("the model backend was closed", status=503, type="server_error")
        with self._cond:
            pending: dict[Any, None] = dict.fromkeys(self._waiting)
            self._waiting.clear()
        pending |= dict.fromkeys(g for g, _ in self._rows)
        self._rows.clear()
        self._cache = None
        for generation in pending:
            if not generation.done:
                generation.post(error)
