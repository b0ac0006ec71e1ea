"""A chat template a running server shows or renders (source 2 in backends/templates.py): llama.cpp's
`llama-server` at `GET /props`, vLLM through `POST /tokenize` with `messages` read back via `/detokenize`,
SGLang's tokenizer folder named at `GET /get_model_info` (when this machine can read it)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from backends.errors import BackendBadResponse
from backends.http_retry import JsonApi
from backends.templates import (
    PROBE_MESSAGES,
    LocalTemplate,
    Renderer,
    TemplateLoadError,
    TemplateRenderError,
    checked,
    load_template,
    token_text,
)
from backends.types import ChatMessage

log = logging.getLogger("ponder.backends")

_MARK = "PONDERCONTINUEHERE"  # a partial assistant message's stand-in (one word: no template trims it)


class ServerTemplate:
    """vLLM renders: POST /tokenize with `messages` gives the ids of the prompt, /detokenize its text."""

    def __init__(self, api: JsonApi, model: Callable[[], str], bos_token: str) -> None:
        self._api, self._model = api, model
        self.source = f"server {api.base_url}/tokenize (the server's own template)"
        self.bos_token = bos_token

    async def render(self, messages: list[ChatMessage], *, add_generation_prompt: bool = True) -> str:
        continuing = not add_generation_prompt and bool(messages) and messages[-1].get("role") == "assistant"
        if not continuing:
            return await self._text(messages, add_generation_prompt=add_generation_prompt, continue_final=False)
        partial = str(messages[-1].get("content") or "")
        text = await self._text([*messages[:-1], {**messages[-1], "content": _MARK}], add_generation_prompt=False,
                                continue_final=True)
        cut = text.rfind(_MARK)
        if cut < 0:
            raise TemplateRenderError(f"the chat template ({self.source}) drops assistant messages; cannot continue")
        return text[:cut] + partial

    async def _text(self, messages: list[ChatMessage], *, add_generation_prompt: bool, continue_final: bool) -> str:
        body = {"model": self._model(), "messages": messages, "add_generation_prompt": add_generation_prompt,
                "continue_final_message": continue_final, "add_special_tokens": False}
        try:
            tokens = (await self._api.send_object("POST", "/tokenize", body=body)).get("tokens")
        except BackendBadResponse as exc:
            if exc.upstream_status == 400:  # the template raised on these messages
                raise TemplateRenderError(f"the chat template ({self.source}) refused the conversation: {exc}") \
                    from None
            raise
        if not isinstance(tokens, list):
            raise BackendBadResponse(f"{self.source} answered without tokens")
        text = (await self._api.send_object("POST", "/detokenize", body={"model": self._model(), "tokens": tokens}))
        prompt = text.get("prompt")
        if not isinstance(prompt, str):
            raise BackendBadResponse(f"{self._api.base_url}/detokenize answered without a prompt")
        return prompt


PROBE_S = 10.0  # asking a server for its template takes a moment; one that hangs is asked again later


async def server_template(api: JsonApi, model: Callable[[], str]) -> Renderer | None:
    """The template a running OpenAI-compatible server uses, if it shows or renders one."""
    deadline = time.monotonic() + min(api.timeout_s, PROBE_S)
    try:
        props = await api.send_object("GET", "/props", deadline=deadline)
    except BackendBadResponse:
        props = {}
    template = props.get("chat_template")
    if isinstance(template, str) and template.strip():  # llama.cpp's llama-server
        try:
            return checked(template, token_text(props.get("bos_token")), token_text(props.get("eos_token")),
                           source=f"server {api.base_url}/props")
        except TemplateLoadError as exc:
            log.warning("%s; looking further", exc)
    try:
        probe = await api.send_object("POST", "/tokenize", deadline=deadline, body={
            "model": model(), "messages": PROBE_MESSAGES, "add_generation_prompt": True, "add_special_tokens": False})
        bare = await api.send_object("POST", "/tokenize", deadline=deadline, body={
            "model": model(), "prompt": "", "add_special_tokens": True})
    except BackendBadResponse:
        return None  # no /tokenize, or not one that takes messages
    tokens, specials = probe.get("tokens"), bare.get("tokens")
    if not isinstance(tokens, list) or not tokens:
        return None
    bos = ""
    if isinstance(specials, list) and specials and tokens[:1] == specials[:1]:  # the template writes the BOS
        head = await api.send_object("POST", "/detokenize", deadline=deadline,
                                     body={"model": model(), "tokens": specials[:1]})
        bos = token_text(head.get("prompt"))
    return ServerTemplate(api, model, bos)


async def folder_template(api: JsonApi) -> Renderer | None:
    """SGLang's template: the tokenizer folder its /get_model_info names, when this machine can read it
    (a shared model volume); SGLang renders no conversation for a client."""
    info = await api.send_object("GET", "/get_model_info", deadline=time.monotonic() + min(api.timeout_s, PROBE_S))
    folders = [(key, info.get(key)) for key in ("tokenizer_path", "model_path")]
    return await asyncio.to_thread(_first_readable, [(k, f) for k, f in folders if isinstance(f, str) and f],
                                   api.base_url)


def _first_readable(folders: list[tuple[str, str]], base_url: str) -> LocalTemplate | None:
    for key, folder in folders:
        if not Path(folder).is_dir():
            continue
        try:
            found = load_template(folder)
        except TemplateLoadError as exc:
            log.warning("%s", exc)
            continue
        return LocalTemplate(found.template, f"server {base_url}/get_model_info {key} {folder}", found.bos_token)
    return None
