"""The embedded backend over the batching engine: the engine runs on its own thread,
fed by a queue; the event loop only submits requests and awaits their results."""

from __future__ import annotations

import asyncio
import queue
import threading
from pathlib import Path
from typing import Any

from backends.engine.core import EngineCore
from backends.engine.sequence import Request
from backends.errors import BackendUnavailable
from backends.templates import Renderer, RendersChat, TemplateSlot, gguf_template
from backends.types import Completion, Sample
from sampling import Sampling

_STOP = object()


class BatchedBackend(RendersChat):
    """In-process llama.cpp with continuous batching over a forked, shared KV cache."""

    name = "embedded"

    def __init__(self, model_path: Path, *, model: str, n_ctx: int = 4096, n_threads: int | None = None,
                 slots: int = 16, batch_width: int = 4, prefill_chunk: int = 256,
                 chat_template: Renderer | None = None) -> None:
        import os

        self.model, self.model_path = model, model_path
        self.n_ctx, self.slots, self.prefill_chunk = n_ctx, slots, prefill_chunk
        self.batch_width = batch_width
        self.n_threads = n_threads or os.cpu_count() or 1
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._core: EngineCore | None = None
        self._template = TemplateSlot(chat_template, advice="the model file carries no chat template")
        self._explicit = chat_template is not None

    @property
    def stats(self) -> dict[str, float]:
        return dict(self._core.stats) if self._core else {}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(target=self._run, args=(loop, ready), name="llama-engine", daemon=True)
        self._thread.start()
        await ready

    def _run(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        try:
            core = EngineCore(str(self.model_path), n_ctx=self.n_ctx, n_slots=self.slots, n_threads=self.n_threads,
                              prefill_chunk=self.prefill_chunk, max_running=self.batch_width)
            if not self._explicit:
                found = gguf_template(core.llm, self.model_path)
                if found is not None:
                    self._template.replace(found)
        except Exception as exc:  # a model that cannot load fails start(), not the thread silently
            loop.call_soon_threadsafe(ready.set_exception, exc)
            return
        self._core = core
        loop.call_soon_threadsafe(ready.set_result, None)
        try:
            while True:
                # Block only when there is nothing to step; otherwise take what has arrived.
                item = self._inbox.get() if core.idle else self._next_nowait()
                if item is _STOP:
                    break
                if item is not None:
                    self._admit(core, *item)
                    continue
                core.step()
        finally:
            core.close()

    def _next_nowait(self) -> Any:
        try:
            return self._inbox.get_nowait()
        except queue.Empty:
            return None

    def _admit(self, core: EngineCore, prompt: str, request: Request, fail: Any) -> None:
        try:
            # A template that wrote the BOS itself (its text starts the prompt) must not get a second one.
            add_bos = not (self._template.bos_token and prompt.startswith(self._template.bos_token))
            request.prompt = list(core.llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True))
            request.samples = [None] * request.n
            core.add(request)
        except Exception as exc:
            fail(exc)

    async def complete(self, prompt: str, *, n: int, params: Sampling, deadline: float | None = None) -> Completion:
        if self._core is None or self._thread is None or not self._thread.is_alive():
            raise BackendUnavailable("embedded engine is not started", backend=self.name)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Completion] = loop.create_future()

        def settle(samples: list[Sample] | None, error: Exception | None, cached: int) -> None:
            if future.done():
                return
            if samples:
                prompt_tokens = len(request.prompt) * len(samples)
                future.set_result(Completion(samples=tuple(samples), prompt_tokens=prompt_tokens,
                                             cached_tokens=min(cached, prompt_tokens), backend=self.name))
            else:
                future.set_exception(error or BackendUnavailable("no sample was produced", backend=self.name))

        def done(samples: list[Sample] | None, error: Exception | None, cached: int) -> None:
            loop.call_soon_threadsafe(settle, samples, error, cached)

        def reject(exc: Exception) -> None:
            if not future.done():
                future.set_exception(exc)

        def fail(exc: Exception) -> None:
            loop.call_soon_threadsafe(reject, exc)

        request = Request(prompt=[], n=n, params=params, deadline=deadline, done=done)
        self._inbox.put((prompt, request, fail))
        try:
            return await future
        except asyncio.CancelledError:
            request.cancelled.set()  # the engine frees its sequences at the next step
            raise

    async def health(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def aclose(self) -> None:
        if self._thread is not None:
            self._inbox.put(_STOP)
            await asyncio.to_thread(self._thread.join, 30)
            self._thread = None
        self._core = None
