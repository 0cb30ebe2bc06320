"""The OpenAI-compatible server, for real: a tiny trained model served on a free loopback port,
asked through :class:`OpenAIBackend` and raw HTTP; bad requests get the right status and
message, and the server keeps answering after each."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from palestra.lm.backends import (
    Backend,
    BackendError,
    Completion,
    LocalBackend,
    OpenAIBackend,
    chat_prompt,
)
from palestra.lm.serve_config import ServeConfig
from palestra.lm.server import ModelServer, json_too_deep
from palestra.lm.train import complete

from ..conftest import train_tiny_lm

BLOCK = 64


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # byte tokenizer: any text is a valid prompt, chat tags included
    return train_tiny_lm(tmp_path_factory.mktemp("runs"), block_size=BLOCK)


@pytest.fixture(scope="module")
def server(run_dir: Path) -> Iterator[ModelServer]:
    with ModelServer(ServeConfig(run_dir, port=0, max_n=4, model_name="tiny")) as server:
        yield server


@pytest.fixture(scope="module")
def local(run_dir: Path) -> LocalBackend:
    return LocalBackend(run_dir)


def raw(server: ModelServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """A raw request: status and decoded JSON body (the SSE text for a stream)."""
    host, port = server.httpd.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read().decode()
        if resp.getheader("Content-Type") == "text/event-stream":
            return resp.status, raw
        return resp.status, json.loads(raw)
    finally:
        conn.close()


def still_serving(server: ModelServer) -> None:
    out = OpenAIBackend(server.url, "tiny").complete("1+1=", max_tokens=4, seed=0)
    assert len(out) == 1 and out[0].prompt_tokens == 5


def test_models(server: ModelServer, local: LocalBackend) -> None:
    assert isinstance(local, Backend) and isinstance(OpenAIBackend(server.url, "tiny"), Backend)
    assert OpenAIBackend(server.url, "tiny").models() == ["tiny"]
    status, body = raw(server, "GET", "/v1/models")
    assert status == 200 and body["object"] == "list"
    assert body["data"][0] | {"created": 0} == {
        "id": "tiny",
        "object": "model",
        "created": 0,
        "owned_by": "palestra",
        "max_model_len": BLOCK,
    }


def test_completions_streamed_or_not_are_the_same(server: ModelServer) -> None:
    plain = OpenAIBackend(server.url, "tiny")
    streamed = OpenAIBackend(server.url, "tiny", stream=True)
    a = plain.complete("12+34=", n=3, max_tokens=8, seed=5)
    assert a == streamed.complete("12+34=", n=3, max_tokens=8, seed=5)
    assert a == plain.complete("12+34=", n=3, max_tokens=8, seed=5)  # same seed, same text
    assert len(a) == 3 and all(c.prompt_tokens == 7 for c in a)  # <bos> + 6 bytes
    assert all(c.finish_reason in ("stop", "length") for c in a)

    neutral = {"presence_penalty": 0.0, "logprobs": None, "echo": False, "user": "me"}
    status, body = raw(
        server,
        "POST",
        "/v1/completions",
        {"model": "tiny", "prompt": "1+2=", "n": 2, "seed": 1, **neutral},
    )
    assert status == 200 and body["object"] == "text_completion"
    assert [c["index"] for c in body["choices"]] == [0, 1]
    usage = body["usage"]
    assert usage["prompt_tokens"] == 5  # once per prompt, not per choice
    assert usage["completion_tokens"] == sum(c["completion_tokens"] for c in body["choices"])
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_http_and_local_backends_agree(server: ModelServer, local: LocalBackend) -> None:
    remote = OpenAIBackend(server.url, "tiny")
    for kwargs in ({"seed": 11, "n": 2}, {"temperature": 0.0}, {"seed": 3, "top_p": 0.5}):
        assert remote.complete("25+17=", max_tokens=6, **kwargs) == local.complete(
            "25+17=", max_tokens=6, **kwargs
        )
    # greedy decoding is the trainer's own greedy decoding
    prompts = ["12+34=", "5+5=", "99+1="]
    expected = complete(local.model, local.tokenizer, prompts, max_new_tokens=6)
    got = [remote.complete(p, temperature=0.0, max_tokens=6)[0].text for p in prompts]
    assert got == expected


def test_stop_strings(server: ModelServer) -> None:
    remote = OpenAIBackend(server.url, "tiny")
    [full] = remote.complete("7+8=", max_tokens=20, seed=2, temperature=2.0)
    stop = next(ch for ch in full.text[1:] if ch != "\ufffd")
    cut = full.text[: full.text.find(stop)]
    for stream in (False, True):
        backend = OpenAIBackend(server.url, "tiny", stream=stream)
        [out] = backend.complete("7+8=", max_tokens=20, seed=2, temperature=2.0, stop=[stop])
        assert out.text == cut and out.finish_reason == "stop"
    status, body = raw(  # a single string is a stop too
        server,
        "POST",
        "/v1/completions",
        {"model": "tiny", "prompt": "7+8=", "max_tokens": 20, "seed": 2, "temperature": 2.0}
        | {"stop": stop},
    )
    assert status == 200 and body["choices"][0]["text"] == cut


def test_chat(server: ModelServer, local: LocalBackend) -> None:
    messages = [{"role": "system", "content": "add"}, {"role": "user", "content": "3+4="}]
    for stream in (False, True):
        backend = OpenAIBackend(server.url, "tiny", stream=stream)
        out = backend.chat(messages, n=2, max_tokens=5, seed=4)
        assert out == local.chat(messages, n=2, max_tokens=5, seed=4)
        assert out[0].prompt_tokens == 1 + len(chat_prompt(messages))
    status, body = raw(
        server, "POST", "/v1/chat/completions", {"model": "tiny", "messages": messages}
    )
    assert status == 200 and body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant"
    # no max_tokens: the room left in the context
    assert body["usage"]["total_tokens"] <= BLOCK
    status, sse = raw(
        server,
        "POST",
        "/v1/chat/completions",
        {"model": "tiny", "messages": messages, "stream": True, "max_tokens": 3},
    )
    events = [line[6:] for line in sse.split("\n\n") if line.startswith("data: ")]
    assert status == 200 and events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")


def test_concurrent_requests_give_the_sequential_answers(server: ModelServer) -> None:
    backend = OpenAIBackend(server.url, "tiny")
    expected = {seed: backend.complete("4+4=", max_tokens=8, seed=seed) for seed in range(4)}
    got: dict[int, list[Completion]] = {}

    def ask(seed: int) -> None:
        got[seed] = OpenAIBackend(server.url, "tiny", stream=seed % 2 == 1).complete(
            "4+4=", max_tokens=8, seed=seed
        )

    threads = [threading.Thread(target=ask, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert got == expected


BAD_REQUESTS = [
    # (body, status, param or None, words of the message)
    (b"{not json", 400, None, "could not parse the JSON"),
    ({"model": "tiny", "prompt": "1", "temperature": -1}, 400, "temperature", "temperature"),
    ({"model": "tiny", "prompt": "1", "temperature": "hot"}, 400, "temperature", "number"),
    ({"model": "tiny", "prompt": "1", "n": 0}, 400, "n", "n must be"),
    ({"model": "tiny", "prompt": "1", "n": 5}, 400, "n", "at most 4"),
    ({"model": "tiny", "prompt": "1", "max_tokens": 70}, 400, "max_tokens", "context length"),
    ({"model": "tiny", "prompt": "1" * 70}, 400, "prompt", "maximum context length"),
    ({"model": "gpt-4", "prompt": "1"}, 400, "model", "does not exist"),
    ({"prompt": "1"}, 400, "model", "model"),
    ({"model": "tiny", "prompt": 3}, 400, "prompt", "prompt must be"),
    ({"model": "tiny", "prompt": "1", "stop": 3}, 400, "stop", "stop"),
    ({"model": "tiny", "prompt": "1", "seed": 2**70}, 400, "seed", "64-bit integer"),
    ({"model": "tiny", "prompt": "1", "stream": "yes"}, 400, "stream", "true or false"),
    ({"model": "tiny", "prompt": "1", "colour": "red"}, 400, "colour", "Unrecognized"),
    ({"model": "tiny", "prompt": "1", "logprobs": 5}, 400, "logprobs", "not supported"),
    ({"model": "tiny", "prompt": "1", "echo": True}, 400, "echo", "not supported"),
    ([1, 2], 400, None, "JSON object"),
]


@pytest.mark.parametrize(("body", "status", "param", "words"), BAD_REQUESTS)
def test_bad_completion_requests(
    server: ModelServer, body: Any, status: int, param: str | None, words: str
) -> None:
    got, answer = raw(server, "POST", "/v1/completions", body)
    assert got == status, answer
    error = answer["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param and words in error["message"]
    assert error["type"] == "invalid_request_error"


def test_bad_chat_paths_and_client_errors(server: ModelServer) -> None:
    status, answer = raw(
        server, "POST", "/v1/chat/completions", {"model": "tiny", "messages": [{"role": "x"}]}
    )
    assert status == 400 and answer["error"]["param"] == "messages"
    status, answer = raw(
        server,
        "POST",
        "/v1/chat/completions",
        {"model": "tiny", "messages": [{"role": "user", "content": "9" * 70}]},
    )
    assert status == 400 and answer["error"]["code"] == "context_length_exceeded"
    huge = {"model": "tiny", "prompt": "7" * 200_000}
    status, answer = raw(server, "POST", "/v1/completions", huge)
    assert status == 400 and "200001 tokens" in answer["error"]["message"]
    for method, path in (("GET", "/v2/models"), ("POST", "/v1/embeddings"), ("GET", "/")):
        status, answer = raw(server, method, path, {} if method == "POST" else None)
        assert status == 404 and "no route" in answer["error"]["message"]
    # the client turns a 4xx into a BackendError carrying the server's message
    with pytest.raises(BackendError, match="HTTP 400: temperature must be") as e:
        OpenAIBackend(server.url, "tiny").complete("1", temperature=-1.0)
    assert e.value.param == "temperature"
    with pytest.raises(BackendError, match="does not exist"):
        OpenAIBackend(server.url, "other", stream=True).complete("1")
    still_serving(server)


class _Broken:
    """A model whose forward pass fails, to see the server answer 500 and go on."""

    def __init__(self, model: Any) -> None:
        self.cfg = model.cfg

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the model fell over")


def test_generation_error_is_a_500_and_the_server_goes_on(
    server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server.backend, "model", _Broken(server.backend.model))
    status, answer = raw(server, "POST", "/v1/completions", {"model": "tiny", "prompt": "1"})
    assert status == 500 and "the model fell over" in answer["error"]["message"]
    assert answer["error"]["type"] == "server_error"
    with pytest.raises(BackendError, match="HTTP 500: generation failed") as e:
        OpenAIBackend(server.url, "tiny", retries=1, backoff=0.0).complete("1", max_tokens=4)
    assert e.value.status == 500
    with pytest.raises(BackendError, match="the model fell over"):
        OpenAIBackend(server.url, "tiny", stream=True, retries=0).complete("1", max_tokens=4)
    monkeypatch.undo()
    still_serving(server)


def test_serve_prints_its_url_and_stops_on_sigterm(run_dir: Path) -> None:
    code = (
        "from palestra.lm.server import serve\n"
        "from palestra.lm.serve_config import ServeConfig\n"
        f"serve(ServeConfig({str(run_dir)!r}, port=0))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline() if child.stdout else ""  # "serving NAME at URL"
        assert line.startswith("serving "), child.stderr.read() if child.stderr else line
        name, url = line.split()[1], line.split()[-1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        assert name == f"{run_dir.parent.name}-{run_dir.name}"
        assert OpenAIBackend(url, name).complete("1+1=", max_tokens=3, seed=0)
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    assert "shutting down" in err


class _Slow:
    """A model that takes its time over every forward pass."""

    def __init__(self, model: Any) -> None:
        self.model, self.cfg = model, model.cfg

    def eval(self) -> _Slow:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.02)
        return self.model(*args, **kwargs)


def test_shutdown_lets_requests_in_flight_finish(run_dir: Path, local: LocalBackend) -> None:
    slow = LocalBackend.from_model(_Slow(local.model), local.tokenizer)  # type: ignore[arg-type]
    server = ModelServer(ServeConfig(run_dir, port=0, model_name="slow"), backend=slow).start()
    got: list[list[Completion]] = []
    asking = threading.Thread(
        target=lambda: got.append(
            OpenAIBackend(server.url, "slow").complete("1+1=", max_tokens=20, seed=0)
        )
    )
    asking.start()
    deadline = time.monotonic() + 10
    while not server._in_flight and time.monotonic() < deadline:
        time.sleep(0.005)
    assert server._in_flight == 1
    server.shutdown(grace=10)
    asking.join(timeout=10)
    assert got == [local.complete("1+1=", max_tokens=20, seed=0)]
    with pytest.raises(BackendError, match="no answer"):
        OpenAIBackend(server.url, "slow", retries=0).complete("1+1=", max_tokens=2)


def test_serve_bench_smoke(run_dir: Path, tmp_path: Path) -> None:
    """The bench suite end to end on the tiny model: two child servers (batched and one at a
    time), the in-process backend, a report."""
    from palestra.core.bench import run_suite
    from palestra.lm import bench_serve  # registers the suite

    options = [f"run_dir={run_dir}", "requests=3", "concurrency=1,2", "max_tokens=4", "n=2"]
    js, md = run_suite(
        "serve", quick=True, out_dir=tmp_path / "results", runs_root=tmp_path, options=options
    )
    result = json.loads(js.read_text())
    names = {f["name"] for f in result["figures"]}
    assert "requests/s @ concurrency 2" in names and "p95 latency @ concurrency 1" in names
    assert "tokens/s @ n=2" in names
    assert all(f["peer"] == bench_serve.PEER and f["value"] > 0 for f in result["figures"])
    assert any("identical for every request" in n for n in result["notes"])
    assert (tmp_path / "results" / "serve_latency.png").is_file() and md.is_file()
    assert (tmp_path / "results" / "serve_throughput.png").is_file()
    assert result["data"]["serial"]["n=2"]["done"] == 3


# ----------------------------------------------------------------------------- malformed HTTP
def exchange(server: ModelServer, request: bytes) -> tuple[int, dict[str, str], Any]:
    """Send raw bytes, read until the server closes: status, headers, decoded JSON body."""
    host, port = server.httpd.server_address[:2]
    with socket.create_connection((host, port), timeout=30) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)  # the server may answer before it has read everything
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    assert status_line.startswith("HTTP/1.1 "), status_line
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, json.loads(body) if body else None


def request_bytes(
    method: str = "POST",
    path: str = "/v1/completions",
    body: bytes | None = b'{"model": "tiny", "prompt": "1+1=", "max_tokens": 2}',
    headers: dict[str, str] | None = None,
    version: str = "HTTP/1.1",
) -> bytes:
    fields = {"Host": "localhost", "Connection": "close"}
    if body is not None:
        fields |= {"Content-Type": "application/json", "Content-Length": str(len(body))}
    fields |= headers or {}
    head = "".join(f"{k}: {v}\r\n" for k, v in fields.items() if v is not None)
    return f"{method} {path} {version}\r\n{head}\r\n".encode("latin-1") + (body or b"")


DEEP = b"[" * 100_000 + b"]" * 100_000
MALFORMED = {
    # name: (request, status, code, words of the message)
    "put": (request_bytes("PUT"), 405, "method_not_allowed", "PUT is not allowed"),
    "delete": (request_bytes("DELETE", "/v1/models", None), 405, "method_not_allowed", "DELETE"),
    "get a POST route": (request_bytes("GET", body=None), 405, "method_not_allowed", "use POST"),
    "unknown method": (request_bytes("BREW"), 501, "not_implemented", "Unsupported method"),
    "garbage request line": (b"GARBAGE\r\n\r\n", 400, "bad_request", "Bad request syntax"),
    "binary request line": (b"\x16\x03\x01\x02\x00\x01\x00 x\r\n\r\n", 400, "bad_request", ""),
    "bad version": (request_bytes(version="HTTX/1.1"), 400, "bad_request", "request version"),
    "HTTP/2": (request_bytes(version="HTTP/2.0"), 505, "http_version_not_supported", "2.0"),
    "long request line": (
        request_bytes("GET", "/" + "a" * 70_000, None),
        414,
        "uri_too_long",
        "too long",
    ),
    "100k-deep body": (request_bytes(body=DEEP), 400, None, "more than 64 deep"),
    "deep body in an object": (
        request_bytes(body=b'{"model": "tiny", "prompt": ' + DEEP + b"}"),
        400,
        None,
        "deep",
    ),
    "text/plain body": (
        request_bytes(headers={"Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
        "text/plain",
    ),
    "no content type": (
        request_bytes(headers={"Content-Type": None}),
        415,
        "unsupported_media_type",
        "no Content",
    ),
    "latin-1 charset": (
        request_bytes(headers={"Content-Type": "application/json; charset=latin-1"}),
        415,
        "unsupported_media_type",
        "UTF-8",
    ),
    "70 KB header": (
        request_bytes(headers={"X-Big": "x" * 70_000}),
        431,
        "request_header_fields_too_large",
        "Line too long",
    ),
    "40 KB of headers": (
        request_bytes(headers={f"X-{i}": "x" * 4000 for i in range(10)}),
        431,
        "request_header_fields_too_large",
        "limit of 32768",
    ),
    "too many headers": (
        request_bytes(headers={f"X-{i}": "1" for i in range(120)}),
        431,
        "request_header_fields_too_large",
        "Too many headers",
    ),
    "oversized body": (
        request_bytes(body=b'{"prompt": "' + b"1" * (2 << 20) + b'"}'),
        413,
        "request_too_large",
        "exceeds the limit of 1048576",
    ),
    "announced huge body": (
        request_bytes(body=b"{}", headers={"Content-Length": "9" * 5000}),
        413,
        "request_too_large",
        "exceeds the limit",
    ),
    "no content length": (
        request_bytes(headers={"Content-Length": None}),
        411,
        "length_required",
        "Content-Length",
    ),
    "chunked body": (
        request_bytes(
            body=b"2\r\n{}\r\n0\r\n\r\n",
            headers={"Content-Length": None, "Transfer-Encoding": "chunked"},
        ),
        411,
        "length_required",
        "chunked",
    ),
    "bad content length": (
        request_bytes(headers={"Content-Length": "\xb2"}),
        400,
        None,
        "bad Content-Length",
    ),
    "two content lengths": (
        request_bytes(body=b"{}", headers={"Content-Length": "2\r\nContent-Length: 3"}),
        400,
        None,
        "bad Content-Length",
    ),
    "short body": (
        request_bytes(body=b"{}", headers={"Content-Length": "3"}),
        400,
        None,
        "ended after 2",
    ),
    "NaN": (
        request_bytes(body=b'{"model": "tiny", "prompt": "1", "temperature": NaN}'),
        400,
        None,
        "NaN is not valid JSON",
    ),
    "5000-digit integer": (
        request_bytes(body=b'{"model": "tiny", "prompt": "1", "seed": ' + b"9" * 5000 + b"}"),
        400,
        None,
        "could not parse the JSON",
    ),
    "not UTF-8": (request_bytes(body=b'{"prompt": "\xff"}'), 400, None, "could not parse"),
    "too many prompts": (
        request_bytes(body=json.dumps({"model": "tiny", "prompt": ["1"] * 10_000}).encode()),
        400,
        None,
        "10000 prompts exceed the limit of 4",
    ),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_http_gets_a_json_error(server: ModelServer, name: str) -> None:
    request, status, code, words = MALFORMED[name]
    got, headers, body = exchange(server, request)
    assert got == status, body
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert words in error["message"] and error["code"] == code
    assert error["type"] == "invalid_request_error"
    if status == 405:
        assert headers["allow"] == ("GET, HEAD" if name == "delete" else "POST")
    still_serving(server)


def test_http_client_sees_the_json_errors(server: ModelServer) -> None:
    """The same through http.client, as a client library would see them."""
    host, port = server.httpd.server_address[:2]
    for method, path, ctype, status in (
        ("PUT", "/v1/completions", "application/json", 405),
        ("DELETE", "/v1/chat/completions", "application/json", 405),
        ("POST", "/v1/completions", "text/plain", 415),
        ("PATCH", "/nowhere", "application/json", 404),
    ):
        conn = http.client.HTTPConnection(host, port, timeout=30)
        try:
            conn.request(method, path, body=b'{"model": "tiny"}', headers={"Content-Type": ctype})
            resp = conn.getresponse()
            assert resp.status == status
            assert resp.getheader("Content-Type") == "application/json"
            assert "message" in json.loads(resp.read())["error"]
        finally:
            conn.close()


def test_valid_edges_are_still_served(server: ModelServer) -> None:
    ok = {"model": "tiny", "prompt": "1+1=", "max_tokens": 2, "seed": 0}
    # a charset and a BOM are fine; brackets and escaped quotes inside strings are not depth
    for headers, body in (
        ({"Content-Type": "application/json; charset=UTF-8"}, json.dumps(ok).encode()),
        ({}, b"\xef\xbb\xbf" + json.dumps(ok).encode()),
        ({}, json.dumps(ok | {"stop": '\\"' + "[" * 100}).encode()),
        ({}, json.dumps(ok | {"user": "[{" * 500 + '"\\'}).encode()),
    ):
        status, _, answer = exchange(server, request_bytes(body=body, headers=headers))
        assert status == 200, answer
        assert (
            answer["choices"][0]["text"]
            == raw(server, "POST", "/v1/completions", ok)[1]["choices"][0]["text"]
        )
    # HEAD of a GET route: its headers, no body
    host, port = server.httpd.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("HEAD", "/v1/models")
        resp = conn.getresponse()
        assert resp.status == 200 and int(resp.getheader("Content-Length")) > 0
        assert resp.read() == b""
        conn.request("GET", "/v1/models")  # the connection is kept
        assert conn.getresponse().status == 200
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        (b"[" * 64 + b"]" * 64, False),
        (b"[" * 65 + b"]" * 65, True),
        (b'{"a": "' + b"[" * 100 + b'"}', False),
        (b'{"a": "\\"' + b"[" * 100 + b'"}', False),
        (b'{"a": "\\\\"' + b"," + b"[" * 100, True),  # the escape is over; the string too
        (b'"\\\\\\"' + b"[" * 100 + b'"', False),
        (b"[{" * 32 + b"}]" * 32 + b"[{" * 32 + b"}]" * 32, False),
        ("[\u00e9".encode() * 65, True),
    ],
)
def test_json_too_deep(text: bytes, deep: bool) -> None:
    assert json_too_deep(text, 64) == deep
