"""ASGI middleware: ponder's own request id on every response (and on every backend call the request
makes), request metrics, one JSON access log line per request (a client's `x-request-id` in its own field)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.ops.metrics import Metrics
from backends.http_retry import FORWARDED_HEADERS

log = logging.getLogger("ponder.access")

# What a request's search adds to its access log line (tokens, stop reason): a dict per request that
# the search's tasks share (they inherit the context).
SEARCH_LOG: ContextVar[dict[str, Any] | None] = ContextVar("ponder_search_log", default=None)
CLIENT_ID_CHARS = 64  # a client's x-request-id is kept to this many characters in the log


class Observe:
    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Always ponder's own: a client's id could name another request's log lines and backend calls.
        request_id = str(uuid.uuid4())
        client_request_id = _client_id(_header(scope, b"x-request-id"))
        started = time.monotonic()
        status = 500
        # A UUID, the one form every server accepts (llama-cpp-python's answers 400 to others).
        forwarded = {"X-Request-ID": request_id}
        traceparent = _header(scope, b"traceparent")
        if traceparent and len(traceparent) <= 128 and traceparent.isprintable():
            forwarded["traceparent"] = traceparent
        searched: dict[str, Any] = {}
        tokens = FORWARDED_HEADERS.set(forwarded), SEARCH_LOG.set(searched)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            FORWARDED_HEADERS.reset(tokens[0])
            SEARCH_LOG.reset(tokens[1])
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            elapsed = time.monotonic() - started
            self.metrics.requests.labels(path, str(status)).inc()
            self.metrics.latency.labels(path).observe(elapsed)
            # No prompt or answer text at info level: method, route, status, time, id.
            client = {"client_request_id": client_request_id} if client_request_id else {}
            log.info(json.dumps({"request_id": request_id, **client, "method": scope.get("method"), "route": path,
                                 "status": status, "seconds": round(elapsed, 3), **searched}))


def _header(scope: Scope, name: bytes) -> str:
    """The request's first `name` header ("" when absent)."""
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == name), "")


def _client_id(raw: str) -> str:
    """A client's `x-request-id` as logged: at most 64 characters, each outside visible ASCII made "_"."""
    return "".join(c if "!" <= c <= "~" else "_" for c in raw[:CLIENT_ID_CHARS])
