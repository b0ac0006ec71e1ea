"""The LLM judge: p(Yes) for a step, and ToT's sure/likely/impossible value, from the first
answer token's top logprobs, or from sampled one-word verdicts without logprobs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rewards.judge import JUDGE_QUESTION, VALUE_QUESTION, LLMJudgePRM, value_judge, verdict_value


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Sample:
    text: str
    logprobs: tuple[TokenLogprob, ...] | None = None


@dataclass(frozen=True)
class Generation:
    samples: tuple[Sample, ...]


@dataclass
class Judge:
    """Answers the first call with `top` as the first token's logprobs (or none), sampled calls with `words`."""

    top: tuple[tuple[str, float], ...] | None
    words: tuple[str, ...] = ()
    prompts: list[str] = field(default_factory=list)

    async def generate(self, prompt, *, n, sampling, deadline=None):
        self.prompts.append(prompt)
        if sampling.logprobs and self.top is not None:
            first = TokenLogprob(self.top[0][0], self.top[0][1], self.top)
            return Generation((Sample(self.top[0][0], (first,)),))
        return Generation(tuple(Sample(w) for w in self.words[:n]))


async def render(messages):
    return " | ".join(f"{m['role']}: {m['content']}" for m in messages)


MESSAGES = [{"role": "user", "content": "Make 24 from 4 4 6 8."}]


def lp(p: float) -> float:
    return math.log(p)


async def test_yes_no_judge_scores_p_yes_and_asks_about_the_last_step():
    judge = Judge(top=(("Yes", lp(0.6)), ("No", lp(0.2)), ("Maybe", lp(0.2))))
    score = await LLMJudgePRM(render).score(MESSAGES, ["4 + 4 = 8\n\n", "8 * 6 = 48\n\n"], judge)
    assert abs(score - 0.75) < 1e-9
    assert judge.prompts[0].startswith("user: Make 24") and "assistant: 4 + 4 = 8\n\n8 * 6 = 48" in judge.prompts[0]
    assert judge.prompts[0].endswith(JUDGE_QUESTION)


async def test_value_judge_weights_sure_likely_impossible():
    judge = Judge(top=(("sure", lp(0.5)), ("likely", lp(0.3)), ("imp", lp(0.2)), ("the", lp(0.1))))
    score = await value_judge(render).score(MESSAGES, ["4 + 4 = 8\n\n"], judge)
    assert abs(score - (0.5 * 1 + 0.3 * 0.5) / 1.0) < 1e-9  # "imp" is the first piece of "impossible"
    assert judge.prompts[0].endswith(VALUE_QUESTION)
    hopeless = await value_judge(render).score(MESSAGES, ["4 - 4 = 0\n\n"], Judge(top=(("Impossible", lp(0.9)),)))
    assert hopeless == 0.0


async def test_without_logprobs_sampled_verdicts_are_counted_and_no_verdict_is_neutral():
    sampled = Judge(top=None, words=("Sure", "likely.", "impossible", "hmm"))
    assert await value_judge(render).score(MESSAGES, ["x\n\n"], sampled) == (1.0 + 0.5 + 0.0) / 3
    assert await LLMJudgePRM(render).score(MESSAGES, ["x\n\n"],
                                           Judge(top=None, words=("Yes", "No", "No", "No"))) == 0.25
    assert await LLMJudgePRM(render).score(MESSAGES, ["x\n\n"], Judge(top=(("Perhaps", lp(0.9)),))) == 0.5
    assert await LLMJudgePRM(render).score(MESSAGES, [], Judge(top=None)) == 0.5


def test_verdict_value_needs_a_verdict_word():
    assert verdict_value([("The", lp(0.9)), ("A", lp(0.1))]) is None
    assert verdict_value([("no", lp(0.5)), ("No", lp(0.5))]) == 0.0
