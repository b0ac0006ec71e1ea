"""Load test over loopback: `python -m bench.load --model smollm2`.

Starts the app in this process under uvicorn (`app.ops.shutdown.GracefulServer`) on 127.0.0.1
with the embedded engine, then, for each of three rounds, sends every request of the round at
once (200 at reasoning_effort "none" and 20 at "low", `max_tokens` 32) with httpx.AsyncClient.
It reports, per round and overall: status counts, p50/p95 latency, the process's RSS after the
round, and asyncio's task count before the first round and after the last (settled).

The verdict holds when: no 5xx; 429s only past the admission cap (when any request got a 429,
at least `max_concurrent_searches + max_queued_searches` were admitted in that round); RSS flat
(growth from round 2 to round 3 under 10%); no tasks left behind. The result goes to
docs/results/load_<model>.json; the exit status is 1 when the verdict fails.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from app.ops.shutdown import graceful_server
from bench.config import RESULTS

RSS_GROWTH_LIMIT = 0.10
SETTLE_S = 10.0  # how long tasks get to finish after the last round before they count as leaked


@dataclass(frozen=True)
class Load:
    """What one round sends."""

    none: int = 200
    low: int = 20
    max_tokens: int = 32
    rounds: int = 3


@dataclass
class Round:
    statuses: dict[str, int]
    admitted: int  # answered with anything but 429
    latency_p50_s: float
    latency_p95_s: float
    ok_latency_p50_s: float | None  # 200s only
    ok_latency_p95_s: float | None
    rejected_latency_p50_s: float | None  # 429s only: how fast a refusal comes back under load
    rejected_latency_p95_s: float | None
    rss_mb: float
    elapsed_s: float
    latencies: list[float] = field(default_factory=list, repr=False)


def rss_mb() -> float:
    """This process's resident set size (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 3)


async def one_request(http: httpx.AsyncClient, effort: str, max_tokens: int, i: int) -> tuple[int, float]:
    body = {"model": "ponder", "reasoning_effort": effort, "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": f"What is {i % 17} + {i % 5}?"}]}
    started = time.monotonic()
    try:
        reply = await http.post("/v1/chat/completions", json=body)
        status = reply.status_code
    except httpx.HTTPError:
        status = 0  # no answer at all: counted with the failures
    return status, time.monotonic() - started


async def load_round(http: httpx.AsyncClient, load: Load) -> Round:
    started = time.monotonic()
    calls = [one_request(http, "none", load.max_tokens, i) for i in range(load.none)]
    calls += [one_request(http, "low", load.max_tokens, i) for i in range(load.low)]
    results = await asyncio.gather(*calls)
    elapsed = time.monotonic() - started
    statuses = Counter(str(status) for status, _ in results)
    latencies = [seconds for _, seconds in results]
    ok = [seconds for status, seconds in results if status == 200]
    rejected = [seconds for status, seconds in results if status == 429]
    gc.collect()
    return Round(statuses=dict(sorted(statuses.items())), admitted=sum(1 for s, _ in results if s != 429),
                 latency_p50_s=percentile(latencies, 0.5) or 0.0, latency_p95_s=percentile(latencies, 0.95) or 0.0,
                 ok_latency_p50_s=percentile(ok, 0.5), ok_latency_p95_s=percentile(ok, 0.95),
                 rejected_latency_p50_s=percentile(rejected, 0.5), rejected_latency_p95_s=percentile(rejected, 0.95),
                 rss_mb=round(rss_mb(), 1), elapsed_s=round(elapsed, 2), latencies=latencies)


async def settled_task_count(baseline: int, patience_s: float = SETTLE_S) -> int:
    """asyncio's task count once it is back to `baseline` or `patience_s` has passed."""
    end = time.monotonic() + patience_s
    while len(asyncio.all_tasks()) > baseline and time.monotonic() < end:
        await asyncio.sleep(0.05)
    return len(asyncio.all_tasks())


def verdict(rounds: list[Round], cap: int, tasks_before: int, tasks_after: int) -> dict[str, Any]:
    server_errors = sum(n for r in rounds for status, n in r.statuses.items() if int(status) == 0 or int(status) >= 500)
    early_429 = [i + 1 for i, r in enumerate(rounds) if r.statuses.get("429") and r.admitted < cap]
    growth = None
    if len(rounds) >= 3:
        growth = round((rounds[2].rss_mb - rounds[1].rss_mb) / rounds[1].rss_mb, 4)
    checks = {
        "no_5xx": server_errors == 0,
        "429_only_past_cap": not early_429,
        "rss_flat": growth is None or growth < RSS_GROWTH_LIMIT,
        "no_leaked_tasks": tasks_after <= tasks_before,
    }
    return {"ok": all(checks.values()), "checks": checks, "server_errors": server_errors,
            "rounds_with_429_before_cap": early_429, "rss_growth_round2_to_3": growth}


async def run_load(app: Any, load: Load) -> dict[str, Any]:
    """Serve `app` (a create_app app) on 127.0.0.1 under uvicorn, run the rounds, stop the server."""
    settings = app.state.settings
    cap = settings.max_concurrent_searches + settings.max_queued_searches
    server = graceful_server(app, host="127.0.0.1", port=0, log_level="warning")
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()  # startup failed: raise why
            raise RuntimeError("the server stopped before it started")
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    # The client drops an idle connection before uvicorn does (its timeout_keep_alive is 5 s, httpx's
    # default expiry too): else a request sent on a connection the server is closing fails with no
    # answer, counted as a server error though the server did nothing wrong.
    limits = httpx.Limits(max_connections=load.none + load.low, max_keepalive_connections=load.none + load.low,
                          keepalive_expiry=2.0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                     timeout=httpx.Timeout(600.0, connect=30.0)) as http:
            tasks_before = len(asyncio.all_tasks())
            rounds = [await load_round(http, load) for _ in range(load.rounds)]
            tasks_after = await settled_task_count(tasks_before)
    finally:
        server.should_exit = True
        await serving
    latencies = [s for r in rounds for s in r.latencies]
    return {
        "load": asdict(load), "cap": cap,
        "max_concurrent_searches": settings.max_concurrent_searches,
        "max_queued_searches": settings.max_queued_searches,
        "engine": settings.engine, "n_threads": settings.n_threads,
        "rounds": [{k: v for k, v in asdict(r).items() if k != "latencies"} for r in rounds],
        "latency_p50_s": percentile(latencies, 0.5), "latency_p95_s": percentile(latencies, 0.95),
        "tasks_before": tasks_before, "tasks_after": tasks_after,
        **verdict(rounds, cap, tasks_before, tasks_after),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--none", type=int, default=Load.none, help="requests per round at effort none")
    parser.add_argument("--low", type=int, default=Load.low, help="requests per round at effort low")
    parser.add_argument("--max-tokens", type=int, default=Load.max_tokens)
    parser.add_argument("--rounds", type=int, default=Load.rounds)
    parser.add_argument("--out", type=Path, default=None, help="default: docs/results/load_<model>.json")
    args = parser.parse_args(argv)

    from app.compose.gateway import create_app
    from app.settings import load_settings

    app = create_app(load_settings(model=args.model))
    load = Load(none=args.none, low=args.low, max_tokens=args.max_tokens, rounds=args.rounds)
    report = {"model": args.model, "date": date.today().isoformat(), **asyncio.run(run_load(app, load))}
    out = args.out or RESULTS / f"load_{Path(args.model).stem}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    for i, r in enumerate(report["rounds"], 1):
        sys.stdout.write(f"round {i}: {r['statuses']} admitted {r['admitted']} p50 {r['latency_p50_s']}s "
                         f"p95 {r['latency_p95_s']}s (200: {r['ok_latency_p50_s']}/{r['ok_latency_p95_s']}s, "
                         f"429: {r['rejected_latency_p50_s']}/{r['rejected_latency_p95_s']}s) "
                         f"rss {r['rss_mb']} MB in {r['elapsed_s']}s\n")
    sys.stdout.write(f"tasks {report['tasks_before']} -> {report['tasks_after']}; checks {report['checks']}; "
                     f"wrote {out}\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
