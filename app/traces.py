"""A bounded in-memory store of recent search traces, retrievable by id."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any


class TraceStore:
    def __init__(self, max_items: int = 256) -> None:
        self.max_items = max_items
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def put(self, trace_id: str, trace: dict[str, Any]) -> None:
        self._items[trace_id] = trace
        self._items.move_to_end(trace_id)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)  # the oldest goes first

    def get(self, trace_id: str) -> dict[str, Any] | None:
        return self._items.get(trace_id)
