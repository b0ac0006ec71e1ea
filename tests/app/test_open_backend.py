"""open_backend builds the remote backend the settings name: one server, or replicas of it."""

from __future__ import annotations

import pytest

from app.compose.build import open_backend
from app.settings import Settings, load_settings
from backends.openai_compat import OpenAICompatBackend
from backends.replicas import Replicas
from backends.sglang import SGLangBackend


async def test_one_url_is_one_backend_of_the_named_kind():
    sglang = await open_backend(load_settings(backend="sglang", base_url="http://gpu-0:30000", model="qwen"))
    assert isinstance(sglang, SGLangBackend) and sglang.base_url == "http://gpu-0:30000" and sglang.model == "qwen"
    openai = await open_backend(load_settings(backend="openai", backend_urls=["http://gpu-0:8000/v1"]))
    assert isinstance(openai, OpenAICompatBackend) and openai.base_url == "http://gpu-0:8000"
    assert openai.model == ""  # the default name means "ask the server"
    await sglang.aclose()
    await openai.aclose()


async def test_several_urls_are_replicas_with_the_cooldown_setting():
    urls = ["http://gpu-0:30000", "http://gpu-1:30000"]
    backend = await open_backend(load_settings(backend="sglang", backend_urls=urls, backend_cooldown_s=3.0))
    assert isinstance(backend, Replicas)
    assert [r.label for r in backend.replicas] == urls
    assert all(isinstance(r.backend, SGLangBackend) for r in backend.replicas)
    assert backend.cooldown_s == 3.0 and backend.name == "sglang"
    await backend.aclose()


@pytest.mark.parametrize("raw", ["http://gpu-0:30000, http://gpu-1:30000",
                                 '["http://gpu-0:30000", "http://gpu-1:30000"]'])
def test_backend_urls_come_from_the_environment_as_a_list(monkeypatch, raw):
    monkeypatch.setenv("PONDER_BACKEND", "sglang")
    monkeypatch.setenv("PONDER_BACKEND_URLS", raw)
    settings = Settings()
    assert settings.backend == "sglang"
    assert settings.backend_urls == ["http://gpu-0:30000", "http://gpu-1:30000"]
