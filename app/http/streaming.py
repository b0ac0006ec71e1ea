"""Server-sent events: the search's progress live as it runs, then the answer.

`live_search` is the shared part (the search's events as they happen, then its result);
`stream_chat` writes chat-completion chunks from it; the Responses API writes its own events."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing

from app.protocol.chat import ChatCompletionChunk, ChunkChoice, DeltaOut
from app.protocol.errors import ApiError, error_body, from_backend
from app.protocol.render import finish_reason, progress_line, usage_of
from app.reasoning.service import Plan, ReasoningService
from app.reasoning.summarize import summarize
from backends.errors import BackendError
from search.driver import SearchFailed, SearchResult
from search.events import Event

CONTENT_PIECE = 48  # characters per content delta


def sse(payload: dict[str, object] | str, event: str | None = None) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"event: {event}\ndata: {data}\n\n" if event else f"data: {data}\n\n"


def failure_of(exc: Exception) -> ApiError:
    """The client-facing error for a search that produced nothing (or a backend that refused it)."""
    cause = exc.cause if isinstance(exc, SearchFailed) else exc
    if isinstance(cause, BackendError):
        return from_backend(cause)
    if isinstance(cause, TimeoutError):
        return ApiError(504, f"no answer within the deadline: {cause}", type="backend_error", code="deadline_exceeded")
    return ApiError(502, f"every backend call failed: {cause}", type="backend_error")


async def live_search(service: ReasoningService, plan: Plan,
                      emit: Callable[[Event], None] | None = None) -> AsyncGenerator[Event | SearchResult, None]:
    """Yield the search's events as they happen, then its result (the last item); `emit` also
    gets each event as it happens.

    SearchFailed and BackendError propagate; closing the iterator early cancels the search,
    so no further backend calls are made."""
    events: asyncio.Queue[Event | None] = asyncio.Queue()

    def publish(event: Event) -> None:
        events.put_nowait(event)
        if emit is not None:
            emit(event)

    async def search() -> SearchResult:
        try:
            return await service.run(plan, emit=publish)
        finally:
            events.put_nowait(None)

    task = asyncio.create_task(search())
    try:
        while (event := await events.get()) is not None:
            yield event
        yield await task
    finally:
        if not task.done():
            task.cancel()  # the client went away: no further backend calls
            try:
                await task
            except BaseException:
                pass


async def stream_chat(
    service: ReasoningService, plan: Plan, *, completion_id: str, model: str, include_usage: bool,
    summary: str = "concise", on_result: Callable[[SearchResult], Awaitable[None]] | None = None,
    release: Callable[[], Awaitable[None]] | None = None, emit: Callable[[Event], None] | None = None,
) -> AsyncIterator[str]:
    """Yield SSE frames while the search runs; cancelling the iterator cancels the search.

    Progress lines stream as `reasoning_content`; with summary "model" the model's summary
    follows them. `emit` also gets each search event (a viewer following the search). `release`
    is awaited when the stream ends however it ends (it frees the search slot)."""
    created = int(time.time())

    def chunk(delta: DeltaOut, finish: str | None = None) -> str:
        body = ChatCompletionChunk(id=completion_id, created=created, model=model,
                                   choices=[ChunkChoice(delta=delta, finish_reason=finish)])
        return sse(body.model_dump(exclude_none=True))

    try:
        yield chunk(DeltaOut(role="assistant", content=""))
        result: SearchResult | None = None
        try:
            async with aclosing(live_search(service, plan, emit)) as items:
                async for item in items:
                    if isinstance(item, SearchResult):
                        result = item
                    else:
                        yield chunk(DeltaOut(reasoning_content=progress_line(item)))
        except (SearchFailed, BackendError) as exc:
            err = failure_of(exc)
            yield sse(error_body(err.message, err.type, err.param, err.code))
            yield sse("[DONE]")
            return
        assert result is not None  # live_search ends with the result
        if summary == "model":
            summarized = await summarize(result, summary, plan=plan, backend=service.backend)
            result = summarized.result
            yield chunk(DeltaOut(reasoning_content=f"summary: {summarized.summary}\n"))
        if on_result is not None:
            await on_result(result)
        content = result.outcome.content if result.outcome else ""
        for start in range(0, len(content), CONTENT_PIECE):
            yield chunk(DeltaOut(content=content[start : start + CONTENT_PIECE]))
        yield chunk(DeltaOut(), finish=finish_reason(result))
        if include_usage:
            usage = ChatCompletionChunk(id=completion_id, created=created, model=model, choices=[],
                                        usage=usage_of(result))
            yield sse(usage.model_dump(exclude_none=True))
        yield sse("[DONE]")
    finally:
        if release is not None:
            await release()
