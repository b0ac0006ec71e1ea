"""The ask/tell contract every strategy implements, and the records it trades."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from search.protocols import AnswerTools, Generation


@dataclass(frozen=True, kw_only=True)
class Ask:
    """One backend call a strategy wants made: `n` samples continuing `prompt`."""

    prompt: str
    n: int = 1
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    min_p: float = 0.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: int | None = None
    tag: str = ""  # what the strategy calls this request (for the trace)


@dataclass(frozen=True)
class Candidate:
    answer: str
    votes: float
    score: float | None = None


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """A strategy's best answer so far."""

    content: str  # the full text shown to the user
    answer: str | None  # the extracted final answer
    confidence: float
    candidates: tuple[Candidate, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False  # the shown text was cut by max_tokens (OpenAI's finish_reason "length")


@dataclass(frozen=True, kw_only=True)
class Problem:
    prompt: str  # the chat rendered with the model's template, generation prompt included
    question: str = ""  # the last user message
    messages: tuple[dict[str, Any], ...] = ()  # the chat `prompt` was rendered from (for judges)
    max_tokens: int  # per sample
    temperature: float | None = None  # None = the strategy's own default
    seed: int | None = None
    stop: tuple[str, ...] = ()
    program_prompt: str | None = None  # the chat asking for a program instead (search.programs)


class Strategy(Protocol):
    @property
    def name(self) -> str: ...

    def ask(self) -> list[Ask]:
        """The calls of the next round; an empty list means the strategy is done."""
        ...

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        """The result of one ask (error set and generation None when the call failed)."""
        ...

    def best(self) -> Outcome | None:
        """The best answer found so far (anytime), or None."""
        ...


class StrategyFactory(Protocol):
    def __call__(self, problem: Problem, tools: AnswerTools, **config: Any) -> Strategy: ...
