"""A scripted generator for algorithm tests (test code: replays fixed texts)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rewards.confidence import confident_weights, trace_confidence
from rewards.degeneration import is_degenerate
from rewards.extraction import last_boxed
from rewards.instruction_checks import CheckedReplies
from rewards.step_checks import chain_arithmetic, first_error
from sampling import Sampling
from search.protocols import AnswerGroup
from search.registry import build_strategy
from search.strategy import Problem, SearchDeps, Strategy


@dataclass(frozen=True)
class FakeSample:
    text: str
    completion_tokens: int
    finish_reason: str = "stop"
    stop_reason: str | None = None
    logprobs: tuple[object, ...] | None = None


@dataclass(frozen=True)
class FakeGeneration:
    samples: tuple[FakeSample, ...]
    prompt_tokens: int
    cached_tokens: int = 0


@dataclass
class ScriptedGenerator:
    """Answers each sample with the next text of `script` (cycling), `tokens` tokens each."""

    script: Sequence[str]
    tokens: int = 10
    fail_calls: set[int] = field(default_factory=set)
    delay_s: float = 0.0
    calls: list[dict[str, object]] = field(default_factory=list)
    _next: int = 0

    async def generate(self, prompt: str, *, n: int, sampling: Sampling,
                       deadline: float | None = None) -> FakeGeneration:
        index = len(self.calls)
        max_tokens, stop = sampling.max_tokens, sampling.stop
        self.calls.append({"prompt": prompt, "n": n, "max_tokens": max_tokens, "temperature": sampling.temperature,
                           "top_p": sampling.top_p, "min_p": sampling.min_p, "seed": sampling.seed,
                           "logprobs": sampling.logprobs, "sampling": sampling})
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if index in self.fail_calls:
            raise ConnectionError(f"scripted failure of call {index}")
        if prompt.startswith("judge: "):  # judge calls answer without using up the script
            return FakeGeneration(tuple(FakeSample("Yes", min(1, max_tokens)) for _ in range(n)), prompt_tokens=3 * n)
        samples = []
        for _ in range(n):
            text = self.script[self._next % len(self.script)]
            self._next += 1
            ended = next((s for s in stop if s and text.endswith(s)), None)  # a scripted step delimiter
            samples.append(FakeSample(text[: len(text) - len(ended)] if ended else text,
                                      min(self.tokens, max_tokens), stop_reason=ended))
        return FakeGeneration(tuple(samples), prompt_tokens=5 * n, cached_tokens=4 * (n - 1))


class LastNumberTools:
    """Answer tools for tests: the answer is the text's last word; equal strings vote together."""

    def extract(self, text: str) -> str | None:
        words = text.split()
        return words[-1] if words and words[-1] != "?" else None

    def answer_key(self, answer: str) -> str:
        return answer

    def boxed_answer(self, text: str) -> str | None:
        return last_boxed(text)

    async def tally(self, answers: Sequence[str], weights: Sequence[float] | None = None) -> list[AnswerGroup]:
        groups: dict[str, list[int]] = {}
        for i, a in enumerate(answers):
            groups.setdefault(a, []).append(i)
        weight = (lambda i: 1.0) if weights is None else (lambda i: weights[i])
        totals = {a: sum(weight(i) for i in m) for a, m in groups.items()}
        ranked = sorted(groups.items(), key=lambda kv: (-totals[kv[0]], kv[1][0]))
        return [AnswerGroup(answer=a, votes=totals[a], members=tuple(m)) for a, m in ranked]

    def trace_confidence(self, logprobs: Sequence[object] | None, window: int) -> float | None:
        return trace_confidence(logprobs or (), window)  # type: ignore[arg-type]

    def confident_weights(self, confidences: Sequence[float | None], keep: float) -> list[float]:
        return confident_weights(confidences, keep)

    def arithmetic(self, text: str) -> tuple[int, int]:
        return chain_arithmetic(text)

    def arithmetic_error(self, text: str) -> str | None:
        return first_error(text)

    async def run_program(self, text: str) -> str | None:
        """A scripted "program" is `print(X)`: it prints X."""
        found = re.findall(r"print\((.*?)\)", text)
        return found[-1] if found else None

    def degenerate(self, text: str) -> bool:
        return is_degenerate(text)

    async def run_repair(self, program: str, reply: str) -> str | None:
        """A scripted repair program is `append: WORDS`: it adds WORDS to the reply."""
        found = re.findall(r"append: (.+)", program)
        return f"{reply} {found[-1]}" if found else None

    async def run_checks(self, program: str, replies: Sequence[str]) -> CheckedReplies | None:
        """A scripted checks program is lines `contains: WORD`: a reply passes when WORD is in it."""
        words = re.findall(r"contains: (\S+)", program)
        if not words:
            return None
        return CheckedReplies(checks=tuple(f"contains {w}" for w in words),
                              verdicts=tuple(tuple(w in r for w in words) for r in replies))


class KeywordScorer:
    """A PRM for tests: a step containing `good` scores 0.9, others 0.1; counts its calls
    and charges one token per call to the generator it is given."""

    def __init__(self, good: str) -> None:
        self.good = good
        self.calls = 0

    async def score(self, question, steps, generator) -> float:
        self.calls += 1
        await generator.generate("judge: " + steps[-1], n=1, sampling=Sampling(max_tokens=1))
        return 0.9 if self.good in steps[-1] else 0.1


class StatedScorer:
    """A PRM for tests whose scores a hand computation can use: a step "(0.7) ..." scores 0.7."""

    async def score(self, question, steps, generator) -> float:
        found = re.match(r"\((\d*\.?\d+)\)", steps[-1])
        assert found is not None, f"the scripted step {steps[-1]!r} states no score"
        return float(found.group(1))


def make_strategy(name: str, problem: Problem, tools: object = None, *, generator: object = None,
                  scorer: object = None, valuer: object = None, verifier: object = None, render: object = None,
                  **settings: object) -> Strategy:
    """Strategy `name` with its settings validated, as the service builds it."""
    deps = SearchDeps(tools=tools or LastNumberTools(), generator=generator, scorer=scorer,  # type: ignore[arg-type]
                      valuer=valuer, verifier=verifier, render=render)  # type: ignore[arg-type]
    return build_strategy(name, problem, deps, settings)
