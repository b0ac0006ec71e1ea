"""Voting over candidate answers: majority, score-weighted, and merging equivalents."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rewards.equivalence import MathEquivalence


@dataclass(frozen=True)
class Vote:
    answer: str  # as the sample stated it
    key: str  # normalize_answer(answer)
    index: int  # which sample
    weight: float = 1.0


@dataclass(frozen=True)
class Tally:
    answer: str
    key: str
    votes: float
    members: tuple[int, ...]


def _rank(tallies: list[Tally]) -> list[Tally]:
    # Most votes first; ties go to the answer that appeared first (deterministic).
    return sorted(tallies, key=lambda t: (-t.votes, min(t.members)))


def weighted_vote(votes: Sequence[Vote]) -> list[Tally]:
    """Group votes by key, summing weights; best first."""
    groups: dict[str, list[Vote]] = {}
    for vote in votes:
        groups.setdefault(vote.key, []).append(vote)
    return _rank([
        Tally(answer=g[0].answer, key=key, votes=sum(v.weight for v in g), members=tuple(v.index for v in g))
        for key, g in groups.items()
    ])


def majority_vote(votes: Sequence[Vote]) -> list[Tally]:
    """One vote per sample, weights ignored; best first."""
    return weighted_vote([Vote(v.answer, v.key, v.index) for v in votes])


async def merge_equivalent(tallies: list[Tally], equivalence: MathEquivalence, max_distinct: int = 8) -> list[Tally]:
    """Merge tallies whose answers are mathematically equal ("1/2" and "0.5").

    Pairwise checks are quadratic, so only up to `max_distinct` distinct answers are compared."""
    if len(tallies) < 2 or len(tallies) > max_distinct:
        return tallies
    merged: list[Tally] = []
    for tally in tallies:
        for i, kept in enumerate(merged):
            if await equivalence.equivalent(kept.answer, tally.answer):
                merged[i] = Tally(kept.answer, kept.key, kept.votes + tally.votes, kept.members + tally.members)
                break
        else:
            merged.append(tally)
    return _rank(merged)
