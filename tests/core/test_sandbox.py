"""The code sandbox: real subprocesses with short limits, one test per protection."""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
from pathlib import Path

import pytest

from palestra.core.sandbox import check_program, run_python

from ..conftest import live_processes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(
    not ROOT, reason="without root there is no fresh uid: no user, process or file protection"
)

ADD = "def add(a, b):\n    return a + b\n"


def test_correct_solution_is_accepted_and_stdlib_imports():
    tests = "import math, itertools, collections, re, heapq\nassert add(2, 3) == 5\n"
    v = check_program(ADD, tests, timeout_s=2)
    assert v and v.reason == "accepted" and v.evidence.status == "ok"
    assert json.loads(json.dumps(v.to_json()))["evidence"]["status"] == "ok"


def test_failing_assert_is_rejected_naming_the_assertion():
    v = check_program(ADD, "assert add(2, 3) == 5\nassert add(1, 1) == 3\n", timeout_s=2)
    assert not v and v.evidence.status == "error" and v.evidence.exit_code == 1
    assert v.reason == "AssertionError at tests line 2: assert add(1, 1) == 3"


def test_syntax_error_is_rejected():
    v = check_program("def add(a, b:\n    return a + b\n", "assert add(1, 2) == 3", timeout_s=2)
    assert not v and v.reason.startswith("SyntaxError") and "line 1" in v.reason


def test_infinite_loop_times_out_and_leaves_no_process():
    code = "import os\nif os.fork() == 0:\n    while True: pass\nprint(os.getpid(), flush=True)\n"
    r = run_python(code + "while True: pass\n", timeout_s=1)
    assert r.status == "timeout" and r.signal == "SIGKILL"
    pid = int(r.stdout.split()[0])
    assert live_processes(pgid=pid) == []  # the whole group is gone
    v = check_program("while True: pass", "", timeout_s=1)
    assert not v and v.reason == "timeout after 1 s"


def test_background_child_does_not_hold_the_run_open():
    code = "import os, time\nif os.fork() == 0:\n    time.sleep(60)\nprint('done')\n"
    r = run_python(code, timeout_s=5)
    assert r.status == "ok" and r.stdout == "done\n" and r.seconds < 4


def test_memory_bomb_is_stopped_not_a_hang():
    v = check_program("x = bytearray(4 << 30)", "", timeout_s=2, memory_mb=256)
    assert not v and v.evidence.status == "memory"
    assert v.reason == "out of memory (limit 256 MB)"


@needs_root
def test_fork_bomb_stays_under_max_processes_and_leaves_nothing():
    code = (
        "import os, time\nn = 0\n"
        "while n < 1000:\n"
        "    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
        "    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n"
        "    n += 1\n"
        "print(n, flush=True)\ntime.sleep(60)\n"
    )
    r = run_python(code, timeout_s=2, max_processes=8)
    assert "processes" in r.protections and r.status == "timeout"
    assert int(r.stdout) < 8  # the main process counts too
    assert r.uid is not None and live_processes(uid=r.uid) == []


@needs_root
def test_setsid_escape_is_still_killed():
    code = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n"
    code += "else:\n    print('parent', flush=True)\n"
    r = run_python(code, timeout_s=3)
    assert r.status == "ok" and r.uid is not None and live_processes(uid=r.uid) == []


@needs_root
def test_writes_outside_its_directory_fail_inside_work():
    outside = Path(__file__).resolve().parents[2] / "should_not_exist"
    marker = f"palestra-test-{os.getpid()}-{secrets.token_hex(4)}"
    code = (
        "import os\n"
        f"for path in [{str(outside)!r}, '/root/should_not_exist']:\n"
        "    try:\n        open(path, 'w').write('x')\n        print('wrote', path)\n"
        "    except PermissionError:\n        print('denied', path)\n"
        "open('inside.txt', 'w').write('ok')\nprint(open('inside.txt').read(), os.getcwd())\n"
        f"for d in ['/tmp', '/var/tmp', '/dev/shm']:\n"
        f"    open(os.path.join(d, {marker!r}), 'w').write('x')\n"
        "print(sorted(os.listdir('/tmp')))\n"
    )
    r = run_python(code, timeout_s=2)
    assert "user" in r.protections and r.status == "ok", r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"denied {outside}" and lines[1] == "denied /root/should_not_exist"
    assert lines[2] == "ok /tmp"  # the run's own directory, mounted over /tmp
    assert not outside.exists() and not os.path.exists("/root/should_not_exist")
    # the world-writable directories were the run's own: nothing landed on the host
    assert "filesystem" in r.protections
    assert lines[3] == str(sorted(["inside.txt", "main.py", marker]))
    assert not any(
        os.path.exists(os.path.join(d, marker)) for d in ("/tmp", "/var/tmp", "/dev/shm")
    )


def test_no_network_to_a_server_on_the_host():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        socket.create_connection(("127.0.0.1", port), timeout=2).close()  # reachable here
        code = (
            "import socket\ntry:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
            "    print('connected')\nexcept OSError as e:\n    print('refused', e.errno)\n"
        )
        r = run_python(code, timeout_s=3)
    if "network" not in r.protections:
        pytest.skip("no network namespace could be made here: network is not isolated")
    assert r.status == "ok" and r.stdout.startswith("refused"), r.stdout + r.stderr


def test_huge_output_is_truncated():
    r = run_python("import sys\nsys.stdout.write('x' * 5_000_000)\n", max_output_bytes=1000)
    assert r.status == "ok" and r.truncated and r.stdout == "x" * 1000
    assert not run_python("print('short')").truncated


def test_parent_environment_is_not_visible(monkeypatch):
    monkeypatch.setenv("PALESTRA_SANDBOX_SECRET", "hunter2")
    r = run_python("import os\nprint(dict(os.environ))", timeout_s=2)
    assert r.status == "ok" and "hunter2" not in r.stdout and "SECRET" not in r.stdout


def test_stdin_and_files():
    code = "import sys\nprint(sys.stdin.read().upper(), open('data/in.txt').read())"
    r = run_python(code, stdin="abc", files={"data/in.txt": "xyz"}, timeout_s=2)
    assert r.status == "ok" and r.stdout == "ABC xyz\n"


@needs_root
def test_all_writes_together_are_bounded_by_max_disk_bytes():
    code = (
        "written = 0\ntry:\n    for i in range(8):\n"
        "        open(f'/var/tmp/f{i}', 'wb').write(b'x' * (512 << 10))\n"
        "        written += 1\nexcept OSError as e:\n    print(written, e.strerror)\n"
    )
    r = run_python(code, timeout_s=3, max_disk_bytes=2 << 20)
    assert "filesystem" in r.protections and r.status == "ok", r.stderr
    written, error = r.stdout.split(maxsplit=1)
    assert 3 <= int(written) <= 4 and error == "No space left on device\n"  # of 8 x 512 kB
