"""A scripted OpenAI-compatible server: it knows a task's answers and is right with
probability ``p``, so that the estimators of ``palestra eval`` can be checked against
closed forms.

    with ScriptedServer(task, problems, p=0.3, wrong=3) as server:
        evaluate(EvalConfig(task.name, backend=server.url, samples=10, ...))

It answers ``POST /v1/completions`` (the prompt must be ``task.prompt(problem)`` of one of
``problems``) and ``POST /v1/chat/completions`` (the messages ``task.messages(problem)``),
and ``GET /v1/models``. Each choice ``j`` of a request with seed ``s`` draws from a generator
seeded with SHA-256(``s``, ``j``): with probability ``p`` it writes
``task.reference_completion(problem)``, otherwise one of ``wrong`` wrong completions chosen
uniformly (:func:`wrong_completions`). So the same request gets the same answer, and the
samples of ``palestra eval`` (one seed each) are independent draws: a problem's sample is
right with probability ``p``, and wrong with answer ``i`` with probability ``(1 - p) / wrong``.

Stop strings are applied as a real server would (the text is cut at the first one); token
counts are bytes (prompt and text as UTF-8). ``delay`` seconds are slept before each answer
(to let a test kill a run in the middle). :attr:`ScriptedServer.served` counts the right and
wrong choices given, which a bench compares with the verdicts.

What it does not do: streaming, ``logprobs``, any check of the sampling parameters beyond
``n`` and ``seed`` (a request without a seed draws from the system's randomness); a prompt it
does not know is a 400. Loopback only, no authentication: a test fixture, not a service.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from palestra.reason.task import Problem, Task

__all__ = ["ScriptedServer", "wrong_completions"]


def wrong_completions(task: Task, problem: Problem, count: int) -> list[str]:
    """``count`` distinct wrong completions of ``problem`` in the task's format.

    Answer tasks: the reference completion with the gold answer's last occurrence replaced by
    the gold answer with a digit appended (``"42"`` becomes ``"421"``, ``"422"``, ...: still
    a number, still in the task's answer format, and distinct); where the gold answer does not
    occur in the reference completion, an empty completion (a vote for nothing). Code tasks: a
    body that fails at once (``assert False``) — the checker rejects it in any harness.
    """
    if task.kind == "code":
        return [f"    assert False, 'scripted wrong answer {i}'\n" for i in range(count)]
    reference = task.reference_completion(problem)
    gold = problem.reference
    at = reference.rfind(gold) if gold else -1
    if at < 0:
        return [""] * count
    return [reference[:at] + f"{gold}{i + 1}" + reference[at + len(gold) :] for i in range(count)]


class ScriptedServer:
    """The scripted server on ``host:port`` (port 0: a free one); a context manager."""

    def __init__(
        self,
        task: Task,
        problems: Sequence[Problem],
        p: float,
        *,
        wrong: int = 3,
        model: str = "scripted",
        delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p}")
        if wrong < 1:
            raise ValueError(f"wrong must be at least 1, got {wrong}")
        self.task, self.p, self.wrong, self.model, self.delay = task, p, wrong, model, delay
        self.by_prompt = {task.prompt(q): q for q in problems}
        self.by_messages = {_messages_key(task.messages(q)): q for q in problems}
        self.answers = {
            q.id: (task.reference_completion(q), wrong_completions(task, q, wrong))
            for q in problems
        }
        self.served: Counter[str] = Counter()  # "right" / "wrong" choices given
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, port), _handler(self))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> ScriptedServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def choose(self, problem: Problem, seed: int | None, choice: int) -> tuple[str, bool]:
        """The completion of ``choice`` of a request with ``seed``, and whether it is right."""
        if seed is None:
            rng = random.Random(random.SystemRandom().randrange(2**63))
        else:
            digest = hashlib.sha256(f"scripted/{seed}/{choice}".encode()).digest()
            rng = random.Random(int.from_bytes(digest[:8], "big"))
        right, wrongs = self.answers[problem.id]
        if rng.random() < self.p:
            return right, True
        return wrongs[rng.randrange(len(wrongs))], False

    def answer(self, body: dict[str, Any], chat: bool) -> tuple[int, dict[str, Any]]:
        """The status and JSON body of an answer to ``body``."""
        if chat:
            prompt_text = json.dumps(body.get("messages"))
            problem = self.by_messages.get(_messages_key(body.get("messages")))
        else:
            prompt_text = body.get("prompt")
            problem = self.by_prompt.get(prompt_text) if isinstance(prompt_text, str) else None
        if problem is None:
            return 400, _error("scripted server: a prompt of no known problem", "prompt")
        n, seed = body.get("n", 1), body.get("seed")
        if not isinstance(n, int) or n < 1:
            return 400, _error(f"n must be an integer >= 1, got {n!r}", "n")
        stop = body.get("stop") or []
        stops = [stop] if isinstance(stop, str) else list(stop)
        choices, completion_tokens = [], 0
        for j in range(n):
            text, right = self.choose(problem, seed, j)
            with self._lock:
                self.served["right" if right else "wrong"] += 1
            cuts = [i for i in (text.find(s) for s in stops if s) if i >= 0]
            text = text[: min(cuts)] if cuts else text
            tokens = len(text.encode())
            completion_tokens += tokens
            choice: dict[str, Any] = {"index": j, "finish_reason": "stop"}
            choice["completion_tokens"] = tokens
            if chat:
                choice["message"] = {"role": "assistant", "content": text}
            else:
                choice["text"] = text
            choices.append(choice)
        prompt_tokens = len(str(prompt_text).encode())
        return 200, {
            "id": "scripted",
            "object": "chat.completion" if chat else "text_completion",
            "model": self.model,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def _messages_key(messages: Any) -> str:
    return json.dumps(messages, sort_keys=True)


def _error(message: str, param: str | None) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    }


def _handler(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": server.model}]})
            else:
                self._send(404, _error(f"no route {self.path}", None))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                self._send(400, _error("malformed JSON", None))
                return
            routes = {"/v1/completions": False, "/v1/chat/completions": True}
            if self.path not in routes or not isinstance(body, dict):
                self._send(404, _error(f"no route {self.path}", None))
                return
            if server.delay:
                time.sleep(server.delay)
            self._send(*server.answer(body, routes[self.path]))

    return Handler
