"""Backend calls cancelled while the pool hands them a new connection leave no slot behind
(encode/httpcore#1093: with httpcore's own pool the slots run out and every later call waits)."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from backends.connection_pool import ReclaimingConnectionPool


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception, asyncio.CancelledError):
        while True:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = await reader.read(4096)
                if not chunk:
                    return
                head += chunk
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()


async def _churn(client: httpx.AsyncClient, url: str) -> None:
    """Calls cancelled after 0 to 6 turns of the loop: some of them land between the pool's
    assignment of a new connection and its opening."""
    for k in range(140):
        calls = [asyncio.create_task(client.get(url)) for _ in range(6)]
        for _ in range(k % 7):
            await asyncio.sleep(0)
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)


async def _after_churn(reclaim: bool) -> tuple[int, int | str]:
    server = await asyncio.start_server(_answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=4))
    if reclaim:
        transport._pool.__class__ = ReclaimingConnectionPool
    try:
        async with httpx.AsyncClient(transport=transport, timeout=1.0) as client:
            await _churn(client, url)
            stuck = sum(not (c.is_idle() or c.is_closed()) for c in transport._pool._connections)
            try:
                status: int | str = (await client.get(url)).status_code
            except httpx.PoolTimeout:
                status = "pool timeout"
    finally:
        server.close()
    return stuck, status


async def test_cancelled_calls_leave_no_connection_behind_and_the_next_call_is_served() -> None:
    stuck, status = await _after_churn(reclaim=True)
    assert (stuck, status) == (0, 200)


async def test_httpcores_own_pool_does_leak_so_the_test_above_can_fail() -> None:
    stuck, status = await _after_churn(reclaim=False)
    assert stuck > 0 and status == "pool timeout"

