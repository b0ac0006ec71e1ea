"""Token-id prompts through vLLM's /tokenize, at the network edge (vLLM-shaped JSON)."""

from __future__ import annotations

import json

import httpx

from sampling import Sampling
from tests.backends.test_openai_compat import backend_on, vllm_completion
from tests.backends.wire import Wire

PARAMS = Sampling(max_tokens=8)
BOS = 1


def fake_ids(text: str, add_special_tokens: bool) -> list[int]:
    """A character-level tokenizer: one id per character, a BOS in front when special tokens are added."""
    return ([BOS] if add_special_tokens else []) + [ord(c) for c in text]


def vllm(tokenize_status: list[int] | None = None):
    statuses = list(tokenize_status or [])

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        if request.url.path == "/tokenize":
            status = statuses.pop(0) if statuses else 200
            if status != 200:
                return httpx.Response(status, json={"detail": "Not Found"} if status == 404 else
                                      {"error": {"message": "boom", "type": "InternalServerError", "code": status}})
            tokens = fake_ids(body["prompt"], body["add_special_tokens"])
            return httpx.Response(200, json={"count": len(tokens), "max_model_len": 2048, "tokens": tokens,
                                             "token_strs": None})
        if request.url.path == "/detokenize":
            return httpx.Response(200, json={"prompt": "".join("" if i == BOS else chr(i) for i in body["tokens"])})
        return httpx.Response(200, json=vllm_completion(["ok"], prompt_tokens=3))

    return Wire(handle)


async def test_a_prompt_goes_as_ids_and_a_longer_one_tokenises_only_what_it_adds():
    wire = vllm()
    backend = backend_on(wire, token_prompts=True)
    await backend.complete("<|im_start|>user\nhi", n=1, params=PARAMS)
    await backend.complete("<|im_start|>user\nhi<|im_end|>\nstep", n=1, params=PARAMS)
    await backend.complete("<|im_start|>user\nhi<|im_end|>\nstep", n=1, params=PARAMS)  # known: no /tokenize
    sent = wire.bodies()
    first = fake_ids("<|im_start|>user\nhi", True)
    assert sent[0]["prompt"] == first
    assert sent[1]["prompt"] == first + fake_ids("<|im_end|>\nstep", False)  # the parent's ids, then the rest
    assert sent[2]["prompt"] == sent[1]["prompt"]
    tokenised = wire.bodies("/tokenize")
    assert [(b["prompt"], b["add_special_tokens"]) for b in tokenised] == [
        ("<|im_start|>user\nhi", True), ("<|im_end|>\nstep", False)]
    assert all(b["model"] for b in tokenised)


async def test_a_server_without_tokenize_gets_text_and_is_not_asked_again():
    wire = vllm(tokenize_status=[404])
    backend = backend_on(wire, token_prompts=True)
    await backend.complete("2+2?", n=1, params=PARAMS)
    await backend.complete("2+2? Four", n=1, params=PARAMS)
    assert [b["prompt"] for b in wire.bodies()] == ["2+2?", "2+2? Four"]
    assert len(wire.bodies("/tokenize")) == 1


async def test_a_server_error_after_it_worked_sends_that_prompt_as_text_and_keeps_ids_on():
    wire = vllm(tokenize_status=[200, 500, 500, 500])  # the second prompt fails every retry
    backend = backend_on(wire, token_prompts=True, max_retries=2)
    await backend.complete("2+2?", n=1, params=PARAMS)
    await backend.complete("2+2? Four", n=1, params=PARAMS)
    await backend.complete("2+2? Four.", n=1, params=PARAMS)
    prompts = [b["prompt"] for b in wire.bodies()]
    assert prompts[0] == fake_ids("2+2?", True) and prompts[1] == "2+2? Four"
    assert prompts[2] == fake_ids("2+2?", True) + fake_ids(" Four.", False)


async def test_off_by_default_for_a_plain_backend():
    wire = vllm()
    await backend_on(wire).complete("2+2?", n=1, params=PARAMS)
    assert wire.bodies()[0]["prompt"] == "2+2?" and wire.bodies("/tokenize") == []


def spelling(handle_ids):
    """A /detokenize for the fake tokenizer; `handle_ids` may change what it spells."""
    def detok(ids):
        return handle_ids("".join("" if i == BOS else chr(i) for i in ids))
    return detok


def vllm_with_detokenize(spell=lambda text: text, tokens_answer=None):
    inner = vllm()

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        if request.url.path == "/detokenize":
            return httpx.Response(200, json={"prompt": spelling(spell)(body["tokens"])})
        if request.url.path == "/tokenize" and tokens_answer is not None:
            return httpx.Response(200, json=tokens_answer)
        return inner.handler(request)

    return Wire(handle)


async def test_the_first_join_is_checked_once_and_a_tokenizer_that_respells_joins_is_turned_off():
    fine = vllm_with_detokenize()
    backend = backend_on(fine, token_prompts=True)
    for prompt in ("ab", "abc", "abcd"):
        await backend.complete(prompt, n=1, params=PARAMS)
    assert len(fine.bodies("/detokenize")) == 1 and isinstance(fine.bodies()[-1]["prompt"], list)

    # A SentencePiece-style tokenizer marks every piece's start: the joined ids spell "ab c", not "abc".
    respelt = vllm_with_detokenize(spell=lambda text: text.replace("abc", "ab c"))
    backend = backend_on(respelt, token_prompts=True)
    await backend.complete("ab", n=1, params=PARAMS)
    await backend.complete("abc", n=1, params=PARAMS)
    await backend.complete("abcd", n=1, params=PARAMS)
    assert [b["prompt"] for b in respelt.bodies()] == [fake_ids("ab", True), "abc", "abcd"]


async def test_no_ids_for_text_turns_token_prompts_off():
    # llama.cpp's server reads `content`, not `prompt`, and answers an empty token list.
    wire = vllm_with_detokenize(tokens_answer={"tokens": []})
    backend = backend_on(wire, token_prompts=True)
    await backend.complete("2+2?", n=1, params=PARAMS)
    await backend.complete("2+2? Four", n=1, params=PARAMS)
    assert [b["prompt"] for b in wire.bodies()] == ["2+2?", "2+2? Four"]
    assert backend.token_prompts is not None and not backend.token_prompts.enabled


async def test_an_unreachable_tokenize_sends_that_prompt_as_text():
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/tokenize":
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json=vllm_completion(["ok"], prompt_tokens=3))

    wire = Wire(handle)
    backend = backend_on(wire, token_prompts=True, max_retries=0)
    done = await backend.complete("2+2?", n=1, params=PARAMS)
    assert done.samples[0].text == "ok" and wire.bodies()[0]["prompt"] == "2+2?"
    assert backend.token_prompts is not None and backend.token_prompts.enabled
