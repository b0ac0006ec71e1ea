"""Thin routers: validate, plan, run, render."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.http.auth import caller_of, require_api_key
from app.http.streaming import failure_of, stream_chat
from app.ops.admission import Admission
from app.ops.metrics import Metrics
from app.protocol.chat import ChatCompletion, ChatCompletionRequest, ChoiceOut, MessageOut, ModelCard, ModelList
from app.protocol.errors import ApiError
from app.protocol.render import finish_reason, ponder_info, usage_of
from app.reasoning.service import Plan, ReasoningService, plan_request
from app.reasoning.summarize import Summarized, summarize
from app.settings import Settings
from app.traces.live import LiveSearches
from app.traces.store import TraceStore, trace_record
from search.driver import Emit, SearchFailed, SearchResult

DISCONNECT_POLL_S = 0.25
T = TypeVar("T")

router = APIRouter(dependencies=[Depends(require_api_key)])
open_router = APIRouter()


def get_service(request: Request) -> ReasoningService:
    service: ReasoningService | None = getattr(request.app.state, "service", None)
    if service is None:
        raise ApiError(503, "the backend is not ready", type="backend_error", code="not_ready")
    return service


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics  # type: ignore[no-any-return]


def get_admission(request: Request) -> Admission:
    return request.app.state.admission  # type: ignore[no-any-return]


def get_traces(request: Request) -> TraceStore:
    return request.app.state.traces  # type: ignore[no-any-return]


def get_live(request: Request) -> LiveSearches:
    return request.app.state.live  # type: ignore[no-any-return]


async def unless_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """Run `work` (a search), cancelling it (no further backend calls) if the client goes away."""
    task = asyncio.create_task(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
            if done:
                return task.result()
            if await request.is_disconnected():
                task.cancel()
                raise ApiError(499, "the client closed the request", code="client_closed_request")
    finally:
        if not task.done():
            task.cancel()


async def run_planned(plan: Plan, request: Request, service: ReasoningService, admission: Admission,
                      summary: str = "concise", emit: Emit | None = None) -> Summarized:
    """Run a planned search and summarise it at the `summary` level, in an admission slot,
    cancelled if the client leaves; a search in which every backend call failed becomes the
    backend's error status. `emit` gets the search's events as they happen."""
    async def search_and_summarize() -> Summarized:
        result = await service.run(plan, emit=emit)
        return await summarize(result, summary, plan=plan, backend=service.backend)

    try:
        async with admission.slot():
            return await unless_disconnected(request, search_and_summarize())
    except SearchFailed as exc:
        raise failure_of(exc) from exc


ServiceDep = Annotated[ReasoningService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
AdmissionDep = Annotated[Admission, Depends(get_admission)]
TracesDep = Annotated[TraceStore, Depends(get_traces)]
LiveDep = Annotated[LiveSearches, Depends(get_live)]


@router.post("/v1/chat/completions", response_model=ChatCompletion, operation_id="createChatCompletion")
async def chat_completions(  # type: ignore[no-untyped-def]
    body: ChatCompletionRequest, request: Request, service: ServiceDep, settings: SettingsDep, metrics: MetricsDep,
    admission: AdmissionDep, traces: TracesDep, live: LiveDep,
):
    plan = plan_request(body, settings)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    model = service.backend.model
    kept = bool(body.reasoning and body.reasoning.trace) or settings.keep_all_traces
    # A kept trace can be followed while the search runs (GET /v1/traces/{id}/events, app/http/trace_view.py).
    following = live.start(completion_id, caller_of(request), plan.strategy) if kept else None

    async def record(result: SearchResult) -> None:
        metrics.record_search(result, service.backend.name)
        if kept:
            trace = trace_record(completion_id, result, plan.messages)
            await traces.put(completion_id, trace, owner=caller_of(request))
            live.end(completion_id, trace)

    def unfollowed() -> None:  # a search that ended without a trace (failed, cancelled): followers hear so
        live.end(completion_id, None, "the search ended without an answer")

    summary_level = body.reasoning.summary if body.reasoning else "concise"
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        held = AsyncExitStack()
        held.callback(unfollowed)
        try:
            await held.enter_async_context(admission.slot())  # a 429 must come before the stream starts
        except BaseException:
            await held.aclose()
            raise
        frames = stream_chat(service, plan, completion_id=completion_id, model=model, include_usage=include_usage,
                             summary=summary_level, on_result=record, release=held.aclose,
                             emit=following.emit if following else None)
        return StreamingResponse(frames, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    try:
        summarized = await run_planned(plan, request, service, admission, summary_level,
                                       emit=following.emit if following else None)
        result = summarized.result
        await record(result)
    finally:
        unfollowed()
    outcome = result.outcome
    response = ChatCompletion(
        id=completion_id, created=int(time.time()), model=model,
        choices=[ChoiceOut(
            message=MessageOut(content=outcome.content if outcome else "",
                               reasoning_content=summarized.summary),
            finish_reason=finish_reason(result),
        )],
        usage=usage_of(result),
        ponder=ponder_info(result, trace=bool(body.reasoning and body.reasoning.trace)),
    )
    return JSONResponse(response.model_dump())


@router.get("/v1/models", response_model=ModelList, operation_id="listModels")
async def list_models(service: ServiceDep, settings: SettingsDep) -> ModelList:
    """The served model, and `MODEL:EFFORT` for every effort: a UI that only picks a model picks its effort."""
    created = int(time.time())
    names = [service.backend.model, *(f"{service.backend.model}:{effort}" for effort in settings.efforts())]
    return ModelList(data=[ModelCard(id=name, created=created) for name in names])


@open_router.get("/metrics", operation_id="metrics", include_in_schema=False)
async def metrics_text(request: Request, settings: SettingsDep, metrics: MetricsDep) -> Response:
    if settings.metrics_require_auth:
        require_api_key(request)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


@open_router.get("/livez", operation_id="liveness")
async def liveness() -> JSONResponse:
    """200 while the process serves: a liveness probe that a down backend must not fail (/health is readiness)."""
    return JSONResponse({"status": "alive"})


@open_router.get("/health", operation_id="health")
async def health(request: Request) -> JSONResponse:
    service: ReasoningService | None = getattr(request.app.state, "service", None)
    ok = service is not None and await service.backend.health()
    backend = service.backend.name if service else None
    template = service.backend.chat_template_source if service else None
    return JSONResponse({"status": "ok" if ok else "unavailable", "backend": backend, "chat_template": template},
                        status_code=200 if ok else 503)
