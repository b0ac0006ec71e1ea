"""LLM-as-judge process reward: p("Yes") that a step is correct, from token logprobs.

The judge continues the problem's own conversation: the solution so far becomes the
assistant's turn, and a user turn asks whether its last step is correct. Its prompt
therefore starts with exactly the tokens the policy just evaluated, so a prefix cache
serves nearly all of it. The score is p(Yes) / (p(Yes) + p(No)) over the first answer
token's top logprobs; without logprobs, sampled one-word verdicts are counted.

The same judge with Tree-of-Thoughts' value question (`value_judge`): can the partial
solution still reach a right answer, "sure", "likely" or "impossible" (Yao et al. 2023),
valued 1, 0.5 and 0 and weighted by their probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from sampling import Sampling

Render = Callable[[list[dict[str, Any]]], Awaitable[str]]

JUDGE_QUESTION = "Is the last step above correct? Answer Yes or No."
YES_NO = {"yes": 1.0, "no": 0.0}
VALUE_QUESTION = ("Can the partial solution above still reach a correct final answer? "
                  "Answer with one word: sure, likely or impossible.")
SURE_LIKELY_IMPOSSIBLE = {"sure": 1.0, "likely": 0.5, "impossible": 0.0}


class _Generate(Protocol):
    async def generate(self, prompt: str, *, n: int, sampling: Sampling, deadline: float | None = None) -> Any: ...


def _label(token: str, labels: dict[str, float]) -> str | None:
    """The verdict a (first) token starts: the whole word, or a piece of 3+ letters of it."""
    t = token.strip().lower()
    return next((w for w in labels if t.startswith(w) or (len(t) >= 3 and w.startswith(t))), None)


def verdict_value(top: Sequence[tuple[str, float]], labels: dict[str, float] = YES_NO) -> float | None:
    """The expected value of the verdict, over the verdict words' probabilities in a
    top-logprobs list; None when none of them is there."""
    mass: dict[str, float] = {}
    for token, logprob in top:
        word = _label(token, labels)
        if word is not None:
            mass[word] = mass.get(word, 0.0) + math.exp(logprob)
    total = sum(mass.values())
    return sum(labels[w] * p for w, p in mass.items()) / total if total > 0 else None


def verdict_probability(top: Sequence[tuple[str, float]]) -> float | None:
    """p(Yes) among the Yes/No answers in a top-logprobs list; None when neither is there."""
    return verdict_value(top, YES_NO)


class LLMJudgePRM:
    def __init__(self, render: Render, *, top_logprobs: int = 10, fallback_samples: int = 4,
                 question: str = JUDGE_QUESTION, labels: dict[str, float] | None = None) -> None:
        self.render = render
        self.question, self.labels = question, labels or YES_NO
        self.top_logprobs = top_logprobs
        self.fallback_samples = fallback_samples

    async def prompt_for(self, messages: Sequence[dict[str, Any]], steps: Sequence[str]) -> str:
        return await self.render([*messages, {"role": "assistant", "content": "".join(steps)},
                                  {"role": "user", "content": self.question}])

    async def score(self, messages: Sequence[dict[str, Any]], steps: Sequence[str], generator: _Generate) -> float:
        """p(the last step is correct) in [0, 1] (with other labels: the verdict's expected
        value); 0.5 when the judge gives no verdict."""
        if not steps:
            return 0.5
        prompt = await self.prompt_for(messages, steps)
        generation = await generator.generate(prompt, n=1, sampling=Sampling(max_tokens=1, logprobs=self.top_logprobs))
        sample = generation.samples[0] if generation.samples else None
        logprobs = sample.logprobs if sample is not None else None
        if logprobs:
            first = logprobs[0]
            p = verdict_value(first.top or [(first.token, first.logprob)], self.labels)
            if p is not None:
                return p
            return 0.5  # the judge gave none of the verdicts
        # No logprobs from this backend: count sampled one-word verdicts instead.
        votes = await generator.generate(prompt, n=self.fallback_samples,
                                         sampling=Sampling(max_tokens=2, temperature=1.0))
        said = [w for w in (_label(s.text, self.labels) for s in votes.samples) if w is not None]
        return sum(self.labels[w] for w in said) / len(said) if said else 0.5


def value_judge(render: Render) -> LLMJudgePRM:
    """Tree-of-Thoughts' state evaluator: sure / likely / impossible, valued 1 / 0.5 / 0."""
    return LLMJudgePRM(render, question=VALUE_QUESTION, labels=SURE_LIKELY_IMPOSSIBLE)
