"""A vote's ballots, one per sample, and their tally by answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from search.programs import program_content
from search.protocols import AnswerGroup, AnswerTools


@dataclass(frozen=True)
class Ballot:
    """One sample's vote."""

    text: str
    answer: str | None
    weight: float  # before confidence
    program: bool
    truncated: bool  # cut by max_tokens
    confidence: float | None  # DeepConf's; None for programs and without logprobs


def answered(ballots: Sequence[Ballot], *, programs: bool) -> list[bool]:
    """For each ballot of one kind (programs, or chains of thought): did its sample state an answer."""
    return [b.answer is not None for b in ballots if b.program == programs]


async def tally(tools: AnswerTools, ballots: Sequence[Ballot], weights: Sequence[float]) -> list[AnswerGroup]:
    """The answers grouped (equal forms together) with their summed `weights`, best first; members are
    indexes into `ballots`."""
    # A sample without an answer, or dropped by the confidence filter, does not vote.
    voted = [(i, b.answer) for i, b in enumerate(ballots) if b.answer is not None and weights[i] > 0]
    groups = await tools.tally([a for _, a in voted], [weights[i] for i, _ in voted])
    # tally indexes into the voted list; map members back to ballot indexes.
    return [AnswerGroup(g.answer, g.votes, tuple(voted[m][0] for m in g.members)) for g in groups]


def shown(ballots: Sequence[Ballot], group: AnswerGroup) -> str:
    """The sample shown for an answer: a chain of thought that reached it, else its program."""
    written = [m for m in group.members if not ballots[m].program]
    if written:
        return ballots[written[0]].text.strip()
    return program_content(ballots[group.members[0]].text, group.answer)
