"""DeepConf (Fu et al. 2025) over a vote: with `confidence` on, chains are sampled with top-k token
logprobs and each chain's confidence is its weakest `confidence_window`-token stretch
(rewards.confidence). The least confident chains are dropped from the vote (the top
`confidence_keep` fraction stays), the rest weigh their confidence. Sampling stops once at least
`confidence_warmup` chains have answered and one answer holds `settle` of the confidence-weighted
vote of all of them (measured before the filter, or a small `keep` would make any answer unanimous)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from search.protocols import AnswerGroup, AnswerTools, GeneratedSample
from search.strategy import StrategySettings
from search.vote.ballots import Ballot


class ConfidenceFilter(StrategySettings):
    confidence: bool = False
    confidence_top_k: int = Field(5, ge=2, le=20)  # confidence needs alternatives
    confidence_window: int = Field(32, ge=1, le=4096)
    confidence_keep: float = Field(0.9, gt=0, le=1)
    settle: float = Field(0.95, gt=0, le=1)
    confidence_warmup: int = Field(4, ge=2, le=64)

    def logprobs(self) -> int | None:
        """The top-k logprobs a chain is sampled with: none without the filter."""
        return self.confidence_top_k if self.confidence else None


def trace_confidences(tools: AnswerTools, samples: Sequence[GeneratedSample], settings: ConfidenceFilter,
                      ) -> list[float | None]:
    """Each chain's confidence; None for all without the filter."""
    if not settings.confidence:
        return [None] * len(samples)
    return [tools.trace_confidence(s.logprobs, settings.confidence_window) for s in samples]


def filtered_weights(tools: AnswerTools, ballots: Sequence[Ballot], keep: float) -> list[float]:
    """Each ballot's weight scaled by its confidence: 0 for a chain below the top `keep` fraction."""
    # Rank only the chains that stated an answer: an unanswered chain does not vote anyway.
    chains = [i for i, b in enumerate(ballots) if b.confidence is not None and b.answer is not None]
    factors = tools.confident_weights([ballots[i].confidence for i in chains], keep)
    scale = dict(zip(chains, factors, strict=True))
    return [b.weight * scale.get(i, 1.0) for i, b in enumerate(ballots)]


def settled(consensus: Sequence[AnswerGroup], answered: int, settings: ConfidenceFilter) -> bool:
    """DeepConf's early stop: after the warm-up (`answered` chains stated an answer), one answer holds
    `settle` of `consensus`, the confidence-weighted vote of every answered chain."""
    if not settings.confidence or not consensus or answered < settings.confidence_warmup:
        return False
    total = sum(g.votes for g in consensus)
    return total > 0 and consensus[0].votes / total >= settings.settle
