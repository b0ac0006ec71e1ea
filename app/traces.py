"""A bounded in-memory store of recent search traces, retrievable by id, optionally
appended to JSONL files (`PONDER_TRACE_DIR`) for `ponder export`."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from search.driver import SearchResult


def trace_record(trace_id: str, result: SearchResult, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": trace_id, "created": int(time.time()), "strategy": result.strategy, "messages": messages,
            "answer": result.outcome.answer if result.outcome else None, "events": list(result.events),
            "tree": result.tree}


class TraceStore:
    def __init__(self, max_items: int = 256, directory: Path | None = None) -> None:
        self.max_items = max_items
        self.directory = directory
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def put(self, trace_id: str, trace: dict[str, Any]) -> None:
        self._items[trace_id] = trace
        self._items.move_to_end(trace_id)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)  # the oldest goes first
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"traces-{time.strftime('%Y%m%d')}.jsonl"
            with path.open("a") as f:
                f.write(json.dumps(trace) + "\n")

    def get(self, trace_id: str) -> dict[str, Any] | None:
        return self._items.get(trace_id)
