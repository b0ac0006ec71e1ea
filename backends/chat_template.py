"""Render chat messages with a model's own Jinja2 chat template."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from backends.types import ChatMessage

# The format SmolLM2-Instruct and Qwen2.5 use; the default for remote servers.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Stands in for a partial assistant message; no real text contains NUL bytes.
_SENTINEL = "\x00PONDER-CONTINUE\x00"


def _raise(message: str) -> None:
    raise TemplateError(message)


def _tojson(value: Any, indent: int | None = None, separators: tuple[str, str] | None = None,
            sort_keys: bool = False) -> str:
    # transformers' filter: jinja's own escapes <, >, & and ' and so renders tool schemas differently.
    return json.dumps(value, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


class ChatTemplate:
    """A compiled chat template.

    With `add_generation_prompt=False` and an assistant message last, the prompt ends
    with that message's content exactly (no end-of-turn), so a partial answer is
    continued byte for byte and prefix caches hit."""

    def __init__(self, template: str, *, bos_token: str = "", eos_token: str = "") -> None:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        # The globals and filter Hugging Face templates expect (transformers' renderer).
        env.globals["raise_exception"] = _raise
        env.globals["strftime_now"] = _strftime_now
        env.filters["tojson"] = _tojson
        self._template = env.from_string(template)
        self._tokens: dict[str, Any] = {"bos_token": bos_token, "eos_token": eos_token}

    def render(self, messages: list[ChatMessage], *, add_generation_prompt: bool = True) -> str:
        """The prompt for `messages`; raises jinja2.TemplateError if the template rejects them."""
        continuing = not add_generation_prompt and bool(messages) and messages[-1].get("role") == "assistant"
        if not continuing:
            return self._template.render(messages=messages, add_generation_prompt=add_generation_prompt,
                                         **self._tokens)
        partial = str(messages[-1].get("content") or "")
        marked = [*messages[:-1], {**messages[-1], "content": _SENTINEL}]
        text = self._template.render(messages=marked, add_generation_prompt=False, **self._tokens)
        cut = text.rfind(_SENTINEL)
        if cut < 0:
            raise TemplateError("the chat template drops assistant messages; cannot continue one")
        return text[:cut] + partial
