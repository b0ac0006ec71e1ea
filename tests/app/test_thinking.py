"""A thinking model as the policy, behind a scripted OpenAI-compatible server (what cannot run here:
a real thinking model). Its samples think in <think> tags full of decoy answers, then answer."""

from __future__ import annotations

import json

import httpx

from rewards.thinking import split_thinking
from tests.backends.test_openai_compat import backend_on, vllm_completion
from tests.backends.wire import Wire

from .test_ops import client_for

QUESTION = [{"role": "user", "content": "What is the answer to life, the universe and everything?"}]
THOUGHT_TOKENS = 2100  # a long chain: more than the CPU tiers' default cap of 512 per sample


def thinking_server() -> Wire:
    """Each sample thinks (a boxed decoy that differs per sample, and 2,100 tokens of it), then answers 42."""
    served = {"samples": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/v1/completions":
            return httpx.Response(404, json={"detail": "Not Found"})  # no template to show: ChatML
        body = json.loads(request.content)
        texts = []
        for _ in range(body["n"]):
            served["samples"] += 1
            decoy = 50 + served["samples"]
            texts.append(f"<think>First guess: \\boxed{{{decoy}}}. " + "hmm " * 40
                         + f"No, {decoy} is wrong.</think>\n\nThe answer is 42.")
        return httpx.Response(200, json=vllm_completion(texts, completion_tokens=THOUGHT_TOKENS * len(texts)))

    return Wire(handler)


async def test_the_vote_reads_final_answers_and_the_content_holds_no_thinking():
    wire = thinking_server()
    async with client_for(backend_on(wire)) as http:
        reply = await http.post("/v1/chat/completions", json={
            "model": "m", "messages": QUESTION,
            "reasoning": {"strategy": "self_consistency", "n": 3, "budget_tokens": 20_000,
                          "max_tokens_per_sample": 4096}})
    assert reply.status_code == 200, reply.text
    data = reply.json()
    message = data["choices"][0]["message"]
    assert data["ponder"]["answer"] == "42"  # the boxed decoys in the chains do not vote
    assert [c["answer"] for c in data["ponder"]["candidates"]] == ["42"]
    assert "<think>" not in message["content"] and "guess" not in message["content"]
    assert message["content"] == "The answer is 42."
    samples = sum(b["n"] for b in wire.bodies())
    assert data["usage"]["completion_tokens"] == THOUGHT_TOKENS * samples  # thinking is counted
    assert data["usage"]["completion_tokens_details"]["reasoning_tokens"] == THOUGHT_TOKENS * samples
    # The request's per-sample cap reached the server: a 2,100-token chain is not cut at 512.
    assert {b["max_tokens"] for b in wire.bodies()} == {4096}
    assert data["choices"][0]["finish_reason"] == "stop"


async def test_without_the_split_the_decoys_would_win_and_a_verifier_checks_the_final_text():
    wire = thinking_server()
    async with client_for(backend_on(wire), reasoning_parser="none") as http:
        reply = await http.post("/v1/chat/completions", json={
            "model": "m", "messages": QUESTION, "reasoning": {"strategy": "single"}})
    assert reply.json()["ponder"]["answer"] == "51"  # what reading the chain would vote for
    async with client_for(backend_on(thinking_server())) as http:
        checked = await http.post("/v1/chat/completions", json={
            "model": "m", "messages": QUESTION,
            "reasoning": {"strategy": "best_of_n", "n": 2, "verifier": {"type": "math_equiv", "reference": "42"}}})
    assert checked.json()["ponder"]["confidence"] == 1.0  # passed on its final text


def test_split_thinking():
    assert split_thinking("<think>a 1</think>\nb 2") == ("a 1", "b 2")
    assert split_thinking("opened in the prompt</think>final") == ("opened in the prompt", "final")
    assert split_thinking("<think>cut short, 7") == ("cut short, 7", "")  # no answer yet
    assert split_thinking("no tags 3") == ("", "no tags 3")
    assert split_thinking("<think>x</think>y", "none") == ("", "<think>x</think>y")
