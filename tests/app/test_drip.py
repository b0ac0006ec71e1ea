"""A backend that drips its answer a byte a second, served over a real socket: every call is cut at
the time its tokens should take, so a search ends (best so far or a 504) long before the whole-exchange
cut or the deadline, and its admission slot is free after."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from app.compose.gateway import create_app
from app.settings import load_settings
from tests.backends.test_openai_compat import vllm_completion

QUESTION = [{"role": "user", "content": "What is 17 * 23?"}]


@dataclass
class DripServer:
    """An OpenAI-compatible /v1/completions that sends its headers at once, then one body byte a second."""

    url: str = ""
    calls: int = 0
    dripping: int = 0  # answers still being sent: 0 once ponder has hung up on every one
    idle: asyncio.Event = field(default_factory=asyncio.Event)  # set while nothing drips

    def __post_init__(self) -> None:
        self.idle.set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: one connection may carry several requests
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                length = next((int(h.split(":", 1)[1]) for h in head if h.lower().startswith("content-length:")), 0)
                await reader.readexactly(length)
                if head[0].split(" ")[1] != "/v1/completions":  # template probes: nothing to learn here
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 2\r\n\r\n{}")
                    await writer.drain()
                    continue
                self.calls += 1
                await self._drip(reader, writer, json.dumps(vllm_completion(["The answer is \\boxed{391}"])).encode())
                return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    async def _drip(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> None:
        self.dripping += 1
        self.idle.clear()
        try:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body))
            for byte in body:
                if reader.at_eof():  # ponder closed the connection: the call was abandoned
                    return
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(1.0)
        finally:
            self.dripping -= 1
            if not self.dripping:
                self.idle.set()


@asynccontextmanager
async def drip_server() -> AsyncIterator[DripServer]:
    drip = DripServer()
    server = await asyncio.start_server(drip.handle, "127.0.0.1", 0)
    drip.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield drip


@asynccontextmanager
async def gateway(**settings: object) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the backend the settings name, opened by its own lifespan as `ponder serve` does."""
    app = create_app(load_settings(**settings))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ponder") as http:
            yield http


async def in_flight(http: httpx.AsyncClient) -> float:
    """ponder_searches_in_flight from /metrics: the admission slots held."""
    text = (await http.get("/metrics")).text
    return float(next(line.split()[-1] for line in text.splitlines() if line.startswith("ponder_searches_in_flight ")))


async def hung_up(drip: DripServer, within_s: float) -> bool:
    """Whether every dripping answer lost its reader within `within_s` (no call left behind)."""
    try:
        await asyncio.wait_for(drip.idle.wait(), within_s)
    except TimeoutError:
        return False
    return True


async def test_a_dripping_backend_is_cut_by_the_token_rate_floor_for_none_and_medium():
    # 2 s for the prompt + 4 tokens at 2 tokens/s: each call is cut at 4 s (the defaults' 30 s base is
    # the arithmetic tests' business); the drip would need about 300 s for its ~300-byte answer.
    async with drip_server() as drip, gateway(backend="openai", base_url=drip.url, model="drip-model",
                                              backend_call_base_s=2.0, backend_min_tokens_per_s=2.0) as http:
        took = {}
        for effort in ("none", "medium"):
            started = time.monotonic()
            reply = await http.post("/v1/chat/completions", timeout=200, json={
                "model": "m", "messages": QUESTION, "reasoning_effort": effort, "max_completion_tokens": 4})
            took[effort] = time.monotonic() - started
            error = reply.json()["error"]
            assert reply.status_code == 504 and error["type"] == "backend_error", reply.text
            assert "4 tokens at 2 tokens/s" in error["message"] and {"param", "code"} <= error.keys()
            assert await in_flight(http) == 0  # the search slot is free again
            assert await hung_up(drip, within_s=5)  # ponder hung up: no call keeps dripping into it
        # Streamed: the error is an SSE event in OpenAI's format, then [DONE], and the slot is free too.
        streamed = await http.post("/v1/chat/completions", timeout=200, json={
            "model": "m", "messages": QUESTION, "reasoning_effort": "none", "max_completion_tokens": 4, "stream": True})
        events = [line[len("data: "):] for line in streamed.text.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]" and json.loads(events[-2])["error"]["code"] == "backend_timeout"
        assert await in_flight(http) == 0 and await hung_up(drip, within_s=5)
        calls = drip.calls - 1
    print(f"drip: none {took['none']:.1f} s, medium {took['medium']:.1f} s, {calls} calls")
    assert took["none"] < 60 and took["medium"] < 150  # the bounds
    # One call for none; medium's breaker opens after 3 in a row, each cut at about 4 s.
    assert took["none"] < 10 and took["medium"] < 30 and 2 <= calls <= 6
