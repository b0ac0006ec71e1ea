"""ponder's native endpoint, `POST /v1/reason`, and `GET /v1/traces/{id}`."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from app.http.auth import caller_of, require_api_key
from app.http.routes import AdmissionDep, MetricsDep, ServiceDep, SettingsDep, TracesDep, run_planned
from app.protocol.chat import ChatCompletionRequest, ChatMessageIn, Effort, UsageOut
from app.protocol.errors import ApiError
from app.protocol.render import event_json, tree_records, usage_of
from app.protocol.verifier_specs import VerifierSpec
from app.reasoning.service import plan_request
from app.traces.store import trace_record

router = APIRouter(dependencies=[Depends(require_api_key)])


class ReasonBudget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tokens: int | None = Field(default=None, ge=1, strict=True)
    calls: int | None = Field(default=None, ge=1, strict=True)
    deadline_s: float | None = Field(default=None, ge=0.05, strict=True,
                                     description="seconds; at least 0.05 (less leaves no time to call a model)")


class ReasonRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    problem: str | list[ChatMessageIn] = Field(min_length=1)
    effort: Effort | None = None
    budget: ReasonBudget | None = None
    strategy: str | None = None
    verifier: VerifierSpec | None = None
    n: int | None = Field(default=None, ge=1, strict=True)
    settings: dict[str, Any] | None = Field(default=None, max_length=64,
                                            description="the strategy's own settings, as `reasoning.settings`")
    seed: int | None = Field(default=None, strict=True)
    temperature: float | None = Field(default=None, ge=0, le=2, strict=True)
    summary: Literal["none", "concise", "detailed", "model"] = Field(
        default="concise", description="model: the model summarises the search in one extra call within the budget")
    trace: bool = Field(default=False, strict=True)


class Candidate(BaseModel):
    answer: str
    votes: float
    score: float | None = None


class ReasonResponse(BaseModel):
    id: str
    object: Literal["reasoning.result"] = "reasoning.result"
    answer: str | None
    content: str
    confidence: float
    candidates: list[Candidate]
    strategy: str
    stop_reason: str
    summary: str | None
    trace: list[dict[str, Any]] | None = None
    tree: list[dict[str, Any]] | None = None
    usage: UsageOut


def as_chat(req: ReasonRequest) -> ChatCompletionRequest:
    messages = [{"role": "user", "content": req.problem}] if isinstance(req.problem, str) else [
        m.model_dump() for m in req.problem]
    budget = req.budget or ReasonBudget()
    reasoning = {"strategy": req.strategy, "effort": req.effort, "budget_tokens": budget.tokens,
                 "max_calls": budget.calls, "deadline_s": budget.deadline_s, "n": req.n, "settings": req.settings,
                 "verifier": req.verifier.model_dump(by_alias=True) if req.verifier else None}
    return ChatCompletionRequest.model_validate({
        "model": "ponder", "messages": messages, "seed": req.seed, "temperature": req.temperature,
        "reasoning": {k: v for k, v in reasoning.items() if v is not None},
    })


@router.post("/v1/reason", response_model=ReasonResponse, operation_id="reason")
async def reason(body: ReasonRequest, request: Request, service: ServiceDep, settings: SettingsDep,
                 metrics: MetricsDep, admission: AdmissionDep, traces: TracesDep) -> ReasonResponse:
    plan = plan_request(as_chat(body), settings)
    summarized = await run_planned(plan, request, service, admission, body.summary)
    result = summarized.result
    metrics.record_search(result, service.backend.name)
    outcome = result.outcome
    response = ReasonResponse(
        id=f"reason-{uuid.uuid4().hex}", answer=outcome.answer if outcome else None,
        content=outcome.content if outcome else "", confidence=outcome.confidence if outcome else 0.0,
        candidates=[Candidate(answer=c.answer, votes=c.votes, score=c.score)
                    for c in (outcome.candidates if outcome else ())],
        strategy=result.strategy, stop_reason=result.stop_reason, summary=summarized.summary,
        trace=[event_json(e) for e in result.events] if body.trace else None,
        tree=tree_records(result) if body.trace else None,
        usage=usage_of(result),
    )
    if body.trace or settings.keep_all_traces:
        await traces.put(response.id, trace_record(response.id, result, plan.messages), owner=caller_of(request))
    return response


@router.get("/v1/traces/{trace_id}", operation_id="getTrace")
async def get_trace(trace_id: str, request: Request, traces: TracesDep) -> dict[str, Any]:
    found = await traces.get(trace_id, caller_of(request))  # another key's trace is a 404 too: existence does not leak
    if found is None:
        raise ApiError(404, f"no trace {trace_id!r}", type="not_found_error",
                       param="trace_id")
    return found
