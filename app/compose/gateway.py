"""`create_app(settings)`: builds the gateway; the lifespan opens and closes the backend."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from app.compose.build import open_service
from app.http.auth import require_api_key
from app.http.openapi_errors import document_errors
from app.http.reason import router as reason_router
from app.http.responses_api import router as responses_router
from app.http.routes import open_router, router
from app.http.trace_view import router as trace_view_router
from app.ops.admission import Admission
from app.ops.body_limit import BodyLimit
from app.ops.metrics import Metrics
from app.ops.observe import Observe
from app.ops.shutdown import Drain, ShutdownGate
from app.protocol.errors import install_error_handlers
from app.settings import Settings, load_settings
from app.traces.live import LiveSearches
from app.traces.store import TraceStore
from backends.types import Backend


def create_app(settings: Settings | None = None, backend: Backend | None = None) -> FastAPI:
    """The ASGI app. Pass `backend` to serve an already-open one (it is not closed here)."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.trace_dir is not None and settings.api_keys and settings.caller_secret is None:
            logging.getLogger("ponder").warning(
                "traces in %s cannot be read back after a restart or through another gateway: set "
                "PONDER_CALLER_SECRET (the same on every gateway that shares the folder)", settings.trace_dir)
        await asyncio.to_thread(app.state.traces.prepare)  # an existing trace folder is made owner-only now
        # Every search's backend calls end when the shutdown grace does (app/ops/shutdown.py).
        async with open_service(settings, backend=backend, metrics=metrics, drain=drain) as service:
            app.state.service = service
            drain.open()
            try:
                yield
            finally:
                await drain.shutdown()  # a no-op when GracefulServer already drained
                app.state.service = None

    app = FastAPI(title="ponder", version="0.1.0", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None,
                  description="Inference-time reasoning behind the OpenAI chat-completions API.")
    metrics = Metrics()
    app.state.settings = settings
    app.state.service = None
    app.state.metrics = metrics
    app.state.admission = Admission(max_concurrent=settings.max_concurrent_searches,
                                    max_queued=settings.max_queued_searches, metrics=metrics)
    app.state.traces = TraceStore(settings.max_traces, settings.trace_dir)
    app.state.live = LiveSearches()  # kept traces of searches still running (app/http/trace_view.py follows them)
    drain = Drain(grace_s=settings.shutdown_grace_s)
    app.state.drain = drain
    install_error_handlers(app)
    document_errors(app)
    app.include_router(router)
    app.include_router(reason_router)
    app.include_router(trace_view_router)
    app.include_router(responses_router)
    app.include_router(open_router)
    app.include_router(docs_router(app))
    app.add_middleware(ShutdownGate, drain=drain)  # inside Observe: 503s get request ids and metrics
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(Observe, metrics=metrics)
    return app


def docs_router(app: FastAPI) -> APIRouter:
    """/openapi.json, /docs and /redoc behind the same API keys as /v1 (FastAPI's own are always open)."""
    docs = APIRouter(dependencies=[Depends(require_api_key)], include_in_schema=False)

    @docs.get("/openapi.json")
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @docs.get("/docs")
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - Swagger UI")

    @docs.get("/redoc")
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc")

    return docs
