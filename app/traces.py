"""A bounded in-memory store of recent search traces, each readable only by the caller that
created it, optionally appended to owner-only JSONL files (`PONDER_TRACE_DIR`) for `ponder export`."""

from __future__ import annotations

import json
import os
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
        self._items: OrderedDict[str, tuple[str | None, dict[str, Any]]] = OrderedDict()

    def put(self, trace_id: str, trace: dict[str, Any], *, owner: str | None) -> None:
        """Keep `trace` for `owner` (a caller digest, app/auth.py; None on an open server)."""
        self._items[trace_id] = (owner, trace)
        self._items.move_to_end(trace_id)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)  # the oldest goes first
        if self.directory is not None:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # prompts inside: owner only
            path = self.directory / f"traces-{time.strftime('%Y%m%d')}.jsonl"
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a") as f:
                f.write(json.dumps(trace) + "\n")

    def get(self, trace_id: str, caller: str | None) -> dict[str, Any] | None:
        """The trace, or None when it is unknown, dropped, or `caller` did not create it (the same answer)."""
        found = self._items.get(trace_id)
        if found is None or found[0] != caller:
            return None
        return found[1]
