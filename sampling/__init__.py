"""The one sampling record: how to sample, from the request plan through a strategy's asks, the
budget and the driver to every backend, which converts it to its wire format in one place
(`backends/wire.py` for HTTP servers, `backends/engine/sampler.py` for llama.cpp).

It is a leaf: it imports nothing of the project, and every package may import it."""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["Sampling"]


@dataclass(frozen=True, kw_only=True)
class Sampling:
    """What to sample for each of a call's `n` continuations."""

    max_tokens: int = 512  # per sample
    temperature: float = 0.0
    top_p: float = 1.0
    min_p: float = 0.0  # drop tokens below min_p x the likeliest token's probability; 0 = off
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: int | None = None  # top-k alternatives per generated token; None = off
    # OpenAI's penalties on a token's logit: frequency x its count so far, presence once it has appeared.
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def capped(self, max_tokens: int) -> Sampling:
        """The same sampling with at most `max_tokens` per sample (what a budget grants)."""
        return self if max_tokens >= self.max_tokens else replace(self, max_tokens=max_tokens)

    def seeded(self, offset: int) -> Sampling:
        """The sampling of the `offset`-th copy of a seeded request (unseeded stays unseeded)."""
        return self if self.seed is None or offset == 0 else replace(self, seed=self.seed + offset)
