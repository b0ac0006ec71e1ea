"""The compute budget of one search, shared by all its branches."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Reservation:
    n: int
    max_tokens: int  # per sample

    @property
    def tokens(self) -> int:
        return self.n * self.max_tokens


@dataclass
class Budget:
    """Reasoning tokens, backend calls and a deadline.

    A call reserves its worst case (n * max_tokens) before it is sent and settles the
    actual count after, so concurrent branches can never overspend together.
    """

    max_tokens: int | None = None
    max_calls: int | None = None
    deadline: float | None = None  # time.monotonic() seconds
    min_tokens_per_sample: int = 16
    tokens_used: int = 0
    calls_used: int = 0
    tripped: str | None = None  # a reason that ended the search before its budget did (a failing backend)
    _reserved: int = field(default=0, repr=False)

    @classmethod
    def create(cls, *, max_tokens: int | None, max_calls: int | None, deadline_s: float | None) -> Budget:
        deadline = time.monotonic() + deadline_s if deadline_s is not None else None
        floor = min(16, max_tokens) if max_tokens else 16  # a tiny budget still gets one call
        return cls(max_tokens=max_tokens, max_calls=max_calls, deadline=deadline, min_tokens_per_sample=floor)

    @property
    def tokens_left(self) -> int | None:
        if self.max_tokens is None:
            return None
        return max(0, self.max_tokens - self.tokens_used - self._reserved)

    def time_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def stop_reason(self) -> str | None:
        """Why no further call can be made, or None while the budget lasts."""
        if self.tripped is not None:
            return self.tripped
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return "deadline"
        if self.max_calls is not None and self.calls_used >= self.max_calls:
            return "calls"
        left = self.tokens_left
        if left is not None and left < self.min_tokens_per_sample:
            return "tokens"
        return None

    def trip(self, reason: str) -> None:
        """End the search's spending now (the driver returns the best answer so far)."""
        self.tripped = self.tripped or reason

    def reserve(self, n: int, max_tokens: int) -> Reservation | None:
        """Reserve a call of up to `n` samples; shrinks max_tokens, then n, to fit.

        Returns None when no useful call fits."""
        if n < 1 or max_tokens < 1 or self.stop_reason() is not None:
            return None
        left = self.tokens_left
        if left is not None:
            floor = min(max_tokens, self.min_tokens_per_sample)
            n = min(n, left // floor)
            if n < 1:
                return None
            max_tokens = min(max_tokens, left // n)
        self.calls_used += 1
        reservation = Reservation(n=n, max_tokens=max_tokens)
        self._reserved += reservation.tokens
        return reservation

    def settle(self, reservation: Reservation, tokens: int) -> None:
        """Release a reservation and charge what the call really generated."""
        self._reserved -= reservation.tokens
        self.tokens_used += tokens
