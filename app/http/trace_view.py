"""A trace in the browser: `GET /v1/traces/{id}/view` (the page), `GET /v1/traces/{id}/events`
(a running search's events as Server-Sent Events, then its trace) and `POST /v1/traces/{id}/view-link`
(a short-lived link for a browser, which cannot send the key as a header when it opens a page).

Every URL the page uses is relative, so it works behind a proxy at a path prefix."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel

from app.http.auth import caller_of, caller_of_view, require_api_key, view_token
from app.http.routes import LiveDep, TracesDep
from app.http.streaming import sse
from app.protocol.errors import ApiError
from app.protocol.render import event_json
from app.traces.live import LiveSearch, LiveSearches
from app.traces.viewer import CONTENT_SECURITY_POLICY, finished_page, live_page

VIEW_LINK_TTL_S = 600  # long enough to open the page and watch a search; short enough not to matter in a log

router = APIRouter()


TokenQuery = Annotated[str | None, Query(description="a view link's token (POST /v1/traces/{id}/view-link)")]


class ViewLink(BaseModel):
    url: str  # relative to this request's URL: `view?token=...`
    events_url: str
    expires_at: int


def _not_found(trace_id: str) -> ApiError:
    # The answer for another key's trace too, as on GET /v1/traces/{id}: existence does not leak.
    return ApiError(404, f"no trace {trace_id!r}", type="not_found_error", param="trace_id")


async def _find(trace_id: str, caller: str | None, traces: TracesDep,
                live: LiveSearches) -> tuple[dict[str, Any] | None, LiveSearch | None]:
    running = live.get(trace_id, caller)
    if running is not None:
        return None, running
    trace = await traces.get(trace_id, caller)
    if trace is None:
        raise _not_found(trace_id)
    return trace, None


@router.post("/v1/traces/{trace_id}/view-link", operation_id="createTraceViewLink",
             dependencies=[Depends(require_api_key)])
async def view_link(trace_id: str, request: Request, traces: TracesDep, live: LiveDep) -> ViewLink:
    """A link that opens this trace's page in a browser for 10 minutes, in place of the key."""
    await _find(trace_id, caller_of(request), traces, live)
    token, expires = view_token(request, trace_id, VIEW_LINK_TTL_S)
    return ViewLink(url=f"view?token={token}", events_url=f"events?token={token}", expires_at=expires)


@router.get("/v1/traces/{trace_id}/view", operation_id="viewTrace", response_class=HTMLResponse)
async def view(trace_id: str, request: Request, traces: TracesDep, live: LiveDep,
               token: TokenQuery = None) -> HTMLResponse:
    """The trace as one HTML page; a running search's page follows its events until it ends."""
    caller = caller_of_view(request, trace_id, token)
    trace, running = await _find(trace_id, caller, traces, live)
    if trace is not None:
        html = finished_page(trace)
    else:
        assert running is not None
        # A page opened with the key as a header gets its own link token to follow the events with.
        events_token = token if token is not None else view_token(request, trace_id, VIEW_LINK_TTL_S)[0]
        html = live_page(trace_id, f"events?token={events_token}", running.strategy)
    return HTMLResponse(html, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                       "Content-Security-Policy": CONTENT_SECURITY_POLICY})


@router.get("/v1/traces/{trace_id}/events", operation_id="followTrace",
            responses={200: {"content": {"text/event-stream": {}}}})
async def events(trace_id: str, request: Request, traces: TracesDep, live: LiveDep,
                 token: TokenQuery = None) -> StreamingResponse:
    """The search's events as Server-Sent Events (`data: {event}`), from the first; while it runs, each
    new one as it happens. Then `event: trace` with the whole trace (or `event: failed`) and `data: [DONE]`."""
    caller = caller_of_view(request, trace_id, token)
    trace, running = await _find(trace_id, caller, traces, live)

    async def frames() -> AsyncIterator[str]:
        if running is None:
            assert trace is not None
            for event in trace.get("events", []):
                yield sse(event)
            yield sse(json.dumps(trace, separators=(",", ":")), event="trace")
        else:
            async for event in running.follow():
                yield sse(event_json(event))
            if running.trace is not None:
                yield sse(json.dumps(running.trace, separators=(",", ":")), event="trace")
            else:
                yield sse({"message": running.failure or "the search failed"}, event="failed")
        yield sse("[DONE]")

    return StreamingResponse(frames(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
