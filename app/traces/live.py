"""Searches in progress that a viewer may follow (`GET /v1/traces/{id}/events`).

A search whose trace will be kept is registered under its trace id while it runs: its emit
callback appends each event here, and every follower reads them all from the first, then waits
for more. When the search ends the registration ends with it; the trace store has the rest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from search.events import Event


class LiveSearch:
    """One running search's events so far, and its trace once it has ended (None if it failed)."""

    def __init__(self, owner: str | None, strategy: str) -> None:
        self.owner, self.strategy = owner, strategy
        self.events: list[Event] = []
        self.ended = False
        self.trace: dict[str, Any] | None = None
        self.failure: str | None = None
        self._wake = asyncio.Event()

    def emit(self, event: Event) -> None:
        """The search's emit callback (search/driver.py): keep the event, wake the followers."""
        self.events.append(event)
        self._notify()

    def end(self, trace: dict[str, Any] | None, failure: str | None = None) -> None:
        if not self.ended:
            self.ended, self.trace, self.failure = True, trace, failure
            self._notify()

    def _notify(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()

    async def follow(self) -> AsyncIterator[Event]:
        """Every event from the first, then each new one as it comes, until the search ends."""
        sent = 0
        while True:
            wake = self._wake  # taken before looking, so an event emitted meanwhile is not missed
            while sent < len(self.events):
                yield self.events[sent]
                sent += 1
            if self.ended:
                return
            await wake.wait()


class LiveSearches:
    """The running searches by trace id; each is visible only to the caller that started it."""

    def __init__(self) -> None:
        self._running: dict[str, LiveSearch] = {}

    def start(self, trace_id: str, owner: str | None, strategy: str) -> LiveSearch:
        live = LiveSearch(owner, strategy)
        self._running[trace_id] = live
        return live

    def end(self, trace_id: str, trace: dict[str, Any] | None, failure: str | None = None) -> None:
        """The search is over: followers get `trace` (or the failure) and new ones go to the trace store."""
        live = self._running.pop(trace_id, None)
        if live is not None:
            live.end(trace, failure)

    def get(self, trace_id: str, caller: str | None) -> LiveSearch | None:
        live = self._running.get(trace_id)
        return live if live is not None and live.owner == caller else None
