"""Server-sent events for a chat completion: progress as reasoning, then the answer."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from backends.errors import BackendError
from search.driver import SearchFailed, SearchResult
from search.protocols import Event

from app.errors import ApiError, error_body, from_backend
from app.protocol import ChatCompletionChunk, ChunkChoice, DeltaOut
from app.render import finish_reason, progress_line, usage_of
from app.service import Plan, ReasoningService

CONTENT_PIECE = 48  # characters per content delta


def _sse(payload: dict[str, object] | str) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n"


async def stream_chat(
    service: ReasoningService, plan: Plan, *, completion_id: str, model: str, include_usage: bool,
    on_result: Callable[[SearchResult], None] | None = None, release: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[str]:
    """Yield SSE frames while the search runs; cancelling the iterator cancels the search.

    `release` is awaited when the stream ends however it ends (it frees the search slot)."""
    created = int(time.time())
    events: asyncio.Queue[Event | None] = asyncio.Queue()

    def chunk(delta: DeltaOut, finish: str | None = None) -> str:
        body = ChatCompletionChunk(id=completion_id, created=created, model=model,
                                   choices=[ChunkChoice(delta=delta, finish_reason=finish)])  # type: ignore[arg-type]
        return _sse(body.model_dump(exclude_none=True))

    async def search() -> SearchResult:
        try:
            return await service.run(plan, emit=events.put_nowait)
        finally:
            events.put_nowait(None)

    task = asyncio.create_task(search())
    try:
        yield chunk(DeltaOut(role="assistant", content=""))
        while (event := await events.get()) is not None:
            line = progress_line(event)
            if line:
                yield chunk(DeltaOut(reasoning_content=line))
        try:
            result = await task
        except SearchFailed as exc:
            cause = exc.cause
            err = from_backend(cause) if isinstance(cause, BackendError) else ApiError(502, str(cause), type="backend_error")
            yield _sse(error_body(err.message, err.type, err.param, err.code))
            yield _sse("[DONE]")
            return
        except BackendError as exc:
            err = from_backend(exc)
            yield _sse(error_body(err.message, err.type, err.param, err.code))
            yield _sse("[DONE]")
            return
        if on_result is not None:
            on_result(result)
        content = result.outcome.content if result.outcome else ""
        for start in range(0, len(content), CONTENT_PIECE):
            yield chunk(DeltaOut(content=content[start : start + CONTENT_PIECE]))
        yield chunk(DeltaOut(), finish=finish_reason(result))
        if include_usage:
            usage = ChatCompletionChunk(id=completion_id, created=created, model=model, choices=[],
                                        usage=usage_of(result))
            yield _sse(usage.model_dump(exclude_none=True))
        yield _sse("[DONE]")
    finally:
        if not task.done():
            task.cancel()  # the client went away: no further backend calls
            try:
                await task
            except BaseException:
                pass
        if release is not None:
            await release()
