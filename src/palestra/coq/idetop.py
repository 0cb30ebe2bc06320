"""A thin client for ``coqidetop``'s XML protocol (the one CoqIDE speaks), and a session pool.

``coqidetop -main-channel stdfds -async-proofs off`` reads calls on stdin and answers each with
one ``<value>`` on stdout, with ``<feedback>`` elements interleaved. The calls used here, in
Coq 8.16's encoding::

    Init     <call val="Init"><option val="none"/></call>          -> <state_id val="1"/>
    Add      ((((sentence, edit_id), (parent_state, verbose)), bp), (line, bol))
             -> (new_state, in_l ())                  parses only; executes nothing
    Goal     <unit/>   executes up to the tip (Stm.finish), then -> option goals
             goals = (foreground, background [(before, after)], shelved, given_up)
    Edit_at  <state_id/>  moves the tip back; later states are forgotten
    Status   <bool/>      executes to the tip and reports the open proofs
    Query    (route, (command, state)) -> messages arrive as feedback on that route
    Quit     <unit/>

A failure is ``<value val="fail" loc_s=".." loc_e=".."><state_id/>(message)</value>``: a parse
error on ``Add`` (nothing added), or an execution error on ``Goal`` whose ``state_id`` is the last
good state; after the latter the client sends ``Edit_at`` to the parent so the document is back
where it was. ``loc_s``/``loc_e`` are byte offsets in the sentence.

``CoqSession.add`` is therefore ``Add`` + ``Goal`` (the goals are kept, so ``goals()`` costs no
round trip). A sentence that runs past its timeout is interrupted with SIGINT (Coq's own
interrupt, answered by ``User interrupt.``); if Coq does not answer within ``interrupt_grace``
seconds, or answers something else (the interrupt raced the end of the computation and may
still be pending), the process is killed and a fresh one is started and brought back to the last
good state by replaying the sentences on the current path. The same happens when ``coqidetop``
dies: the call in flight raises :class:`CoqCrashed`, the session is restored, the next call works.

State ids handed out by a session are its own, stable across such restarts. The document is a
path, not a tree: ``edit_at(s)`` forgets every state after ``s``, so a search that branches
rewinds to the branch point and re-adds.

What it does not protect against: sentences are run as the calling user with no sandbox
(``Redirect``, ``Load``, ``Declare ML Module`` act on the machine); ``memory_mb`` (RLIMIT_AS) is
the only memory limit; replay after a restart re-runs every sentence on the path, so a path whose
sentences are slow makes recovery slow; accepted sentences are not a verified proof (see
:mod:`palestra.coq.verify`).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from palestra.coq.coqc import LoadPath, coq_binary, coq_env
from palestra.coq.script import normalize, split_sentences
from palestra.core.errors import PalestraError
from palestra.core.jobs import die_with_parent

__all__ = [
    "CoqCrashed",
    "CoqError",
    "CoqSession",
    "CoqTimeout",
    "Goal",
    "ProofState",
    "SessionPool",
]


class CoqError(PalestraError):
    """Coq rejected a sentence; the session is back at the last good state.

    ``location`` is ``(start, stop)`` in characters of ``sentence`` (or of the script, for
    :meth:`CoqSession.exec`), None when Coq gave none.
    """

    def __init__(
        self, message: str, location: tuple[int, int] | None = None, sentence: str = ""
    ) -> None:
        self.message = message
        self.location = location
        self.sentence = sentence
        short = " ".join(message.split())
        where = f" at {location[0]}-{location[1]}" if location else ""
        super().__init__(f"coq{where}: {short}" + (f" [in: {sentence[:80]}]" if sentence else ""))


class CoqTimeout(CoqError):
    """A sentence ran past its timeout; it was interrupted (or Coq restarted) and dropped."""


class CoqCrashed(CoqError):
    """``coqidetop`` died or stopped answering; the session was restarted at the last good state."""


@dataclass(frozen=True)
class Goal:
    """One goal: its hypotheses (``"x : R"``, as Coq prints them) and its conclusion."""

    hypotheses: tuple[str, ...]
    conclusion: str
    id: str = ""

    def __str__(self) -> str:
        bar = "=" * max(8, min(40, len(self.conclusion)))
        return "\n".join([*self.hypotheses, bar, self.conclusion])


@dataclass(frozen=True)
class ProofState:
    """All goals Coq reports: the focused ones, unfocused (bullets, braces), shelved, given up.

    ``in_proof`` is False outside a proof (``Goal`` answered none). A proof is finished when
    ``complete``: in a proof and every list empty; ``Qed`` must still accept it.
    """

    in_proof: bool
    goals: tuple[Goal, ...] = ()
    background: tuple[Goal, ...] = ()
    shelved: tuple[Goal, ...] = ()
    given_up: tuple[Goal, ...] = ()

    @property
    def complete(self) -> bool:
        return self.in_proof and not (self.goals or self.background or self.shelved)


_OUTSIDE_PROOF = ProofState(in_proof=False)


@dataclass
class _Step:
    state: int  # the session's id
    coq_id: int  # coqidetop's id in the current process
    sentence: str
    proof: ProofState


class _Hung(Exception):
    pass


class _Died(Exception):
    pass


def _work_dir() -> str:
    """A per-user folder for coqidetop's caches, so they persist and stay out of the repo."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = base / "palestra" / "coq"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


class _Coqtop:
    """One ``coqidetop`` process and its XML stream."""

    def __init__(self, args: Sequence[str], memory_mb: int | None) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [coq_binary("coqidetop"), "-main-channel", "stdfds", "-async-proofs", "off", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=coq_env(),
            start_new_session=True,  # no terminal Ctrl-C; killed as a group
            preexec_fn=die_with_parent,  # a worker killed outright (Ray's cancel) takes it along
            cwd=_work_dir(),  # lia/nia keep their caches (.lia.cache) in the working directory
        )
        if memory_mb is not None:
            import resource

            limit = memory_mb * 1024 * 1024
            with contextlib.suppress(OSError, ValueError):
                resource.prlimit(self.proc.pid, resource.RLIMIT_AS, (limit, limit))
        self._fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        self._parser = ET.XMLPullParser(events=("start", "end"))
        self._parser.feed(b"<coqtop>")
        self._root: ET.Element | None = None
        self._depth = 0
        self._pending = b""
        self._ready: list[ET.Element] = []
        self.messages: list[tuple[str, str]] = []  # (level, text) from feedback

    def stderr_tail(self, n: int = 800) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-n:].strip()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, xml: str, timeout: float, interrupt_grace: float | None = None) -> ET.Element:
        """Send one call and return its ``<value>``; SIGINT after ``timeout`` if a grace is set.

        Raises ``_Died`` on end of stream, ``_Hung`` when no answer came in time. The returned
        element has attribute ``interrupted="1"`` when SIGINT was sent.
        """
        self.messages = []
        try:
            self.proc.stdin.write(xml.encode("utf-8"))  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError) as e:
            raise _Died(str(e)) from None
        deadline = time.monotonic() + timeout
        interrupted = False
        while True:
            value = self._next_value()
            if value is not None:
                if interrupted:
                    value.set("interrupted", "1")
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                if interrupt_grace is None or interrupted:
                    raise _Hung()
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGINT)
                interrupted = True
                deadline = time.monotonic() + interrupt_grace
                continue
            ready, _, _ = select.select([self._fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                raise _Died(self.stderr_tail())
            self._feed(chunk)

    def _feed(self, chunk: bytes) -> None:
        data = self._pending + chunk
        amp = data.rfind(b"&")
        if amp != -1 and b";" not in data[amp:]:  # an entity cut by the read: keep for later
            data, self._pending = data[:amp], data[amp:]
        else:
            self._pending = b""
        # coqidetop writes HTML's &nbsp;, which XML does not define
        self._parser.feed(data.replace(b"&nbsp;", b"&#160;"))
        for event, elem in self._parser.read_events():
            if event == "start":
                if self._root is None:
                    self._root = elem
                self._depth += 1
                continue
            self._depth -= 1
            if self._depth == 1 and self._root is not None:
                self._root.remove(elem)
                if elem.tag == "feedback":
                    self._on_feedback(elem)
                else:
                    self._ready.append(elem)

    def _next_value(self) -> ET.Element | None:
        while self._ready:
            elem = self._ready.pop(0)
            if elem.tag == "value":
                return elem
        return None

    def _on_feedback(self, elem: ET.Element) -> None:
        content = elem.find("feedback_content")
        if content is None or content.get("val") != "message":
            return
        message = content.find("message")
        if message is None:
            return
        level = message.find("message_level")
        pp = message.find("richpp")
        self.messages.append(
            (level.get("val", "") if level is not None else "", _text(pp) if pp is not None else "")
        )

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b'<call val="Quit"><unit/></call>')  # type: ignore[union-attr]
                self.proc.stdin.flush()  # type: ignore[union-attr]
                self.proc.wait(timeout=1.0)
            except (OSError, subprocess.TimeoutExpired):
                pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.proc.wait(timeout=5.0)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()  # type: ignore[union-attr]
        self._stderr.close()


def _text(elem: ET.Element) -> str:
    return "".join(elem.itertext()).replace("\xa0", " ")


def _fail(value: ET.Element) -> tuple[str, tuple[int, int] | None] | None:
    """``(message, byte location)`` of a failed value, None for a good one."""
    if value.get("val") != "fail":
        return None
    pp = value.find("richpp")
    message = _text(pp) if pp is not None else _text(value)
    loc = None
    if value.get("loc_s") is not None and value.get("loc_e") is not None:
        loc = (int(value.get("loc_s", "0")), int(value.get("loc_e", "0")))
    return message.strip(), loc


def _char_location(sentence: str, loc: tuple[int, int] | None) -> tuple[int, int] | None:
    if loc is None:
        return None
    raw = sentence.encode("utf-8")
    return tuple(len(raw[:b].decode("utf-8", "ignore")) for b in loc)  # type: ignore[return-value]


def _goal(elem: ET.Element) -> Goal:
    children = list(elem)
    hyps = tuple(_text(h) for h in children[1]) if len(children) > 1 else ()
    return Goal(
        hypotheses=hyps,
        conclusion=_text(children[2]) if len(children) > 2 else "",
        id=_text(children[0]) if children else "",
    )


def _proof_state(value: ET.Element) -> ProofState:
    option = value.find("option")
    if option is None or option.get("val") != "some":
        return _OUTSIDE_PROOF
    goals = option.find("goals")
    if goals is None:
        return _OUTSIDE_PROOF
    lists = list(goals)
    fg = tuple(_goal(g) for g in lists[0]) if lists else ()
    bg: list[Goal] = []
    if len(lists) > 1:
        for pair in lists[1]:
            for side in pair:
                bg.extend(_goal(g) for g in side)
    shelved = tuple(_goal(g) for g in lists[2]) if len(lists) > 2 else ()
    given_up = tuple(_goal(g) for g in lists[3]) if len(lists) > 3 else ()
    return ProofState(True, fg, tuple(bg), shelved, given_up)


def _add_call(sentence: str, parent: int) -> str:
    return (
        '<call val="Add"><pair><pair><pair><pair>'
        f"<string>{escape(sentence)}</string><int>0</int></pair>"
        f'<pair><state_id val="{parent}"/><bool val="false"/></pair></pair>'
        "<int>0</int></pair><pair><int>1</int><int>0</int></pair></pair></call>"
    )


_GOAL_CALL = '<call val="Goal"><unit/></call>'
_INIT_CALL = '<call val="Init"><option val="none"/></call>'


def _edit_call(coq_id: int) -> str:
    return f'<call val="Edit_at"><state_id val="{coq_id}"/></call>'


class CoqSession:
    """One live Coq document driven sentence by sentence; a context manager.

    ::

        with CoqSession(timeout=5) as coq:
            coq.exec("Require Import Lia.")
            s = coq.add("Goal forall n : nat, n + 0 = n.")
            coq.add("intros; lia.")
            assert coq.goals() == []
            coq.edit_at(s)                      # back to the open goal

    ``messages`` holds what Coq printed (feedback messages) while running the last ``add``
    (CoqHammer's "Replace the hammer tactic with: ..." arrives there).

    ``starts`` counts ``coqidetop`` processes started (1 + restarts).
    """

    def __init__(
        self,
        *,
        load_paths: Sequence[LoadPath] = (),
        timeout: float = 10.0,
        start_timeout: float = 30.0,
        interrupt_grace: float = 1.0,
        memory_mb: int | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.interrupt_grace = interrupt_grace
        self.memory_mb = memory_mb
        self._args = [a for lp in load_paths for a in lp.args()] + list(args)
        self._coqtop: _Coqtop | None = None
        self._chain: list[_Step] = []
        self._next_state = 1
        self.messages: list[str] = []  # what Coq printed while running the last add()
        self.starts = 0
        self.closed = False

    # -- life cycle ------------------------------------------------------------------------

    def __enter__(self) -> CoqSession:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start ``coqidetop`` (idempotent); the root state is :attr:`root`."""
        if self._coqtop is not None:
            return
        self._spawn()
        self._chain = [_Step(self._fresh(), self._init_id, "", _OUTSIDE_PROOF)]

    def close(self) -> None:
        """Quit ``coqidetop`` and reap it; safe to call twice."""
        if self._coqtop is not None:
            self._coqtop.close()
            self._coqtop = None
        self.closed = True

    @property
    def pid(self) -> int | None:
        """The current ``coqidetop`` process id (changes on restart)."""
        return self._coqtop.proc.pid if self._coqtop is not None else None

    @property
    def root(self) -> int:
        """The state before any sentence."""
        return self._chain[0].state

    @property
    def tip(self) -> int:
        """The current (last good) state."""
        return self._chain[-1].state

    @property
    def sentences(self) -> list[str]:
        """The sentences on the path from the root to the tip."""
        return [step.sentence for step in self._chain[1:]]

    # -- the protocol ----------------------------------------------------------------------

    def add(self, sentence: str, timeout: float | None = None) -> int:
        """Run one sentence at the tip; return the new state's id.

        Raises :class:`CoqError` (Coq rejected it), :class:`CoqTimeout` or :class:`CoqCrashed`;
        in every case the tip is unchanged.
        """
        self._ensure_alive()
        sentence = sentence.strip()
        parent = self._chain[-1]
        limit = self.timeout if timeout is None else timeout
        self.messages = []
        value = self._call(_add_call(sentence, parent.coq_id), limit, sentence)
        self.messages += self._coqtop_messages()
        failure = _fail(value)
        if failure is not None:  # parse error: nothing was added
            raise CoqError(failure[0], _char_location(sentence, failure[1]), sentence)
        sid = value.find("pair/state_id")
        if sid is None:
            raise CoqCrashed(f"unexpected Add answer: {ET.tostring(value)[:200]!r}", None, sentence)
        coq_id = int(sid.get("val", "0"))
        value = self._call(_GOAL_CALL, limit, sentence, interruptible=True)
        self.messages += self._coqtop_messages()
        interrupted = value.get("interrupted") == "1"
        failure = _fail(value)
        if interrupted and (failure is None or "interrupt" not in failure[0].lower()):
            # the interrupt raced the answer and may still be pending: start clean
            self._restart()
            raise CoqTimeout(f"timed out after {limit:g}s", None, sentence)
        if failure is not None:
            self._rewind_process(parent.coq_id)
            if interrupted:
                raise CoqTimeout(f"timed out after {limit:g}s", None, sentence)
            raise CoqError(failure[0], _char_location(sentence, failure[1]), sentence)
        step = _Step(self._fresh(), coq_id, sentence, _proof_state(value))
        self._chain.append(step)
        return step.state

    def goals(self) -> list[Goal]:
        """The focused goals at the tip; ``[]`` when none (see :meth:`proof_state`)."""
        return list(self._chain[-1].proof.goals)

    def proof_state(self) -> ProofState:
        """Every goal list at the tip (focused, background, shelved, given up)."""
        return self._chain[-1].proof

    def edit_at(self, state: int) -> None:
        """Go back to ``state`` (on the current path); later states are forgotten."""
        self._ensure_alive()
        ids = [step.state for step in self._chain]
        if state not in ids:
            raise CoqError(f"state {state} is not on the current path (tip {self.tip})")
        k = ids.index(state)
        if k == len(self._chain) - 1:
            return
        self._rewind_process(self._chain[k].coq_id)
        del self._chain[k + 1 :]

    def exec(self, script: str, timeout: float | None = None) -> int:
        """Run every sentence of ``script`` in order; return the last state.

        On failure the tip stays after the last sentence that succeeded, and the error's
        ``location`` is in characters of ``script``.
        """
        for s in split_sentences(script):
            try:
                self.add(s.text, timeout)
            except CoqError as e:
                loc = e.location
                shifted = (s.start + loc[0], s.start + loc[1]) if loc else (s.start, s.start)
                raise type(e)(e.message, shifted, s.text) from None
        return self.tip

    def query(self, command: str, timeout: float | None = None) -> str:
        """Run a command (``Print Assumptions t.``, ``Check x.``) at the tip without adding it."""
        self._ensure_alive()
        tip = self._chain[-1]
        call = (
            '<call val="Query"><pair><route_id val="0"/><pair>'
            f'<string>{escape(command)}</string><state_id val="{tip.coq_id}"/>'
            "</pair></pair></call>"
        )
        limit = self.timeout if timeout is None else timeout
        value = self._call(call, limit, command, interruptible=True)
        failure = _fail(value)
        assert self._coqtop is not None
        messages = [text for _, text in self._coqtop.messages]
        if value.get("interrupted") == "1":
            self._restart()
            raise CoqTimeout(f"timed out after {limit:g}s", None, command)
        if failure is not None:
            raise CoqError(failure[0], _char_location(command, failure[1]), command)
        return "\n".join(messages)

    # -- internals -------------------------------------------------------------------------

    def _coqtop_messages(self) -> list[str]:
        return [text for _, text in self._coqtop.messages] if self._coqtop is not None else []

    def _fresh(self) -> int:
        self._next_state += 1
        return self._next_state - 1

    def _spawn(self) -> None:
        self._coqtop = _Coqtop(self._args, self.memory_mb)
        self.starts += 1
        self.closed = False
        try:
            value = self._coqtop.call(_INIT_CALL, self.start_timeout)
        except (_Died, _Hung) as e:
            tail = self._coqtop.stderr_tail()
            self._coqtop.close()
            self._coqtop = None
            raise CoqCrashed(f"coqidetop did not start: {tail or type(e).__name__}") from None
        sid = value.find("state_id")
        self._init_id = int(sid.get("val", "1")) if sid is not None else 1

    def _ensure_alive(self) -> None:
        if self.closed and self._coqtop is None:
            raise CoqError("the session is closed")
        if not self._chain:
            self.start()
            return
        if self._coqtop is None or not self._coqtop.alive():
            self._restart()

    def _call(
        self, xml: str, timeout: float, sentence: str, interruptible: bool = False
    ) -> ET.Element:
        assert self._coqtop is not None
        try:
            return self._coqtop.call(xml, timeout, self.interrupt_grace if interruptible else None)
        except _Hung:
            self._restart()
            raise CoqTimeout(f"timed out after {timeout:g}s (restarted)", None, sentence) from None
        except _Died as e:
            detail = str(e).strip().splitlines()[-1:] or ["no message"]
            self._restart()
            raise CoqCrashed(f"coqidetop died ({detail[0]}); restarted", None, sentence) from None

    def _rewind_process(self, coq_id: int) -> None:
        assert self._coqtop is not None
        try:
            value = self._coqtop.call(_edit_call(coq_id), self.start_timeout)
        except (_Hung, _Died):
            value = None
        if value is None or _fail(value) is not None:
            # Coq could not go back (it should always can to a good state): start clean
            self._restart(keep=[s for s in self._chain if s.coq_id <= coq_id])

    def _restart(self, keep: list[_Step] | None = None) -> None:
        """Start a fresh process and replay the path (or ``keep``) so the ids stay valid."""
        chain = self._chain if keep is None else keep
        if self._coqtop is not None:
            self._coqtop.close()
            self._coqtop = None
        self._spawn()
        assert self._coqtop is not None
        if not chain:
            return
        chain[0].coq_id = self._init_id
        for k, step in enumerate(chain[1:], start=1):
            try:
                added = self._coqtop.call(_add_call(step.sentence, chain[k - 1].coq_id), 60.0)
                sid = added.find("pair/state_id")
                ran = self._coqtop.call(_GOAL_CALL, max(60.0, 3 * self.timeout))
            except (_Died, _Hung):
                added = ran = None
                sid = None
            if sid is None or ran is None or _fail(ran) is not None:
                self._chain = chain[:k]
                self._rewind_or_reset()
                raise CoqCrashed(f"could not restore the session at: {step.sentence[:80]}")
            step.coq_id = int(sid.get("val", "0"))
        self._chain = chain

    def _rewind_or_reset(self) -> None:
        """After a failed replay: leave a fresh process at the root, whatever remains."""
        if self._coqtop is not None:
            self._coqtop.close()
        self._coqtop = None
        root = self._chain[0]
        self._spawn()
        root.coq_id = self._init_id
        self._chain = [root]


class SessionPool:
    """Warm :class:`CoqSession` objects keyed by a file's preamble (its Require/Import lines).

    ``with pool.session(preamble) as coq:`` yields a session whose tip is the state just after
    the preamble; when the block ends the session is rewound there and kept (up to
    ``max_idle`` idle sessions in all; the least recently used is closed first). A preamble
    such as ``Require Import Reals.`` (about 1.2 s) is thus paid once per session, not per
    problem. ``starts`` counts the sessions this pool has created. Thread-safe for taking and
    returning sessions; one session is used by one thread at a time.
    """

    def __init__(self, *, max_idle: int = 2, **session_options: object) -> None:
        self.max_idle = max_idle
        self.session_options = session_options
        self.starts = 0
        self._idle: list[tuple[str, CoqSession, int]] = []  # (key, session, base state)
        self._lock = threading.Lock()

    def __enter__(self) -> SessionPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def key(preamble: str) -> str:
        return "\n".join(normalize(s.text) for s in split_sentences(preamble))

    @contextlib.contextmanager
    def session(self, preamble: str) -> Iterator[CoqSession]:
        key = self.key(preamble)
        coq, base = self._take(key)
        if coq is None:
            coq = CoqSession(**self.session_options)  # type: ignore[arg-type]
            with self._lock:
                self.starts += 1
            try:
                coq.start()
                base = coq.exec(preamble, timeout=max(coq.timeout, 60.0))
            except BaseException:
                coq.close()
                raise
        healthy = False
        try:
            yield coq
            healthy = True
        finally:
            self._give_back(key, coq, base, healthy)

    def _take(self, key: str) -> tuple[CoqSession | None, int]:
        with self._lock:
            for k, (idle_key, coq, base) in enumerate(self._idle):
                if idle_key == key:
                    del self._idle[k]
                    return coq, base
        return None, 0

    def _give_back(self, key: str, coq: CoqSession, base: int, healthy: bool) -> None:
        try:
            if coq.closed or base not in [s.state for s in coq._chain]:
                raise CoqError("session lost its preamble state")
            coq.edit_at(base)
        except (CoqError, OSError):
            coq.close()
            return
        if not healthy and coq.tip != base:
            coq.close()
            return
        evicted: list[CoqSession] = []
        with self._lock:
            self._idle.append((key, coq, base))
            while len(self._idle) > self.max_idle:
                evicted.append(self._idle.pop(0)[1])
        for old in evicted:
            old.close()

    def close(self) -> None:
        """Close every idle session."""
        with self._lock:
            idle, self._idle = self._idle, []
        for _, coq, _ in idle:
            coq.close()
