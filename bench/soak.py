"""Soak: `python -m bench.soak --minutes 20 --out /tmp/soak`.

Starts a fake OpenAI-compatible backend (bench/fake_openai.py: fixed answers after `--latency-ms`,
`--fail-share` of its completions calls failing with a 500 or a dropped connection) and
`ponder serve --backend openai` in front of it, each its own process on 127.0.0.1. Then
`--workers` clients send requests for `--minutes`, each pausing `--pause-s` after each request,
taking these kinds in turn: reasoning_effort none and low, each plain, streamed, and streamed but
disconnected after the first event. The questions carry no digits, so no program-aided candidate
runs in the sandbox: the soak is about the gateway.

Every `--interval-s` it reads the server process's RSS and threads (/proc/PID/status), its open
file descriptors (/proc/PID/fd) and its child processes; once more `SETTLE_S` after the traffic
stopped. In --out: samples.csv, summary.json (each metric at the start, after the warm-up, at the
end and settled, its least-squares slope per 10 minutes after the warm-up; requests by outcome;
the verdict), soak.png, and both servers' logs. The exit status is 1 when the verdict fails.

The verdict holds when, from the median of the first WINDOW samples after the warm-up to the
median of the last WINDOW: RSS grew less than `rss_growth_mb`, fds by at most `fd_margin`,
threads by at most `thread_margin`; every outcome is one a failing backend explains (200, 502,
503, a streamed backend error, a disconnect the client made); and most requests succeeded.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from bench.local_server import free_port, running

SETTLE_S = 10.0  # past uvicorn's 5 s keep-alive: the clients' idle connections are closed by then
WINDOW = 3  # samples whose median is a level: one sample catches whatever is in flight at that instant
WORDS = ("apple", "river", "candle", "meadow", "harbor", "lantern", "orchid", "pebble", "violin", "willow")
# Outcomes a backend that fails a share of calls explains; anything else fails the verdict.
EXPLAINED = {"200", "502", "503", "stream_ok", "disconnected", "stream_error:backend_unavailable",
             "stream_error:backend_bad_response"}
METRICS = ("rss_mb", "fds", "threads", "children")


@dataclass(frozen=True)
class Kind:
    """One kind of request in the mix."""

    effort: str
    stream: bool = False
    disconnect: bool = False  # streamed, and the client hangs up after the first event

    @property
    def label(self) -> str:
        return f"{self.effort}/{'disconnect' if self.disconnect else 'stream' if self.stream else 'plain'}"


MIX = tuple(Kind(effort, stream, disconnect) for effort in ("none", "low")
            for stream, disconnect in ((False, False), (True, False), (True, True)))


@dataclass(frozen=True)
class Traffic:
    workers: int = 6
    pause_s: float = 0.1
    max_tokens: int = 32


@dataclass(frozen=True)
class Bounds:
    """What the verdict allows between the level after the warm-up and the end (module docstring)."""

    # Allocator arenas, the trace ring (max_traces), logging and pydantic caches fill in the warm-up and
    # then stay; a leak of even 1 kB per request passes 30 MB within 20 minutes of this traffic.
    rss_growth_mb: float = 30.0
    # Open sockets follow what is in flight: up to `workers` client connections and a backend connection
    # per call in flight; one leaked socket per failed or dropped request would add hundreds.
    fd_margin: int = 12
    # asyncio's default executor adds threads on demand up to min(32, CPUs + 4); one per request would be thousands.
    thread_margin: int = 4
    min_ok_share: float = 0.5  # most requests succeed: else the soak measured an idle or broken server


@dataclass(frozen=True)
class Sample:
    t_s: float
    rss_mb: float
    fds: int
    threads: int
    children: int
    requests: int  # finished so far


def sample(pid: int, t_s: float, requests: int) -> Sample:
    """The server process now: RSS and threads from /proc/PID/status, open fds from /proc/PID/fd,
    child processes from /proc/PID/task/*/children."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return Sample(t_s=round(t_s, 2), rss_mb=round(int(status["VmRSS"].split()[0]) / 1024, 2),
                  fds=len(os.listdir(f"/proc/{pid}/fd")), threads=int(status["Threads"]), children=children(pid),
                  requests=requests)


def children(pid: int) -> int:
    count = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            count += len(Path(f"/proc/{pid}/task/{tid}/children").read_text().split())
        except FileNotFoundError:
            pass  # the thread ended between the listing and the read
    return count


def question(i: int) -> str:
    first, second = WORDS[i % len(WORDS)], WORDS[(i // len(WORDS) + i + 1) % len(WORDS)]
    return f"Which word comes first in a dictionary: {first} or {second}?"


async def one_request(http: httpx.AsyncClient, kind: Kind, i: int, max_tokens: int) -> str:
    """Send request `i` of `kind`; its outcome: the status, or for a stream how it ended."""
    body: dict[str, Any] = {"model": "ponder", "reasoning_effort": kind.effort, "max_tokens": max_tokens,
                            "stream": kind.stream, "messages": [{"role": "user", "content": question(i)}]}
    try:
        if not kind.stream:
            return str((await http.post("/v1/chat/completions", json=body)).status_code)
        async with http.stream("POST", "/v1/chat/completions", json=body) as reply:
            if reply.status_code != 200:
                await reply.aread()
                return str(reply.status_code)
            return await stream_outcome(reply, hang_up=kind.disconnect)
    except httpx.HTTPError:
        return "no_answer"


async def stream_outcome(reply: httpx.Response, *, hang_up: bool) -> str:
    """Read SSE events to [DONE]: stream_ok, stream_error:<code>, or stream_cut when the stream ends
    without [DONE]. With `hang_up`, "disconnected" after the first event (leaving the block closes it)."""
    error: str | None = None
    async for line in reply.aiter_lines():
        if not line.startswith("data: "):
            continue
        if hang_up:
            return "disconnected"
        data = line[len("data: "):]
        if data == "[DONE]":
            return error or "stream_ok"
        event = json.loads(data)
        if isinstance(event, dict) and isinstance(event.get("error"), dict):
            error = f"stream_error:{event['error'].get('code') or 'none'}"
    return "stream_cut"


async def traffic(http: httpx.AsyncClient, load: Traffic, until: float, outcomes: Counter[str],
                  by_kind: dict[str, Counter[str]]) -> None:
    """`load.workers` clients in a loop until `until` (time.monotonic()), taking MIX's kinds in turn."""
    sent = 0

    async def client() -> None:
        nonlocal sent
        while time.monotonic() < until:
            i = sent
            sent += 1
            kind = MIX[i % len(MIX)]
            outcome = await one_request(http, kind, i, load.max_tokens)
            outcomes[outcome] += 1
            by_kind.setdefault(kind.label, Counter())[outcome] += 1
            await asyncio.sleep(load.pause_s)

    await asyncio.gather(*(client() for _ in range(load.workers)))


async def sample_every(pid: int, interval_s: float, started: float, until: float, outcomes: Counter[str],
                       samples: list[Sample]) -> None:
    """A sample at `started` and every `interval_s` after it, the last at or before `until`."""
    tick = 0
    while (at := started + tick * interval_s) <= until + 1e-6:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        samples.append(sample(pid, time.monotonic() - started, sum(outcomes.values())))
        tick += 1


def slope_per_10min(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value) points, per 10 minutes."""
    if len(points) < 2:
        return None
    ts = [t for t, _ in points]
    mean_t, mean_v = statistics.fmean(ts), statistics.fmean(v for _, v in points)
    spread = sum((t - mean_t) ** 2 for t in ts)
    if spread == 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread * 600


def summarize(samples: list[Sample], settled: Sample, warmup_s: float) -> dict[str, dict[str, float | None]]:
    """Per metric: the first sample, the level after the warm-up and at the end (medians of WINDOW
    samples), the settled sample, the peak, and the slope per 10 minutes after the warm-up."""
    after = [s for s in samples if s.t_s >= warmup_s] or samples[-1:]
    out: dict[str, dict[str, float | None]] = {}
    for metric in METRICS:
        values = [float(getattr(s, metric)) for s in after]
        slope = slope_per_10min([(s.t_s, float(getattr(s, metric))) for s in after])
        out[metric] = {"start": float(getattr(samples[0], metric)),
                       "after_warmup": statistics.median(values[:WINDOW]),
                       "end": statistics.median(values[-WINDOW:]),
                       "settled": float(getattr(settled, metric)),
                       "peak": max(float(getattr(s, metric)) for s in samples),
                       "slope_per_10min": None if slope is None else round(slope, 3)}
    return out


def verdict(metrics: dict[str, dict[str, float | None]], outcomes: Counter[str], bounds: Bounds) -> dict[str, Any]:
    def growth(metric: str) -> float:
        m = metrics[metric]
        return float(m["end"] or 0) - float(m["after_warmup"] or 0)

    total = sum(outcomes.values())
    ok = sum(outcomes[o] for o in ("200", "stream_ok", "disconnected"))
    unexplained = {o: n for o, n in outcomes.items() if o not in EXPLAINED}
    checks = {
        "rss_flat": growth("rss_mb") < bounds.rss_growth_mb,
        "fds_flat": growth("fds") <= bounds.fd_margin,
        "threads_flat": growth("threads") <= bounds.thread_margin,
        "only_explained_outcomes": not unexplained,
        "mostly_ok": total > 0 and ok / total >= bounds.min_ok_share,
    }
    return {"ok": all(checks.values()), "checks": checks, "unexplained_outcomes": unexplained,
            "growth_after_warmup": {m: round(growth(m), 2) for m in ("rss_mb", "fds", "threads")},
            "bounds": asdict(bounds)}


@dataclass(frozen=True)
class Soak:
    seconds: float
    out: Path
    load: Traffic = Traffic()
    bounds: Bounds = Bounds()
    interval_s: float = 10.0
    warmup_s: float = 60.0
    fail_share: float = 0.1
    latency_ms: float = 50.0


async def run_soak(soak: Soak) -> dict[str, Any]:
    """The soak (module docstring): writes samples.csv, summary.json and soak.png under soak.out, and
    returns the summary."""
    soak.out.mkdir(parents=True, exist_ok=True)
    backend_port, ponder_port = free_port(), free_port()
    backend_url, ponder_url = f"http://127.0.0.1:{backend_port}", f"http://127.0.0.1:{ponder_port}"
    fake = [sys.executable, "-m", "bench.fake_openai", "--port", str(backend_port),
            "--fail-share", str(soak.fail_share), "--latency-ms", str(soak.latency_ms)]
    gateway = [str(Path(sys.executable).parent / "ponder"), "serve", "--backend", "openai", "--base-url", backend_url,
               "--model", "fake", "--host", "127.0.0.1", "--port", str(ponder_port)]
    outcomes: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = {}
    samples: list[Sample] = []
    # The client drops an idle connection before uvicorn does (keep-alive 5 s), so that no request goes
    # out on a connection the server is closing (bench/load.py says why).
    limits = httpx.Limits(max_connections=soak.load.workers, keepalive_expiry=2.0)
    with running(fake, f"{backend_url}/health", log=soak.out / "fake_backend.log"), \
            running(gateway, f"{ponder_url}/health", log=soak.out / "ponder.log") as server:
        async with httpx.AsyncClient(base_url=ponder_url, limits=limits, timeout=httpx.Timeout(60.0)) as http:
            started = time.monotonic()
            until = started + soak.seconds
            await asyncio.gather(traffic(http, soak.load, until, outcomes, by_kind),
                                 sample_every(server.pid, soak.interval_s, started, until, outcomes, samples))
            await asyncio.sleep(SETTLE_S)
            settled = sample(server.pid, time.monotonic() - started, sum(outcomes.values()))
            backend_calls = (await http.get(f"{backend_url}/stats")).json()
    metrics = summarize(samples, settled, soak.warmup_s)
    summary = {
        "date": date.today().isoformat(), "command": "python -m bench.soak " + " ".join(sys.argv[1:]),
        "seconds": soak.seconds, "interval_s": soak.interval_s, "warmup_s": soak.warmup_s,
        "fail_share": soak.fail_share, "latency_ms": soak.latency_ms, "traffic": asdict(soak.load),
        "requests": sum(outcomes.values()), "outcomes": dict(outcomes.most_common()),
        "outcomes_by_kind": {k: dict(v.most_common()) for k, v in sorted(by_kind.items())},
        "backend_calls": backend_calls, "samples": len(samples), "metrics": metrics,
        **verdict(metrics, outcomes, soak.bounds),
    }
    write_samples([*samples, settled], soak.out / "samples.csv")
    (soak.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def write_samples(samples: list[Sample], path: Path) -> None:
    """One CSV row per sample; the last row is the settled one."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[field.name for field in fields(Sample)])
        writer.writeheader()
        writer.writerows(asdict(s) for s in samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--out", type=Path, required=True, help="a folder for the samples, summary, plot and logs")
    parser.add_argument("--workers", type=int, default=Traffic.workers, help="clients sending at once")
    parser.add_argument("--pause-s", type=float, default=Traffic.pause_s, help="each client's pause between requests")
    parser.add_argument("--interval-s", type=float, default=Soak.interval_s, help="between samples")
    parser.add_argument("--warmup-s", type=float, default=Soak.warmup_s, help="traffic before the baseline level")
    parser.add_argument("--fail-share", type=float, default=Soak.fail_share, help="completions calls the backend fails")
    parser.add_argument("--latency-ms", type=float, default=Soak.latency_ms, help="the backend's wait per call")
    args = parser.parse_args(argv)
    soak = Soak(seconds=args.minutes * 60, out=args.out, load=Traffic(workers=args.workers, pause_s=args.pause_s),
                interval_s=args.interval_s, warmup_s=args.warmup_s, fail_share=args.fail_share,
                latency_ms=args.latency_ms)
    summary = asyncio.run(run_soak(soak))
    from bench.plot import plot_soak

    plot_soak(soak.out / "samples.csv", soak.out / "soak.png", warmup_s=soak.warmup_s, traffic_s=soak.seconds,
              title=f"ponder soak · {args.minutes:g} min · {summary['requests']} requests ({summary['date']})")
    for metric, m in summary["metrics"].items():
        print(f"{metric}: start {m['start']} after warm-up {m['after_warmup']} end {m['end']} "
              f"settled {m['settled']} slope/10min {m['slope_per_10min']}")
    print(f"{summary['requests']} requests: {summary['outcomes']}; backend {summary['backend_calls']}")
    print(f"checks {summary['checks']}; wrote {soak.out}")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
