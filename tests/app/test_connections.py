"""The connection guard (app/ops/connections.py) under the real uvicorn server: request heads have a
deadline, the cap closes the oldest connection waiting for a head, accept errors log once."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.compose.gateway import create_app
from app.ops.connections import ThrottledLog, connection_cap
from app.ops.shutdown import graceful_server
from app.settings import load_settings
from bench.local_server import free_port

from .fake_backend import ScriptedBackend

PROJECT = Path(__file__).resolve().parents[2]
HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
PARTIAL = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"


@contextmanager
def serving(backend: ScriptedBackend | None = None, **settings: object) -> Iterator[int]:
    """The real server (graceful_server, so the guard) in a thread; yields its port."""
    port = free_port()
    app = create_app(load_settings(**settings), backend=backend or ScriptedBackend())
    server = graceful_server(app, host="127.0.0.1", port=port, log_level="warning")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    assert server.started
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    time.sleep(0.05)  # the server accepts it before the next one: their order is the eviction order
    return sock


def closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """True if the server closes `sock` within `within_s` (EOF or reset); what it sent first is read."""
    sock.settimeout(within_s)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def reply(sock: socket.socket) -> bytes:
    """Everything the server sends until the response's body is complete (or it closes)."""
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    fields = dict(line.lower().split(b":", 1) for line in head.split(b"\r\n")[1:])
    length = int(fields[b"content-length"])
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


def test_a_head_not_finished_in_time_is_closed_and_one_finished_in_time_is_served():
    with serving(header_timeout_s=0.5) as port:
        stalled = connect(port)
        stalled.sendall(PARTIAL)
        slow = connect(port)
        for piece in (HEALTH[:10], HEALTH[10:20], HEALTH[20:]):
            slow.sendall(piece)
            time.sleep(0.05)
        assert reply(slow).startswith(b"HTTP/1.1 200")
        assert closed_by_server(stalled, within_s=5)
        assert not closed_by_server(slow, within_s=0.2)  # a whole head stops the clock; keep-alive holds it


def test_the_next_head_on_a_kept_alive_connection_has_the_same_deadline():
    # uvicorn's keep-alive timer stops at the first byte of the next head: without the guard nothing closes this
    with serving(header_timeout_s=0.5) as port:
        sock = connect(port)
        sock.sendall(HEALTH)
        assert reply(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(PARTIAL)
        assert closed_by_server(sock, within_s=4)


def test_at_the_cap_a_new_connection_closes_the_oldest_one_waiting_for_a_head():
    with serving(header_timeout_s=60, max_connections=3) as port:
        oldest, second, third = connect(port), connect(port), connect(port)
        second.sendall(PARTIAL)
        newcomer = connect(port)
        newcomer.sendall(HEALTH)
        assert reply(newcomer).startswith(b"HTTP/1.1 200")
        assert closed_by_server(oldest, within_s=5)
        assert not closed_by_server(second, within_s=0.2) and not closed_by_server(third, within_s=0.2)
        for sock in (second, third, newcomer):
            sock.close()


def test_at_the_cap_with_every_connection_inside_a_request_a_new_one_gets_503_at_once():
    backend = ScriptedBackend(delay_s=1.5)
    body = json.dumps({"model": "m", "reasoning_effort": "none",
                       "messages": [{"role": "user", "content": "2+2?"}]}).encode()
    post = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    with serving(backend, header_timeout_s=60, max_connections=2) as port:
        busy = [connect(port), connect(port)]
        for sock in busy:
            sock.sendall(post)
        for _ in range(500):
            if backend.calls >= 2:
                break
            time.sleep(0.01)
        assert backend.calls == 2
        refused = connect(port)
        answer = reply(refused)
        assert answer.startswith(b"HTTP/1.1 503") and b"retry-after: 1" in answer
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "too_many_connections"
        assert all(reply(sock).startswith(b"HTTP/1.1 200") for sock in busy)  # the requests inside go on


def test_the_cap_stays_below_the_open_file_limit():
    assert connection_cap(2048, 1024) == 768
    assert connection_cap(100, 1024) == 100
    assert connection_cap(2048, 1 << 20) == 2048
    assert connection_cap(2048, 64) == 32  # a tiny limit keeps half for everything else


def test_a_recurring_event_is_logged_once_per_interval_with_a_count_of_the_rest(caplog):
    now = [0.0]
    throttled = ThrottledLog(logging.getLogger("ponder.test"), interval_s=10, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="ponder.test"):
        for step in range(1000):
            now[0] = step * 0.015  # 15 s in all
            throttled.warning("accept", "accept failed")
        throttled.warning("other", "something else")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["accept failed", "accept failed (and 666 more since the last such line)", "something else"]


# A server whose descriptors are gone: every accept fails with EMFILE. asyncio (3.11) reports each
# failed accept, up to its backlog per wake-up, with a traceback; under the guard it is one line.
EMFILE_SERVER = r'''
import asyncio, logging, os, resource, sys, time
from app.ops.connections import ConnectionGuard
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
async def main():
    loop = asyncio.get_running_loop()
    ConnectionGuard(max_connections=10, header_timeout_s=5).start(loop)
    server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0, backlog=2048)
    print(server.sockets[0].getsockname()[1], flush=True)
    spent = []
    try:
        while True:
            spent.append(os.open("/dev/null", os.O_RDONLY))
    except OSError:
        pass
    sys.stdin.readline()  # the parent has connected its clients
    await asyncio.sleep(3)  # the loop retries the accept every second
asyncio.run(main())
'''


def test_accept_errors_for_want_of_descriptors_are_logged_once_per_interval():
    proc = subprocess.Popen([sys.executable, "-c", EMFILE_SERVER], cwd=PROJECT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(PROJECT)})
    assert proc.stdout is not None and proc.stdin is not None
    port = int(proc.stdout.readline())
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(20)]
    proc.stdin.write("go\n")
    proc.stdin.flush()
    _, err = proc.communicate(timeout=30)
    for sock in clients:
        sock.close()
    failures = [line for line in err.splitlines() if "out of system resource" in line]
    assert len(failures) == 1 and "Too many open files" in failures[0], err[-2000:]
    assert "Traceback" not in err and len(err.splitlines()) <= 5, err[-2000:]
