"""The batching engine with the real SmolLM2: forks, seeds, concurrency, cancellation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from backends.batched import BatchedBackend
from backends.embedded import EmbeddedBackend
from backends.errors import PromptTooLong
from backends.model_files import resolve_model
from sampling import Sampling

pytestmark = pytest.mark.e2e

GREEDY = Sampling(max_tokens=24, temperature=0.0)


async def engine(slots: int = 4, n_ctx: int = 2048) -> BatchedBackend:
    model = resolve_model("smollm2", Path("/nonexistent"))
    backend = BatchedBackend(model.path, model=model.name, n_ctx=n_ctx, slots=slots)
    await backend.start()
    return backend


async def chat(backend: BatchedBackend, text: str) -> str:
    return await backend.render_chat([{"role": "user", "content": text}])


async def test_greedy_from_a_forked_prefix_equals_a_cold_start():
    cold = await engine()
    try:
        prompt = await chat(cold, "Name three colours.")
        fresh = await cold.complete(prompt, n=1, params=GREEDY)
        assert fresh.cached_tokens == 0
    finally:
        await cold.aclose()
    warm = await engine()
    try:
        # Fill the cache with a longer sibling conversation, then continue from its prefix.
        await warm.complete(prompt + "Red, green", n=1, params=GREEDY)
        forked = await warm.complete(prompt, n=1, params=GREEDY)
        assert forked.cached_tokens >= forked.prompt_tokens - 1
        assert forked.samples[0].text == fresh.samples[0].text
    finally:
        await warm.aclose()


async def test_seeded_samples_are_reproducible_and_siblings_share_the_prompt():
    backend = await engine()
    try:
        prompt = await chat(backend, "Write a word.")
        params = Sampling(max_tokens=16, temperature=0.9, seed=7)
        first = await backend.complete(prompt, n=4, params=params)
        second = await backend.complete(prompt, n=4, params=params)
        assert [s.text for s in first.samples] == [s.text for s in second.samples]
        assert len({s.text for s in first.samples}) > 1  # per-sample seeds differ
        # siblings fork the prompt: only the first evaluates it
        assert first.cached_tokens >= 3 * (first.prompt_tokens // 4 - 1)
    finally:
        await backend.aclose()


@pytest.mark.parametrize("kind", ["batched", "simple"])
async def test_min_p_of_one_leaves_only_the_likeliest_token_so_hot_samples_are_greedy(kind):
    if kind == "batched":
        backend: BatchedBackend | EmbeddedBackend = await engine()
    else:
        model = resolve_model("smollm2", Path("/nonexistent"))
        backend = EmbeddedBackend(model.path, model=model.name, n_ctx=2048)
        await backend.start()
    try:
        prompt = await backend.render_chat([{"role": "user", "content": "Write a word."}])
        greedy = (await backend.complete(prompt, n=1, params=Sampling(max_tokens=16))).samples[0].text
        hot = Sampling(max_tokens=16, temperature=1.5, seed=7)
        wild = await backend.complete(prompt, n=3, params=hot)
        assert {s.text for s in wild.samples} != {greedy}  # without min_p, temperature 1.5 wanders
        tamed = await backend.complete(prompt, n=3, params=Sampling(max_tokens=16, temperature=1.5, seed=7,
                                                                          min_p=1.0))
        assert [s.text for s in tamed.samples] == [greedy] * 3
    finally:
        await backend.aclose()


async def test_sixteen_concurrent_requests_with_their_own_parameters():
    backend = await engine(slots=4)
    try:
        prompts = [await chat(backend, f"Count to {i}.") for i in range(16)]
        params = [Sampling(max_tokens=4 + i, temperature=0.0 if i % 2 else 0.8, seed=i, stop=("\n\n",))
                  for i in range(16)]
        results = await asyncio.gather(*(backend.complete(p, n=1, params=q)
                                         for p, q in zip(prompts, params, strict=True)))
        for result, p in zip(results, params, strict=True):
            sample = result.samples[0]
            assert 0 < sample.completion_tokens <= p.max_tokens
            assert sample.finish_reason in {"stop", "length"} and "\n\n" not in sample.text
        assert backend.stats["generated_tokens"] == sum(r.completion_tokens for r in results)
    finally:
        await backend.aclose()


async def test_cancellation_frees_the_slot():
    backend = await engine(slots=1)
    try:
        prompt = await chat(backend, "Tell a long story.")
        task = asyncio.create_task(backend.complete(prompt, n=1, params=Sampling(max_tokens=1500)))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the only slot is free again: a new request completes promptly
        done = await asyncio.wait_for(backend.complete(prompt, n=1, params=GREEDY), timeout=30)
        assert done.samples[0].completion_tokens > 0
        assert backend.stats["generated_tokens"] < 1500
    finally:
        await backend.aclose()


async def test_overlong_prompt_is_refused_and_the_engine_goes_on():
    backend = await engine(n_ctx=256)
    try:
        with pytest.raises(PromptTooLong):
            await backend.complete("word " * 400, n=1, params=GREEDY)
        ok = await backend.complete(await chat(backend, "Hi"), n=1, params=GREEDY)
        assert ok.samples[0].text
    finally:
        await backend.aclose()


async def test_penalties_steer_the_batched_engine_and_a_loop_stops_before_its_cap():
    backend = await engine()
    try:
        prompt = await chat(backend, "Repeat the word 'apple' one hundred times, separated by spaces.")
        plain = (await backend.complete(prompt, n=1, params=Sampling(max_tokens=200))).samples[0]
        # A strong presence penalty: once a token has appeared it is unlikely to come again.
        penalised = (await backend.complete(prompt, n=1, params=Sampling(max_tokens=200, presence_penalty=2.0)))
        text = penalised.samples[0].text
    finally:
        await backend.aclose()
    assert plain.text.count("apple") > text.count("apple")
    # the unpenalised greedy repetition is a loop: the engine ends it well before the 200-token cap
    assert plain.completion_tokens < 200 and plain.finish_reason == "length"
