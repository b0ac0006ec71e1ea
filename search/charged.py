"""A generator that charges every call to the search's budget and usage.

Strategies' asks and scorers' judge calls go through the same one, so the budget
bounds every token a search generates, and usage counts every one of them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from sampling import Sampling
from search.budget import Budget
from search.protocols import Generation, Generator

DEADLINE_GRACE_S = 1.0


class DeadlineExceeded(TimeoutError):
    """A backend call outlived the search's deadline and was abandoned."""


class BudgetExhausted(Exception):
    """No further call fits the budget (tokens, calls or deadline)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"budget exhausted: {reason}")
        self.reason = reason


@dataclass
class Usage:
    completion_tokens: int = 0  # every token the search generated
    prompt_tokens: int = 0  # summed over calls, once per sample
    cached_tokens: int = 0
    calls: int = 0
    failed_calls: int = 0


BACKEND_FAILURES = "backend_failures"  # the stop reason when the breaker opens


class ChargedGenerator:
    """Charges every call to the budget; after `max_failures` failed calls in a row the backend is
    taken to be down and the search stops spending (a circuit breaker per search), so a failing
    backend costs a few calls, not every call the budget would allow."""

    def __init__(self, generator: Generator, budget: Budget, *, concurrency: int = 4, max_failures: int = 3) -> None:
        self.generator = generator
        self.budget = budget
        self.usage = Usage()
        self.max_failures = max_failures
        self._failures_in_a_row = 0
        self._gate = asyncio.Semaphore(concurrency)

    async def generate(self, prompt: str, *, n: int, sampling: Sampling, deadline: float | None = None) -> Generation:
        """Reserve the worst case, call, then charge what was really generated.

        The budget may shrink `sampling.max_tokens`, then `n`; BudgetExhausted when nothing fits."""
        async with self._gate:
            reservation = self.budget.reserve(n, sampling.max_tokens)
            if reservation is None:
                raise BudgetExhausted(self.budget.stop_reason() or "tokens")
            self.usage.calls += 1
            deadline = self.budget.deadline if deadline is None else deadline
            call = self.generator.generate(prompt, n=reservation.n, sampling=sampling.capped(reservation.max_tokens),
                                           deadline=deadline)
            # Backends stop at the deadline themselves; this bounds one that does not.
            limit = None if deadline is None else max(0.0, deadline - time.monotonic()) + DEADLINE_GRACE_S
            try:
                generation = await asyncio.wait_for(call, timeout=limit)
            except (TimeoutError, asyncio.CancelledError):
                self.budget.settle(reservation, reservation.tokens)  # unknown spend: charge the worst case
                if self._cancelled():
                    raise
                self._failed()
                raise DeadlineExceeded(f"the backend did not answer by the deadline ({limit:.1f}s)") from None
            except Exception:
                self._failed()
                self.budget.settle(reservation, 0)
                raise
        self._failures_in_a_row = 0
        generated = sum(s.completion_tokens for s in generation.samples)
        self.budget.settle(reservation, generated)
        self.usage.completion_tokens += generated
        self.usage.prompt_tokens += generation.prompt_tokens
        self.usage.cached_tokens += generation.cached_tokens
        return generation

    def _failed(self) -> None:
        self.usage.failed_calls += 1
        self._failures_in_a_row += 1
        if self._failures_in_a_row >= self.max_failures:
            self.budget.trip(BACKEND_FAILURES)

    @staticmethod
    def _cancelled() -> bool:
        """Whether the task running the call is itself being cancelled (not just timed out)."""
        task = asyncio.current_task()
        return task is not None and task.cancelling() > 0
