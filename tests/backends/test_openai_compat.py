"""OpenAICompatBackend against a faked wire: MockTransport handlers answer real vLLM-shaped JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from backends.errors import BackendBadResponse, BackendTimeout, BackendUnavailable, PromptTooLong
from backends.openai_compat import OpenAICompatBackend
from sampling import Sampling
from tests.backends.wire import Wire

BASE = "http://vllm.test:8000"
MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


def vllm_completion(texts: list[str], *, prompt_tokens: int = 12, completion_tokens: int | None = None,
                    cached: int | None = None, logprobs: list[dict[str, Any] | None] | None = None,
                    finish: str = "stop", order: list[int] | None = None) -> dict[str, Any]:
    """A /v1/completions body as vLLM 0.x writes it (choices may come out of index order)."""
    choices = [
        {"index": i, "text": t, "logprobs": (logprobs[i] if logprobs else None), "finish_reason": finish,
         "stop_reason": None, "prompt_logprobs": None}
        for i, t in enumerate(texts)
    ]
    if order is not None:
        choices = [choices[i] for i in order]
    completion = completion_tokens if completion_tokens is not None else sum(len(t) for t in texts)
    return {
        "id": "cmpl-8c1f0e2b9a7d4e3f", "object": "text_completion", "created": 1732406400, "model": MODEL,
        "choices": choices,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens + completion,
                  "completion_tokens": completion,
                  "prompt_tokens_details": None if cached is None else {"cached_tokens": cached}},
        "kv_transfer_params": None,
    }


def vllm_logprobs(tokens: list[str], chosen: list[float], tops: list[dict[str, float]]) -> dict[str, Any]:
    offsets, at = [], 0
    for t in tokens:
        offsets.append(at)
        at += len(t)
    return {"text_offset": offsets, "token_logprobs": chosen, "tokens": tokens, "top_logprobs": tops}


def backend_on(wire: Wire, **kwargs: Any) -> OpenAICompatBackend:
    options: dict[str, Any] = {"model": MODEL, "timeout_s": 5.0, "backoff_s": 0.0}
    options.update(kwargs)
    return OpenAICompatBackend(BASE, client=httpx.AsyncClient(transport=httpx.MockTransport(wire)), **options)


def answer(body: dict[str, Any], status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=body)


VLLM_CONTEXT_ERROR = {
    "error": {
        "message": "This model's maximum context length is 2048 tokens. However, you requested 2400 tokens "
                   "(1888 in the messages, 512 in the completion). Please reduce the length of the messages "
                   "or completion.",
        "type": "BadRequestError", "param": None, "code": 400,
    }
}



async def test_request_body_carries_every_sampling_parameter():
    wire = Wire(answer(vllm_completion(["a", "b"])))
    backend = backend_on(wire, api_key="sk-test")
    params = Sampling(max_tokens=64, temperature=0.7, top_p=0.9, min_p=0.05, seed=11, stop=("\n\n", "Step"),
                            logprobs=3)
    await backend.complete("Q: 2+2?\nA:", n=2, params=params)
    [request] = wire.requests
    assert request.method == "POST" and str(request.url) == f"{BASE}/v1/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert json.loads(request.content) == {
        "model": MODEL, "prompt": "Q: 2+2?\nA:", "n": 2, "max_tokens": 64, "temperature": 0.7, "top_p": 0.9,
        "min_p": 0.05, "seed": 11, "stop": ["\n\n", "Step"], "logprobs": 3,
    }


async def test_unset_options_are_left_out_of_the_body():
    wire = Wire(answer(vllm_completion(["x"])))
    await backend_on(wire).complete("p", n=1, params=Sampling(max_tokens=8))
    [body] = wire.bodies()
    assert not {"min_p", "seed", "stop", "logprobs"} & body.keys()
    assert "authorization" not in wire.requests[0].headers


async def test_base_url_given_with_v1_suffix_is_not_doubled():
    wire = Wire(answer(vllm_completion(["x"])))
    backend = OpenAICompatBackend(f"{BASE}/v1/", model=MODEL, backoff_s=0,
                                  client=httpx.AsyncClient(transport=httpx.MockTransport(wire)))
    await backend.complete("p", n=1, params=Sampling())
    assert str(wire.requests[0].url) == f"{BASE}/v1/completions"


async def test_n_samples_come_back_in_index_order_with_tokens_summing_to_usage():
    texts = [" 4", " The answer is 4.", " Two plus two: 2 + 2 = 4, so the answer is 4."]
    wire = Wire(answer(vllm_completion(texts, completion_tokens=17, order=[2, 0, 1], finish="length")))
    done = await backend_on(wire).complete("p", n=3, params=Sampling())
    assert [s.text for s in done.samples] == texts
    counts = [s.completion_tokens for s in done.samples]
    assert sum(counts) == done.completion_tokens == 17
    assert counts[0] < counts[1] < counts[2]  # split in proportion to length
    assert all(s.finish_reason == "length" for s in done.samples)


@pytest.mark.parametrize("total", [0, 1, 2, 7, 100, 1001])
async def test_token_split_is_exact_for_any_total(total):
    wire = Wire(answer(vllm_completion(["a", "bb", "", "dddd"], completion_tokens=total)))
    done = await backend_on(wire).complete("p", n=4, params=Sampling())
    assert sum(s.completion_tokens for s in done.samples) == total
    assert all(s.completion_tokens >= 0 for s in done.samples)


async def test_logprobs_are_parsed_per_token_and_count_the_tokens():
    lp0 = vllm_logprobs([" 4", "."], [-0.05, -0.7], [{" 4": -0.05, " 5": -3.2}, {".": -0.7, "\n": -0.9}])
    lp1 = vllm_logprobs([" five"], [-3.2], [{" 4": -0.05, " five": -3.2}])
    # The longer text is the shorter in tokens: counts must follow the tokens, not the characters.
    wire = Wire(answer(vllm_completion([" 4.", " five"], completion_tokens=3, logprobs=[lp0, lp1])))
    done = await backend_on(wire).complete("p", n=2, params=Sampling(logprobs=2))
    first, second = done.samples
    assert [s.completion_tokens for s in done.samples] == [2, 1]
    assert first.logprobs is not None and second.logprobs is not None
    assert [(t.token, t.logprob) for t in first.logprobs] == [(" 4", -0.05), (".", -0.7)]
    assert first.logprobs[1].top == ((".", -0.7), ("\n", -0.9))
    assert second.logprobs[0].top[0] == (" 4", -0.05)  # best alternative first


async def test_logprobs_stay_none_when_not_asked():
    wire = Wire(answer(vllm_completion(["x"])))
    done = await backend_on(wire).complete("p", n=1, params=Sampling())
    assert done.samples[0].logprobs is None


async def test_prompt_and_cached_tokens_count_once_per_sample():
    wire = Wire(answer(vllm_completion(["a", "b", "c"], prompt_tokens=200, cached=128)))
    done = await backend_on(wire).complete("p", n=3, params=Sampling())
    assert done.prompt_tokens == 600
    assert done.cached_tokens == 384
    assert done.backend == "openai"


async def test_cached_tokens_default_to_zero_and_never_exceed_the_prompt():
    wire = Wire(answer(vllm_completion(["a"], prompt_tokens=50)))
    assert (await backend_on(wire).complete("p", n=1, params=Sampling())).cached_tokens == 0
    wire = Wire(answer(vllm_completion(["a"], prompt_tokens=50, cached=80)))
    assert (await backend_on(wire).complete("p", n=1, params=Sampling())).cached_tokens == 50


async def test_stop_reason_keeps_the_matched_stop_string():
    body = vllm_completion(["Step 1: add"])
    body["choices"][0]["stop_reason"] = "\n\n"
    done = await backend_on(Wire(answer(body))).complete("p", n=1, params=Sampling(stop=("\n\n",)))
    assert done.samples[0].stop_reason == "\n\n"


async def test_a_server_that_ignores_n_is_asked_once_per_missing_sample():
    # llama-cpp-python's server drops `n` and always answers one choice.
    wire = Wire(lambda request: httpx.Response(200, json=vllm_completion(
        [f"seed {json.loads(request.content)['seed']}"], prompt_tokens=10, completion_tokens=4)))
    backend = backend_on(wire)
    done = await backend.complete("p", n=3, params=Sampling(seed=7))
    assert [s.text for s in done.samples] == ["seed 7", "seed 8", "seed 9"]
    assert done.prompt_tokens == 30 and done.completion_tokens == 12
    done = await backend.complete("p", n=2, params=Sampling(seed=1))
    assert [b["n"] for b in wire.bodies()][3:] == [1, 1]  # learnt: no second n=2 try
    assert len(done.samples) == 2


async def test_503_is_retried_until_it_succeeds():
    calls = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            return httpx.Response(503, json={"error": {"message": "engine is starting", "code": 503}})
        return httpx.Response(200, json=vllm_completion(["ok"]))

    done = await backend_on(Wire(flaky), max_retries=2).complete("p", n=1, params=Sampling())
    assert len(calls) == 3
    assert done.samples[0].text == "ok"


async def test_5xx_after_every_retry_is_raised_with_the_server_message():
    wire = Wire(answer({"error": {"message": "CUDA out of memory"}}, status=500))
    with pytest.raises(BackendBadResponse, match="CUDA out of memory"):
        await backend_on(wire, max_retries=3).complete("p", n=1, params=Sampling())
    assert len(wire.requests) == 4


async def test_400_is_not_retried_and_carries_the_server_message():
    wire = Wire(answer({"object": "error", "message": "temperature must be non-negative, got -1.0.",
                        "type": "BadRequestError", "param": None, "code": 400}, status=400))
    with pytest.raises(BackendBadResponse, match="temperature must be non-negative") as caught:
        await backend_on(wire).complete("p", n=1, params=Sampling(temperature=-1.0))
    assert len(wire.requests) == 1
    assert not isinstance(caught.value, PromptTooLong)


async def test_context_length_400_is_prompt_too_long():
    wire = Wire(answer(VLLM_CONTEXT_ERROR, status=400))
    with pytest.raises(PromptTooLong, match="maximum context length is 2048") as caught:
        await backend_on(wire).complete("long " * 2000, n=1, params=Sampling())
    assert caught.value.status == 400 and len(wire.requests) == 1


async def test_connect_error_gives_unavailable_after_every_retry():
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    wire = Wire(refused)
    with pytest.raises(BackendUnavailable, match=r"vllm\.test:8000") as caught:
        await backend_on(wire, max_retries=2).complete("p", n=1, params=Sampling())
    assert len(wire.requests) == 3
    assert caught.value.status == 503 and caught.value.backend == "openai"


async def test_read_timeout_is_backend_timeout_without_retry():
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    wire = Wire(slow)
    with pytest.raises(BackendTimeout):
        await backend_on(wire).complete("p", n=1, params=Sampling())
    assert len(wire.requests) == 1


async def test_a_passed_deadline_fails_before_sending():
    wire = Wire(answer(vllm_completion(["x"])))
    with pytest.raises(BackendTimeout, match="deadline"):
        await backend_on(wire).complete("p", n=1, params=Sampling(), deadline=time.monotonic() - 1)
    assert wire.requests == []


async def test_malformed_json_is_a_bad_response():
    wire = Wire(lambda request: httpx.Response(200, text='{"id": "cmpl-1", "choices": [',
                                               headers={"content-type": "application/json"}))
    with pytest.raises(BackendBadResponse, match="no JSON object"):
        await backend_on(wire).complete("p", n=1, params=Sampling())


@pytest.mark.parametrize("choices", [[], None, [{"index": 0, "finish_reason": "stop"}]])
async def test_missing_or_empty_choices_are_a_bad_response(choices):
    body = vllm_completion(["x"])
    body["choices"] = choices
    with pytest.raises(BackendBadResponse, match="without choices"):
        await backend_on(Wire(answer(body))).complete("p", n=1, params=Sampling())


async def test_model_is_discovered_once_from_v1_models():
    def server(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": [
                {"id": "Qwen/Qwen2.5-Math-1.5B-Instruct", "object": "model", "created": 1732406400,
                 "owned_by": "vllm", "root": "Qwen/Qwen2.5-Math-1.5B-Instruct", "parent": None,
                 "max_model_len": 4096, "permission": []}]})
        return httpx.Response(200, json=vllm_completion(["x"]))

    wire = Wire(server)
    backend = backend_on(wire, model=None)
    assert backend.model == ""
    await backend.complete("p", n=1, params=Sampling())
    await backend.complete("p", n=1, params=Sampling())
    assert backend.model == "Qwen/Qwen2.5-Math-1.5B-Instruct"
    assert [r.url.path for r in wire.requests].count("/v1/models") == 1
    assert all(b["model"] == "Qwen/Qwen2.5-Math-1.5B-Instruct" for b in wire.bodies())


async def test_an_empty_model_list_is_a_bad_response():
    wire = Wire(answer({"object": "list", "data": []}))
    with pytest.raises(BackendBadResponse, match="no model"):
        await backend_on(wire, model=None).complete("p", n=1, params=Sampling())


async def test_health_is_true_on_200_from_health():
    wire = Wire(lambda request: httpx.Response(200 if request.url.path == "/health" else 500))
    assert await backend_on(wire).health() is True
    assert [r.url.path for r in wire.requests] == ["/health"]


async def test_health_falls_back_to_v1_models():
    # llama-cpp-python's server has no /health.
    wire = Wire(lambda request: httpx.Response(404 if request.url.path == "/health" else 200,
                                               json={"object": "list", "data": [{"id": MODEL}]}))
    assert await backend_on(wire).health() is True
    assert [r.url.path for r in wire.requests] == ["/health", "/v1/models"]


async def test_health_is_false_on_errors_and_never_raises():
    assert await backend_on(Wire(lambda request: httpx.Response(503))).health() is False

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    assert await backend_on(Wire(refused)).health() is False


async def test_render_chat_falls_back_to_chatml_when_the_server_shows_no_template():
    backend = backend_on(Wire(lambda request: httpx.Response(404, json={"detail": "Not Found"})))
    prompt = await backend.render_chat([{"role": "user", "content": "2+2?"}])
    assert backend.chat_template_source.startswith("chatml (fallback")
    assert prompt == "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
    partial = await backend.render_chat([{"role": "user", "content": "2+2?"},
                                         {"role": "assistant", "content": "Step 1:"}], add_generation_prompt=False)
    assert partial.endswith("<|im_start|>assistant\nStep 1:")
    await backend.aclose()


async def test_aclose_leaves_an_injected_client_open_and_closes_its_own():
    injected = httpx.AsyncClient(transport=httpx.MockTransport(answer({})))
    await OpenAICompatBackend(BASE, model=MODEL, client=injected).aclose()
    assert not injected.is_closed
    await injected.aclose()
    own = OpenAICompatBackend(BASE, model=MODEL)
    await own.aclose()
    assert own._client.is_closed


async def test_requests_in_flight_are_bounded_across_callers_and_queued_ones_respect_the_deadline():
    import asyncio

    state = {"now": 0, "max": 0}

    async def slow(request: httpx.Request) -> httpx.Response:
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        await asyncio.sleep(0.05)
        state["now"] -= 1
        return httpx.Response(200, json=vllm_completion(["ok"]))

    backend = OpenAICompatBackend(BASE, model=MODEL, timeout_s=5.0, max_in_flight=3,
                                  client=httpx.AsyncClient(transport=httpx.MockTransport(slow)))
    params = Sampling(max_tokens=4)
    done = await asyncio.gather(*(backend.complete(f"p{i}", n=1, params=params) for i in range(10)))
    assert state["max"] == 3 and all(d.samples[0].text == "ok" for d in done)

    gate = asyncio.Event()

    async def held(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return httpx.Response(200, json=vllm_completion(["ok"]))

    one = OpenAICompatBackend(BASE, model=MODEL, timeout_s=5.0, max_in_flight=1,
                              client=httpx.AsyncClient(transport=httpx.MockTransport(held)))
    holder = asyncio.create_task(one.complete("hold", n=1, params=params))
    await asyncio.sleep(0.01)
    with pytest.raises(BackendTimeout, match="no free request slot"):
        await one.complete("late", n=1, params=params, deadline=time.monotonic() + 0.05)
    assert not holder.done()  # it gave up at its deadline while the slot was still taken
    gate.set()
    assert (await holder).samples[0].text == "ok"
