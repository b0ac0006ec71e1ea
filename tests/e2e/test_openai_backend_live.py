"""The OpenAI-compatible backend against a real server on loopback: llama-cpp-python's own
server with the bundled SmolLM2, and ponder running on top of it."""

from __future__ import annotations

import httpx
import pytest

from backends.openai_compat import OpenAICompatBackend
from bench.local_server import free_port, wait_ready
from sampling import Sampling

pytestmark = pytest.mark.e2e


async def test_completions_against_real_server(llama_server):
    backend = OpenAICompatBackend(base_url=llama_server, model=None, timeout_s=60)
    try:
        assert await backend.health()
        prompt = await backend.render_chat([{"role": "user", "content": "Say hello."}])
        done = await backend.complete(prompt, n=1, params=Sampling(max_tokens=16, temperature=0.0))
        assert backend.model == "smollm2-remote"
        assert len(done.samples) == 1 and done.samples[0].text
        assert 0 < done.samples[0].completion_tokens <= 16
        assert done.prompt_tokens > 5
    finally:
        await backend.aclose()


def test_ponder_serves_over_the_openai_backend(llama_server):
    import threading

    import uvicorn
    from openai import OpenAI

    from app.compose.gateway import create_app
    from app.settings import load_settings

    port = free_port()
    app = create_app(load_settings(backend="openai", base_url=llama_server, model="smollm2-remote",
                                   max_tokens_per_sample=48))
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    try:
        wait_ready(f"http://127.0.0.1:{port}/health", timeout_s=30, interval_s=0.2)
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0, timeout=120)
        r = client.chat.completions.create(model="smollm2-remote", reasoning_effort="low", max_completion_tokens=150,
                                           messages=[{"role": "user", "content": "What is 2 + 3?"}])
        assert r.choices[0].message.content
        assert 0 < r.usage.completion_tokens_details.reasoning_tokens <= 150
    finally:
        uv.should_exit = True
        thread.join(timeout=30)


async def test_unreachable_backend_is_503():
    from app.compose.gateway import create_app
    from app.settings import load_settings

    port = free_port()  # nothing listens here
    app = create_app(load_settings(backend="openai", base_url=f"http://127.0.0.1:{port}", model="x"))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://ponder") as http:
            r = await http.post("/v1/chat/completions", json={
                "model": "x", "reasoning_effort": "none", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 503
    assert f"127.0.0.1:{port}" in r.json()["error"]["message"]
