"""A client that goes away stops its search: no new backend calls after it left."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
import uvicorn

from app.compose.gateway import create_app
from app.settings import load_settings
from bench.local_server import free_port

from .fake_backend import ScriptedBackend

BODY = {"model": "m", "messages": [{"role": "user", "content": "2+2?"}],
        "reasoning": {"strategy": "self_consistency", "n": 40, "budget_tokens": 10_000, "max_calls": 100}}


@pytest.fixture()
def live():
    backend = ScriptedBackend(delay_s=0.2)
    port = free_port()
    app = create_app(load_settings(), backend=backend)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", backend
    server.should_exit = True
    thread.join(timeout=10)


def test_backend_gets_no_new_calls_after_a_non_streaming_client_leaves(live):
    url, backend = live
    # n=40 in batches of 4 at 0.2 s a call would take 2 s; the client leaves after 0.5 s.
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{url}/v1/chat/completions", json=BODY, timeout=httpx.Timeout(5.0, read=0.5))
    time.sleep(0.6)  # the server notices within its poll interval
    calls_after_leaving = backend.calls
    time.sleep(1.0)
    assert backend.calls == calls_after_leaving < 10


def test_backend_gets_no_new_calls_after_a_streaming_client_leaves(live):
    url, backend = live
    with httpx.Client(timeout=10) as client:
        with client.stream("POST", f"{url}/v1/chat/completions", json={**BODY, "stream": True}) as r:
            first = next(r.iter_lines())
            assert first.startswith("data: ")
    time.sleep(0.6)
    calls_after_leaving = backend.calls
    time.sleep(1.0)
    assert backend.calls == calls_after_leaving < 10
