"""The one builder: the backend and the reasoning service from settings, for the server, the CLI
and the benchmarks alike."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from app.ops.metrics import Metrics
from app.ops.shutdown import Drain, StoppableGenerator
from app.reasoning.service import ReasoningService
from app.reasoning.wiring import BackendGenerator, RewardsAnswerTools, SandboxPolicy
from app.settings import Settings
from backends.errors import BackendError
from backends.templates import load_template
from backends.types import Backend
from rewards.equivalence import MathEquivalence
from rewards.sandbox import SandboxLimits
from search.protocols import Generator

log = logging.getLogger("ponder")


async def open_backend(settings: Settings) -> Backend:
    """Build and start the configured backend. A PONDER_CHAT_TEMPLATE that cannot be read or does not
    render stops it here (TemplateLoadError names the file)."""
    template = await asyncio.to_thread(load_template, settings.chat_template) if settings.chat_template else None
    if settings.backend in ("openai", "sglang"):
        from backends.openai_compat import OpenAICompatBackend
        from backends.replicas import Replicas
        from backends.sglang import SGLangBackend

        def remote(url: str) -> Backend:
            common: dict[str, Any] = {
                "model": None if settings.model == "smollm2" else settings.model, "api_key": settings.backend_api_key,
                "timeout_s": settings.backend_timeout_s, "max_in_flight": settings.backend_max_in_flight,
                "call_base_s": settings.backend_call_base_s, "min_tokens_per_s": settings.backend_min_tokens_per_s,
                "chat_template": template}
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
                                  prefill_chunk=settings.prefill_chunk, chat_template=template)
    else:
        embedded = EmbeddedBackend(model.path, model=model.name, n_ctx=settings.n_ctx, n_threads=settings.n_threads,
                                   chat_template=template)
    await embedded.start()
    return embedded


async def _log_chat_template(backend: Backend) -> None:
    """Say which chat template prompts are rendered with (a remote server is asked now; one that is
    down is asked again at the first request)."""
    try:
        log.info("chat template: %s", await backend.resolve_chat_template())
    except BackendError as exc:
        log.warning("chat template not resolved yet: %s", exc)


def sandbox_policy(settings: Settings, metrics: Metrics | None = None) -> SandboxPolicy:
    """The sandbox limits and concurrency the settings name (this event loop's semaphore). Says at
    startup, once per process, when no code can run or runs without an isolation boundary."""
    from rewards.sandbox import run_bound, sandbox_unavailable

    limits = SandboxLimits(cpu_s=settings.sandbox_cpu_s, wall_s=settings.sandbox_timeout_s,
                           memory_mb=settings.sandbox_memory_mb, mode=settings.sandbox)
    if (reason := sandbox_unavailable(settings.sandbox)) is not None:  # probed once (one sandbox start), cached
        log.error("python_tests verifiers and program-aided answers cannot run: %s", reason)
    elif settings.sandbox == "unsafe-rlimits":
        log.warning("PONDER_SANDBOX=unsafe-rlimits: model- and client-written code runs without an isolation boundary")
    if reason is None:  # the run's bound times the runs at once is what all sandboxes together may hold
        log.info("sandbox runs: %d MB and at most %d at once, each bounded by %s", settings.sandbox_memory_mb,
                 settings.sandbox_concurrency, run_bound(limits).describe())
    return SandboxPolicy(limits, asyncio.Semaphore(settings.sandbox_concurrency),
                         metrics.record_sandbox if metrics is not None else None)


@asynccontextmanager
async def open_service(settings: Settings, *, backend: Backend | None = None, metrics: Metrics | None = None,
                       drain: Drain | None = None,
                       equivalence: MathEquivalence | None = None) -> AsyncIterator[ReasoningService]:
    """The reasoning service on `backend` (or on the backend the settings name, opened and closed
    here). With `drain`, every backend call ends when the server's shutdown grace does. A given
    `equivalence` (its process pool) is shared, not closed here."""
    owned = backend is None
    active = backend or await open_backend(settings)
    await _log_chat_template(active)
    shared = equivalence is not None
    equivalence = equivalence or MathEquivalence()
    sandbox = sandbox_policy(settings, metrics)
    generator: Generator = BackendGenerator(active)
    if drain is not None:
        generator = StoppableGenerator(generator, drain)
    tools = RewardsAnswerTools(equivalence, sandbox, settings.reasoning_parser)
    service = ReasoningService(settings, active, tools, generator=generator,
                               sandbox=sandbox, metrics=metrics)
    try:
        yield service
    finally:
        await service.aclose()
        if not shared:
            await equivalence.aclose()
        if owned:
            try:
                await active.aclose()
            except BackendError:
                log.warning("backend did not close cleanly")
