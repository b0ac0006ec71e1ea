"""OpenAI's Responses API, `POST /v1/responses`: a reasoning item with the search's
summary, then the answer message; `usage.output_tokens_details.reasoning_tokens`."""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from app.auth import require_api_key
from app.errors import ApiError
from app.protocol import ChatCompletionRequest, ChatMessageIn, Effort
from app.render import summary_text
from app.routes import AdmissionDep, MetricsDep, ServiceDep, SettingsDep, run_planned
from app.service import plan_request
from search.driver import SearchResult

router = APIRouter(dependencies=[Depends(require_api_key)])


class ResponsesReasoning(BaseModel):
    model_config = ConfigDict(extra="ignore")
    effort: Effort | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None


class ResponsesRequest(BaseModel):
    # Unknown Responses parameters (store, metadata, ...) are accepted and ignored.
    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1)
    input: str | list[ChatMessageIn] = Field(min_length=1)
    instructions: str | None = None
    reasoning: ResponsesReasoning | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stream: bool = False


def as_chat(req: ResponsesRequest) -> ChatCompletionRequest:
    messages: list[dict[str, Any]] = [{"role": "system", "content": req.instructions}] if req.instructions else []
    if isinstance(req.input, str):
        messages.append({"role": "user", "content": req.input})
    else:
        messages.extend({"role": m.role, "content": m.text()} for m in req.input)
    return ChatCompletionRequest.model_validate({
        "model": req.model, "messages": messages, "temperature": req.temperature,
        "max_completion_tokens": req.max_output_tokens,
        "reasoning_effort": req.reasoning.effort if req.reasoning else None,
    })


def render_response(result: SearchResult, req: ResponsesRequest, model: str) -> dict[str, Any]:
    level = "detailed" if req.reasoning and req.reasoning.summary == "detailed" else "concise"
    summary = summary_text(result, level) or ""
    content = result.outcome.content if result.outcome else ""
    u = result.usage
    complete = bool(content)
    return {
        "id": f"resp_{uuid.uuid4().hex}", "object": "response", "created_at": int(time.time()), "model": model,
        "status": "completed" if complete else "incomplete",
        "incomplete_details": None if complete else {"reason": "max_output_tokens"},
        "error": None, "instructions": req.instructions, "metadata": {}, "parallel_tool_calls": False,
        "tool_choice": "none", "tools": [], "temperature": req.temperature, "top_p": req.top_p,
        "max_output_tokens": req.max_output_tokens,
        "reasoning": {"effort": req.reasoning.effort if req.reasoning else None, "summary": level},
        "output": [
            {"type": "reasoning", "id": f"rs_{uuid.uuid4().hex}",
             "summary": [{"type": "summary_text", "text": summary}]},
            {"type": "message", "id": f"msg_{uuid.uuid4().hex}", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": content, "annotations": []}]},
        ],
        "usage": {"input_tokens": u.prompt_tokens, "input_tokens_details": {"cached_tokens": u.cached_tokens},
                  "output_tokens": u.completion_tokens,
                  "output_tokens_details": {"reasoning_tokens": u.completion_tokens},
                  "total_tokens": u.prompt_tokens + u.completion_tokens},
    }


@router.post("/v1/responses", operation_id="createResponse")
async def create_response(body: ResponsesRequest, request: Request, service: ServiceDep, settings: SettingsDep,
                          metrics: MetricsDep, admission: AdmissionDep) -> dict[str, Any]:
    if body.stream:
        raise ApiError(400, "streaming Responses are not supported yet; use /v1/chat/completions with stream=true",
                       param="stream", code="unsupported_parameter")
    plan = plan_request(as_chat(body), settings)
    result = await run_planned(plan, request, service, admission)
    metrics.record_search(result, service.backend.name)
    return render_response(result, body, service.backend.model)
