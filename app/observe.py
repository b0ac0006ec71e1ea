"""ASGI middleware: a request id on every response (and on every backend call the request makes),
request metrics, one JSON access log line per request."""

from __future__ import annotations

import json
import logging
import time
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import Metrics
from backends.http_retry import FORWARDED_HEADERS

log = logging.getLogger("ponder.access")

# What a request's search adds to its access log line (tokens, stop reason): a dict per request that
# the search's tasks share (they inherit the context).
SEARCH_LOG: ContextVar[dict[str, Any] | None] = ContextVar("ponder_search_log", default=None)


class Observe:
    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id")
        request_id = request_id[:64] if request_id.isprintable() and request_id else str(uuid.uuid4())
        started = time.monotonic()
        status = 500
        # Forwarded only as a UUID: some servers (llama-cpp-python's) answer 400 to any other form.
        forwarded = {"X-Request-ID": request_id} if _is_uuid(request_id) else {}
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
            log.info(json.dumps({"request_id": request_id, "method": scope.get("method"), "route": path,
                                 "status": status, "seconds": round(elapsed, 3), **searched}))


def _header(scope: Scope, name: bytes) -> str:
    """The request's first `name` header ("" when absent)."""
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == name), "")


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False
