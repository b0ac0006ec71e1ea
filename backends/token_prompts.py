"""Prompts as token ids, tokenised once through the server's `/tokenize` (vLLM).

A search's prompts extend one another: a step's prompt is its parent's prompt plus the
parent's step. Sent as text, each prompt is tokenised afresh by the server, and the
tokens at the join can differ from the parent's (a merge across the boundary), which
breaks the prefix cache from that block on. Here each prompt's ids are the ids of the
longest prompt already tokenised that it starts with, plus the ids of the rest: every
call of a search extends the token ids of the calls before it exactly, so vLLM's block
cache (keyed by token ids) hits every shared block.

The ids of a join are not always the ids the tokenizer would give the whole text (byte-level
BPE may split "\n\n" into "\n" + "\n"), but they must spell the same text: a tokenizer that
adds a word-start marker to every piece (SentencePiece's dummy prefix) would insert a space at
each join. So the first join is checked once, through `/detokenize`; if the ids do not spell the
prompt exactly, token-id prompts are turned off for the backend.

A server without a usable `/tokenize` (an error status before it ever worked, a 4xx, no ids
for non-empty text, no `/detokenize` to check with) turns this off for the backend; prompts
then go as text. A call that cannot reach `/tokenize` sends its prompt as text.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

from backends.errors import BackendBadResponse, BackendTimeout, BackendUnavailable
from backends.http_retry import JsonApi

log = logging.getLogger("ponder.backends")


class TokenPrompts:
    def __init__(self, api: JsonApi, model: Callable[[], str], *, capacity: int = 512,
                 writes_bos: Callable[[str], bool] = lambda prompt: False) -> None:
        self._api = api
        self._model = model
        self._writes_bos = writes_bos  # the chat template already wrote the BOS token at the prompt's start
        self._known: OrderedDict[str, tuple[int, ...]] = OrderedDict()  # prompt text -> its ids, LRU
        self.capacity = capacity
        self.enabled = True
        self.worked = False
        self.joins_checked = False
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
            tail = await self._tokenize(rest, add_special_tokens=not base and not self._writes_bos(prompt),
                                        deadline=deadline)
            ids = head + tail
            if base and not self.joins_checked:
                self.joins_checked = True
                # (The spelling may start with a BOS the first piece added; nothing may differ after it.)
                spelt = await self._detokenize(ids, deadline=deadline)
                if spelt is None or not spelt.endswith(prompt):
                    raise BackendBadResponse("ids tokenised piecewise do not spell the prompt (the tokenizer "
                                             "marks word starts)", backend="openai")
        except BackendBadResponse as exc:
            # No such endpoint (or not this shape): off for good. A server error once it has
            # worked: this prompt goes as text.
            if not self.worked or exc.upstream_status is None or exc.upstream_status < 500:
                self.enabled = False
                log.warning("token-id prompts off for %s: %s", self._api.base_url, exc)
            return None
        except (BackendUnavailable, BackendTimeout):
            return None  # the completion call itself will say what is wrong with the server
        self.worked = True
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
        if (not isinstance(tokens, list) or not tokens
                or not all(isinstance(t, int) and not isinstance(t, bool) for t in tokens)):
            # (llama.cpp's server answers {"tokens": []} to a body without its `content` field.)
            raise BackendBadResponse(f"{self._api.base_url}/tokenize answered without token ids", backend="openai")
        return tuple(tokens)

    async def _detokenize(self, ids: tuple[int, ...], *, deadline: float | None) -> str | None:
        answer = await self._api.send_object("POST", "/detokenize", deadline=deadline,
                                             body={"model": self._model(), "tokens": list(ids)})
        text = answer.get("prompt")
        return text if isinstance(text, str) else None
