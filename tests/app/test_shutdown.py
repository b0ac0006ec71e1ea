"""Graceful shutdown: in-flight searches finish (or stop with their best answer), new requests get 503."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx

from app.compose.gateway import create_app
from app.ops.shutdown import graceful_server
from app.settings import load_settings
from backends.types import Completion
from bench.local_server import free_port

from .fake_backend import ScriptedBackend

NONE = {"model": "m", "reasoning_effort": "none", "messages": [{"role": "user", "content": "2+2?"}]}
SC = {"model": "m", "messages": [{"role": "user", "content": "2+2?"}],
      "reasoning": {"strategy": "self_consistency", "n": 40, "budget_tokens": 10_000, "max_calls": 100}}


async def until(condition, *, what: str, polls: int = 2000) -> None:
    """Sequencing, not timing: wait for `condition` (fails the test if it never holds)."""
    for _ in range(polls):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


class Served:
    """The app with its lifespan entered by hand, so that shutdown can begin mid-request."""

    def __init__(self, backend: ScriptedBackend, grace_s: float, **settings: object) -> None:
        self.app = create_app(load_settings(**settings), backend=backend)
        self.app.state.drain.grace_s = grace_s
        self.drain = self.app.state.drain
        self.lifespan = self.app.router.lifespan_context(self.app)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://ponder",
                                      timeout=30)

    async def __aenter__(self) -> Served:
        await self.lifespan.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    def begin_shutdown(self) -> asyncio.Task[None]:
        return asyncio.create_task(self.lifespan.__aexit__(None, None, None))


def assert_shutting_down(reply: httpx.Response) -> None:
    assert reply.status_code == 503
    assert reply.headers["retry-after"] == "1"
    error = reply.json()["error"]
    assert error["code"] == "server_shutting_down" and error["type"] == "server_error"
    assert set(error) == {"message", "type", "param", "code"}


async def test_a_request_in_flight_finishes_within_the_grace_and_new_ones_get_503():
    backend = ScriptedBackend(delay_s=0.3)
    async with Served(backend, grace_s=30.0) as served:
        in_flight = asyncio.create_task(served.http.post("/v1/chat/completions", json=NONE))
        await until(lambda: backend.calls >= 1, what="the search reached the backend")
        shutdown = served.begin_shutdown()
        await until(lambda: served.drain.phase == "draining", what="the drain began")

        late = await served.http.post("/v1/chat/completions", json=NONE)
        assert_shutting_down(late)
        assert (await served.http.get("/health")).status_code == 503
        assert (await served.http.get("/metrics")).status_code == 200  # scraping goes on

        reply = await in_flight
        assert reply.status_code == 200
        assert reply.json()["ponder"]["answer"] == "4" and reply.json()["ponder"]["stop_reason"] != "shutdown"
        await shutdown
        assert not served.drain.stopped  # the grace was enough: nothing was told to stop
        assert backend.calls == 1  # the refused request never reached the backend


async def test_when_the_grace_ends_a_search_stops_with_its_best_answer_so_far():
    backend = ScriptedBackend(delay_s=0.2)
    async with Served(backend, grace_s=0.0) as served:
        in_flight = asyncio.create_task(served.http.post("/v1/chat/completions", json=SC))
        # Calls are counted when they start: past the first round, one round has answered.
        await until(lambda: backend.calls >= 1, what="the first round started")
        first_round = backend.calls
        await until(lambda: backend.calls > first_round, what="a second round started")
        calls_at_stop = backend.calls
        shutdown = served.begin_shutdown()
        reply = await in_flight
        await shutdown

    assert served.drain.stopped
    assert reply.status_code == 200
    ponder = reply.json()["ponder"]
    assert ponder["answer"] == "4" and ponder["stop_reason"] == "shutdown"
    assert any("shutting down" in e for e in ponder["errors"])  # the round in flight was abandoned
    assert backend.calls == calls_at_stop < 40  # no call started after the stop


class Hangs(ScriptedBackend):
    async def complete(self, prompt, *, n, params, deadline=None) -> Completion:
        self.calls += 1
        await asyncio.sleep(60)
        raise AssertionError("unreachable: the call is abandoned at the end of the grace")


async def test_a_search_with_nothing_yet_when_the_grace_ends_gets_503():
    backend = Hangs()
    async with Served(backend, grace_s=0.0) as served:
        in_flight = asyncio.create_task(served.http.post("/v1/chat/completions", json=NONE))
        await until(lambda: backend.calls >= 1, what="the call reached the backend")
        shutdown = served.begin_shutdown()
        reply = await asyncio.wait_for(in_flight, timeout=30)
        await shutdown
    assert reply.status_code == 503 and reply.json()["error"]["code"] == "server_shutting_down"


async def test_a_request_still_queued_for_a_slot_when_the_grace_ends_gets_503_not_an_empty_answer():
    backend = Hangs()
    async with Served(backend, grace_s=0.0, max_concurrent_searches=1) as served:
        running = asyncio.create_task(served.http.post("/v1/chat/completions", json=NONE))
        await until(lambda: backend.calls >= 1, what="the first search reached the backend")
        queued = asyncio.create_task(served.http.post("/v1/chat/completions", json=NONE))
        await until(lambda: served.app.state.admission._waiting == 1, what="the second request queued")
        shutdown = served.begin_shutdown()
        replies = await asyncio.wait_for(asyncio.gather(running, queued), timeout=30)
        await shutdown
    for reply in replies:
        assert reply.status_code == 503 and reply.json()["error"]["code"] == "server_shutting_down"
    assert backend.calls == 1  # the queued search never reached the backend


async def test_a_streaming_search_stopped_at_the_end_of_the_grace_still_ends_with_its_answer():
    backend = ScriptedBackend(delay_s=0.2)
    async with Served(backend, grace_s=0.0) as served:
        async def stream() -> list[str]:
            async with served.http.stream("POST", "/v1/chat/completions", json={**SC, "stream": True}) as r:
                assert r.status_code == 200
                return [line async for line in r.aiter_lines() if line.startswith("data: ")]

        in_flight = asyncio.create_task(stream())
        await until(lambda: backend.calls >= 1, what="the first round started")
        first_round = backend.calls
        await until(lambda: backend.calls > first_round, what="a second round started")
        calls_at_stop = backend.calls
        shutdown = served.begin_shutdown()
        lines = await asyncio.wait_for(in_flight, timeout=30)
        await shutdown
    assert lines[-1] == "data: [DONE]"
    assert not any('"error"' in line for line in lines)
    assert "4" in "".join(line for line in lines if '"content"' in line)
    assert backend.calls == calls_at_stop  # no call started after the stop


def test_under_uvicorn_the_server_drains_before_it_stops_listening():
    """uvicorn sends lifespan.shutdown only after its connections close; GracefulServer drains first."""
    backend = ScriptedBackend(delay_s=1.0)
    app = create_app(load_settings(), backend=backend)
    app.state.drain.grace_s = 30.0
    port = free_port()
    server = graceful_server(app, host="127.0.0.1", port=port, log_level="warning")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.02)
    assert server.started

    replies: dict[str, httpx.Response] = {}
    client = threading.Thread(
        target=lambda: replies.update(slow=httpx.post(f"{url}/v1/chat/completions", json=NONE, timeout=30)))
    client.start()
    for _ in range(500):
        if backend.calls >= 1:
            break
        time.sleep(0.005)
    server.should_exit = True  # what SIGTERM does
    for _ in range(500):
        if app.state.drain.phase != "serving":
            break
        time.sleep(0.005)
    late = httpx.post(f"{url}/v1/chat/completions", json=NONE, timeout=10)  # the listener is still open
    client.join(timeout=30)
    thread.join(timeout=30)

    assert late.status_code == 503 and late.json()["error"]["code"] == "server_shutting_down"
    assert replies["slow"].status_code == 200 and replies["slow"].json()["ponder"]["answer"] == "4"
    assert not thread.is_alive()
