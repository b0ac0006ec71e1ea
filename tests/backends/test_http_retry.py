"""The time one generation call is allowed: what its tokens should take at a floor rate, under the
whole-exchange cut; a server dripping its answer is cut there."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from app.settings import load_settings
from backends.errors import BackendTimeout
from backends.http_retry import JsonApi, generation_timeout
from tests.backends.test_openai_compat import vllm_completion


def default_bound(tokens: int) -> float:
    settings = load_settings()
    return generation_timeout(tokens, base_s=settings.backend_call_base_s,
                              min_tokens_per_s=settings.backend_min_tokens_per_s, cap_s=settings.backend_timeout_s)


def test_the_default_bound_is_30_s_plus_half_a_second_a_token_under_the_120_s_cut():
    assert default_bound(0) == 30  # a prefix warm call: queueing and the prompt only
    assert default_bound(16) == 38 and default_bound(64) == 62
    assert default_bound(512) == 120 and default_bound(8 * 512) == 120  # the whole-exchange cut still caps it
    # A CPU server at 5 tokens/s, with 20 s of queue and prompt, passes at every size the cut allows.
    assert all(20 + t / 5 <= default_bound(t) for t in range(0, 400))
    # A drip at default settings: medium with max_completion_tokens=16 runs one 16-token call at a
    # time and its breaker opens after 3 failures, within 150 s; effort none's one call within 60 s.
    assert 3 * default_bound(16) < 150 and default_bound(16) < 60


def test_the_bound_takes_the_cut_when_it_is_shorter_and_needs_a_positive_rate():
    assert generation_timeout(10, base_s=1.0, min_tokens_per_s=5.0, cap_s=60.0) == 3.0
    assert generation_timeout(10, base_s=1.0, min_tokens_per_s=5.0, cap_s=2.5) == 2.5
    with pytest.raises(ValueError):
        load_settings(backend_min_tokens_per_s=0)


class Drip(httpx.AsyncByteStream):
    async def __aiter__(self):
        for byte in json.dumps(vllm_completion(["4"])).encode():
            await asyncio.sleep(0.1)
            yield bytes([byte])


async def test_a_dripping_generation_call_is_cut_at_its_token_bound_not_the_whole_exchange_cut():
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(200, stream=Drip())))
    api = JsonApi("http://engine", backend="openai", timeout_s=30.0, client=client, call_base_s=0.3,
                  min_tokens_per_s=10.0)
    started = time.monotonic()
    with pytest.raises(BackendTimeout) as cut:
        await api.send("POST", "/v1/completions", body={}, tokens=4)  # 0.3 s + 4 tokens at 10 tokens/s
    assert time.monotonic() - started < 3 and "0.7s (0.3 s + 4 tokens at 10 tokens/s" in str(cut.value)
    await client.aclose()
