"""The HTTP client of ``palestra eval``: retries that honour ``Retry-After`` with capped
jitter, stop strings applied client-side, token usage, the thread pool of
:func:`complete_many` and the response cache (hits, misses, persistence)."""

from __future__ import annotations

import contextlib
import email.utils
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from palestra.lm.backends import (
    BackendError,
    Completion,
    OpenAIBackend,
    Request,
    Sampling,
    complete_many,
    cut_at_stops,
    parse_retry_after,
    retry_delay,
)
from palestra.reason.cache import ResponseCache, request_key

Reply = tuple[int, dict[str, str], dict[str, Any]]  # status, headers, JSON body


def answer(*texts: str, prompt_tokens: int = 3) -> Reply:
    choices = [
        {"index": i, "text": t, "finish_reason": "length", "completion_tokens": len(t)}
        for i, t in enumerate(texts)
    ]
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": sum(map(len, texts))}
    return 200, {}, {"choices": choices, "usage": usage}


@contextlib.contextmanager
def server(replies: Any, delay: float = 0.0) -> Iterator[tuple[str, list[dict]]]:
    """A loopback server: ``replies`` is a list of :data:`Reply` given in turn (the last
    repeats) or a function of the request body; records each request's body, arrival time
    and the number of requests in flight when it arrived."""
    seen: list[dict] = []
    lock = threading.Lock()
    state = {"in_flight": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                state["in_flight"] += 1
                seen.append(
                    {"body": body, "time": time.monotonic(), "in_flight": state["in_flight"]}
                )
                index = len(seen)
            time.sleep(delay)
            status, headers, payload = (
                replies(body) if callable(replies) else replies[min(index, len(replies)) - 1]
            )
            data = json.dumps(payload).encode()
            self.send_response(status)
            for k, v in {"Content-Type": "application/json", **headers}.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            with lock:
                state["in_flight"] -= 1

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


BUSY = {"error": {"message": "slow down", "type": "rate_limit"}}


def test_retry_after_seconds_and_dates_are_honoured() -> None:
    replies = [(429, {"Retry-After": "1"}, BUSY), answer("ok")]
    with server(replies) as (url, seen):
        out = OpenAIBackend(url, "m", backoff=0.0).complete("p", seed=1)
    assert out[0].text == "ok" and len(seen) == 2
    assert seen[1]["time"] - seen[0]["time"] >= 1.0  # waited at least what the server asked

    # An HTTP date two seconds ahead: at least one second away (dates have 1 s resolution).
    date = email.utils.formatdate(time.time() + 2, usegmt=True)
    with server([(503, {"Retry-After": date}, BUSY), answer("ok")]) as (url, seen):
        OpenAIBackend(url, "m", backoff=0.0).complete("p")
    assert len(seen) == 2 and seen[1]["time"] - seen[0]["time"] >= 1.0


def test_a_retry_after_beyond_max_wait_is_an_error_at_once() -> None:
    replies = [(429, {"Retry-After": "3600"}, BUSY), answer("ok")]
    with (
        server(replies) as (url, seen),
        pytest.raises(BackendError, match="retry after 3600 s") as e,
    ):
        OpenAIBackend(url, "m", max_wait=5.0).complete("p")
    assert e.value.status == 429 and len(seen) == 1


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


def test_retry_delay_jitters_within_its_cap() -> None:
    us = [i / 50 for i in range(50)]
    for attempt in range(40):
        ceiling = min(8.0, 0.5 * 2**attempt)
        delays = [retry_delay(attempt, backoff=0.5, max_wait=8.0, u=u) for u in us]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)  # equal jitter, capped
        assert len(set(delays)) == len(us)  # it does jitter
    for r in (0.1, 3.0, 7.5, 8.0):  # Retry-After is a floor, max_wait still the cap
        delays = [retry_delay(0, backoff=0.5, max_wait=8.0, retry_after=r, u=u) for u in us]
        assert all(max(r, 0.25) <= d <= min(8.0, max(1.1 * r, 0.5)) for d in delays)


def test_stop_strings_beyond_four_are_applied_client_side() -> None:
    stops = ["<a>", "<b>", "<c>", "<d>", "<e>", "\n\n"]
    with server([answer("x = 1<e>junk", "y\n\nz", "plain")]) as (url, seen):
        out = OpenAIBackend(url, "m").complete("p", n=3, stop=stops)
    assert seen[0]["body"]["stop"] == stops[:4]  # what the API takes
    assert [c.text for c in out] == ["x = 1", "y", "plain"]
    assert [c.finish_reason for c in out] == ["stop", "stop", "length"]
    c = Completion("a<b>c<a>", "length", 1, 2)
    assert cut_at_stops(c, ["<a>", "<b>"]) == Completion("a", "stop", 1, 2)  # the first one


def test_usage_sums_tokens_over_requests() -> None:
    with server([answer("ab", "c", prompt_tokens=4)]) as (url, _):
        backend = OpenAIBackend(url, "m")
        backend.complete("p", n=2)
        backend.complete("p", n=2)
    usage = backend.usage
    assert (usage.requests, usage.prompt_tokens, usage.completion_tokens) == (2, 8, 6)


def echo(body: dict) -> Reply:
    """Answer with the prompt and the seed, so that each request's answer is its own."""
    return answer(f"{body['prompt']}/{body.get('seed')}")


def test_complete_many_runs_requests_at_once_and_yields_them_all() -> None:
    requests = [Request(f"q{i}", Sampling(seed=i), tag=i) for i in range(12)]
    with server(echo, delay=0.05) as (url, seen):
        answers = list(complete_many(OpenAIBackend(url, "m"), requests, concurrency=4))
    assert sorted(a.request.tag for a in answers) == list(range(12))
    assert all(a.completions[0].text == f"q{a.request.tag}/{a.request.tag}" for a in answers)
    assert max(s["in_flight"] for s in seen) > 1  # requests overlapped on the server


def test_complete_many_gives_context_refusals_back_and_raises_the_rest() -> None:
    long = {"error": {"message": "too long", "code": "context_length_exceeded"}}
    with server([(400, {}, long)]) as (url, _):
        [a] = complete_many(OpenAIBackend(url, "m"), [Request("p", Sampling())])
    assert a.completions == [] and a.error is not None and a.error.code == "context_length_exceeded"
    bad = {"error": {"message": "no such model", "code": "model_not_found"}}
    with server([(404, {}, bad)]) as (url, _), pytest.raises(BackendError, match="no such"):
        list(complete_many(OpenAIBackend(url, "m"), [Request("p", Sampling())] * 3))


def test_cache_hits_skip_the_server(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    requests = [Request(f"q{i}", Sampling(seed=i, stop=["\n"]), sample=i) for i in range(6)]
    with server(echo) as (url, seen):
        backend = OpenAIBackend(url, "m")
        with ResponseCache(path, model="m@here") as cache:
            first = {a.request.prompt: a for a in complete_many(backend, requests, cache=cache)}
            assert len(seen) == 6 and not any(a.cached for a in first.values())
            again = list(complete_many(backend, requests, cache=cache, concurrency=3))
            assert len(seen) == 6 and all(a.cached for a in again)  # no new request
            assert all(a.completions == first[a.request.prompt].completions for a in again)
        with ResponseCache(path, model="m@here") as cache:  # persisted; a new process sees it
            assert len(cache) == 6 and cache.get(requests[0]) == first["q0"].completions
            other = Request("q0", Sampling(seed=0, stop=["\n"]), sample=1)  # another sample
            unseeded = Request("q0", Sampling(seed=None))
            list(complete_many(backend, [other, unseeded, unseeded], cache=cache))
            assert len(seen) == 9 and len(cache) == 7  # the unseeded ones are never stored
        with ResponseCache(path, model="another") as cache:
            assert cache.get(requests[0]) is None  # the model is part of the key


def test_request_key_covers_every_setting() -> None:
    base = Request("p", Sampling(n=2, temperature=0.5, top_p=0.9, max_tokens=7, stop=["x"], seed=3))
    keys = {request_key("m", base), request_key("m2", base)}
    for change in (
        {"n": 3},
        {"temperature": 0.6},
        {"top_p": 1.0},
        {"max_tokens": 8},
        {"stop": ["x", "y"]},
        {"seed": 4},
    ):
        sampling = Sampling(**{**base.sampling.__dict__, **change})
        keys.add(request_key("m", Request("p", sampling)))
    keys.add(request_key("m", Request("p", base.sampling, sample=1)))
    keys.add(request_key("m", Request("p", base.sampling, chat=True)))
    keys.add(request_key("m", Request("q", base.sampling)))
    assert len(keys) == 11
    assert request_key("m", base) == request_key("m", Request("p", base.sampling, tag="x"))
