"""The judge's tie-break on a close vote: once sampling is over and the runner-up holds at least
`judge_close` of the winner's votes, the judge (the PRM's `score`, p(correct)) scores one sample of
each of the two answers and the likelier one is chosen. Its calls are charged to the search's budget."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import Field

from search.charged import BudgetExhausted
from search.protocols import AnswerGroup, Generator, StepScorer
from search.strategy import StrategySettings


class TieBreak(StrategySettings):
    judge_close: float = Field(0.0, ge=0)  # 0: the vote alone decides


def close_vote(groups: Sequence[AnswerGroup], judge_close: float) -> bool:
    """The runner-up holds at least `judge_close` of the winner's votes (never with `judge_close` 0)."""
    return judge_close > 0 and len(groups) > 1 and groups[1].votes >= judge_close * groups[0].votes


async def judge_top_two(scorer: StepScorer, generator: Generator, messages: Sequence[dict[str, Any]],
                        groups: Sequence[AnswerGroup], shown: Callable[[AnswerGroup], str]) -> dict[str, float]:
    """The judge's p(correct) of the two leading answers, each shown by `shown`; empty when the
    budget ran out first (the vote stands)."""
    scores: dict[str, float] = {}
    for group in groups[:2]:
        try:
            scores[group.answer] = await scorer.score(messages, [shown(group)], generator)
        except BudgetExhausted:
            return {}
    return scores


def winner(groups: Sequence[AnswerGroup], judged: dict[str, float]) -> AnswerGroup:
    """The vote's winner, unless the judge scored the runner-up likelier."""
    if judged and judged.get(groups[1].answer, 0.0) > judged.get(groups[0].answer, 1.0):
        return groups[1]
    return groups[0]
