"""Client connections: a deadline for each request head, a cap on open connections, the open-file
limit, and accept errors logged once per interval (issue 32: slowloris and connection exhaustion).

Why a protocol-level guard rather than uvicorn's settings or another server:

- uvicorn (0.54, 0.55) times out nothing before a request head is complete: `timeout_keep_alive` is armed
  only after a response, and its data_received cancels it as soon as a byte of the next head comes.
  `limit_concurrency` is checked only once a head has been parsed, so a connection that never
  finishes its head is never refused, while the real requests that do finish theirs get the 503s.
  `h11_max_incomplete_event_size` bounds a head's size, not its time.
- hypercorn and granian have read timeouts, but the shutdown grace (app/ops/shutdown.py) is built on
  uvicorn.Server; swapping servers for one timer is the larger change.
- So `GuardedH11Protocol`, uvicorn's own h11 protocol plus a timer: armed whenever the connection
  waits for a request head (when it opens, and after each response on a kept-alive connection),
  cancelled once h11 has the whole head. At the cap a new connection closes the oldest one still
  waiting for a head (a slowloris one is the oldest; a real client sends its head at once), and is
  itself answered 503 and closed only when every open connection is inside a request.
- The cap is held below the open-file limit (`FD_RESERVE` files left for backend connections,
  sandbox pipes and trace files), so the accept loop does not run out of descriptors. asyncio
  accepts up to `backlog` connections per wake-up before any protocol sees one, and after a failed
  accept stops accepting for a second: so the server's backlog is `ACCEPT_BATCH`, and the kernel's
  queue of connections waiting to be accepted is widened back to `LISTEN_BACKLOG` once it listens.
  Where the loop still runs out (the descriptors went elsewhere), asyncio reports "socket.accept() out of
  system resource" for every failed accept, up to its backlog (2048) per wake-up, each with a
  traceback: the loop's exception handler below passes one line per interval with a count.

Nothing here is process-wide except the open-file limit, which belongs to the process anyway.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import resource
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from app.protocol.errors import error_body

FD_RESERVE = 256  # open files kept for everything but client connections (at most half the limit)
ACCEPT_BATCH = 64  # connections asyncio accepts per wake-up (uvicorn's `backlog`): well inside FD_RESERVE
LISTEN_BACKLOG = 2048  # connections the kernel queues for accept (uvicorn's default backlog)
LOG_INTERVAL_S = 10.0  # a recurring connection event is logged at most once per interval
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

log = logging.getLogger("ponder.connections")


def _refusal() -> bytes:
    body = json.dumps(error_body("too many open connections; retry shortly", "server_error",
                                 code="too_many_connections")).encode()
    head = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
            b"retry-after: 1\r\nconnection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n")
    return head + body


REFUSAL = _refusal()  # written before the request is read: no parsing, no app, no task


class ThrottledLog:
    """Logs a recurring event at most once per `interval_s` per key, saying how many were left out."""

    def __init__(self, logger: logging.Logger, interval_s: float = LOG_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.clock = clock
        self._last: dict[str, float] = {}
        self._left_out: dict[str, int] = {}

    def warning(self, key: str, message: str, *args: object) -> None:
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._left_out[key] = self._left_out.get(key, 0) + 1
            return
        self._last[key] = now
        left_out = self._left_out.pop(key, 0)
        if left_out:
            message += f" (and {left_out} more since the last such line)"
        self.logger.warning(message, *args)


def raise_open_file_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to its hard limit, log both, and return the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError) as exc:  # macOS caps the soft limit at OPEN_MAX below an unlimited hard one
            log.warning("open-file limit stays %d: raising it to %d failed (%s)", soft, target, exc)
            return soft
        log.info("open-file limit raised from %d to %d (the hard limit)", soft, target)
        return target
    log.info("open-file limit %d (the hard limit)", soft)
    return soft


def connection_cap(max_connections: int, open_file_limit: int) -> int:
    """The most client connections to hold open: `max_connections`, less where the open-file limit
    would otherwise run out first."""
    reserve = min(FD_RESERVE, open_file_limit // 2)
    return max(1, min(max_connections, open_file_limit - reserve))


class ConnectionGuard:
    """One server's connection rules: the head deadline, the cap, and the connections that wait
    for a request head, oldest first (those the cap closes first)."""

    def __init__(self, *, max_connections: int, header_timeout_s: float,
                 log_interval_s: float = LOG_INTERVAL_S) -> None:
        self.max_connections = max_connections  # held to the open-file limit by start()
        self.header_timeout_s = header_timeout_s
        self.waiting: OrderedDict[GuardedH11Protocol, None] = OrderedDict()
        self.log = ThrottledLog(log, log_interval_s)
        self.timed_out = self.evicted = self.refused = 0

    def protocol_class(self) -> type[GuardedH11Protocol]:
        """The uvicorn `http=` protocol class for a server under this guard."""
        class Guarded(GuardedH11Protocol):
            pass

        Guarded.guard = self  # per server: nothing about connections is process-wide
        return Guarded

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Before the server listens: raise the open-file limit, hold the cap below it, log both, and
        from now pass the loop's out-of-resource errors (a failed accept, every time) once per interval."""
        self.max_connections = connection_cap(self.max_connections, raise_open_file_limit())
        log.info("at most %d client connections; each request head within %g s", self.max_connections,
                 self.header_timeout_s)
        previous = loop.get_exception_handler()

        def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            exc = context.get("exception")
            if isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS:
                self.log.warning("resource", "%s: %s (open-file limit %d)", context.get("message", "loop error"),
                                 exc, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
            elif previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(handle)

    def listening(self, servers: list[asyncio.Server]) -> None:
        """Once the server listens with `backlog=ACCEPT_BATCH`: widen the kernel's accept queue again
        (listen(2) on a listening socket only sets its backlog)."""
        for server in servers:
            for listener in server.sockets:
                with socket.socket(fileno=os.dup(listener.fileno())) as sock:
                    sock.listen(LISTEN_BACKLOG)

    def make_room(self) -> bool:
        """Close the connection that has waited longest for a request head; False if none waits."""
        if not self.waiting:
            return False
        oldest, _ = self.waiting.popitem(last=False)
        oldest.close_waiting()
        self.evicted += 1
        self.log.warning("evicted", "%d connections open: closed the one waiting longest for a request head",
                         self.max_connections)
        return True


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with a deadline for each request head and the guard's cap."""

    guard: ClassVar[ConnectionGuard]
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.guard.max_connections and not self.guard.make_room():
            self.guard.refused += 1
            self.guard.log.warning("refused", "%d connections open, each inside a request: answered 503",
                                   self.guard.max_connections)
            transport.write(REFUSAL)
            transport.close()
            return
        self._await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is complete (or was refused as malformed)
            self._head_received()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._await_head()  # a kept-alive connection: its next head has the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_received()
        super().connection_lost(exc)

    def close_waiting(self) -> None:
        """Close this connection, which is still waiting for its request head."""
        self._head_received()
        if not self.transport.is_closing():
            self.transport.close()

    def _await_head(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.guard.header_timeout_s, self._head_timed_out)
        self.guard.waiting[self] = None

    def _head_received(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self.guard.waiting.pop(self, None)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        self.guard.timed_out += 1
        self.guard.log.warning("timed_out", "closed a connection that sent no whole request head in %g s",
                               self.guard.header_timeout_s)
        self.close_waiting()
