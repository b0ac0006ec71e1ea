"""`ponder serve` prints one JSON access line per request (request id, route, status, time, the
search's tokens and stop reason) and no prompt or answer text: read from a real server's output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from bench.local_server import free_port, wait_ready

SECRET = "ultramarine-walrus-42"  # in the prompt: it must never reach the log


def test_the_access_log_is_one_json_line_per_request(tmp_path: Path):
    port = free_port()
    err = (tmp_path / "serve.err").open("wb")
    env = {**os.environ, "PONDER_PORT": str(port), "PONDER_MAX_TOKENS_PER_SAMPLE": "24"}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("ponder")), "serve"], stdout=subprocess.DEVNULL,
                            stderr=err, env=env, start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}/health", timeout_s=90, proc=proc)
        reply = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=120,
                           headers={"x-request-id": "req-from-client-7"},
                           json={"model": "smollm2:none", "messages": [{"role": "user", "content": f"Say {SECRET}."}]})
        assert reply.status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        err.close()
    lines = [line for line in (tmp_path / "serve.err").read_text().splitlines() if line.startswith("{")]
    entries = [json.loads(line) for line in lines]
    chat = [e for e in entries if e["route"] == "/v1/chat/completions"]
    assert len(chat) == 1
    assert chat[0]["request_id"] == reply.headers["x-request-id"] != "req-from-client-7" and chat[0]["status"] == 200
    assert chat[0]["client_request_id"] == "req-from-client-7"  # the client's id, beside ponder's own
    assert chat[0]["completion_tokens"] > 0 and chat[0]["stop_reason"] == "done" and chat[0]["seconds"] > 0
    assert any(e["route"] == "/health" for e in entries)
    log = (tmp_path / "serve.err").read_text()
    assert SECRET not in log and '"GET /health HTTP/1.1" 200' not in log  # no uvicorn plain access lines
