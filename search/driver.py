"""The loop that runs a strategy: rounds of asks, the budget, the deadline, events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from search.budget import Budget, Reservation
from search.protocols import Event, Generation, Generator
from search.strategy import Ask, Outcome, Strategy

Emit = Callable[[Event], Awaitable[None] | None]


@dataclass
class Usage:
    completion_tokens: int = 0  # every token the search generated
    prompt_tokens: int = 0  # summed over calls, once per sample
    cached_tokens: int = 0
    calls: int = 0
    failed_calls: int = 0


@dataclass(frozen=True, kw_only=True)
class SearchResult:
    strategy: str
    outcome: Outcome | None
    usage: Usage
    stop_reason: str  # done | tokens | calls | deadline
    rounds: int
    elapsed_s: float
    errors: tuple[str, ...] = ()
    events: tuple[Event, ...] = field(default=(), repr=False)


class SearchFailed(Exception):
    """No answer at all could be produced; `cause` is the first backend error."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


async def run_search(
    strategy: Strategy,
    *,
    generator: Generator,
    budget: Budget,
    emit: Emit | None = None,
    concurrency: int = 4,
    max_rounds: int = 1000,
) -> SearchResult:
    """Run `strategy` until it is done or the budget ends; return its best answer.

    Running out of budget or time is not an error: the best answer so far is returned.
    SearchFailed is raised only when every call failed and nothing was found."""
    started = time.monotonic()
    usage = Usage()
    events: list[Event] = []
    errors: list[Exception] = []
    gate = asyncio.Semaphore(concurrency)

    async def publish(event: Event) -> None:
        events.append(event)
        if emit is not None:
            maybe = emit(event)
            if maybe is not None:
                await maybe

    async def call(ask: Ask, reservation: Reservation) -> tuple[Generation | None, Exception | None]:
        async with gate:
            try:
                generation = await generator.generate(
                    ask.prompt,
                    n=reservation.n,
                    max_tokens=reservation.max_tokens,
                    temperature=ask.temperature,
                    top_p=ask.top_p,
                    seed=ask.seed,
                    stop=ask.stop,
                    logprobs=ask.logprobs,
                    deadline=budget.deadline,
                )
            except asyncio.CancelledError:
                budget.settle(reservation, reservation.tokens)  # unknown spend: charge the worst case
                raise
            except Exception as exc:  # a failed branch is recorded, the search goes on
                budget.settle(reservation, 0)
                return None, exc
        generated = sum(s.completion_tokens for s in generation.samples)
        budget.settle(reservation, generated)
        usage.completion_tokens += generated
        usage.prompt_tokens += generation.prompt_tokens
        usage.cached_tokens += generation.cached_tokens
        return generation, None

    stop_reason = "done"
    rounds = 0
    while rounds < max_rounds:
        asks = strategy.ask()
        if not asks:
            break
        planned: list[tuple[Ask, Reservation]] = []
        for ask in asks:
            reservation = budget.reserve(ask.n, ask.max_tokens)
            if reservation is not None:
                planned.append((ask, reservation))
        if not planned:
            stop_reason = budget.stop_reason() or "tokens"
            break
        rounds += 1
        await publish({"type": "round.start", "round": rounds, "calls": [_describe(a, r) for a, r in planned]})
        results = await asyncio.gather(*(call(a, r) for a, r in planned))
        for (ask, _), (generation, error) in zip(planned, results, strict=True):
            usage.calls += 1
            if error is not None:
                usage.failed_calls += 1
                errors.append(error)
            await strategy.tell(ask, generation, error)
        best = strategy.best()
        await publish(
            {
                "type": "round.end",
                "round": rounds,
                "best_answer": best.answer if best else None,
                "confidence": best.confidence if best else None,
                "tokens_used": budget.tokens_used,
                "tokens_budget": budget.max_tokens,
                "calls_used": budget.calls_used,
                "errors": [f"{type(e).__name__}: {e}" for _, (_, e) in zip(planned, results, strict=True) if e],
            }
        )
    outcome = strategy.best()
    if outcome is None and errors and usage.failed_calls == usage.calls:
        raise SearchFailed(errors[0])
    return SearchResult(
        strategy=strategy.name,
        outcome=outcome,
        usage=usage,
        stop_reason=stop_reason,
        rounds=rounds,
        elapsed_s=time.monotonic() - started,
        errors=tuple(f"{type(e).__name__}: {e}" for e in errors),
        events=tuple(events),
    )


def _describe(ask: Ask, reservation: Reservation) -> dict[str, Any]:
    return {"tag": ask.tag, "n": reservation.n, "max_tokens": reservation.max_tokens, "temperature": ask.temperature}
