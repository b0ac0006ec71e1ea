"""LLM-as-judge process reward: p("Yes") that a step is correct, from token logprobs.

The judge continues the problem's own conversation: the solution so far becomes the
assistant's turn, and a user turn asks whether its last step is correct. Its prompt
therefore starts with exactly the tokens the policy just evaluated, so a prefix cache
serves nearly all of it. The score is p(Yes) / (p(Yes) + p(No)) over the first answer
token's top logprobs; without logprobs, sampled one-word verdicts are counted.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

Render = Callable[[list[dict[str, Any]]], Awaitable[str]]

JUDGE_QUESTION = "Is the last step above correct? Answer Yes or No."


class _Generate(Protocol):
    async def generate(self, prompt: str, *, n: int, max_tokens: int, temperature: float = ...,
                       logprobs: int | None = ...) -> Any: ...


def verdict_probability(top: Sequence[tuple[str, float]]) -> float | None:
    """p(Yes) among the Yes/No answers in a top-logprobs list; None when neither is there."""
    yes = sum(math.exp(lp) for tok, lp in top if tok.strip().lower().startswith("yes"))
    no = sum(math.exp(lp) for tok, lp in top if tok.strip().lower().startswith("no"))
    return yes / (yes + no) if yes + no > 0 else None


class LLMJudgePRM:
    def __init__(self, render: Render, *, top_logprobs: int = 10, fallback_samples: int = 4) -> None:
        self.render = render
        self.top_logprobs = top_logprobs
        self.fallback_samples = fallback_samples

    async def prompt_for(self, messages: Sequence[dict[str, Any]], steps: Sequence[str]) -> str:
        return await self.render([*messages, {"role": "assistant", "content": "".join(steps)},
                                  {"role": "user", "content": JUDGE_QUESTION}])

    async def score(self, messages: Sequence[dict[str, Any]], steps: Sequence[str], generator: _Generate) -> float:
        """p(the last step is correct) in [0, 1]; 0.5 when the judge gives no verdict."""
        if not steps:
            return 0.5
        prompt = await self.prompt_for(messages, steps)
        generation = await generator.generate(prompt, n=1, max_tokens=1, temperature=0.0, logprobs=self.top_logprobs)
        sample = generation.samples[0] if generation.samples else None
        logprobs = getattr(sample, "logprobs", None) if sample is not None else None
        if logprobs:
            first = logprobs[0]
            p = verdict_probability(first.top or [(first.token, first.logprob)])
            if p is not None:
                return p
            return 0.5  # the judge answered neither Yes nor No
        # No logprobs from this backend: count sampled one-word verdicts instead.
        votes = await generator.generate(prompt, n=self.fallback_samples, max_tokens=2, temperature=1.0)
        said = [s.text.strip().lower() for s in votes.samples]
        yes = sum(t.startswith("yes") for t in said)
        no = sum(t.startswith("no") for t in said)
        return yes / (yes + no) if yes + no else 0.5
