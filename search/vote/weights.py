"""What a sample's ballot weighs before the confidence filter: the greedy pass counts `greedy_weight`
(a small model's greedy answer is its single most reliable one, so it wins ties), a chain whose
stated arithmetic is wrong (checked exactly, rewards.step_checks) keeps `wrong_arithmetic_weight`
of its weight, and a chain that loops keeps none (it states whatever its last copy says). A
program's own weight is search.vote.programs'."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pydantic import Field

from search.protocols import AnswerTools
from search.strategy import StrategySettings


class BallotWeights(StrategySettings):
    greedy_weight: float = Field(1.5, ge=0)
    # A chain whose stated arithmetic is wrong votes with this share of its weight: 1 keeps today's
    # vote, 0 drops it. Programs compute, so they are not checked.
    wrong_arithmetic_weight: float = Field(1.0, ge=0, le=1)


async def shares(tools: AnswerTools, texts: Sequence[str], *, program: bool,
                 wrong_arithmetic_weight: float) -> list[float]:
    """The share of its weight each sample's ballot keeps: none for a chain that loops,
    `wrong_arithmetic_weight` for one whose arithmetic is wrong, all of it otherwise (and for programs)."""
    if program:
        return [1.0] * len(texts)
    # The arithmetic check is bounded, but a long chain takes a while: off the event loop.
    miscomputed = (await asyncio.to_thread(lambda: [tools.arithmetic(t)[1] > 0 for t in texts])
                   if wrong_arithmetic_weight < 1.0 else [False] * len(texts))
    # The loop check is a regex scan: off the loop too.
    looping = await asyncio.to_thread(lambda: [tools.degenerate(t) for t in texts])
    return [0.0 if loops else (wrong_arithmetic_weight if wrong else 1.0)
            for wrong, loops in zip(miscomputed, looping, strict=True)]
