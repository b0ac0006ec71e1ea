"""A recording MockTransport handler for backend tests at the network edge (test code)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx


class Wire:
    """Records every request the backend sends and answers with `handler`."""

    path = "/v1/completions"  # the generation endpoint `bodies()` reads by default

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def bodies(self, path: str | None = None) -> list[dict[str, Any]]:
        wanted = path or self.path
        return [json.loads(r.content) for r in self.requests if r.url.path == wanted]
