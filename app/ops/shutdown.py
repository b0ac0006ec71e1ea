"""Graceful shutdown: searches in flight get a grace period, then stop with their best answer.

The design, and why it is shaped this way:

- uvicorn (0.54) shuts down in this order: stop listening, close idle keep-alive connections,
  wait for the requests in flight (forever unless `timeout_graceful_shutdown` is set; past it
  their tasks are *cancelled*, and a cancelled search answers nothing), and only then send the
  ASGI `lifespan.shutdown` event. So the app's lifespan cannot grant in-flight searches a
  grace: by the time it runs under uvicorn, nothing is in flight any more.
- Hence `GracefulServer`, a `uvicorn.Server` whose `shutdown` first drains the app
  (`Drain.shutdown`) and then runs uvicorn's own shutdown, whose wait is by then short and is
  bounded by `timeout_graceful_shutdown` as a backstop. While the app drains, the listener is
  still open and new requests get a clean 503 (OpenAI error body, `Retry-After`,
  `Connection: close`) rather than a refused connection; `/health` answers 503 too, so a load
  balancer stops routing here. A second SIGINT/SIGTERM (uvicorn's `force_exit`) ends the grace.
- The lifespan's shutdown calls the same `Drain.shutdown` (a no-op when the server already
  drained): that covers in-process use (tests, `bench.load`) and ASGI servers that send
  `lifespan.shutdown` while requests are still running.
- Draining: requests in flight are counted by `ShutdownGate` (a pure ASGI middleware; a
  streaming response counts until its last byte). They get `grace_s` to finish. When the
  grace ends, the search generator (`StoppableGenerator`, wrapped around the service's
  generator) stops every search the way a deadline does, not by cancelling the search:
  a new backend call raises `BudgetExhausted("shutdown")`, so `search.driver.run_search` ends
  the search and returns its best answer so far (stop reason "shutdown"); a backend call still
  running is abandoned with `ServerShuttingDown` (a 503 backend error), recorded as a failed
  branch. A search that already has an answer therefore answers 200 with it; one that has
  nothing answers 503 "shutting down", which a client may retry elsewhere. Then the drain waits
  up to `stop_wait_s` for those responses to be written, and the lifespan closes the backend.

  A request admitted before the drain began but still queued for a search slot when the
  grace ends starts with no calls allowed: it finds nothing and answers 503 too
  (`ReasoningService.run` turns a shutdown stop without an answer into `ServerShuttingDown`).

All state lives in one `Drain` per app (`app.state.drain`); nothing is process-wide.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from app.ops.connections import ACCEPT_BATCH, ConnectionGuard
from app.protocol.errors import error_body
from backends.errors import BackendUnavailable
from sampling import Sampling
from search.charged import BudgetExhausted
from search.protocols import Generation, Generator

SHUTDOWN = "shutdown"  # the stop reason of a search stopped at the end of the grace
STOP_WAIT_S = 5.0  # after the grace: how long stopped searches get to write their answers
POLL_S = 0.1
UNTRACKED_PATHS = frozenset({"/metrics", "/livez"})  # scraping and liveness go on while the server drains

Phase = Literal["serving", "draining", "stopped"]


class ServerShuttingDown(BackendUnavailable):
    """A backend call abandoned because the server's shutdown grace ended."""

    code = "server_shutting_down"


class Drain:
    """The shutdown phase of one app and the API requests it has in flight."""

    def __init__(self, grace_s: float, *, stop_wait_s: float = STOP_WAIT_S) -> None:
        self.grace_s = grace_s
        self.stop_wait_s = stop_wait_s
        self.phase: Phase = "serving"
        self.in_flight = 0
        self._stopped = asyncio.Event()
        self._shutdown: asyncio.Task[None] | None = None

    def open(self) -> None:
        """(Re)start serving: the lifespan's startup calls this."""
        self.phase, self.in_flight, self._shutdown = "serving", 0, None
        self._stopped = asyncio.Event()

    @property
    def stopped(self) -> bool:
        return self.phase == "stopped"

    @contextmanager
    def track(self) -> Iterator[None]:
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    async def shutdown(self, should_abort: Callable[[], bool] = lambda: False) -> None:
        """Refuse new requests, give those in flight `grace_s`, then stop their searches and
        wait up to `stop_wait_s` for their answers. Idempotent; `should_abort` ends the waits."""
        if self._shutdown is None:
            self._shutdown = asyncio.create_task(self._drain(should_abort))
        await asyncio.shield(self._shutdown)

    async def _drain(self, should_abort: Callable[[], bool]) -> None:
        self.phase = "draining"
        if await self._idle_within(self.grace_s, should_abort):
            return
        self.phase = "stopped"
        self._stopped.set()
        await self._idle_within(self.stop_wait_s, should_abort)

    async def _idle_within(self, seconds: float, should_abort: Callable[[], bool]) -> bool:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while self.in_flight > 0 and not should_abort():
            left = end - loop.time()
            if left <= 0:
                return False
            await asyncio.sleep(min(POLL_S, left))
        return True

    async def wait_stopped(self) -> None:
        await self._stopped.wait()


class StoppableGenerator:
    """A search.protocols.Generator that ends its calls when the drain's grace is over."""

    def __init__(self, inner: Generator, drain: Drain) -> None:
        self.inner = inner
        self.drain = drain

    async def generate(self, prompt: str, *, n: int, sampling: Sampling, deadline: float | None = None) -> Generation:
        if self.drain.stopped:
            raise BudgetExhausted(SHUTDOWN)  # the driver stops the search with its best so far
        call = asyncio.ensure_future(self.inner.generate(prompt, n=n, sampling=sampling, deadline=deadline))
        stop = asyncio.ensure_future(self.drain.wait_stopped())
        try:
            await asyncio.wait({call, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not call.done():
                call.cancel()  # the grace ended, or our caller was cancelled: no further decoding
                await asyncio.wait({call})
        if call.cancelled():
            raise ServerShuttingDown("the server is shutting down; the call was stopped at the end of its grace")
        return call.result()


class ShutdownGate:
    """ASGI middleware: counts API requests in flight; while draining, answers 503."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNTRACKED_PATHS:
            await self.app(scope, receive, send)
            return
        if self.drain.phase != "serving":
            await self._refuse(scope, send)
            return
        with self.drain.track():
            await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        import json

        if scope["path"] == "/health":
            body: dict[str, object] = {"status": "shutting_down", "backend": None}
        else:
            body = error_body("the server is shutting down; retry on another instance", "server_error",
                              code="server_shutting_down")
        payload = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
            (b"retry-after", b"1"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": payload})


class GracefulServer(uvicorn.Server):
    """uvicorn.Server that drains the app (grace, then best-so-far) before uvicorn's shutdown, and
    whose connections are under a ConnectionGuard (app/ops/connections.py) when it has one."""

    def __init__(self, config: uvicorn.Config, drain: Drain, connections: ConnectionGuard | None = None) -> None:
        super().__init__(config)
        self.drain = drain
        self.connections = connections

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if self.connections is not None:
            self.connections.start(asyncio.get_running_loop())
        await super().startup(sockets)
        if self.connections is not None and self.started:
            self.connections.listening(self.servers)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.drain.shutdown(should_abort=lambda: self.force_exit)
        await super().shutdown(sockets)


def graceful_server(app: Any, *, host: str, port: int, **config: Any) -> GracefulServer:
    """A GracefulServer for a `create_app` app; uvicorn's own wait is bounded as a backstop. Its
    connections follow the app's `header_timeout_s` and `max_connections` settings."""
    drain: Drain = app.state.drain
    settings = app.state.settings
    guard = ConnectionGuard(max_connections=settings.max_connections, header_timeout_s=settings.header_timeout_s)
    config.setdefault("timeout_graceful_shutdown", drain.stop_wait_s)
    config.setdefault("http", guard.protocol_class())
    config.setdefault("backlog", ACCEPT_BATCH)  # asyncio's accepts per wake-up; the kernel's queue stays long
    return GracefulServer(uvicorn.Config(app, host=host, port=port, **config), drain, guard)
