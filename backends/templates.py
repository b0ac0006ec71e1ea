"""Where a backend's chat template comes from, resolved once per backend:

1. `PONDER_CHAT_TEMPLATE`: a Jinja file, an HF model folder (its `chat_template.jinja` or
   `tokenizer_config.json`), a `tokenizer_config.json`, or a GGUF file (its `tokenizer.chat_template`);
2. the server itself (backends/server_templates.py): llama.cpp's `llama-server` shows its template at
   `GET /props`; vLLM renders a conversation at `POST /tokenize` with `messages`, and ponder reads the
   prompt back through `/detokenize`; SGLang names its tokenizer folder at `GET /get_model_info` (read
   when this machine can see it);
3. ChatML, as the last resort, with a warning.

A partial assistant message is continued the same way whatever the source: the conversation is
rendered with a marker as that message's content and cut there, so the prompt ends with the partial
text byte for byte (a template that trims content cannot move a step's blank line)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from jinja2 import TemplateError

from backends.chat_template import CHATML_TEMPLATE, ChatTemplate
from backends.errors import BackendError
from backends.types import ChatMessage

log = logging.getLogger("ponder.backends")

PROBE_MESSAGES: list[ChatMessage] = [{"role": "user", "content": "2 + 2?"}]  # a conversation every template renders


class TemplateLoadError(ValueError):
    """A chat template named in the settings cannot be read or does not render (a startup error)."""


class TemplateRenderError(BackendError):
    """The chat template refused a conversation (its `raise_exception`, or a message it cannot show)."""

    status = 400
    code = "chat_template_error"


class Renderer(Protocol):
    source: str  # where the template came from (GET /health and the startup log say it)
    bos_token: str  # the text a rendered prompt starts with when the template writes the BOS token

    async def render(self, messages: list[ChatMessage], *, add_generation_prompt: bool = True) -> str: ...


class TemplateSlot:
    """A backend's chat template: the one given, else the one `discover` finds on first use (a server
    that cannot be reached is asked again next time), else ChatML with a warning naming `advice`."""

    def __init__(self, given: Renderer | None, discover: Callable[[], Awaitable[Renderer | None]] | None = None,
                 advice: str = "") -> None:
        self._renderer, self._discover, self._advice = given, discover, advice
        self._lock = asyncio.Lock()

    async def renderer(self) -> Renderer:
        if self._renderer is not None:
            return self._renderer
        async with self._lock:
            if self._renderer is None:
                found = await self._discover() if self._discover is not None else None
                if found is None:
                    found = chatml(self._advice)
                    log.warning("chat template: %s", found.source)
                self._renderer = found
        return self._renderer

    async def render(self, messages: list[ChatMessage], *, add_generation_prompt: bool = True) -> str:
        return await (await self.renderer()).render(messages, add_generation_prompt=add_generation_prompt)

    def replace(self, renderer: Renderer) -> None:
        """Use `renderer` from now on (an embedded model's own template, once the model is loaded)."""
        self._renderer = renderer

    @property
    def source(self) -> str:
        return self._renderer.source if self._renderer is not None else "not resolved yet"

    @property
    def bos_token(self) -> str:
        return self._renderer.bos_token if self._renderer is not None else ""


class RendersChat:
    """What a backend with a `TemplateSlot` (`self._template`) answers about chats: one copy for all."""

    _template: TemplateSlot

    async def render_chat(self, messages: list[ChatMessage], *, add_generation_prompt: bool = True) -> str:
        """The prompt for `messages`; a final assistant message with `add_generation_prompt=False` is continued."""
        return await self._template.render(messages, add_generation_prompt=add_generation_prompt)

    @property
    def chat_template_source(self) -> str:
        return self._template.source

    async def resolve_chat_template(self) -> str:
        return (await self._template.renderer()).source


@dataclass
class LocalTemplate:
    """A Jinja chat template rendered in this process."""

    template: ChatTemplate
    source: str
    bos_token: str = ""

    async def render(self, messages: list[ChatMessage], *, add_generation_prompt: bool = True) -> str:
        try:
            return self.template.render(messages, add_generation_prompt=add_generation_prompt)
        except TemplateError as exc:
            raise TemplateRenderError(f"the chat template ({self.source}) refused the conversation: {exc}") from None


def chatml(reason: str) -> LocalTemplate:
    return LocalTemplate(ChatTemplate(CHATML_TEMPLATE), f"chatml (fallback: {reason})")


def token_text(value: Any) -> str:
    """A special token as tokenizer_config.json writes it: a string or {"content": ...}."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else ""


def _from_hf_config(config: dict[str, Any], where: str) -> tuple[str, str, str]:
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates: the default one
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default") or next(iter(named.values()), None)
    if not isinstance(template, str) or not template.strip():
        raise TemplateLoadError(f"{where} has no chat_template")
    return template, token_text(config.get("bos_token")), token_text(config.get("eos_token"))


def _read_gguf(path: Path) -> tuple[str, str, str]:
    from gguf import GGUFReader  # imported here: only a GGUF template needs it

    reader = GGUFReader(str(path))

    def field(name: str) -> Any:
        found = reader.fields.get(name)
        return None if found is None else found.contents()

    template = field("tokenizer.chat_template")
    if not isinstance(template, str) or not template.strip():
        raise TemplateLoadError(f"{path} carries no tokenizer.chat_template")
    tokens = field("tokenizer.ggml.tokens")
    bos_id, eos_id = field("tokenizer.ggml.bos_token_id"), field("tokenizer.ggml.eos_token_id")

    def token(index: Any) -> str:
        return str(tokens[index]) if isinstance(index, int) and isinstance(tokens, list) and index < len(tokens) else ""

    return template, token(bos_id), token(eos_id)


def load_template(location: str) -> LocalTemplate:
    """The template at `location` (a file or an HF folder), checked by rendering a conversation."""
    path = Path(location).expanduser()
    try:
        if path.is_dir():
            jinja = path / "chat_template.jinja"
            config_path = path / "tokenizer_config.json"
            config = json.loads(config_path.read_text()) if config_path.exists() else {}
            if jinja.exists():
                template, bos, eos = jinja.read_text(), token_text(config.get("bos_token")), \
                    token_text(config.get("eos_token"))
            else:
                template, bos, eos = _from_hf_config(config, str(config_path))
        elif path.suffix == ".gguf":
            template, bos, eos = _read_gguf(path)
        elif path.suffix == ".json":
            template, bos, eos = _from_hf_config(json.loads(path.read_text()), str(path))
        else:
            template, bos, eos = path.read_text(), "", ""
    except TemplateLoadError as exc:
        raise TemplateLoadError(f"chat template {location}: {exc}") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise TemplateLoadError(f"chat template {location} cannot be read: {exc}") from None
    return checked(template, bos, eos, source=f"file {path}")


# The BOS spellings of the common model families (Gemma, Llama 2 and Mistral, Llama 3, DeepSeek): a
# template file that writes one at the start writes the BOS itself, so the server must not add another.
_KNOWN_BOS = ("<bos>", "<s>", "<|begin_of_text|>", "<｜begin▁of▁sentence｜>")


def checked(template: str, bos: str, eos: str, *, source: str) -> LocalTemplate:
    """A compiled template that renders a fresh turn and continues an assistant message."""
    try:
        compiled = ChatTemplate(template, bos_token=bos, eos_token=eos)
        probe = compiled.render(PROBE_MESSAGES)
        bos = bos or next((b for b in _KNOWN_BOS if probe.startswith(b)), "")
        compiled.render([*PROBE_MESSAGES, {"role": "assistant", "content": "4"}], add_generation_prompt=False)
    except TemplateError as exc:
        raise TemplateLoadError(f"chat template from {source} does not render a conversation: {exc}") from None
    return LocalTemplate(compiled, source, bos)


def gguf_template(llm: Any, path: Path | str) -> LocalTemplate | None:
    """The template inside a loaded llama.cpp model's GGUF metadata, or None when it has none."""
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    eos = llm.detokenize([llm.token_eos()]).decode("utf-8", "ignore")
    try:
        return checked(template, "", eos, source=f"gguf {path} (tokenizer.chat_template)")
    except TemplateLoadError as exc:
        log.warning("%s; using ChatML", exc)
        return None
