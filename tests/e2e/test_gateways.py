"""Stateless gateways (issue 23): two `ponder serve` processes on one engine behind a round-robin
balancer; a trace made through one is fetched through the other (a shared trace folder and caller
secret), and only with the key that made it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.local_server import free_port, wait_ready

pytestmark = pytest.mark.e2e

KEY, OTHER = "fleet-key-a", "fleet-key-b"


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, env=env, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


@pytest.fixture()
def fleet(llama_server: str, tmp_path: Path) -> Iterator[tuple[str, list[Path]]]:
    """The balancer's URL and each gateway's log, gateways in the balancer's order."""
    ports, logs, procs = [free_port(), free_port()], [tmp_path / "gw0.err", tmp_path / "gw1.err"], []
    shared = {**os.environ, "PONDER_BACKEND": "openai", "PONDER_BASE_URL": llama_server,
              "PONDER_MODEL": "smollm2-remote", "PONDER_MAX_TOKENS_PER_SAMPLE": "24",
              "PONDER_API_KEYS": f"{KEY},{OTHER}", "PONDER_TRACE_DIR": str(tmp_path / "traces"),
              "PONDER_CALLER_SECRET": "shared-by-the-fleet"}
    try:
        for port, log in zip(ports, logs, strict=True):
            procs.append(_start([str(Path(sys.executable).with_name("ponder")), "serve"],
                                {**shared, "PONDER_PORT": str(port)}, log))
        for port, proc in zip(ports, procs, strict=True):
            wait_ready(f"http://127.0.0.1:{port}/health", timeout_s=90, proc=proc)
        balancer_port = free_port()
        procs.append(_start([sys.executable, "-m", "bench.round_robin", "--port", str(balancer_port),
                             "--to", ",".join(f"127.0.0.1:{p}" for p in ports)], dict(os.environ),
                            tmp_path / "balancer.err"))
        wait_ready(f"http://127.0.0.1:{balancer_port}/livez", timeout_s=30, proc=procs[-1])
        yield f"http://127.0.0.1:{balancer_port}", logs
    finally:
        for proc in procs:
            _stop(proc)


def _answered(log: Path, route: str) -> list[int]:
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [e["status"] for e in entries if e.get("route") == route]


def test_a_trace_made_through_one_gateway_is_found_through_the_other(fleet):
    url, logs = fleet
    key = {"Authorization": f"Bearer {KEY}"}
    body = {"model": "smollm2-remote", "reasoning_effort": "none", "reasoning": {"trace": True},
            "messages": [{"role": "user", "content": "What is 2 + 3?"}]}
    # A fresh connection per request (httpx.post), so the balancer alternates gateways.
    made = httpx.post(f"{url}/v1/chat/completions", json=body, headers=key, timeout=120)
    assert made.status_code == 200, made.text
    trace_id = made.json()["id"]
    fetched = [httpx.get(f"{url}/v1/traces/{trace_id}", headers=key, timeout=30) for _ in range(2)]
    assert [f.status_code for f in fetched] == [200, 200]
    assert all(f.json()["id"] == trace_id and f.json()["messages"][-1]["content"] == "What is 2 + 3?"
               for f in fetched)
    refused = [httpx.get(f"{url}/v1/traces/{trace_id}", headers={"Authorization": f"Bearer {OTHER}"}, timeout=30)
               for _ in range(2)]
    assert [r.status_code for r in refused] == [404, 404]  # through either gateway, another key finds nothing
    route = "/v1/traces/{trace_id}"  # the log names the route, not the id
    made_on = next(i for i, log in enumerate(logs) if _answered(log, "/v1/chat/completions"))
    other = logs[1 - made_on]
    assert _answered(other, "/v1/chat/completions") == []
    assert 200 in _answered(other, route)  # the gateway that did not run the search served its trace
