"""A failing backend costs a few calls and a bounded time, never the whole budget or a hung request;
odd input and odd backend answers are clear 4xx/5xx, never a 500 (issue 24's probes, each bounded)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from tests.backends.test_openai_compat import backend_on, vllm_completion
from tests.backends.wire import Wire

from .fake_backend import ScriptedBackend
from .test_ops import client_for

QUESTION = [{"role": "user", "content": "What is 17 * 23?"}]
MEDIUM = {"model": "m", "messages": QUESTION, "reasoning_effort": "medium"}


def completions(wire: Wire) -> int:
    return sum(1 for r in wire.requests if r.url.path == "/v1/completions")


async def test_a_backend_answering_500_costs_a_few_calls_then_a_502():
    wire = Wire(lambda request: httpx.Response(500, json={"error": {"message": "engine died"}}))
    async with client_for(backend_on(wire)) as http:
        started = time.monotonic()
        reply = await http.post("/v1/chat/completions", json=MEDIUM)
    assert reply.status_code == 502 and "engine died" in reply.json()["error"]["message"]
    # Before: 192 POSTs in 100 s. Now the search's breaker opens after 3 failed calls of 3 tries each.
    assert completions(wire) <= 12 and time.monotonic() - started < 10


async def test_a_refused_connection_is_a_quick_503():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    wire = Wire(refuse)
    async with client_for(backend_on(wire)) as http:
        started = time.monotonic()
        reply = await http.post("/v1/chat/completions", json=MEDIUM)
    assert reply.status_code == 503 and time.monotonic() - started < 10
    assert completions(wire) <= 12


async def test_a_hanging_backend_is_bounded_by_the_default_deadline():
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async with client_for(backend_on(Wire(hang), timeout_s=30), default_deadline_s=1.5) as http:
        started = time.monotonic()
        reply = await http.post("/v1/chat/completions", json={**MEDIUM, "reasoning_effort": "low"})
    assert reply.status_code in (503, 504) and time.monotonic() - started < 6


async def test_a_backend_dripping_bytes_cannot_hold_a_call_past_its_timeout():
    class Drip(httpx.AsyncByteStream):
        async def __aiter__(self):
            for byte in json.dumps(vllm_completion(["4"])).encode():
                await asyncio.sleep(0.2)  # each read arrives well inside a per-read timeout
                yield bytes([byte])

    def drip(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/v1/completions":
            return httpx.Response(404, json={})
        return httpx.Response(200, stream=Drip())

    async with client_for(backend_on(Wire(drip), timeout_s=1.0)) as http:
        started = time.monotonic()
        reply = await http.post("/v1/chat/completions", json={**MEDIUM, "reasoning_effort": "none"})
    assert reply.status_code == 504 and time.monotonic() - started < 8


async def test_a_negative_usage_from_the_backend_is_a_502_not_a_500():
    body = vllm_completion(["The answer is \\boxed{391}"], completion_tokens=-5)
    wire = Wire(lambda r: httpx.Response(200, json=body) if r.url.path == "/v1/completions"
                else httpx.Response(404, json={}))
    async with client_for(backend_on(wire)) as http:
        reply = await http.post("/v1/chat/completions", json={**MEDIUM, "reasoning_effort": "none"})
    assert reply.status_code == 502 and "negative token count" in reply.json()["error"]["message"]


async def test_a_deadline_that_passes_with_no_answer_is_a_504():
    async with client_for(ScriptedBackend(delay_s=3.0)) as http:
        late = await http.post("/v1/chat/completions", json={
            "model": "m", "messages": QUESTION, "reasoning": {"deadline_s": 0.1}})
    assert late.status_code == 504 and late.json()["error"]["code"] in ("deadline_exceeded", "backend_timeout")


async def test_odd_input_is_a_4xx_never_a_500():
    async with client_for(ScriptedBackend(), max_body_bytes=100_000) as http:
        surrogate = await http.post("/v1/chat/completions", content=b'{"model": "m", "messages": '
                                    b'[{"role": "user", "content": "\\ud800"}]}',
                                    headers={"content-type": "application/json"})
        assert surrogate.status_code == 400 and surrogate.json()["error"]["code"] == "invalid_unicode"
        instant = await http.post("/v1/chat/completions", json={
            "model": "m", "messages": QUESTION, "reasoning": {"deadline_s": 1e-9}})
        assert instant.status_code == 400 and instant.json()["error"]["param"] == "reasoning.deadline_s"

        async def chunked():
            yield b'{"model": "m", "messages": [{"role": "user", "content": "'
            for _ in range(40):
                yield b"x" * 50_000
            yield b'"}]}'

        oversize = await http.post("/v1/chat/completions", content=chunked(),
                                   headers={"content-type": "application/json"})
        assert oversize.status_code == 413 and oversize.json()["error"]["code"] == "body_too_large"


async def test_liveness_does_not_depend_on_the_backend_but_readiness_does():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    async with client_for(backend_on(Wire(refuse))) as http:
        assert (await http.get("/livez")).status_code == 200
        health = await http.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"


async def test_every_call_of_one_search_carries_one_session_id_for_a_routers_affinity():
    wire = Wire(lambda r: httpx.Response(200, json=vllm_completion(["so 5", "so 6"][: json.loads(r.content)["n"]]))
                if r.url.path == "/v1/completions" else httpx.Response(404, json={}))
    body = {"model": "m", "messages": QUESTION,
            "reasoning": {"strategy": "self_consistency", "n": 6, "settings": {"batch": 2}}}
    async with client_for(backend_on(wire)) as http:
        for _ in range(2):
            assert (await http.post("/v1/chat/completions", json=body)).status_code == 200
    sessions = [r.headers.get("x-session-id") for r in wire.requests if r.url.path == "/v1/completions"]
    assert None not in sessions and len(sessions) >= 4
    first = sessions[0]
    split = sessions.index(next(s for s in sessions if s != first))  # where the second search begins
    assert set(sessions[:split]) == {first} and len(set(sessions[split:])) == 1 and split >= 2


async def test_the_request_id_and_the_clients_traceparent_reach_every_backend_call():
    wire = Wire(lambda r: httpx.Response(200, json=vllm_completion(["so 5"] * json.loads(r.content)["n"]))
                if r.url.path == "/v1/completions" else httpx.Response(404, json={}))
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    request_id = "1f0e5e1c-8b47-4d7a-9a55-2c1f3b8e6d90"
    async with client_for(backend_on(wire)) as http:
        reply = await http.post("/v1/chat/completions", headers={"x-request-id": request_id, "traceparent": trace},
                                json={"model": "m", "messages": QUESTION, "reasoning": {"strategy": "self_consistency",
                                                                                       "n": 2}})
    assert reply.status_code == 200
    ours = reply.headers["x-request-id"]  # ponder's own id, not the client's, names the backend calls
    assert ours != request_id
    calls = [r for r in wire.requests if r.url.path == "/v1/completions"]
    assert calls and all(r.headers["x-request-id"] == ours and r.headers["traceparent"] == trace for r in calls)
