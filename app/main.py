"""`create_app(settings)`: builds the gateway; the lifespan opens and closes the backend."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from backends.errors import BackendError
from backends.types import Backend
from rewards.equivalence import MathEquivalence
from rewards.sandbox import SandboxLimits

from app.admission import Admission
from app.body_limit import BodyLimit
from app.errors import install_error_handlers
from app.metrics import Metrics
from app.observe import Observe
from app.openapi_errors import document_errors
from app.reason import router as reason_router
from app.responses_api import router as responses_router
from app.routes import open_router, router
from app.traces import TraceStore
from app.service import ReasoningService
from app.settings import Settings, load_settings
from app.shutdown import Drain, ShutdownGate, StoppableGenerator
from app.wiring import RewardsAnswerTools, SandboxPolicy

log = logging.getLogger("ponder")


async def open_backend(settings: Settings) -> Backend:
    """Build and start the configured backend."""
    if settings.backend in ("openai", "sglang"):
        from backends.openai_compat import OpenAICompatBackend
        from backends.replicas import Replicas
        from backends.sglang import SGLangBackend

        def remote(url: str) -> Backend:
            common: dict[str, Any] = {
                "model": None if settings.model == "smollm2" else settings.model, "api_key": settings.backend_api_key,
                "timeout_s": settings.backend_timeout_s, "max_in_flight": settings.backend_max_in_flight}
            if settings.backend == "sglang":
                return SGLangBackend(url, **common)
            return OpenAICompatBackend(url, token_prompts=settings.backend_token_prompts, **common)

        remotes = [remote(url) for url in settings.backend_urls or [settings.base_url]]
        return remotes[0] if len(remotes) == 1 else Replicas(remotes, cooldown_s=settings.backend_cooldown_s)
    from backends.batched import BatchedBackend
    from backends.embedded import EmbeddedBackend
    from backends.model_files import resolve_model

    model = resolve_model(settings.model, settings.model_cache_dir)
    embedded: BatchedBackend | EmbeddedBackend
    if settings.engine == "batched":
        embedded = BatchedBackend(model.path, model=model.name, n_ctx=settings.n_ctx, n_threads=settings.n_threads,
                                  slots=settings.engine_slots, batch_width=settings.engine_batch_width,
                                  prefill_chunk=settings.prefill_chunk)
    else:
        embedded = EmbeddedBackend(model.path, model=model.name, n_ctx=settings.n_ctx, n_threads=settings.n_threads)
    await embedded.start()
    return embedded


def create_app(settings: Settings | None = None, backend: Backend | None = None) -> FastAPI:
    """The ASGI app. Pass `backend` to serve an already-open one (it is not closed here)."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = backend is None
        active = backend or await open_backend(settings)
        equivalence = MathEquivalence()
        sandbox = SandboxPolicy(
            SandboxLimits(cpu_s=settings.sandbox_cpu_s, wall_s=settings.sandbox_timeout_s,
                          memory_mb=settings.sandbox_memory_mb),
            asyncio.Semaphore(settings.sandbox_concurrency), metrics.record_sandbox)
        service = ReasoningService(settings, active, RewardsAnswerTools(equivalence, sandbox), sandbox, metrics)
        # Every search's backend calls end when the shutdown grace does (app/shutdown.py).
        service.generator = StoppableGenerator(service.generator, drain)  # type: ignore[assignment]
        app.state.service = service
        drain.open()
        try:
            yield
        finally:
            await drain.shutdown()  # a no-op when GracefulServer already drained
            app.state.service = None
            await service.aclose()
            await equivalence.aclose()
            if owned:
                try:
                    await active.aclose()
                except BackendError:
                    log.warning("backend did not close cleanly")

    app = FastAPI(title="ponder", version="0.1.0", lifespan=lifespan,
                  description="Inference-time reasoning behind the OpenAI chat-completions API.")
    metrics = Metrics()
    app.state.settings = settings
    app.state.service = None
    app.state.metrics = metrics
    app.state.admission = Admission(max_concurrent=settings.max_concurrent_searches,
                                    max_queued=settings.max_queued_searches, metrics=metrics)
    app.state.traces = TraceStore(settings.max_traces, settings.trace_dir)
    drain = Drain(grace_s=settings.shutdown_grace_s)
    app.state.drain = drain
    install_error_handlers(app)
    document_errors(app)
    app.include_router(router)
    app.include_router(reason_router)
    app.include_router(responses_router)
    app.include_router(open_router)
    app.add_middleware(ShutdownGate, drain=drain)  # inside Observe: 503s get request ids and metrics
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(Observe, metrics=metrics)
    return app
