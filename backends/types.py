"""The one async interface every LLM backend implements, and its records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sampling import Sampling

ChatMessage = dict[str, Any]


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Sample:
    """One generated continuation."""

    text: str
    completion_tokens: int
    finish_reason: str  # "stop" | "length" | "cancelled"
    logprobs: tuple[TokenLogprob, ...] | None = None
    stop_reason: str | None = None  # the stop string that ended it; None for end-of-turn or length


@dataclass(frozen=True)
class Completion:
    """The answer to one backend call of `n` samples.

    `prompt_tokens` counts the prompt once per sample (what the engine had to hold);
    `cached_tokens` is the part of it served from the prefix cache.
    """

    samples: tuple[Sample, ...]
    prompt_tokens: int
    cached_tokens: int = 0
    backend: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def completion_tokens(self) -> int:
        return sum(s.completion_tokens for s in self.samples)


class Backend(Protocol):
    """An LLM that continues raw prompts. Every method is safe to call from the event loop."""

    name: str
    model: str

    @property
    def chat_template_source(self) -> str:
        """Where the chat template comes from (a file, the model's GGUF, the server, or ChatML)."""
        ...

    async def resolve_chat_template(self) -> str:
        """Find the chat template now (a remote server is asked) and say where it comes from."""
        ...

    async def render_chat(self, messages: list[ChatMessage], *, add_generation_prompt: bool = True) -> str:
        """Render messages with the model's chat template (a continuing partial
        assistant message extends the prompt byte for byte)."""
        ...

    async def complete(
        self, prompt: str, *, n: int, params: Sampling, deadline: float | None = None
    ) -> Completion:
        """Sample `n` continuations of `prompt`; stop generating at `deadline` (time.monotonic())."""
        ...

    async def health(self) -> bool: ...

    async def aclose(self) -> None: ...
