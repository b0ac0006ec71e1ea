"""Gateway overhead: `python -m bench.overhead --model smollm2`.

Starts llama-cpp-python's OpenAI-compatible server on the model (127.0.0.1, a free port) and
`ponder serve --backend openai` in front of it, then sends the same work both ways in one run:
chat completions at `reasoning_effort: "none"` through ponder, and straight to the backend the
`/v1/completions` request ponder itself makes for them (the prompt rendered with the same chat
template and system prompt, the same `max_tokens`, greedy). Each concurrency level runs the two
paths in alternating rounds (direct, ponder, ponder, direct) so that a drift in machine speed
falls on both. Reported per level: p50/p95 latency of each path, their ratios (ponder/direct)
and the completion tokens each path generated (equal work is a precondition of the ratio).
The result goes to docs/results/overhead_<model>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from bench.config import RESULTS
from bench.local_server import free_port, running

QUESTION = "In one short sentence: what is {a} plus {b}?"

Send = Callable[[int], Awaitable[int]]  # request i -> completion tokens


@dataclass(frozen=True)
class PathResult:
    requests: int
    p50_s: float
    p95_s: float
    completion_tokens: int


@dataclass(frozen=True)
class Level:
    concurrency: int
    direct: PathResult
    ponder: PathResult
    p50_ratio: float
    p95_ratio: float


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def timed_round(send: Send, indexes: Sequence[int], concurrency: int) -> tuple[list[float], int]:
    """Send requests `indexes` with at most `concurrency` in flight: their latencies and tokens."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    tokens = 0

    async def one(i: int) -> None:
        nonlocal tokens
        async with gate:
            started = time.monotonic()
            got = await send(i)  # not `tokens += await ...`: that reads `tokens` before awaiting
            tokens += got
            latencies.append(time.monotonic() - started)

    await asyncio.gather(*(one(i) for i in indexes))
    return latencies, tokens


def path_result(latencies: Sequence[float], tokens: int) -> PathResult:
    return PathResult(requests=len(latencies), p50_s=round(percentile(latencies, 0.5), 4),
                      p95_s=round(percentile(latencies, 0.95), 4), completion_tokens=tokens)


async def measure_level(direct: Send, ponder: Send, *, requests: int, concurrency: int) -> Level:
    """Both paths, `requests` each, in alternating half rounds (direct, ponder, ponder, direct)."""
    half = max(1, requests // 2)
    first, second = range(half), range(half, 2 * half)
    lat: dict[str, list[float]] = {"direct": [], "ponder": []}
    tok = {"direct": 0, "ponder": 0}
    for name, send, indexes in (("direct", direct, first), ("ponder", ponder, first),
                                ("ponder", ponder, second), ("direct", direct, second)):
        got, tokens = await timed_round(send, indexes, concurrency)
        lat[name] += got
        tok[name] += tokens
    d, p = path_result(lat["direct"], tok["direct"]), path_result(lat["ponder"], tok["ponder"])
    return Level(concurrency=concurrency, direct=d, ponder=p, p50_ratio=round(p.p50_s / d.p50_s, 4),
                 p95_ratio=round(p.p95_s / d.p95_s, 4))


def messages(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": QUESTION.format(a=i, b=i + 7)}]


def senders(direct_http: httpx.AsyncClient, ponder_http: httpx.AsyncClient, *, model: str, max_tokens: int,
            render: Callable[[list[dict[str, str]]], str], backend_model: str) -> tuple[Send, Send]:
    """The two paths for request i: the backend's /v1/completions and ponder's chat completions."""

    async def direct(i: int) -> int:
        r = await direct_http.post("/v1/completions", json={
            "model": backend_model, "prompt": render(messages(i)), "max_tokens": max_tokens, "temperature": 0.0})
        r.raise_for_status()
        return int(r.json()["usage"]["completion_tokens"])

    async def ponder(i: int) -> int:
        r = await ponder_http.post("/v1/chat/completions", json={
            "model": model, "messages": messages(i), "reasoning_effort": "none", "max_tokens": max_tokens,
            "temperature": 0.0})
        r.raise_for_status()
        return int(r.json()["usage"]["completion_tokens"])

    return direct, ponder


async def run(model: str, *, requests: int, levels: Sequence[int], max_tokens: int, n_threads: int) -> dict[str, Any]:
    from app.settings import load_settings
    from backends.chat_template import CHATML_TEMPLATE, ChatTemplate
    from backends.model_files import resolve_model

    settings = load_settings(model=model)
    files = resolve_model(settings.model, settings.model_cache_dir)
    template = ChatTemplate(CHATML_TEMPLATE)  # what the openai backend renders with by default

    def render(msgs: list[dict[str, str]]) -> str:
        return template.render([{"role": "system", "content": settings.system_prompt}, *msgs])

    backend_port, ponder_port = free_port(), free_port()
    backend_url, ponder_url = f"http://127.0.0.1:{backend_port}", f"http://127.0.0.1:{ponder_port}"
    llama = [sys.executable, "-m", "llama_cpp.server", "--model", str(files.path), "--host", "127.0.0.1",
             "--port", str(backend_port), "--n_ctx", "2048", "--n_threads", str(n_threads),
             "--model_alias", "backend"]
    gateway = [str(Path(sys.executable).parent / "ponder"), "serve", "--backend", "openai", "--base-url", backend_url,
               "--model", model, "--port", str(ponder_port), "--host", "127.0.0.1"]
    limits = httpx.Limits(max_connections=max(levels) + 4)
    with running(llama, f"{backend_url}/v1/models"), \
            running(gateway, f"{ponder_url}/health", env={"PONDER_MAX_CONCURRENT_SEARCHES": str(max(levels))}):
        async with httpx.AsyncClient(base_url=backend_url, timeout=600, limits=limits) as direct_http, \
                httpx.AsyncClient(base_url=ponder_url, timeout=600, limits=limits) as ponder_http:
            direct, ponder = senders(direct_http, ponder_http, model=model, max_tokens=max_tokens, render=render,
                                     backend_model="backend")
            await direct(0), await ponder(0)  # warm both paths (model load, template, connections)
            measured = [await measure_level(direct, ponder, requests=requests, concurrency=c) for c in levels]
    return {"date": date.today().isoformat(), "model": model, "max_tokens": max_tokens,
            "command": "python -m bench.overhead " + " ".join(sys.argv[1:]),
            "backend": "llama-cpp-python server (one sequence at a time)",
            "levels": [asdict(level) for level in measured]}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--requests", type=int, default=64, help="per path and concurrency level")
    parser.add_argument("--concurrency", default="1,32", help="comma-separated levels")
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--n-threads", type=int, default=2, help="the backend's llama.cpp threads")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    report = asyncio.run(run(args.model, requests=args.requests, levels=levels, max_tokens=args.max_tokens,
                             n_threads=args.n_threads))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"overhead_{args.model}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    for level in report["levels"]:
        print(f"concurrency {level['concurrency']}: p50 x{level['p50_ratio']}, p95 x{level['p95_ratio']} "
              f"(direct p50 {level['direct']['p50_s']} s, ponder p50 {level['ponder']['p50_s']} s)")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
