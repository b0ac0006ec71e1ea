"""`POST /v1/responses` with `stream: true`: OpenAI's Responses streaming events, live while the
search runs, parsed by the official SDK; errors mid-stream; a client that leaves stops the search."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import openai
import pytest
import uvicorn
from openai.types.responses import (
    ResponseCompletedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseTextDeltaEvent,
)

from app.compose.gateway import create_app
from app.settings import load_settings
from backends.errors import BackendUnavailable
from backends.types import Completion, Sample
from bench.local_server import free_port
from search.programs import PROGRAM_OPENING

from .fake_backend import ScriptedBackend
from .test_ops import client_for

BODY = {"model": "m", "input": "2+2?", "reasoning": {"effort": "low"}}

REASONING_OPEN = ["response.created", "response.in_progress", "response.output_item.added",
                  "response.reasoning_summary_part.added"]
REASONING_CLOSE = ["response.reasoning_summary_text.done", "response.reasoning_summary_part.done",
                   "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
                   "response.reasoning_summary_text.done", "response.reasoning_summary_part.done",
                   "response.output_item.done"]
MESSAGE_OPEN = ["response.output_item.added", "response.content_part.added"]
MESSAGE_CLOSE = ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                 "response.completed"]


class Disagreeing(ScriptedBackend):
    """Samples that name different answers, so the auto strategy keeps sampling for several rounds.
    The answers depend on each prompt's own call count, not on the order of concurrent calls. Programs
    (prompts that open a code block) print theirs."""

    async def complete(self, prompt, *, n, params, deadline=None):
        done = await super().complete(prompt, n=n, params=params, deadline=deadline)
        calls = self.prompts.count(prompt) + len(prompt)  # a fresh backend per request repeats its answers
        form = "print({})\n```" if prompt.endswith(PROGRAM_OPENING) else "so it is \\boxed{{{}}}"
        samples = tuple(Sample(form.format((calls * 7 + i) % 3), s.completion_tokens, "stop")
                        for i, s in enumerate(done.samples))
        return Completion(samples=samples, prompt_tokens=done.prompt_tokens, cached_tokens=done.cached_tokens,
                          backend=self.name)


def parse_sse(text: str) -> list[tuple[str, dict]]:
    frames = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        frames.append((lines["event"], json.loads(lines["data"])))
    return frames


def expected_types(frames: list[dict]) -> list[str]:
    """The event sequence for this many progress and content deltas."""
    progress = sum(1 for f in frames
                   if f["type"] == "response.reasoning_summary_text.delta" and f["summary_index"] == 0)
    content = sum(1 for f in frames if f["type"] == "response.output_text.delta")
    return (REASONING_OPEN + ["response.reasoning_summary_text.delta"] * progress + REASONING_CLOSE
            + MESSAGE_OPEN + ["response.output_text.delta"] * content + MESSAGE_CLOSE)


async def test_streamed_events_come_in_order_numbered_and_end_with_the_full_response():
    async with client_for(Disagreeing()) as http:
        r = await http.post("/v1/responses", json={**BODY, "stream": True})
    async with client_for(Disagreeing()) as http:
        plain = (await http.post("/v1/responses", json=BODY)).json()
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    frames = parse_sse(r.text)
    assert all(event == data["type"] for event, data in frames)  # the SSE event line names the type
    events = [data for _, data in frames]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events] == expected_types(events)

    progress = [e["delta"] for e in events
                if e["type"] == "response.reasoning_summary_text.delta" and e["summary_index"] == 0]
    assert len(progress) >= 4 and progress[0].startswith("round 1:") and "round 2" in "".join(progress)
    done = [e for e in events if e["type"] == "response.reasoning_summary_text.done"]
    assert done[0]["text"] == "".join(progress) and done[1]["text"].startswith("strategy: auto:")
    content = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert content and content == next(e["text"] for e in events if e["type"] == "response.output_text.done")

    final = events[-1]["response"]
    assert final["status"] == "completed" and final["id"] == events[0]["response"]["id"]
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    reasoning, message = final["output"]
    assert [p["text"] for p in reasoning["summary"]] == [d["text"] for d in done]
    assert message["content"][0]["text"] == content
    item_ids = {e.get("item_id") for e in events} - {None}
    assert item_ids == {reasoning["id"], message["id"]}
    # the same scripted search, not streamed, spends the same tokens and gives the same answer
    assert final["usage"] == plain["usage"] and plain["output"][1]["content"][0]["text"] == content
    usage = final["usage"]
    assert usage["output_tokens"] == usage["output_tokens_details"]["reasoning_tokens"] > 0
    assert 0 < usage["input_tokens_details"]["cached_tokens"] < usage["input_tokens"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]



async def test_an_answer_cut_by_max_output_tokens_is_incomplete_streamed_or_not():
    cut = {**BODY, "max_output_tokens": 5}  # the scripted answer needs 7 tokens
    async with client_for(ScriptedBackend()) as http:
        plain = (await http.post("/v1/responses", json=cut)).json()
        streamed = parse_sse((await http.post("/v1/responses", json={**cut, "stream": True})).text)
        whole = (await http.post("/v1/responses", json=BODY)).json()
    final_event, final = streamed[-1]
    assert final_event == "response.incomplete" and final["response"]["status"] == "incomplete"
    for response in (plain, final["response"]):
        assert response["status"] == "incomplete" and response["output"][1]["status"] == "incomplete"
        assert response["incomplete_details"] == {"reason": "max_output_tokens"}
        assert response["output"][1]["content"][0]["text"]  # the text so far is still given
    assert whole["status"] == "completed" and whole["incomplete_details"] is None

def sdk_client(app) -> openai.AsyncOpenAI:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ponder/v1")
    return openai.AsyncOpenAI(api_key="unused", base_url="http://ponder/v1", http_client=http)


async def test_the_openai_sdk_parses_the_stream_and_its_helper_accumulates_it():
    app = create_app(load_settings(), backend=Disagreeing())
    async with app.router.lifespan_context(app):
        client = sdk_client(app)
        stream = await client.responses.create(model="m", input="2+2?", reasoning={"effort": "low"}, stream=True)
        events = [event async for event in stream]
        await client.close()
    app = create_app(load_settings(), backend=Disagreeing())
    async with app.router.lifespan_context(app):
        client = sdk_client(app)
        async with client.responses.stream(model="m", input="2+2?", reasoning={"effort": "low"}) as helper:
            accumulated = await helper.get_final_response()
        await client.close()
    deltas = [e for e in events if isinstance(e, ResponseReasoningSummaryTextDeltaEvent)]
    assert len(deltas) >= 4 and all(e.item_id == events[2].item.id for e in deltas)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert any(isinstance(e, ResponseTextDeltaEvent) for e in events)
    last = events[-1]
    assert isinstance(last, ResponseCompletedEvent)
    response = last.response
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.output_text and response.output[0].summary[1].text.startswith("strategy:")
    usage = response.usage
    assert usage.output_tokens == usage.output_tokens_details.reasoning_tokens > 0
    assert usage.input_tokens_details.cached_tokens > 0
    # the SDK's streaming helper checks item identities as it accumulates, and agrees on the result
    assert accumulated.output_text == response.output_text and accumulated.usage.output_tokens == usage.output_tokens


async def test_a_search_that_fails_ends_the_stream_with_error_and_response_failed():
    class Down(ScriptedBackend):
        async def complete(self, prompt, *, n, params, deadline=None):
            raise BackendUnavailable("connection refused", backend=self.name)

    app = create_app(load_settings(), backend=Down())
    async with app.router.lifespan_context(app):
        client = sdk_client(app)
        stream = await client.responses.create(model="m", input="2+2?", reasoning={"effort": "none"}, stream=True)
        events = [event async for event in stream]
        await client.close()
    assert [e.type for e in events][:4] == REASONING_OPEN
    error, failed = events[-2:]
    assert isinstance(error, ResponseErrorEvent) and error.code == "backend_unavailable"
    assert "connection refused" in error.message
    assert isinstance(failed, ResponseFailedEvent) and failed.response.status == "failed"
    assert failed.response.error.code == "server_error"
    assert [e.sequence_number for e in events] == list(range(len(events)))


async def test_invalid_streaming_requests_fail_before_the_stream_starts():
    async with client_for(ScriptedBackend()) as http:
        r = await http.post("/v1/responses", json={**BODY, "stream": True, "reasoning": {"effort": "extreme"}})
        assert r.status_code == 400 and r.json()["error"]["param"] == "reasoning.effort"
        r = await http.post("/v1/responses", json={**BODY, "stream": True, "temperature": 5})
        assert r.status_code == 400 and r.headers["content-type"].startswith("application/json")
        assert r.json()["error"]["param"] == "temperature"


class Gated(Disagreeing):
    """Round one's calls (the low tier's probe: greedy, then two samples) answer at once;
    later calls wait until the test opens the gate."""

    ROUND_ONE_CALLS = 2

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = 0
        self.passed_gate = 0
        self.cancelled = 0
        self.timed_out = False

    async def complete(self, prompt, *, n, params, deadline=None):
        self.entered += 1
        if self.entered > self.ROUND_ONE_CALLS:
            try:
                if not await asyncio.to_thread(self.gate.wait, 20):
                    self.timed_out = True
                    raise BackendUnavailable("the test never opened the gate", backend=self.name)
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            self.passed_gate += 1
        return await super().complete(prompt, n=n, params=params, deadline=deadline)


@pytest.fixture()
def live_gated():
    backend = Gated()
    port = free_port()
    app = create_app(load_settings(), backend=backend)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", backend
    backend.gate.set()
    server.should_exit = True
    thread.join(timeout=10)


def events_of(lines):
    for line in lines:
        if line.startswith("data: "):
            yield json.loads(line[6:])


def test_round_one_is_streamed_while_the_search_is_still_waiting_on_round_two(live_gated):
    url, backend = live_gated
    with httpx.Client(timeout=30) as client:
        with client.stream("POST", f"{url}/v1/responses", json={**BODY, "stream": True}) as r:
            events = events_of(r.iter_lines())
            seen = []
            for event in events:
                seen.append(event)
                if event["type"] == "response.reasoning_summary_text.delta" and "round 1 done" in event["delta"]:
                    break
            # round two cannot finish before the gate opens, so this was not held back until the end
            assert backend.passed_gate == 0 and not backend.gate.is_set() and not backend.timed_out
            assert all(e["type"] != "response.completed" for e in seen)
            backend.gate.set()
            rest = list(events)
    assert rest[-1]["type"] == "response.completed" and backend.passed_gate >= 1 and not backend.timed_out
    assert "round 2" in rest[-1]["response"]["output"][0]["summary"][0]["text"]


def test_a_streaming_client_that_leaves_cancels_the_search(live_gated):
    url, backend = live_gated
    with httpx.Client(timeout=30) as client:
        with client.stream("POST", f"{url}/v1/responses", json={**BODY, "stream": True}) as r:
            for event in events_of(r.iter_lines()):
                if event["type"] == "response.reasoning_summary_text.delta" and "round 1 done" in event["delta"]:
                    break
    for _ in range(200):  # the server notices the closed connection and cancels the waiting call
        if backend.cancelled:
            break
        time.sleep(0.05)
    assert backend.cancelled >= 1 and backend.passed_gate == 0 and not backend.timed_out
