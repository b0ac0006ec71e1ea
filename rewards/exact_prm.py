"""A process reward that checks a step's arithmetic exactly (rewards.step_checks) before asking a
model: a step that states computations scores the share of them that are right, at no model call;
a step with none is scored by the fallback (the LLM judge or a trained PRM), or is neutral."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from rewards.step_checks import step_score


class _Scorer(Protocol):
    async def score(self, messages: Sequence[dict[str, Any]], steps: Sequence[str], generator: Any) -> float: ...


class ExactStepsPRM:
    def __init__(self, fallback: _Scorer | None = None) -> None:
        self.fallback = fallback

    async def score(self, messages: Sequence[dict[str, Any]], steps: Sequence[str], generator: Any) -> float:
        """p(the last step is correct): its checked arithmetic, else the fallback's score, else 0.5."""
        if not steps:
            return 0.5
        exact = await asyncio.to_thread(step_score, steps[-1])  # bounded, but long texts take a while
        if exact is not None:
            return exact
        return 0.5 if self.fallback is None else await self.fallback.score(messages, steps, generator)
