"""Auth, admission (429), metrics and request ids, over the ASGI app with a scripted backend."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from contextlib import asynccontextmanager

import httpx

from app.compose.gateway import create_app
from app.settings import load_settings

from .fake_backend import ScriptedBackend

BODY = {"model": "m", "reasoning_effort": "none", "messages": [{"role": "user", "content": "2+2?"}]}


@asynccontextmanager
async def client_for(backend, **settings):
    app = create_app(load_settings(**settings), backend=backend)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ponder") as http:
            yield http


async def test_api_keys_guard_api_routes_but_not_health():
    async with client_for(ScriptedBackend(), api_keys="k1,k2") as http:
        missing = await http.post("/v1/chat/completions", json=BODY)
        assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication_error"
        wrong = await http.get("/v1/models", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "nope" not in wrong.text
        ok = await http.post("/v1/chat/completions", json=BODY, headers={"Authorization": "Bearer k2"})
        assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"]
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/metrics")).status_code == 200  # open unless metrics_require_auth


async def test_metrics_need_the_key_only_when_the_operator_asks():
    async with client_for(ScriptedBackend(), api_keys="k1", metrics_require_auth=True) as http:
        missing = await http.get("/metrics")
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"
        assert (await http.get("/metrics", headers={"Authorization": "Bearer nope"})).status_code == 401
        keyed = await http.get("/metrics", headers={"Authorization": "Bearer k1"})
        assert keyed.status_code == 200 and "ponder_requests_total" in keyed.text
        assert (await http.get("/health")).status_code == 200  # probes stay open


async def test_ponder_makes_its_own_request_id_and_logs_the_clients_beside_it(caplog):
    caplog.set_level(logging.INFO, logger="ponder.access")
    odd = "ab c\t\u00e9" + "x" * 200  # a space, a tab, a Latin-1 letter, and far too long
    async with client_for(ScriptedBackend()) as http:
        first = await http.post("/v1/chat/completions", json=BODY, headers={"x-request-id": "abc-123"})
        second = await http.post("/v1/chat/completions", json=BODY, headers={"x-request-id": "abc-123"})
        third = await http.post("/v1/chat/completions", json=BODY, headers={"x-request-id": odd.encode("latin-1")})
        plain = await http.get("/v1/models")
    ids = [r.headers["x-request-id"] for r in (first, second, third, plain)]
    assert len(set(ids)) == 4 and all(str(uuid.UUID(i)) == i for i in ids)  # one client id cannot name two
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "ponder.access"]
    assert [line["request_id"] for line in lines] == ids
    assert [line.get("client_request_id") for line in lines] == ["abc-123", "abc-123", "ab_c__" + "x" * 58, None]


async def test_searches_past_the_cap_and_queue_get_429_with_retry_after():
    backend = ScriptedBackend(delay_s=0.3)
    async with client_for(backend, max_concurrent_searches=1, max_queued_searches=1) as http:
        replies = await asyncio.gather(*(http.post("/v1/chat/completions", json=BODY) for _ in range(4)))
    codes = sorted(r.status_code for r in replies)
    assert codes == [200, 200, 429, 429]
    refused = next(r for r in replies if r.status_code == 429)
    assert refused.headers["retry-after"] == "1" and refused.json()["error"]["code"] == "too_many_searches"


async def test_metrics_families_and_request_id_after_a_few_requests():
    async with client_for(ScriptedBackend()) as http:
        r = await http.post("/v1/chat/completions", json=BODY, headers={"X-Request-Id": "abc-123"})
        assert str(uuid.UUID(r.headers["x-request-id"])) == r.headers["x-request-id"]  # ponder's own, always
        assert (await http.post("/v1/chat/completions", json={**BODY, "reasoning_effort": "high"})).status_code == 200
        bad = await http.post("/v1/chat/completions", json={"model": "m"})
        assert bad.status_code == 400 and str(uuid.UUID(bad.headers["x-request-id"])) == bad.headers["x-request-id"]
        text = (await http.get("/metrics")).text
    for family in ["ponder_requests_total", "ponder_request_seconds", "ponder_searches_in_flight",
                   "ponder_tokens_total", "ponder_backend_calls_total", "ponder_backend_errors_total",
                   "ponder_searches_total", "ponder_budget_exhaustions_total"]:
        assert family in text
    assert 'ponder_requests_total{route="/v1/chat/completions",status="200"} 2.0' in text
    assert 'ponder_tokens_total{kind="generated"}' in text
