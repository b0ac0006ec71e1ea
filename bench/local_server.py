"""A server on this machine, for benchmarks and tests: a free 127.0.0.1 port, and the wait until
it answers 200 (or its process exits first)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, *, timeout_s: float, proc: subprocess.Popen[bytes] | None = None,
               explain: Callable[[], str] = lambda: "", interval_s: float = 0.3) -> None:
    """Poll GET `url` until it answers 200. RuntimeError if `proc` exits first or `timeout_s`
    passes; the message ends with `explain()` (a log's tail, say)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode} before it was ready{explain()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(interval_s)
    raise RuntimeError(f"{url} was not ready in {timeout_s:.0f} s{explain()}")
