"""Prompts as token ids, tokenised once through the server's `/tokenize` (vLLM).

A search's prompts extend one another: a step's prompt is its parent's prompt plus the
parent's step. Sent as text, each prompt is tokenised afresh by the server, and the
tokens at the join can differ from the parent's (a merge across the boundary), which
breaks the prefix cache from that block on. Here each prompt's ids are the ids of the
longest prompt already tokenised that it starts with, plus the ids of the rest: every
call of a search extends the token ids of the calls before it exactly, so vLLM's block
cache (keyed by token ids) hits every shared block.

A server without a usable `/tokenize` (an error status before it ever worked, a 4xx, an
answer without `tokens`) turns this off for the backend; prompts then go as text.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

from backends.errors import BackendBadResponse
from backends.http_retry import JsonApi

log = logging.getLogger("ponder.backends")


class TokenPrompts:
    def __init__(self, api: JsonApi, model: Callable[[], str], *, capacity: int = 512) -> None:
        self._api = api
        self._model = model
        self._known: OrderedDict[str, tuple[int, ...]] = OrderedDict()  # prompt text -> its ids, LRU
        self.capacity = capacity
        self.enabled = True
        self.worked = False
        self.tokenize_calls = 0

    async def ids(self, prompt: str, *, deadline: float | None = None) -> list[int] | None:
        """The token ids to send for `prompt`, or None to send it as text (no usable /tokenize)."""
        if not self.enabled:
            return None
        base = self._longest_prefix(prompt)
        rest = prompt[len(base):]
        head = self._known[base] if base else ()
        if base:
            self._known.move_to_end(base)
        if not rest:
            return list(head)
        try:
            # The first piece is tokenised as the server would a text prompt (special tokens such as
            # a BOS added); a continuation only as itself.
            tail = await self._tokenize(rest, add_special_tokens=not base, deadline=deadline)
        except BackendBadResponse as exc:
            # No such endpoint (or not this shape): off for good. A server error once it has
            # worked: this prompt goes as text.
            if not self.worked or exc.upstream_status is None or exc.upstream_status < 500:
                self.enabled = False
                log.warning("token-id prompts off for %s: %s", self._api.base_url, exc)
            return None
        self.worked = True
        ids = head + tail
        self._known[prompt] = ids
        while len(self._known) > self.capacity:
            self._known.popitem(last=False)
        return list(ids)

    def _longest_prefix(self, prompt: str) -> str:
        best = ""
        for text in self._known:
            if len(text) > len(best) and prompt.startswith(text):
                best = text
        return best

    async def _tokenize(self, text: str, *, add_special_tokens: bool, deadline: float | None) -> tuple[int, ...]:
        self.tokenize_calls += 1
        answer = await self._api.send_object("POST", "/tokenize", deadline=deadline, body={
            "model": self._model(), "prompt": text, "add_special_tokens": add_special_tokens})
        tokens = answer.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in tokens):
            raise BackendBadResponse(f"{self._api.base_url}/tokenize answered without token ids", backend="openai")
        return tuple(tokens)
