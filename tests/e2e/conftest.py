"""The real server (uvicorn on a free 127.0.0.1 port) with the real embedded SmolLM2."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from fastapi import FastAPI
from openai import OpenAI

from app.compose.gateway import create_app
from app.settings import load_settings
from backends.model_files import resolve_model
from bench.local_server import free_port, wait_ready


@dataclass
class LiveServer:
    url: str
    app: FastAPI

    @property
    def engine_stats(self) -> dict[str, float]:
        return dict(self.app.state.service.backend.stats)


@pytest.fixture(scope="session")
def server() -> Iterator[LiveServer]:
    port = free_port()
    settings = load_settings(port=port, max_body_bytes=200_000, max_tokens_per_sample=96, n_ctx=4096)
    app = create_app(settings)
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/health", timeout_s=60, interval_s=0.2)
    yield LiveServer(url=url, app=app)
    uv.should_exit = True
    thread.join(timeout=30)


@pytest.fixture()
def client(server: LiveServer) -> OpenAI:
    return OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory) -> Iterator[str]:
    """llama-cpp-python's own OpenAI-compatible server with the bundled SmolLM2 (model "smollm2-remote")."""
    model = resolve_model("smollm2", tmp_path_factory.mktemp("models"))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model.path), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--model_alias", "smollm2-remote"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/v1/models", timeout_s=90, proc=proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
