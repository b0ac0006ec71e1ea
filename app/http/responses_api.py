"""OpenAI's Responses API, `POST /v1/responses`: a reasoning item with the search's
summary, then the answer message; `usage.output_tokens_details.reasoning_tokens`.

With `stream: true` the Responses events go out over SSE while the search runs: the reasoning
item's first summary part grows by one `response.reasoning_summary_text.delta` per search round,
a second part carries the summary of the finished search, then the message streams, and
`response.completed` (`response.incomplete` when no answer was found) carries the whole response."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from app.http.auth import require_api_key
from app.http.routes import AdmissionDep, MetricsDep, ServiceDep, SettingsDep, run_planned
from app.http.streaming import CONTENT_PIECE, failure_of, live_search, sse
from app.protocol import unsupported
from app.protocol.chat import ChatCompletionRequest, ChatMessageIn, Effort, RequestLabels
from app.protocol.render import finish_reason, progress_line
from app.protocol.unsupported import refuse_unsupported
from app.reasoning.service import Plan, ReasoningService, plan_request
from app.reasoning.summarize import Summarized, summarize
from backends.errors import BackendError
from search.driver import SearchFailed, SearchResult

router = APIRouter(dependencies=[Depends(require_api_key)])

# OpenAI's summary settings -> ponder's; "model" asks the model itself (one extra call in the budget).
SUMMARY_LEVELS = {"auto": "concise", "concise": "concise", "detailed": "detailed", "model": "model"}


class ResponsesReasoning(BaseModel):
    model_config = ConfigDict(extra="forbid")
    effort: Effort | None = None
    summary: Literal["auto", "concise", "detailed", "model"] | None = Field(
        default=None, description="auto|concise: a short written account of the search; detailed: with every "
                                  "round; model: the model summarises the search in one extra call within the budget")
    generate_summary: Literal["auto", "concise", "detailed"] | None = Field(
        default=None, description="the former name of summary")


class TextFormat(BaseModel):
    """The Responses API's `text.format`: `json_schema` and `json_object` become the json_schema verifier."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = Field(default=None, max_length=64)
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = Field(default=None, strict=True)

    def as_response_format(self) -> dict[str, Any]:
        if self.type != "json_schema":
            return {"type": self.type}
        return {"type": "json_schema", "json_schema": {"schema": self.schema_ or {"type": "object"}}}


class ResponsesText(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ResponsesRequest(RequestLabels):
    # Every Responses parameter is declared: honoured, accepted as a label, or refused at any value
    # that asks for something ponder cannot do (app/protocol/unsupported.py). A parameter OpenAI lacks is a 400.
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1)
    input: str | list[ChatMessageIn] = Field(min_length=1)
    instructions: str | None = None
    reasoning: ResponsesReasoning | None = None
    max_output_tokens: int | None = Field(default=None, ge=1, strict=True)
    temperature: float | None = Field(default=None, ge=0, le=2, strict=True)
    top_p: float | None = Field(default=None, gt=0, le=1, strict=True)
    stream: bool = Field(default=False, strict=True)
    stream_options: dict[str, Any] | None = None
    text: ResponsesText | None = None
    # Refused unless absent or neutral (app/protocol/unsupported.py says why).
    previous_response_id: Any = None
    conversation: Any = None
    store: Any = None
    background: Any = None
    background_options: Any = None
    include: Any = None
    tools: Any = None
    tool_choice: Any = None
    max_tool_calls: Any = None
    top_logprobs: Any = None
    truncation: Any = None
    prompt: Any = None
    context_management: Any = None
    access_programs: Any = None
    image: Any = None
    service_tier: Any = None
    moderation: Any = None

    def summary_level(self) -> str:
        chosen = self.reasoning and (self.reasoning.summary or self.reasoning.generate_summary)
        return SUMMARY_LEVELS[chosen] if chosen else "concise"


def as_chat(req: ResponsesRequest) -> ChatCompletionRequest:
    refuse_unsupported(req.model_dump(), unsupported.RESPONSES)
    messages: list[dict[str, Any]] = [{"role": "system", "content": req.instructions}] if req.instructions else []
    if isinstance(req.input, str):
        messages.append({"role": "user", "content": req.input})
    else:
        messages.extend({"role": m.role, "content": m.text()} for m in req.input)
    text_format = req.text.format if req.text else None
    return ChatCompletionRequest.model_validate({
        "model": req.model, "messages": messages, "temperature": req.temperature, "top_p": req.top_p,
        "max_completion_tokens": req.max_output_tokens,
        "reasoning_effort": req.reasoning.effort if req.reasoning else None,
        "response_format": text_format.as_response_format() if text_format else None,
        "verbosity": req.text.verbosity if req.text else None,
    })


@dataclass(frozen=True)
class ResponseShell:
    """What stays the same across one response's renderings: ids, the request's echo, the model."""

    req: ResponsesRequest
    model: str
    id: str = field(default_factory=lambda: f"resp_{uuid.uuid4().hex}")
    reasoning_id: str = field(default_factory=lambda: f"rs_{uuid.uuid4().hex}")
    message_id: str = field(default_factory=lambda: f"msg_{uuid.uuid4().hex}")
    created_at: int = field(default_factory=lambda: int(time.time()))

    def response(self, status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None = None,
                 error: dict[str, Any] | None = None) -> dict[str, Any]:
        req = self.req
        return {
            "id": self.id, "object": "response", "created_at": self.created_at, "model": self.model,
            "status": status,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "error": error, "instructions": req.instructions, "metadata": {}, "parallel_tool_calls": False,
            "tool_choice": "none", "tools": [], "temperature": req.temperature, "top_p": req.top_p,
            "max_output_tokens": req.max_output_tokens,
            "reasoning": {"effort": req.reasoning.effort if req.reasoning else None,
                          "summary": req.reasoning.summary if req.reasoning and req.reasoning.summary else "concise"},
            "output": output, "usage": usage,
        }

    def reasoning(self, parts: list[str], status: str) -> dict[str, Any]:
        return {"type": "reasoning", "id": self.reasoning_id, "status": status,
                "summary": [{"type": "summary_text", "text": text} for text in parts]}

    def message(self, text: str | None, status: str) -> dict[str, Any]:
        return {"type": "message", "id": self.message_id, "role": "assistant", "status": status,
                "content": [] if text is None else [output_text(text)]}


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


def usage_object(result: SearchResult) -> dict[str, Any]:
    u = result.usage
    # Every generated token is a reasoning token: the answer is one of the samples.
    return {"input_tokens": u.prompt_tokens, "input_tokens_details": {"cached_tokens": u.cached_tokens},
            "output_tokens": u.completion_tokens, "output_tokens_details": {"reasoning_tokens": u.completion_tokens},
            "total_tokens": u.prompt_tokens + u.completion_tokens}


def render_response(summarized: Summarized, req: ResponsesRequest, model: str) -> dict[str, Any]:
    result = summarized.result
    content = result.outcome.content if result.outcome else ""
    shell = ResponseShell(req, model)
    status = response_status(result)
    return shell.response(
        status, [shell.reasoning([summarized.summary or ""], "completed"), shell.message(content, status)],
        usage_object(result),
    )


def response_status(result: SearchResult) -> str:
    """"incomplete" (max_output_tokens) when the answer was cut short or none was found, as chat's "length"."""
    return "incomplete" if finish_reason(result) == "length" else "completed"


class EventWriter:
    """Frames Responses stream events: `type` and a running `sequence_number` in each, the type as the SSE event."""

    def __init__(self) -> None:
        self.sequence = 0

    def __call__(self, type: str, **fields: Any) -> str:
        frame = sse({"type": type, "sequence_number": self.sequence, **fields}, event=type)
        self.sequence += 1
        return frame


async def stream_response(
    service: ReasoningService, plan: Plan, req: ResponsesRequest, *, model: str,
    on_result: Callable[[SearchResult], Awaitable[None]] | None = None,
    release: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[str]:
    """Yield the Responses API's SSE events while the search runs; cancelling the iterator
    cancels the search. `release` is awaited when the stream ends however it ends."""
    shell = ResponseShell(req, model)
    event = EventWriter()
    rs, msg = shell.reasoning_id, shell.message_id
    try:
        yield event("response.created", response=shell.response("in_progress", []))
        yield event("response.in_progress", response=shell.response("in_progress", []))
        yield event("response.output_item.added", output_index=0, item=shell.reasoning([], "in_progress"))
        parts: list[str] = []

        def finished_part(index: int, text: str, *, streamed: bool) -> Iterator[str]:
            """A summary part's closing events; one not streamed live opens and sends its text first."""
            ids = {"item_id": rs, "output_index": 0, "summary_index": index}
            if not streamed:
                yield event("response.reasoning_summary_part.added", **ids, part={"type": "summary_text", "text": ""})
                yield event("response.reasoning_summary_text.delta", **ids, delta=text)
            yield event("response.reasoning_summary_text.done", **ids, text=text)
            yield event("response.reasoning_summary_part.done", **ids, part={"type": "summary_text", "text": text})

        yield event("response.reasoning_summary_part.added", item_id=rs, output_index=0, summary_index=0,
                    part={"type": "summary_text", "text": ""})
        progress: list[str] = []
        result: SearchResult | None = None
        try:
            async with aclosing(live_search(service, plan)) as items:
                async for item in items:
                    if isinstance(item, SearchResult):
                        result = item
                    else:
                        line = progress_line(item)
                        progress.append(line)
                        yield event("response.reasoning_summary_text.delta", item_id=rs, output_index=0,
                                    summary_index=0, delta=line)
        except (SearchFailed, BackendError) as exc:
            err = failure_of(exc)
            yield event("error", code=err.code or err.type, message=err.message, param=err.param)
            failed = {"code": "server_error" if err.status >= 500 else "invalid_prompt", "message": err.message}
            yield event("response.failed", response=shell.response(
                "failed", [shell.reasoning(["".join(progress)], "incomplete")], error=failed))
            return
        assert result is not None  # live_search ends with the result
        parts.append("".join(progress))
        for frame in finished_part(0, parts[0], streamed=True):
            yield frame
        summarized = await summarize(result, req.summary_level(), plan=plan, backend=service.backend)
        result = summarized.result
        if summarized.summary:
            parts.append(summarized.summary)
            for frame in finished_part(1, summarized.summary, streamed=False):
                yield frame
        reasoning = shell.reasoning(parts, "completed")
        yield event("response.output_item.done", output_index=0, item=reasoning)
        if on_result is not None:
            await on_result(result)

        content = result.outcome.content if result.outcome else ""
        ids = {"item_id": msg, "output_index": 1, "content_index": 0}
        yield event("response.output_item.added", output_index=1, item=shell.message(None, "in_progress"))
        yield event("response.content_part.added", **ids, part=output_text(""))
        for start in range(0, len(content), CONTENT_PIECE):
            yield event("response.output_text.delta", **ids, delta=content[start : start + CONTENT_PIECE], logprobs=[])
        yield event("response.output_text.done", **ids, text=content, logprobs=[])
        yield event("response.content_part.done", **ids, part=output_text(content))
        status = response_status(result)
        message = shell.message(content, status)
        yield event("response.output_item.done", output_index=1, item=message)
        yield event(f"response.{status}", response=shell.response(status, [reasoning, message], usage_object(result)))
    finally:
        if release is not None:
            await release()


@router.post("/v1/responses", operation_id="createResponse", response_model=dict[str, Any], responses={
    200: {"content": {"text/event-stream": {"schema": {
        "type": "string", "description": "with stream: true, the Responses streaming events"}}}}})
async def create_response(body: ResponsesRequest, request: Request, service: ServiceDep, settings: SettingsDep,
                          metrics: MetricsDep, admission: AdmissionDep) -> dict[str, Any] | StreamingResponse:
    plan = plan_request(as_chat(body), settings)
    model = service.backend.model

    async def record(result: SearchResult) -> None:
        metrics.record_search(result, service.backend.name)

    if body.stream:
        held = AsyncExitStack()
        await held.enter_async_context(admission.slot())  # a 429 must come before the stream starts
        frames = stream_response(service, plan, body, model=model, on_result=record, release=held.aclose)
        return StreamingResponse(frames, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    summarized = await run_planned(plan, request, service, admission, body.summary_level())
    await record(summarized.result)
    return render_response(summarized, body, model)
