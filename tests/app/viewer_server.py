"""A real gateway on a free port over the branching backend, and the searches the viewer tests record
(test code)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from app.compose.gateway import create_app
from app.settings import load_settings
from bench.local_server import free_port

from .step_backend import BranchingBackend

KEY_A, KEY_B = "viewer-key-a", "viewer-key-b"
A = {"Authorization": f"Bearer {KEY_A}"}
B = {"Authorization": f"Bearer {KEY_B}"}
QUESTION = [{"role": "user", "content": "What is 2+2? Think step by step."}]
# Each a real search through the gateway, its trace kept.
SEARCHES: dict[str, dict[str, Any]] = {
    "beam": {"strategy": "beam", "budget_tokens": 8000, "settings": {"width": 2, "expansions": 3}},
    "mcts": {"strategy": "mcts", "budget_tokens": 8000, "settings": {"simulations": 8, "expansions": 2}},
    "vote": {"strategy": "self_consistency", "budget_tokens": 8000, "n": 7, "settings": {"batch": 4}},
}


@contextmanager
def running_gateway(backend: BranchingBackend | None = None, **settings: Any) -> Iterator[str]:
    """The real server (uvicorn, 127.0.0.1) in a thread; yields its base URL."""
    port = free_port()
    app = create_app(load_settings(api_keys=f"{KEY_A},{KEY_B}", **settings), backend=backend or BranchingBackend())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def body_for(search: str, *, stream: bool = False) -> dict[str, Any]:
    return {"model": "m", "messages": QUESTION, "stream": stream, "reasoning": {**SEARCHES[search], "trace": True}}


def recorded(url: str, search: str) -> dict[str, Any]:
    """Run `search` through the gateway as key A and return its stored trace."""
    reply = httpx.post(f"{url}/v1/chat/completions", json=body_for(search), headers=A, timeout=60)
    assert reply.status_code == 200, reply.text
    trace = httpx.get(f"{url}/v1/traces/{reply.json()['id']}", headers=A, timeout=10)
    assert trace.status_code == 200
    return trace.json()  # type: ignore[no-any-return]


def view_link(url: str, trace_id: str) -> str:
    """The page's absolute URL through a view link (what a browser opens)."""
    link = httpx.post(f"{url}/v1/traces/{trace_id}/view-link", headers=A, timeout=10)
    assert link.status_code == 200, link.text
    return f"{url}/v1/traces/{trace_id}/{link.json()['url']}"
