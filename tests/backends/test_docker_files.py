"""docker/: the compose files wire a gateway built from docker/Dockerfile to a GPU engine, with health
checks on both, and the gateway's PONDER_* environment is settings ponder really has."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from app.settings import Settings

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
ENGINES = {"compose.vllm.yml": ("vllm", "openai"), "compose.sglang.yml": ("sglang", "sglang")}
DEFAULT = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((DOCKER / name).read_text())


def resolved(value: str) -> str:
    """A compose value with every ${VAR:-default} replaced by its default (what an empty environment gets)."""
    return DEFAULT.sub(lambda m: m.group(2) or "", value)


def argument(command: list[str], flag: str) -> str | None:
    """The value of `--flag=value` or `--flag value` in a command list."""
    for i, part in enumerate(command):
        if part == flag and i + 1 < len(command):
            return resolved(command[i + 1])
        if part.startswith(flag + "="):
            return resolved(part.split("=", 1)[1])
    return None


def probed_url(healthcheck: dict[str, Any]) -> str:
    [url] = re.findall(r"https?://[^'\" ]+", " ".join(healthcheck["test"]))
    return url


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_compose_has_a_gpu_engine_and_a_gateway_that_waits_for_it(name):
    engine, _ = ENGINES[name]
    services = load(name)["services"]
    assert set(services) == {engine, "gateway"}
    [device] = services[engine]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert services["gateway"]["depends_on"] == {engine: {"condition": "service_healthy"}}
    gateway = services["gateway"]
    assert gateway["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    assert (DOCKER / name).parent.joinpath(gateway["build"]["context"], gateway["build"]["dockerfile"]).is_file()
    assert [resolved(p) for p in gateway["ports"]] == ["8000:8000"]


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_both_services_are_health_checked_on_their_own_health_route(name):
    engine, _ = ENGINES[name]
    services = load(name)["services"]
    command = [str(c) for c in services[engine]["command"]]
    engine_port = argument(command, "--port")
    assert urlparse(probed_url(services[engine]["healthcheck"])).path == "/health"
    assert urlparse(probed_url(services[engine]["healthcheck"])).port == int(engine_port or 0)
    assert urlparse(probed_url(services["gateway"]["healthcheck"]))[1:3] == ("127.0.0.1:8000", "/health")
    for service in services.values():
        check = service["healthcheck"]
        assert {"interval", "timeout", "retries"} <= check.keys()


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_gateway_environment_is_real_settings_pointing_at_the_engine(name, monkeypatch):
    engine, kind = ENGINES[name]
    services = load(name)["services"]
    env = {k: resolved(str(v)) for k, v in services["gateway"]["environment"].items()}
    assert {k.removeprefix("PONDER_").lower() for k in env} <= Settings.model_fields.keys()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.backend == kind
    url = urlparse(settings.base_url)
    command = [str(c) for c in services[engine]["command"]]
    assert (url.hostname, url.port) == (engine, int(argument(command, "--port") or 0))
    model = argument(command, "--model-path") or resolved(command[0])
    assert settings.model == model  # the name ponder sends is the one the engine serves


def test_engines_run_with_prefix_caching_on_and_reported():
    vllm = [str(c) for c in load("compose.vllm.yml")["services"]["vllm"]["command"]]
    assert "--enable-prompt-tokens-details" in vllm  # usage.prompt_tokens_details.cached_tokens
    sglang = [str(c) for c in load("compose.sglang.yml")["services"]["sglang"]["command"]]
    assert argument(sglang, "--schedule-policy") == "lpm"
    assert sglang[:3] == ["python3", "-m", "sglang.launch_server"]


def test_dockerfile_builds_the_gateway_from_the_package_sources():
    text = (DOCKER / "Dockerfile").read_text()
    assert re.findall(r"^FROM (\S+)", text, re.MULTILINE) == ["python:3.11-slim"]
    copied = re.findall(r"^COPY (\S+)", text, re.MULTILINE)
    assert all((ROOT / c).exists() for c in copied)
    # every package the server imports, as pyproject.toml lists them
    packages = re.search(r"include = \[(.*?)\]", (ROOT / "pyproject.toml").read_text()).group(1)
    assert {name.strip(' "*') for name in packages.split(",")} <= set(copied)
    assert re.search(r'^CMD \["ponder", "serve", "--host", "0\.0\.0\.0"', text, re.MULTILINE)
    assert "HEALTHCHECK" in text and "/health" in text


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_docker_compose_accepts_the_file(name):
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("no docker compose on this machine")
    done = subprocess.run([docker, "compose", "-f", str(DOCKER / name), "config", "--quiet"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
