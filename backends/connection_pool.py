"""An httpx client whose connection pool takes back connections that a cancelled request orphaned.

httpcore 1.0.9 (the last release; encode/httpcore#1093, open) leaks a pool slot when a request is
cancelled after the pool gave it a new connection but before that connection was opened: the
connection is neither idle, closed nor expired, and no request owns it, so nothing ever removes
it. ponder cancels backend calls whenever a client disconnects or a search ends early, so the
slots run out (the soak bench saw the gateway stall after 6 minutes: docs/benchmarks/serving.md)
and every later call waits out its timeout. Here the pool, whenever it reassigns connections
(which it does right after removing a cancelled request), first closes every connection that no
request owns and that is neither idle, available nor closed.
"""

from __future__ import annotations

import httpcore
import httpx


class ReclaimingConnectionPool(httpcore.AsyncConnectionPool):
    """httpcore's pool, less the slots orphaned by cancelled requests (module docstring)."""

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        owned = {id(r.connection) for r in self._requests if r.connection is not None}
        orphans = [c for c in self._connections
                   if id(c) not in owned and not (c.is_idle() or c.is_available() or c.is_closed())]
        for connection in orphans:
            self._connections.remove(connection)
        return orphans + super()._assign_requests_to_connections()


def async_client(*, timeout_s: float) -> httpx.AsyncClient:
    """An httpx.AsyncClient (httpx's defaults otherwise) whose pool reclaims orphaned connections."""
    transport = httpx.AsyncHTTPTransport()
    # httpx builds its httpcore pool itself; the subclass adds no state, so the built one is re-classed.
    transport._pool.__class__ = ReclaimingConnectionPool
    return httpx.AsyncClient(timeout=timeout_s, transport=transport)
