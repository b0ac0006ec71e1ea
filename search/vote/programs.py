"""Programs among a vote's ballots (PAL; search.programs writes their prompts): how many are asked
for, what a program's answer weighs beside a chain of thought's, and the trial after which a model
whose programs never print an answer is asked for no more."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pydantic import Field

from search.protocols import AnswerTools
from search.strategy import StrategySettings


class ProgramVote(StrategySettings):
    programs: int = Field(0, ge=0, le=64)  # candidates written as programs, where the problem has a program prompt
    program_weight: float = Field(1.0, ge=0)
    program_trial: int = Field(2, ge=1, le=64)  # programs back, none answering, before no more are asked for

    def wants_programs(self) -> bool:
        return self.programs > 0


def programs_allowed(answered: Sequence[bool], wanted: int, trial: int) -> int:
    """How many programs the vote may have: `wanted`, or just those already back once `trial` of them
    came back and none printed an answer."""
    failed = len(answered) >= trial and not any(answered)
    return len(answered) if failed else wanted


async def program_answers(tools: AnswerTools, texts: Sequence[str]) -> list[str | None]:
    """What each program prints when the sandbox runs it (None: nothing)."""
    return list(await asyncio.gather(*(tools.run_program(t) for t in texts)))
