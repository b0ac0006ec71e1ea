"""A cap on concurrent searches with a bounded wait queue; past it, 429 + Retry-After."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.ops.metrics import Metrics
from app.protocol.errors import ApiError


class Admission:
    def __init__(self, *, max_concurrent: int, max_queued: int, metrics: Metrics) -> None:
        self.max_queued = max_queued
        self.metrics = metrics
        self._slots = asyncio.Semaphore(max_concurrent)
        self._waiting = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one search slot; ApiError 429 when every slot and queue place is taken."""
        if self._slots.locked() and self._waiting >= self.max_queued:
            self.metrics.rejected.inc()
            raise ApiError(429, f"too many concurrent searches (queue of {self.max_queued} is full); retry shortly",
                           type="rate_limit_error", code="too_many_searches", headers={"Retry-After": "1"})
        self._waiting += 1
        self.metrics.queued.inc()
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
            self.metrics.queued.dec()
        self.metrics.in_flight.inc()
        try:
            yield
        finally:
            self.metrics.in_flight.dec()
            self._slots.release()
