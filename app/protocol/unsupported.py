"""OpenAI request parameters that ponder cannot honour. Each is accepted at the values that ask for
nothing (absent, false, empty, the default), and any other value is a 400 that names it, with the
reason; a parameter OpenAI does not define is refused by the request models themselves."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app.protocol.chat import RequestLabels
from app.protocol.errors import ApiError

Accepts = Callable[[Any], bool]


def _absent(value: Any) -> bool:
    return value is None or value is False or value == [] or value == {} or value == 0


def _one_of(*allowed: object) -> Accepts:
    return lambda value: value is None or value in allowed


_NO_TOOLS = "ponder answers in text; it does not call tools"
_SEARCH = "the answer is chosen by a search over many samples"

# Chat Completions (`POST /v1/chat/completions`): parameter -> (values accepted, why others are not).
CHAT: dict[str, tuple[Accepts, str]] = {
    "logprobs": (_absent, f"{_SEARCH}; its token logprobs are not returned"),
    "top_logprobs": (_absent, f"{_SEARCH}; its token logprobs are not returned"),
    "tools": (_absent, _NO_TOOLS),
    "tool_choice": (_one_of("none"), _NO_TOOLS),
    "functions": (_absent, _NO_TOOLS),
    "function_call": (_one_of("none"), _NO_TOOLS),
    "audio": (_absent, "ponder answers in text"),
    "modalities": (_one_of(["text"]), "ponder answers in text"),
    "logit_bias": (_absent, "logit biases are not supported"),
    "prediction": (_absent, "predicted outputs are not supported"),
    "web_search_options": (_absent, "ponder does not search the web"),
    "store": (_absent, "completions are not stored for later retrieval (a search's trace is: GET /v1/traces/{id})"),
    "service_tier": (_one_of("auto", "default"), "ponder has one service tier"),
    "verbosity": (_one_of("medium"), "the answer's length is the model's; it is not steered"),
    "moderation": (_absent, "ponder does not moderate"),
}

# Responses (`POST /v1/responses`).
RESPONSES: dict[str, tuple[Accepts, str]] = {
    "previous_response_id": (_absent, "responses are not stored, so none can be continued; send the whole input"),
    "conversation": (_absent, "conversations are not stored; send the whole input"),
    "store": (_absent, "responses are not stored for later retrieval (a search's trace is: GET /v1/traces/{id})"),
    "background": (_absent, "responses run in the foreground"),
    "background_options": (_absent, "responses run in the foreground"),
    "include": (_absent, "no extra output items are available"),
    "tools": (_absent, _NO_TOOLS),
    "tool_choice": (_one_of("none"), _NO_TOOLS),
    "max_tool_calls": (_absent, _NO_TOOLS),
    "top_logprobs": (_absent, f"{_SEARCH}; its token logprobs are not returned"),
    "truncation": (_one_of("disabled"), "the input is never truncated"),
    "prompt": (_absent, "stored prompt templates are not supported"),
    "context_management": (_absent, "context management is not supported"),
    "access_programs": (_absent, "not supported"),
    "image": (_absent, "ponder answers in text"),
    "service_tier": (_one_of("auto", "default"), "ponder has one service tier"),
    "moderation": (_absent, "ponder does not moderate"),
}

# Parameters that label a request and, by OpenAI's definition, change no answer: accepted as they are.
LABELS = tuple(RequestLabels.model_fields)


def refuse_unsupported(values: Mapping[str, Any], table: Mapping[str, tuple[Accepts, str]]) -> None:
    """ApiError 400 naming the first parameter in `values` that asks for what `table` says ponder cannot do."""
    for name, (accepts, why) in table.items():
        if not accepts(values.get(name)):
            raise ApiError(400, f"unsupported value for {name}: {why}", param=name, code="unsupported_parameter")
