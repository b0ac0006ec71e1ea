"""SGLangBackend against a faked wire: MockTransport handlers answer /generate JSON in the shape
SGLang's tokenizer manager writes it (text, output_ids, meta_info with finish_reason as
{"type", "matched"|"length"}, prompt/completion/cached tokens, logprobs as [logprob, id, text])."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from backends.errors import BackendBadResponse, BackendTimeout, BackendUnavailable, PromptTooLong
from backends.sglang import SGLangBackend
from sampling import Sampling
from tests.backends.wire import Wire as RecordingWire

BASE = "http://sglang.test:30000"
MODEL = "Qwen/Qwen2.5-7B-Instruct"
EOS = 151645  # <|im_end|>: what `matched` holds when the model ended its turn
PROMPT = ("<|im_start|>system\nSolve the problem step by step, briefly.<|im_end|>\n"
          "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n")


def sglang_output(text: str, *, prompt_tokens: int = 31, completion_tokens: int | None = None, cached: int = 0,
                  finish: dict[str, Any] | None = None, rid: str = "3f0c5b7e9d2a4c1b8e6f0a2d4c6e8b1a",
                  logprobs: list[tuple[float, int, str, list[tuple[float, int, str]]]] | None = None) -> dict[str, Any]:
    """One non-streaming /generate output as SGLang 0.5 writes it."""
    tokens = completion_tokens if completion_tokens is not None else max(1, len(text) // 4)
    meta: dict[str, Any] = {
        "id": rid,
        "finish_reason": finish if finish is not None else {"type": "stop", "matched": EOS},
        "prompt_tokens": prompt_tokens, "weight_version": "default", "total_retractions": 0,
        "reasoning_tokens": 0, "completion_tokens": tokens, "cached_tokens": cached,
        "e2e_latency": 0.0912, "response_sent_to_client_ts": 1732406400.12,
    }
    if logprobs is not None:
        meta["input_token_logprobs"] = [[None, 198, None]]
        meta["output_token_logprobs"] = [[lp, tid, tok] for lp, tid, tok, _ in logprobs]
        meta["input_top_logprobs"] = [None]
        meta["output_top_logprobs"] = [[[a, b, c] for a, b, c in top] for _, _, _, top in logprobs]
    return {"text": text, "output_ids": list(range(1000, 1000 + tokens)), "meta_info": meta}


def warm_output(prompt_tokens: int = 31, cached: int = 0) -> dict[str, Any]:
    """What /generate answers to a prefill-only request (max_new_tokens 0)."""
    return sglang_output("", prompt_tokens=prompt_tokens, completion_tokens=0, cached=cached,
                         finish={"type": "length", "length": 0})


class Wire(RecordingWire):
    path = "/generate"


def backend_on(wire: Wire, **kwargs: Any) -> SGLangBackend:
    options: dict[str, Any] = {"model": MODEL, "timeout_s": 5.0, "backoff_s": 0.0}
    options.update(kwargs)
    return SGLangBackend(BASE, client=httpx.AsyncClient(transport=httpx.MockTransport(wire)), **options)


def answer(body: Any, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=body)


def generate_server(samples: Callable[[dict[str, Any], int], dict[str, Any]],
                    warm: dict[str, Any] | None = None) -> Callable[[httpx.Request], httpx.Response]:
    """A /generate that answers a prefill-only request with `warm` and a batch with one output per text."""
    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if isinstance(body["text"], list):
            return httpx.Response(200, json=[samples(body, i) for i in range(len(body["text"]))])
        if body["sampling_params"].get("max_new_tokens") == 0:
            return httpx.Response(200, json=warm or warm_output())
        return httpx.Response(200, json=samples(body, 0))
    return handle


SGLANG_CONTEXT_ERROR = {"object": "error", "message": "The input (2400 tokens) is longer than the model's context "
                        "length (2048 tokens).", "type": "BadRequestError", "param": None, "code": 400}



async def test_one_sample_is_one_generate_with_every_sampling_parameter():
    wire = Wire(answer(sglang_output(" 4")))
    backend = backend_on(wire, api_key="sk-test")
    params = Sampling(max_tokens=64, temperature=0.7, top_p=0.9, min_p=0.05, seed=11, stop=("\n\n", "Step"),
                            logprobs=3)
    await backend.complete(PROMPT, n=1, params=params)
    [request] = wire.requests
    assert request.method == "POST" and str(request.url) == f"{BASE}/generate"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert json.loads(request.content) == {
        "text": PROMPT,
        "sampling_params": {"max_new_tokens": 64, "temperature": 0.7, "top_p": 0.9, "min_p": 0.05,
                            "stop": ["\n\n", "Step"], "no_stop_trim": False, "sampling_seed": 11},
        "return_logprob": True, "top_logprobs_num": 3, "return_text_in_logprobs": True,
    }


async def test_unset_options_are_left_out_of_the_body():
    wire = Wire(answer(sglang_output("x")))
    await backend_on(wire).complete(PROMPT, n=1, params=Sampling(max_tokens=8))
    [body] = wire.bodies()
    assert body == {"text": PROMPT, "sampling_params": {"max_new_tokens": 8, "temperature": 0.0, "top_p": 1.0}}
    assert "authorization" not in wire.requests[0].headers


async def test_usage_and_cached_tokens_come_from_meta_info():
    wire = Wire(answer(sglang_output(" The answer is 4.", prompt_tokens=1843, completion_tokens=7, cached=1792)))
    done = await backend_on(wire).complete(PROMPT, n=1, params=Sampling())
    assert (done.prompt_tokens, done.cached_tokens, done.completion_tokens) == (1843, 1792, 7)
    assert done.samples[0].text == " The answer is 4."
    assert done.samples[0].finish_reason == "stop" and done.samples[0].stop_reason is None  # EOS, not a string
    assert done.backend == "sglang"


async def test_n_samples_warm_the_prefix_then_fan_out_in_one_batch():
    texts = [" 4", " Two plus two is 4.", " 2 + 2 = 4, so the answer is 4."]
    wire = Wire(generate_server(
        lambda body, i: sglang_output(texts[i], prompt_tokens=31, completion_tokens=3 + i, cached=30),
        warm=warm_output(prompt_tokens=31, cached=12)))
    done = await backend_on(wire).complete(PROMPT, n=3, params=Sampling(temperature=0.8, seed=7))
    warm_call, fan_out = wire.bodies()
    # The warm call comes first: the prompt alone, nothing generated (SGLang's `fork`).
    assert warm_call == {"text": PROMPT, "sampling_params": {"max_new_tokens": 0, "temperature": 0.0}}
    assert fan_out["text"] == [PROMPT] * 3
    assert [p["sampling_seed"] for p in fan_out["sampling_params"]] == [7, 8, 9]  # one seed would give one text
    assert all("n" not in p for p in fan_out["sampling_params"])
    assert [s.text for s in done.samples] == texts
    assert [s.completion_tokens for s in done.samples] == [3, 4, 5]
    # Prompt counted once per sample; the 19 tokens the warm call computed are not cached ones.
    assert done.prompt_tokens == 93
    assert done.cached_tokens == 3 * 30 - (31 - 12)
    assert done.extra["prefix_warm"] == {"prompt_tokens": 31, "cached_tokens": 12}


async def test_unseeded_samples_carry_no_seed():
    wire = Wire(generate_server(lambda body, i: sglang_output(f"s{i}")))
    done = await backend_on(wire).complete(PROMPT, n=2, params=Sampling(temperature=1.0))
    assert all("sampling_seed" not in p for p in wire.bodies()[1]["sampling_params"])
    assert len(done.samples) == 2


async def test_a_failed_warm_call_sends_no_fan_out():
    wire = Wire(answer(SGLANG_CONTEXT_ERROR, status=400))
    with pytest.raises(PromptTooLong):
        await backend_on(wire).complete("long " * 2000, n=4, params=Sampling())
    assert len(wire.requests) == 1


async def test_a_matched_stop_string_is_the_stop_reason_and_not_in_the_text():
    body = sglang_output("Step 1: 2 + 2 = 4.", finish={"type": "stop", "matched": "\n\n"})
    done = await backend_on(Wire(answer(body))).complete(PROMPT, n=1, params=Sampling(stop=("\n\n",)))
    assert done.samples[0].text == "Step 1: 2 + 2 = 4."
    assert (done.samples[0].finish_reason, done.samples[0].stop_reason) == ("stop", "\n\n")


async def test_a_stop_string_left_in_the_text_is_trimmed():
    # A stop string that spans tokens could be left untrimmed by older servers.
    body = sglang_output("Step 1: add.\n\n", finish={"type": "stop", "matched": "\n\n"})
    done = await backend_on(Wire(answer(body))).complete(PROMPT, n=1, params=Sampling(stop=("\n\n",)))
    assert done.samples[0].text == "Step 1: add."


@pytest.mark.parametrize(("reason", "expected"), [
    ({"type": "length", "length": 64}, "length"),
    ({"type": "abort", "message": "Abort before prefill"}, "cancelled"),
    ({"type": "stop", "matched": EOS}, "stop"),
])
async def test_finish_reasons_map_to_ponder_words(reason, expected):
    done = await backend_on(Wire(answer(sglang_output("x", finish=reason)))).complete(
        PROMPT, n=1, params=Sampling())
    assert done.samples[0].finish_reason == expected
    assert done.samples[0].stop_reason is None


async def test_logprobs_are_parsed_per_token_with_ranked_alternatives():
    body = sglang_output(" 4.", completion_tokens=2, logprobs=[
        (-0.05, 220, " 4", [(-3.2, 20, " 5"), (-0.05, 220, " 4")]),
        (-0.7, 13, ".", [(-0.7, 13, "."), (-0.9, 198, "\n")]),
    ])
    done = await backend_on(Wire(answer(body))).complete(PROMPT, n=1, params=Sampling(logprobs=2))
    [sample] = done.samples
    assert sample.logprobs is not None
    assert [(t.token, t.logprob) for t in sample.logprobs] == [(" 4", -0.05), (".", -0.7)]
    assert sample.logprobs[0].top == ((" 4", -0.05), (" 5", -3.2))  # best alternative first
    assert sample.logprobs[1].top == ((".", -0.7), ("\n", -0.9))
    assert sample.completion_tokens == 2


async def test_logprobs_stay_none_when_not_asked():
    done = await backend_on(Wire(answer(sglang_output("x")))).complete(PROMPT, n=1, params=Sampling())
    assert done.samples[0].logprobs is None


async def test_a_batch_answer_of_the_wrong_size_is_a_bad_response():
    def short(request: httpx.Request) -> httpx.Response:
        if isinstance(json.loads(request.content)["text"], list):
            return httpx.Response(200, json=[sglang_output("only one")])
        return httpx.Response(200, json=warm_output())

    wire = Wire(short)
    with pytest.raises(BackendBadResponse, match="1 outputs for n=3"):
        await backend_on(wire).complete(PROMPT, n=3, params=Sampling())


async def test_503_is_retried_until_it_succeeds():
    calls: list[httpx.Request] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            return httpx.Response(503)  # SGLang while it is still starting
        return httpx.Response(200, json=sglang_output("ok"))

    done = await backend_on(Wire(flaky), max_retries=2).complete(PROMPT, n=1, params=Sampling())
    assert len(calls) == 3 and done.samples[0].text == "ok"


async def test_5xx_after_every_retry_is_raised_with_the_server_message():
    wire = Wire(answer({"error": {"message": "CUDA out of memory"}}, status=500))
    with pytest.raises(BackendBadResponse, match="CUDA out of memory"):
        await backend_on(wire, max_retries=3).complete(PROMPT, n=1, params=Sampling())
    assert len(wire.requests) == 4


async def test_400_is_not_retried_and_carries_the_server_message():
    wire = Wire(answer({"error": {"message": "temperature must be non-negative, got -1.0."}}, status=400))
    with pytest.raises(BackendBadResponse, match="temperature must be non-negative") as caught:
        await backend_on(wire).complete(PROMPT, n=1, params=Sampling(temperature=-1.0))
    assert len(wire.requests) == 1 and not isinstance(caught.value, PromptTooLong)


async def test_context_length_400_is_prompt_too_long():
    wire = Wire(answer(SGLANG_CONTEXT_ERROR, status=400))
    with pytest.raises(PromptTooLong, match="longer than the model's context length") as caught:
        await backend_on(wire).complete("long " * 2000, n=1, params=Sampling())
    assert caught.value.status == 400 and caught.value.backend == "sglang"


async def test_connect_error_gives_unavailable_after_every_retry():
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    wire = Wire(refused)
    with pytest.raises(BackendUnavailable, match=r"sglang\.test:30000") as caught:
        await backend_on(wire, max_retries=2).complete(PROMPT, n=1, params=Sampling())
    assert len(wire.requests) == 3 and caught.value.status == 503


async def test_a_connection_dropped_mid_request_is_unavailable_and_not_resent():
    def dropped(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)

    wire = Wire(dropped)
    with pytest.raises(BackendUnavailable, match="broke off"):
        await backend_on(wire, max_retries=2).complete(PROMPT, n=1, params=Sampling())
    assert len(wire.requests) == 1


async def test_read_timeout_is_backend_timeout_without_retry():
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    wire = Wire(slow)
    with pytest.raises(BackendTimeout):
        await backend_on(wire).complete(PROMPT, n=1, params=Sampling())
    assert len(wire.requests) == 1


async def test_a_passed_deadline_fails_before_sending():
    wire = Wire(answer(sglang_output("x")))
    with pytest.raises(BackendTimeout, match="deadline"):
        await backend_on(wire).complete(PROMPT, n=2, params=Sampling(), deadline=time.monotonic() - 1)
    assert wire.requests == []


async def test_model_is_discovered_once_from_get_model_info():
    def server(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/get_model_info":
            return httpx.Response(200, json={"model_path": MODEL, "tokenizer_path": MODEL, "is_generation": True,
                                             "preferred_sampling_params": None, "weight_version": "default"})
        return httpx.Response(200, json=sglang_output("x"))

    wire = Wire(server)
    backend = backend_on(wire, model=None)
    await backend.complete(PROMPT, n=1, params=Sampling())
    await backend.complete(PROMPT, n=1, params=Sampling())
    assert backend.model == MODEL
    assert [r.url.path for r in wire.requests] == ["/get_model_info", "/generate", "/generate"]


async def test_health_is_true_only_on_200():
    wire = Wire(lambda request: httpx.Response(200 if request.url.path == "/health" else 404))
    assert await backend_on(wire).health() is True
    assert [r.url.path for r in wire.requests] == ["/health"]
    assert await backend_on(Wire(lambda request: httpx.Response(503))).health() is False

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    assert await backend_on(Wire(refused)).health() is False


async def test_render_chat_falls_back_to_chatml_and_continues_a_partial_answer():
    # The tokenizer folder SGLang names is on another machine: not readable here.
    info = {"model_path": "/models/elsewhere", "tokenizer_path": "/models/elsewhere"}
    backend = backend_on(Wire(answer(info)))
    prompt = await backend.render_chat([{"role": "user", "content": "2+2?"}])
    assert "tokenizer folder is not readable" in backend.chat_template_source
    assert prompt == "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
    partial = await backend.render_chat([{"role": "user", "content": "2+2?"},
                                         {"role": "assistant", "content": "Step 1:"}], add_generation_prompt=False)
    assert partial == prompt + "Step 1:"
    await backend.aclose()


async def test_aclose_leaves_an_injected_client_open():
    injected = httpx.AsyncClient(transport=httpx.MockTransport(answer({})))
    await SGLangBackend(BASE, model=MODEL, client=injected).aclose()
    assert not injected.is_closed
    await injected.aclose()
