"""The one sampling record: how to sample, from the request plan through a strategy's asks, the
budget and the driver to every backend, which converts it to its wire format in one place
(`backends/wire.py` for HTTP servers, `backends/engine/sampler.py` for llama.cpp); and the
client's own sampling choices (`ClientSampling`), which the request models inherit and every
strategy's hot samples take over its defaults.

It is a leaf: it imports nothing of the project, and every package may import it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ClientSampling", "Sampling"]


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


class ClientSampling(BaseModel):
    """The sampling fields a client may set on a request, each None unless it did. Each names a
    `Sampling` field; the chat request model inherits them (bounds included), so a new one is declared
    here only."""

    model_config = ConfigDict(frozen=True)

    temperature: float | None = Field(default=None, ge=0, le=2, strict=True)
    top_p: float | None = Field(default=None, gt=0, le=1, strict=True)
    min_p: float | None = Field(
        default=None, ge=0, le=1, strict=True,
        description="drop tokens below min_p x the likeliest token's probability (as vLLM, SGLang and llama.cpp)")
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2, strict=True)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2, strict=True)

    @classmethod
    def of(cls, request: ClientSampling) -> ClientSampling:
        """The client-sampling fields of `request` (a model that inherits them), apart from its others."""
        return cls(**{name: getattr(request, name) for name in cls.model_fields})

    def chosen(self) -> dict[str, Any]:
        """The fields the client set, by name."""
        values = {name: getattr(self, name) for name in ClientSampling.model_fields}
        return {name: value for name, value in values.items() if value is not None}

    def over(self, sampling: Sampling, *, greedy: bool = False) -> Sampling:
        """`sampling` with the client's choices in place of its own: the last word on a hot sample.
        Over a `greedy` pass the temperature is left as it is (a greedy pass stays greedy)."""
        chosen = self.chosen()
        if greedy:
            chosen.pop("temperature", None)
        return replace(sampling, **chosen) if chosen else sampling
