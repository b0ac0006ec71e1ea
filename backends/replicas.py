"""Several replicas of one model as one Backend: prefix affinity, load spreading, failover.

A search's calls share its rendered prompt as a prefix, and a replica's prefix cache only
helps the calls it serves, so a call whose prompt extends an earlier call's prompt goes where
that call went. A prompt that extends none starts a new search: it goes to the replica with the
fewest samples in flight. Prompts are compared at every `BLOCK` bytes (one hash per boundary): a
prompt extends an earlier one when it starts with that one's text up to its last boundary, so two
prompts that differ only in their last `BLOCK - 1` bytes count as one search, and a prompt shorter
than `BLOCK` matches only itself.

Within a search (its calls carry one SEARCH_SESSION id, backends/http_retry.py) prefixes are
compared only with that search's own calls: short questions under one long system prompt differ
only after their last boundary, so they would all count as the first one's search and pile onto
its replica; scoped, each new search goes by load, and the shared part costs each replica one
cache miss."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from backends.errors import BackendError, BackendUnavailable
from backends.http_retry import SEARCH_SESSION
from backends.types import Backend, ChatMessage, Completion
from sampling import Sampling

BLOCK = 64  # bytes of UTF-8 prompt between affinity keys


@dataclass(eq=False)
class Replica:
    """One backend instance and what routing knows about it."""

    backend: Backend
    label: str
    in_flight: int = 0  # samples asked of it and not yet answered
    down_since: float | None = None  # when it last failed; None while it is healthy
    retry_at: float = 0.0  # when a health probe may next try to bring it back
    probing: bool = False


class Replicas:
    """A Backend over `backends` (same model, different servers).

    A replica that cannot be reached is skipped for `cooldown_s`, then probed with `health()`
    in the background while traffic flows; it comes back when a probe passes. A call whose
    replica fails as unavailable (refused, dropped mid-way, 503) is retried on another."""

    def __init__(self, backends: Sequence[Backend], *, cooldown_s: float = 10.0, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not backends:
            raise ValueError("Replicas needs at least one backend")
        self.name = backends[0].name
        self.replicas = [Replica(b, label=str(getattr(b, "base_url", "") or f"replica {i}"))
                         for i, b in enumerate(backends)]
        self.cooldown_s = cooldown_s
        self._max_keys = max_keys
        self._clock = clock
        self._owner: OrderedDict[bytes, Replica] = OrderedDict()  # prompt prefix key -> replica, least recent first
        self._turn = 0  # rotates ties between equally loaded replicas
        self._probes: set[asyncio.Task[None]] = set()

    @property
    def model(self) -> str:
        """The served model's name, from the first replica that knows it (remote ones learn it on first use)."""
        return next((r.backend.model for r in self.replicas if r.backend.model), "")

    @model.setter
    def model(self, name: str) -> None:
        for replica in self.replicas:
            replica.backend.model = name

    @property
    def chat_template_source(self) -> str:
        return self.replicas[0].backend.chat_template_source

    async def resolve_chat_template(self) -> str:
        """The first replica that answers says (replicas serve one model)."""
        for replica in self.replicas:
            try:
                return await replica.backend.resolve_chat_template()
            except BackendError:
                continue
        return self.chat_template_source

    async def render_chat(self, messages: list[ChatMessage], *, add_generation_prompt: bool = True) -> str:
        """Rendered by the first replica that answers (healthy ones first)."""
        failure: BackendUnavailable | None = None
        for replica in sorted(self.replicas, key=lambda r: r.down_since is not None):
            try:
                return await replica.backend.render_chat(messages, add_generation_prompt=add_generation_prompt)
            except BackendUnavailable as exc:
                self._mark_down(replica)
                failure = exc
        assert failure is not None
        raise failure

    async def complete(
        self, prompt: str, *, n: int, params: Sampling, deadline: float | None = None
    ) -> Completion:
        """The samples from the replica this prompt's prefix belongs to; on BackendUnavailable, from the
        next one. `extra["replica"]` names the replica that answered."""
        keys = prefix_keys(prompt, scope=SEARCH_SESSION.get())
        tried: list[Replica] = []
        failure: BackendUnavailable | None = None
        while (replica := self._route(keys, tried)) is not None:
            tried.append(replica)
            self._claim(keys, replica)
            replica.in_flight += n
            try:
                done = await replica.backend.complete(prompt, n=n, params=params, deadline=deadline)
            except BackendUnavailable as exc:
                self._mark_down(replica)
                failure = exc
                continue
            finally:
                replica.in_flight -= n
            replica.down_since = None
            return replace(done, extra={**done.extra, "replica": replica.label})
        assert failure is not None
        raise failure

    async def health(self) -> bool:
        """Probe every replica now: passing ones are routed to again, failing ones skipped. True if any passed."""
        results = await asyncio.gather(*(r.backend.health() for r in self.replicas))
        for replica, ok in zip(self.replicas, results, strict=True):
            if ok:
                replica.down_since = None
            else:
                self._mark_down(replica)
        return any(results)

    async def aclose(self) -> None:
        """Stop the health probes and close every replica."""
        for task in self._probes:
            task.cancel()
        await asyncio.gather(*self._probes, return_exceptions=True)
        for replica in self.replicas:
            await replica.backend.aclose()

    def _route(self, keys: list[bytes], tried: list[Replica]) -> Replica | None:
        """Where a prompt goes: the replica of the longest earlier prompt it extends, if that one is up;
        else the least loaded up replica; else (all down) the one that failed longest ago. A search whose
        replica is down is one whose prefixes all belong to down replicas: it moves by load."""
        self._probe_due()
        up = [r for r in self.replicas if r not in tried and r.down_since is None]
        for key in reversed(keys):
            owner = self._owner.get(key)
            if owner is not None and owner in up:
                self._owner.move_to_end(key)
                return owner
        if up:
            count = len(self.replicas)
            self._turn += 1
            return min(up, key=lambda r: (r.in_flight, (self.replicas.index(r) - self._turn) % count))
        rest = [r for r in self.replicas if r not in tried]
        return min(rest, key=lambda r: r.down_since or 0.0) if rest else None

    def _claim(self, keys: list[bytes], replica: Replica) -> None:
        """Remember this prompt as `replica`'s, and move to it the earlier prompts on its path whose replica
        is down, so that the rest of a moved search (other branches included) follows it."""
        for key in keys[:-1]:
            owner = self._owner.get(key)
            if owner is not None and owner.down_since is not None:
                self._owner[key] = replica
        self._owner[keys[-1]] = replica
        self._owner.move_to_end(keys[-1])
        while len(self._owner) > self._max_keys:
            self._owner.popitem(last=False)

    def _mark_down(self, replica: Replica) -> None:
        now = self._clock()
        if replica.down_since is None:
            replica.down_since = now
        replica.retry_at = now + self.cooldown_s

    def _probe_due(self) -> None:
        """Start a background health probe for each replica whose cooldown has run out."""
        now = self._clock()
        for replica in self.replicas:
            if replica.down_since is not None and not replica.probing and replica.retry_at <= now:
                replica.probing = True
                task = asyncio.ensure_future(self._probe(replica))
                self._probes.add(task)
                task.add_done_callback(self._probes.discard)

    async def _probe(self, replica: Replica) -> None:
        try:
            ok = await replica.backend.health()
        finally:
            replica.probing = False
        if ok:
            replica.down_since = None
        else:
            self._mark_down(replica)


def prefix_keys(prompt: str, scope: str | None = None) -> list[bytes]:
    """Hashes of `prompt`'s prefixes at every BLOCK boundary, shortest first; the last one (the longest
    boundary, or the whole prompt when it is shorter than a block) is the key the prompt is remembered by.
    A `scope` (a search's session id) keeps the keys apart from every other scope's."""
    data = prompt.encode("utf-8", "surrogatepass")
    running = hashlib.blake2b(digest_size=16, person=hashlib.blake2b(
        (scope or "").encode(), digest_size=16).digest())
    keys: list[bytes] = []
    for start in range(0, len(data) - len(data) % BLOCK, BLOCK):
        running.update(data[start:start + BLOCK])
        keys.append(running.copy().digest())
    if not keys:
        running.update(data)
        keys.append(running.digest())
    return keys
