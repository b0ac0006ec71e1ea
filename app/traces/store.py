"""Search traces for `GET /v1/traces/{id}`, each readable only by the caller that created it.

Recent traces live in a bounded in-memory map. With `PONDER_TRACE_DIR` each kept trace is also
one owner-only file, `<dir>/<id>.json`, written before the response goes out: gateways that share
the folder (a shared volume) and the caller secret (`PONDER_CALLER_SECRET`, app/http/auth.py) find each
other's traces, so any gateway behind a load balancer answers for any trace. `ponder export` reads
the folder."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import stat
import time
from collections import OrderedDict
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from app.protocol.render import event_json, tree_records
from search.driver import SearchResult

log = logging.getLogger("ponder")
# ponder's ids (chatcmpl-<hex>, reason-<hex>): anything else is never a file name.
_TRACE_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
# The outcome's records of how it was chosen (search.records), each a key of the trace (null where unset).
_RECORDS = ("vote", "verified", "revisions", "path", "code", "selection")


def _plain(record: object) -> dict[str, Any] | None:
    """A record as JSON-ready fields, its derived counts (a vote's `samples`, `programs`, ...) included."""
    if record is None or not is_dataclass(record) or isinstance(record, type):
        return None
    fields = asdict(record)
    derived = {name: getattr(record, name) for name, attr in vars(type(record)).items() if isinstance(attr, property)}
    return {**fields, **derived}


def trace_record(trace_id: str, result: SearchResult, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The stored trace: the search's events and tree, and what the viewer (app/traces/viewer.py) shows of
    its outcome: the budget and what was spent, the candidates, the record of how the answer was chosen, and how an
    open-ended reply was chosen (its instruction checks)."""
    o, u = result.outcome, result.usage
    return {"id": trace_id, "created": int(time.time()), "strategy": result.strategy, "messages": messages,
            "answer": o.answer if o else None, "events": [event_json(e) for e in result.events],
            "tree": tree_records(result),
            "content": o.content if o else None, "confidence": o.confidence if o else None,
            "candidates": [{"answer": c.answer, "votes": c.votes, "score": c.score}
                           for c in (o.candidates if o else ())],
            "stop_reason": result.stop_reason, "rounds": result.rounds, "work": o.work if o else None,
            # how the answer was chosen: the one record its search keeps (app/static/viewer reads them)
            **{name: _plain(getattr(o, name, None)) for name in _RECORDS},
            "thinking_chars": o.thinking_chars if o else 0,
            "elapsed_s": round(result.elapsed_s, 3), "budget": asdict(result.budget), "errors": list(result.errors),
            "usage": {"completion_tokens": u.completion_tokens, "prompt_tokens": u.prompt_tokens,
                      "cached_tokens": u.cached_tokens, "calls": u.calls, "failed_calls": u.failed_calls}}


class TraceStore:
    def __init__(self, max_items: int = 256, directory: Path | None = None) -> None:
        self.max_items = max_items
        self.directory = directory
        self._items: OrderedDict[str, tuple[str | None, dict[str, Any]]] = OrderedDict()

    def prepare(self) -> None:
        """Make the trace folder, owner-only; an existing one open to others is tightened to 0700 (mkdir's
        mode applies only to a folder it creates). Where this process may not, it says so and goes on."""
        if self.directory is None:
            return
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            mode = stat.S_IMODE(self.directory.stat().st_mode)
            if mode & 0o077:
                os.chmod(self.directory, 0o700)
                log.info("trace folder %s tightened from %04o to 0700 (prompts inside)", self.directory, mode)
        except OSError as exc:  # another user's folder (a volume's root): the files inside stay 0600
            log.warning("trace folder %s is not owner-only and cannot be made so: %s", self.directory, exc)

    async def put(self, trace_id: str, trace: dict[str, Any], *, owner: str | None) -> None:
        """Keep `trace` for `owner` (a caller digest, app/http/auth.py; None on an open server)."""
        self._items[trace_id] = (owner, trace)
        self._items.move_to_end(trace_id)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)  # the oldest goes first
        if self.directory is not None and _TRACE_ID.fullmatch(trace_id):
            try:
                await asyncio.to_thread(self._write, self.directory, trace_id, {"owner": owner, "trace": trace})
            except OSError as exc:  # a full or unreachable folder costs the shared copy, never the answer
                log.error("trace %s not written to %s: %s", trace_id, self.directory, exc)

    async def get(self, trace_id: str, caller: str | None) -> dict[str, Any] | None:
        """The trace, or None when it is unknown, dropped, or `caller` did not create it (the same answer)."""
        found = self._items.get(trace_id)
        if found is None and self.directory is not None and _TRACE_ID.fullmatch(trace_id):
            stored = await asyncio.to_thread(self._read, self.directory / f"{trace_id}.json")
            found = (stored["owner"], stored["trace"]) if stored else None
        if found is None or found[0] != caller:
            return None
        return found[1]

    @staticmethod
    def _write(directory: Path, trace_id: str, stored: dict[str, Any]) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # prompts inside: owner only
        partial = directory / f".{trace_id}.{os.getpid()}.tmp"
        try:
            with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                json.dump(stored, f)
            os.replace(partial, directory / f"{trace_id}.json")  # a reader sees the whole file or none
        finally:
            partial.unlink(missing_ok=True)

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return stored if isinstance(stored, dict) and {"owner", "trace"} <= stored.keys() else None
