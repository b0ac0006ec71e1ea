"""DeepConf-style trace confidence from token logprobs (Fu et al. 2025, "Deep Think with Confidence").

A token's confidence is the negative mean log-probability of the top-k alternatives the
model considered at that position: a peaked distribution (one clear next token, the rest
far below) scores high, a flat one (the model hesitating) scores low. A trace's confidence
is its weakest stretch: the lowest mean token confidence over a sliding window, so one
confused passage marks the whole chain of thought, where a mean over the trace would hide it.

`confident_weights` turns trace confidences into vote weights: the least confident traces
are dropped (weight 0), the rest weigh their confidence relative to the kept traces' mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol


class LogprobLike(Protocol):
    @property
    def logprob(self) -> float: ...

    @property
    def top(self) -> Sequence[tuple[str, float]]: ...


def token_confidence(entry: LogprobLike) -> float | None:
    """-mean(log p) over the top-k alternatives (k >= 2); None without them: the sampled
    token's own log p alone would rank the other way round (a sure token scores near 0)."""
    if len(entry.top) < 2:
        return None
    return -sum(lp for _, lp in entry.top) / len(entry.top)


def trace_confidence(logprobs: Sequence[LogprobLike], window: int = 32) -> float | None:
    """The lowest mean token confidence over any `window` consecutive tokens (the whole
    trace when it is shorter); None for a trace without top-k logprobs."""
    values = [c for c in map(token_confidence, logprobs) if c is not None]
    if not values:
        return None
    width = max(1, min(int(window), len(values)))
    running = sum(values[:width])
    lowest = running
    for i in range(width, len(values)):
        running += values[i] - values[i - width]
        lowest = min(lowest, running)
    return lowest / width


def confident_weights(confidences: Sequence[float | None], keep: float = 0.9) -> list[float]:
    """Vote weights for traces with these confidences: the top `keep` fraction (at least one)
    weigh confidence / mean kept confidence, the rest 0. A trace without a confidence weighs 1."""
    known = sorted((c for c in confidences if c is not None), reverse=True)
    if not known:
        return [1.0 for _ in confidences]
    kept = known[: max(1, math.ceil(len(known) * min(max(keep, 0.0), 1.0) - 1e-9))]
    floor = kept[-1]
    mean = sum(kept) / len(kept)
    scale = 1.0 / mean if mean > 0 else 1.0
    weights = []
    for c in confidences:
        if c is None:
            weights.append(1.0)
        elif c >= floor:
            weights.append(c * scale if mean > 0 else 1.0)
        else:
            weights.append(0.0)
    return weights
