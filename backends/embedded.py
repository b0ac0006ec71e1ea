"""Embedded llama.cpp engine: in-process, one dedicated thread, prefix-aware queue.

Every llama.cpp call runs on one thread (the library is not thread-safe, and the safe
build is 3x slower when called from changing threads). Queued samples are served
longest-common-prefix-first against the tokens already in the KV cache, so siblings
and branches that share a prompt prefix do not recompute it.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.engine.sampler import generate_kwargs, sample_seed
from backends.engine.slots import common_prefix
from backends.errors import BackendUnavailable, PromptTooLong
from backends.logprobs import token_logprob
from backends.templates import Renderer, RendersChat, TemplateSlot, gguf_template
from backends.types import Completion, Sample, TokenLogprob
from sampling import Sampling

AGING_S = 5.0  # a request waiting longer than this is served next, whatever its prefix


@dataclass
class _Job:
    tokens: list[int]
    n: int
    params: Sampling
    deadline: float | None
    future: asyncio.Future[Completion]
    enqueued: float = field(default_factory=time.monotonic)
    samples: list[Sample] = field(default_factory=list)
    cached: int = 0
    cancelled: threading.Event = field(default_factory=threading.Event)


class EmbeddedBackend(RendersChat):
    """A GGUF model run in-process by llama-cpp-python."""

    name = "embedded"

    def __init__(self, model_path: Path, *, model: str, n_ctx: int = 4096, n_threads: int | None = None,
                 chat_template: Renderer | None = None) -> None:
        self.model = model
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self._engine = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama-engine")
        self._llm: Any = None
        self._template = TemplateSlot(chat_template, advice="the model file carries no chat template")
        self._explicit = chat_template is not None
        self._pending: list[_Job] = []
        self._wakeup: asyncio.Event | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self.stats = {"prompt_tokens": 0, "cached_tokens": 0, "generated_tokens": 0, "busy_s": 0.0}

    async def start(self) -> None:
        """Load the model on the engine thread and start serving the queue."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._engine, self._load)
        self._wakeup = asyncio.Event()
        self._scheduler = asyncio.create_task(self._serve(), name="embedded-scheduler")

    def _load(self) -> None:
        from llama_cpp import Llama  # imported here: the embedded extra is optional

        self._llm = Llama(
            model_path=str(self.model_path), n_ctx=self.n_ctx, n_threads=self.n_threads,
            n_threads_batch=self.n_threads, verbose=False,
        )
        if not self._explicit:
            found = gguf_template(self._llm, self.model_path)
            if found is not None:
                self._template.replace(found)

    async def health(self) -> bool:
        return self._llm is not None and self._scheduler is not None and not self._scheduler.done()

    async def aclose(self) -> None:
        if self._scheduler is not None:
            self._scheduler.cancel()
            try:
                await self._scheduler
            except asyncio.CancelledError:
                pass
        for job in self._pending:
            job.cancelled.set()
            if not job.future.done():
                job.future.set_exception(BackendUnavailable("embedded engine shut down", backend=self.name))
        self._pending.clear()
        self._engine.shutdown(wait=True)
        self._llm = None

    async def complete(
        self, prompt: str, *, n: int, params: Sampling, deadline: float | None = None
    ) -> Completion:
        if self._llm is None or self._wakeup is None:
            raise BackendUnavailable("embedded engine is not started", backend=self.name)
        loop = asyncio.get_running_loop()
        tokens = await loop.run_in_executor(self._engine, self._tokenize, prompt)
        if len(tokens) >= self.n_ctx - 1:
            raise PromptTooLong(
                f"prompt has {len(tokens)} tokens; the context window is {self.n_ctx}", backend=self.name
            )
        job = _Job(tokens=tokens, n=n, params=params, deadline=deadline, future=loop.create_future())
        self._pending.append(job)
        self._wakeup.set()
        try:
            return await job.future
        except asyncio.CancelledError:
            job.cancelled.set()  # the engine thread stops this job's sample at the next token
            raise

    def _tokenize(self, prompt: str) -> list[int]:
        # A template that wrote the BOS itself (its text starts the prompt) must not get a second one.
        add_bos = not (self._template.bos_token and prompt.startswith(self._template.bos_token))
        return list(self._llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True))

    async def _serve(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                job = self._next_job()
                if job.cancelled.is_set() or job.future.done():
                    self._pending.remove(job)
                    continue
                try:
                    sample, cached = await loop.run_in_executor(self._engine, self._sample, job)
                except Exception as exc:  # an engine failure fails this request, not the server
                    self._pending.remove(job)
                    if not job.future.done():
                        job.future.set_exception(exc)
                    continue
                job.samples.append(sample)
                job.cached += cached
                if len(job.samples) >= job.n or job.cancelled.is_set():
                    self._pending.remove(job)
                    if not job.future.done():
                        job.future.set_result(
                            Completion(
                                samples=tuple(job.samples), prompt_tokens=len(job.tokens) * len(job.samples),
                                cached_tokens=job.cached, backend=self.name,
                            )
                        )

    def _next_job(self) -> _Job:
        """Longest common prefix with the KV cache first; a long-waiting job goes first."""
        now = time.monotonic()
        stale = [j for j in self._pending if now - j.enqueued > AGING_S]
        if stale:
            return min(stale, key=lambda j: j.enqueued)
        cached = self._cached_tokens()
        return max(self._pending, key=lambda j: (common_prefix(cached, j.tokens), -j.enqueued))

    def _cached_tokens(self) -> list[int]:
        llm = self._llm
        return [] if llm is None else list(llm._input_ids[: llm.n_tokens])

    def _sample(self, job: _Job) -> tuple[Sample, int]:
        """Generate one sample of `job` (engine thread)."""
        import llama_cpp
        import numpy as np

        llm = self._llm
        params = job.params
        started = time.monotonic()
        reused = min(common_prefix(self._cached_tokens(), job.tokens), len(job.tokens) - 1)
        max_tokens = min(params.max_tokens, self.n_ctx - len(job.tokens))
        llm.set_seed(sample_seed(params, len(job.samples)))
        last_logits: list[Any] = []

        n_vocab = llm.n_vocab()

        def stop_now(_ids: Any, _scores: Any) -> bool:
            if params.logprobs is not None:
                # The context's logits for the last evaluated position (the scores
                # argument is empty without logits_all).
                row = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(n_vocab,))
                last_logits.append(row.astype(np.float64))
            return job.cancelled.is_set() or (job.deadline is not None and time.monotonic() >= job.deadline)

        generated: list[int] = []
        logprobs: list[TokenLogprob] = []
        text = ""
        finish = "length"
        matched: str | None = None
        vocab = llm._model.vocab
        for token in llm.generate(
            job.tokens, **generate_kwargs(params), stopping_criteria=llama_cpp.StoppingCriteriaList([stop_now]),
        ):
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                finish = "stop"
                break
            generated.append(token)
            if params.logprobs is not None and last_logits:
                logprobs.append(self._logprob(token, last_logits.pop(), params.logprobs))
            text = llm.detokenize(generated).decode("utf-8", "ignore")
            hit = _first_stop(text, params.stop)
            if hit is not None:
                cut, matched = hit
                text, finish = text[:cut], "stop"
                break
            if len(generated) >= max_tokens:
                break
        else:
            finish = "cancelled" if job.cancelled.is_set() else "length"
        self.stats["prompt_tokens"] += len(job.tokens)
        self.stats["cached_tokens"] += max(reused, 0)
        self.stats["generated_tokens"] += len(generated)
        self.stats["busy_s"] += time.monotonic() - started
        sample = Sample(
            text=text, completion_tokens=len(generated), finish_reason=finish,
            logprobs=tuple(logprobs) if params.logprobs is not None else None, stop_reason=matched,
        )
        return sample, max(reused, 0)

    def _logprob(self, token: int, logits: Any, top_k: int) -> TokenLogprob:
        return token_logprob(logits, token, top_k, self._piece)

    def _piece(self, token: int) -> str:
        return str(self._llm.detokenize([token]).decode("utf-8", "ignore"))


def _first_stop(text: str, stops: tuple[str, ...]) -> tuple[int, str] | None:
    """Where the earliest stop string starts, and which one it is."""
    hits = [(i, s) for s in stops if s and (i := text.find(s)) >= 0]
    return min(hits) if hits else None
