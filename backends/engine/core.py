"""The engine: one llama.cpp context with several sequence slots, and its `step()`.

Only the engine thread touches it. Each step builds one batch holding the next token of
every decoding sequence plus a bounded chunk of pending prompt tokens, calls
`llama_decode` once, and samples every sequence whose logits it produced.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from backends.engine.loops import CHECK_EVERY, token_loop
from backends.engine.sampler import sampler_chain
from backends.engine.sequence import Request, Sequence, Status
from backends.engine.slots import Slot, SlotTable
from backends.errors import BackendError, PromptTooLong
from backends.logprobs import token_logprob
from backends.types import Sample, TokenLogprob


class EngineCore:
    def __init__(self, model_path: str, *, n_ctx: int, n_slots: int, n_threads: int, prefill_chunk: int = 256,
                 max_running: int | None = None) -> None:
        import llama_cpp
        from llama_cpp import Llama

        self.lib = llama_cpp
        # The high-level object loads the model and tokenizer; its own context stays tiny and unused.
        self.llm = Llama(model_path=model_path, n_ctx=64, n_batch=64, n_threads=n_threads, verbose=False)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = max(prefill_chunk + (max_running or n_slots), 64)
        params.n_ubatch = params.n_batch
        params.n_seq_max = n_slots
        params.kv_unified = True  # one cache shared by all slots, so a slot can fork another's prefix
        params.n_threads = params.n_threads_batch = n_threads
        self.ctx = llama_cpp.llama_init_from_model(self.llm._model.model, params)
        if not self.ctx:
            raise BackendError("llama.cpp could not create the engine context", backend="embedded")
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.vocab = self.llm._model.vocab
        self.n_vocab = self.llm.n_vocab()
        self.n_ctx, self.n_slots, self.prefill_chunk = n_ctx, n_slots, prefill_chunk
        # More slots than running sequences: finished branches stay cached for their
        # judges and children while the decode batch keeps its best width.
        self.max_running = min(max_running or n_slots, n_slots)
        self.batch = llama_cpp.llama_batch_init(params.n_batch, 0, 1)
        self.capacity = params.n_batch
        self.slots = SlotTable(n_slots)
        self.waiting: list[Sequence] = []
        self.running: list[Sequence] = []
        self.stats = {"prompt_tokens": 0, "cached_tokens": 0, "evaluated_tokens": 0, "generated_tokens": 0,
                      "steps": 0, "batch_tokens": 0, "busy_s": 0.0}

    def close(self) -> None:
        for seq in self.running:
            self._free_sampler(seq)
        self.lib.llama_batch_free(self.batch)
        self.lib.llama_free(self.ctx)
        self.llm.close()

    # -- requests -------------------------------------------------------------------------

    def add(self, request: Request) -> None:
        if len(request.prompt) >= self.n_ctx - 1:
            raise PromptTooLong(f"prompt has {len(request.prompt)} tokens; the context window is {self.n_ctx}",
                                backend="embedded")
        self.waiting.extend(Sequence(request, i) for i in range(request.n))

    @property
    def idle(self) -> bool:
        return not self.waiting and not self.running

    # -- one step ---------------------------------------------------------------------------

    def step(self) -> None:
        started = time.monotonic()
        self._drop_cancelled()
        self._admit()
        if not self.running:
            return
        self._build_batch()
        if self.batch.n_tokens == 0:
            return
        if self.lib.llama_decode(self.ctx, self.batch) != 0 and not self._retry_after_evicting():
            for seq in list(self.running):
                self._finish(seq, error=BackendError("the KV cache is full", backend="embedded"))
            return
        self.stats["steps"] += 1
        self.stats["batch_tokens"] += self.batch.n_tokens
        self._sample_all()
        self.stats["busy_s"] += time.monotonic() - started

    def _admit(self) -> None:
        for seq in list(self.waiting):
            if len(self.running) >= self.max_running:
                return
            siblings_prefilling = any(s.request is seq.request and s.status is Status.PREFILL for s in self.running)
            if siblings_prefilling:
                continue  # fork from the sibling once its prompt is in the cache
            source, shared = self.slots.best_source(seq.tokens)
            target = self.slots.pick_target(source)
            if target is None:
                return
            shared = min(shared, seq.prompt_len - 1)  # the last prompt token is re-run for its logits
            if source is target:
                self.lib.llama_memory_seq_rm(self.memory, target.id, shared, -1)
            else:
                self.lib.llama_memory_seq_rm(self.memory, target.id, -1, -1)
                if source is not None and shared > 0:
                    self.lib.llama_memory_seq_cp(self.memory, source.id, target.id, 0, shared)
                else:
                    shared = 0
            target.tokens = seq.tokens[:shared]
            target.busy = True
            self.slots.touch(target)
            seq.slot, seq.evaluated, seq.reused = target.id, shared, shared
            seq.status = Status.PREFILL
            seq.sampler = self._sampler(seq)
            self.waiting.remove(seq)
            self.running.append(seq)
            self.stats["prompt_tokens"] += seq.prompt_len
            self.stats["cached_tokens"] += shared
            seq.request.cached += shared

    def _build_batch(self) -> None:
        b = self.batch
        b.n_tokens = 0
        budget = self.capacity

        def put(seq: Sequence, token: int, pos: int, logits: bool) -> None:
            i = b.n_tokens
            b.token[i], b.pos[i], b.n_seq_id[i] = token, pos, 1
            b.seq_id[i][0] = seq.slot
            b.logits[i] = 1 if logits else 0
            b.n_tokens = i + 1

        for seq in self.running:
            seq.batch_index, seq.in_batch, seq.pending = -1, False, seq.evaluated
        for seq in self.running:  # decoding sequences first: a long prompt never stalls them
            if seq.status is Status.DECODE and budget > 0:
                put(seq, seq.tokens[-1], len(seq.tokens) - 1, True)
                seq.batch_index, seq.in_batch = b.n_tokens - 1, True
                budget -= 1
        chunk = min(self.prefill_chunk, budget)
        for seq in self.running:
            if seq.status is not Status.PREFILL or chunk <= 0:
                continue
            end = min(seq.prompt_len, seq.evaluated + chunk)
            for pos in range(seq.evaluated, end):
                put(seq, seq.tokens[pos], pos, pos == seq.prompt_len - 1)
            chunk -= end - seq.evaluated
            if end == seq.prompt_len:
                seq.batch_index = b.n_tokens - 1
            seq.pending, seq.in_batch = end, end > seq.evaluated

    def _retry_after_evicting(self) -> bool:
        """Free the caches of idle slots, oldest first, until the batch fits."""
        for slot in sorted(self.slots.free(), key=lambda s: s.last_used):
            if slot.tokens:
                self.lib.llama_memory_seq_rm(self.memory, slot.id, -1, -1)
                slot.tokens = []
                if self.lib.llama_decode(self.ctx, self.batch) == 0:
                    return True
        return False

    def _sample_all(self) -> None:
        for seq in list(self.running):
            if not seq.in_batch:
                continue
            slot = self.slots.slots[seq.slot]
            if seq.status is Status.PREFILL:
                self.stats["evaluated_tokens"] += seq.pending - seq.evaluated
                seq.evaluated = seq.pending
                slot.tokens = seq.tokens[: seq.evaluated]
                if seq.evaluated < seq.prompt_len:
                    continue
                seq.status = Status.DECODE
            else:
                seq.evaluated = len(seq.tokens)
                slot.tokens = list(seq.tokens)
            if seq.batch_index < 0:
                continue
            self._sample(seq)

    def _sample(self, seq: Sequence) -> None:
        params = seq.request.params
        if params.logprobs is not None:
            row = np.ctypeslib.as_array(self.lib.llama_get_logits_ith(self.ctx, seq.batch_index), shape=(self.n_vocab,))
            logits = row.astype(np.float64)
        token = self.lib.llama_sampler_sample(seq.sampler, self.ctx, seq.batch_index)
        if self.lib.llama_vocab_is_eog(self.vocab, token):
            self._finish(seq, reason="stop")
            return
        seq.tokens.append(token)
        seq.generated.append(token)
        self.stats["generated_tokens"] += 1
        if params.logprobs is not None:
            seq.logprobs.append(self._logprob(token, logits, params.logprobs))
        seq.text = self.llm.detokenize(seq.generated).decode("utf-8", "ignore")
        hits = [(i, s) for s in params.stop if s and (i := seq.text.find(s)) >= 0]
        if hits:
            cut, seq.stop_reason = min(hits)
            seq.text = seq.text[:cut]
            self._finish(seq, reason="stop")
        elif len(seq.generated) >= params.max_tokens or len(seq.tokens) >= self.n_ctx:
            self._finish(seq, reason="length")
        elif len(seq.generated) % CHECK_EVERY == 0 and token_loop(seq.generated):
            self._finish(seq, reason="length")  # it loops: the rest of its cap would be more copies
        elif seq.request.deadline is not None and time.monotonic() >= seq.request.deadline:
            self._finish(seq, reason="length")

    def _logprob(self, token: int, logits: Any, top_k: int) -> TokenLogprob:
        return token_logprob(logits, token, top_k,
                             lambda t: self.llm.detokenize([int(t)]).decode("utf-8", "ignore"))

    def _sampler(self, seq: Sequence) -> Any:
        return sampler_chain(self.lib, seq.request.params, seq.index, self.n_vocab)

    def _free_sampler(self, seq: Sequence) -> None:
        if seq.sampler is not None:
            self.lib.llama_sampler_free(seq.sampler)
            seq.sampler = None

    def _drop_cancelled(self) -> None:
        for seq in list(self.waiting):
            if seq.request.cancelled.is_set():
                self.waiting.remove(seq)
        for seq in list(self.running):
            if seq.request.cancelled.is_set():
                self._finish(seq, reason="cancelled")

    def _finish(self, seq: Sequence, *, reason: str = "length", error: Exception | None = None) -> None:
        self._free_sampler(seq)
        slot: Slot = self.slots.slots[seq.slot]
        slot.busy = False
        slot.tokens = seq.tokens[: seq.evaluated]  # what the cache really holds: kept for later forks
        self.slots.touch(slot)
        self.running.remove(seq)
        seq.status = Status.FINISHED
        request = seq.request
        if error is not None:
            request.failed = request.failed or error
        else:
            request.samples[seq.index] = Sample(
                text=seq.text, completion_tokens=len(seq.generated), finish_reason=reason,
                logprobs=tuple(seq.logprobs) if request.params.logprobs is not None else None,
                stop_reason=seq.stop_reason,
            )
        pending = any(s.request is request for s in self.running) or any(s.request is request for s in self.waiting)
        if not pending:
            done = [s for s in request.samples if s is not None]
            request.done(done if request.failed is None or done else None, request.failed, request.cached)
