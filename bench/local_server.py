"""A server on this machine, for benchmarks and tests: a free 127.0.0.1 port, the wait until
it answers 200 (or its process exits first), and a server process that lives for a `with` block."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

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


@contextmanager
def running(args: list[str], ready_url: str, *, env: dict[str, str] | None = None, log: Path | None = None,
            timeout_s: float = 180.0) -> Iterator[subprocess.Popen[bytes]]:
    """The process `args` (with `env` added to this one's), once GET `ready_url` answers 200; its
    output goes to `log` (else nowhere). Terminated when the block ends, killed if it lingers."""
    with ExitStack() as files:
        sink = files.enter_context(open(log, "wb")) if log is not None else subprocess.DEVNULL
        proc = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        try:
            wait_ready(ready_url, timeout_s=timeout_s, proc=proc)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
