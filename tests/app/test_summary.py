"""summary: "model": after the search the model summarises it in one extra call that the budget
pays for; with no budget left (or a failed call) the written summary stands and says why."""

from __future__ import annotations

import json

from app.reasoning.service import Plan
from app.reasoning.summarize import summarize
from backends.errors import BackendUnavailable
from backends.types import Completion, Sample
from sampling import Sampling
from search.charged import Usage
from search.driver import SearchResult
from search.strategies.single import SingleSettings
from search.strategy import Outcome

from .fake_backend import ScriptedBackend
from .test_ops import client_for

MODEL_SUMMARY = "Three samples were drawn and all of them answered 4, so the vote was unanimous."
SUMMARY_TOKENS = 11
SUMMARY_PROMPT_TOKENS = 50


class Summarizing(ScriptedBackend):
    """Answers search calls with the scripted text and the summary call with MODEL_SUMMARY."""

    def __init__(self, fail_summary: bool = False) -> None:
        super().__init__()
        self.fail_summary = fail_summary
        self.summary_calls: list[tuple[str, int]] = []  # (prompt, max_tokens)

    async def complete(self, prompt, *, n, params, deadline=None):
        if "Search record:" not in prompt:
            return await super().complete(prompt, n=n, params=params, deadline=deadline)
        self.summary_calls.append((prompt, params.max_tokens))
        if self.fail_summary:
            raise BackendUnavailable("connection refused", backend=self.name)
        return Completion(samples=(Sample(MODEL_SUMMARY, min(params.max_tokens, SUMMARY_TOKENS), "stop"),),
                          prompt_tokens=SUMMARY_PROMPT_TOKENS, backend=self.name)


def reason_body(summary: str, tokens: int = 500) -> dict:
    return {"problem": "2+2?", "strategy": "self_consistency", "n": 3, "budget": {"tokens": tokens},
            "summary": summary}


async def test_reason_with_a_model_summary_returns_the_models_text_and_counts_its_tokens():
    backend = Summarizing()
    async with client_for(backend) as http:
        written = (await http.post("/v1/reason", json=reason_body("concise"))).json()
        r = await http.post("/v1/reason", json=reason_body("model"))
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["summary"] == MODEL_SUMMARY and data["answer"] == written["answer"] == "4"
    usage, before = data["usage"], written["usage"]
    assert usage["completion_tokens"] == before["completion_tokens"] + SUMMARY_TOKENS
    assert usage["completion_tokens_details"]["reasoning_tokens"] == usage["completion_tokens"]
    assert usage["prompt_tokens"] == before["prompt_tokens"] + SUMMARY_PROMPT_TOKENS
    [(prompt, max_tokens)] = backend.summary_calls  # the concise request made no summary call
    assert "2+2?" in prompt and "chosen: 4" in prompt and "The answer is \\boxed{4}" in prompt
    assert "round 1" in prompt  # the detailed summary, with the search's rounds
    assert max_tokens == 200  # 21 of 500 tokens spent: the summary's own cap applies


async def test_the_model_summary_gets_no_more_than_the_budget_left():
    backend = Summarizing()
    async with client_for(backend) as http:
        r = await http.post("/v1/reason", json=reason_body("model", tokens=21 + 40))
    assert r.json()["summary"] == MODEL_SUMMARY
    assert [max_tokens for _, max_tokens in backend.summary_calls] == [40]
    assert r.json()["usage"]["completion_tokens"] <= 61


async def test_a_spent_budget_falls_back_to_the_written_summary_and_says_so():
    backend = Summarizing()
    async with client_for(backend) as http:
        written = (await http.post("/v1/reason", json=reason_body("concise", tokens=21))).json()
        data = (await http.post("/v1/reason", json=reason_body("model", tokens=21))).json()
    assert backend.summary_calls == []
    assert data["summary"].startswith(written["summary"])
    # n=3 samples of up to 7 tokens reserve 21: one sample fits, and 14 tokens are too few for a summary
    assert "not by the model: the token budget is spent (14 of 21 left)" in data["summary"]
    assert data["usage"] == written["usage"]


async def test_a_failed_summary_call_keeps_the_answer_and_the_written_summary():
    async with client_for(Summarizing(fail_summary=True)) as http:
        r = await http.post("/v1/reason", json=reason_body("model"))
    assert r.status_code == 200 and r.json()["answer"] == "4"
    assert "chosen: 4" in r.json()["summary"] and "the summary call failed (BackendUnavailable" in r.json()["summary"]


async def test_chat_completions_with_a_model_summary_streamed_and_not():
    body = {"model": "m", "messages": [{"role": "user", "content": "2+2?"}],
            "reasoning": {"strategy": "self_consistency", "n": 3, "budget_tokens": 500, "summary": "model"}}
    async with client_for(Summarizing()) as http:
        plain = (await http.post("/v1/chat/completions", json=body)).json()
        written = (await http.post("/v1/chat/completions", json={
            **body, "reasoning": {**body["reasoning"], "summary": "concise"}})).json()
        streamed = await http.post("/v1/chat/completions", json={
            **body, "stream": True, "stream_options": {"include_usage": True}})
    assert plain["choices"][0]["message"]["reasoning_content"] == MODEL_SUMMARY
    assert plain["usage"]["completion_tokens"] == written["usage"]["completion_tokens"] + SUMMARY_TOKENS
    chunks = [json.loads(line[6:]) for line in streamed.text.splitlines()
              if line.startswith("data: ") and line != "data: [DONE]"]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    reasoning = [d["reasoning_content"] for d in deltas if d.get("reasoning_content")]
    first_content = next(i for i, d in enumerate(deltas) if d.get("content"))
    assert reasoning[-1] == f"summary: {MODEL_SUMMARY}\n" and reasoning[0].startswith("round 1")
    assert deltas.index(next(d for d in deltas if d.get("reasoning_content") == reasoning[-1])) < first_content
    assert chunks[-1]["usage"] == plain["usage"]


async def test_responses_map_openai_summary_settings_and_accept_model():
    body = {"model": "m", "input": "2+2?", "reasoning": {"effort": "low", "summary": "model"}}
    async with client_for(Summarizing()) as http:
        plain = (await http.post("/v1/responses", json=body)).json()
        auto = (await http.post("/v1/responses", json={**body, "reasoning": {"effort": "low", "summary": "auto"}}))
        streamed = await http.post("/v1/responses", json={**body, "stream": True})
        bad = await http.post("/v1/responses", json={**body, "reasoning": {"summary": "verbose"}})
    assert plain["output"][0]["summary"][0]["text"] == MODEL_SUMMARY
    auto_usage = auto.json()["usage"]
    assert auto.json()["output"][0]["summary"][0]["text"].startswith("strategy: auto:")
    assert plain["usage"]["output_tokens"] == auto_usage["output_tokens"] + SUMMARY_TOKENS
    assert plain["usage"]["input_tokens"] == auto_usage["input_tokens"] + SUMMARY_PROMPT_TOKENS
    events = [json.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: ")]
    model_part = [e for e in events if e["type"] == "response.reasoning_summary_text.done" and e["summary_index"] == 1]
    assert [e["text"] for e in model_part] == [MODEL_SUMMARY]
    assert events[-1]["type"] == "response.completed" and events[-1]["response"]["usage"] == plain["usage"]
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "reasoning.summary"


async def test_the_effort_none_tier_has_no_call_left_for_a_model_summary():
    backend = Summarizing()
    async with client_for(backend) as http:
        r = await http.post("/v1/responses", json={"model": "m", "input": "2+2?",
                                                   "reasoning": {"effort": "none", "summary": "model"}})
    assert backend.summary_calls == []  # the tier allows one backend call, and the answer took it
    assert r.json()["output"][0]["summary"][0]["text"].endswith("the call budget is spent (1 of 1 calls made))")


def finished(*, tokens: int, calls: int, elapsed_s: float) -> SearchResult:
    outcome = Outcome(answer="4", content="The answer is 4", confidence=1.0)
    return SearchResult(strategy="single", outcome=outcome, usage=Usage(completion_tokens=tokens, calls=calls),
                        stop_reason="done", rounds=1, elapsed_s=elapsed_s)


def plan(*, budget_tokens: int = 1000, max_calls: int = 8, deadline_s: float | None = None) -> Plan:
    return Plan(strategy="single", effort="none", settings=SingleSettings(),
                messages=[{"role": "user", "content": "2+2?"}], budget_tokens=budget_tokens, max_calls=max_calls,
                deadline_s=deadline_s, sampling=Sampling(max_tokens=512))


async def test_no_summary_call_once_the_calls_or_the_deadline_are_spent():
    backend = Summarizing()
    no_calls = await summarize(finished(tokens=10, calls=8, elapsed_s=1.0), "model", plan=plan(), backend=backend)
    late = await summarize(finished(tokens=10, calls=1, elapsed_s=5.0), "model", plan=plan(deadline_s=4.0),
                           backend=backend)
    in_time = await summarize(finished(tokens=10, calls=1, elapsed_s=1.0), "model", plan=plan(deadline_s=4.0),
                              backend=backend)
    assert "the call budget is spent (8 of 8 calls made)" in no_calls.summary and not no_calls.by_model
    assert "the deadline has passed" in late.summary and late.result.usage.calls == 1
    assert in_time.summary == MODEL_SUMMARY and in_time.by_model
    assert in_time.result.usage.calls == 2 and in_time.result.usage.completion_tokens == 10 + SUMMARY_TOKENS
    assert len(backend.summary_calls) == 1
