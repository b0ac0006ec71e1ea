"""Sequential revision (Madaan et al. 2023 "Self-Refine"; Snell et al. 2024 revisions):
answer, check, revise with the check's feedback, until the check passes or the budget ends.

The check is the request's ground-truth verifier when it has one (a failing test, a wrong
total); otherwise the PRM judges the whole solution and its doubt becomes the feedback.
The best-scored attempt is returned, not merely the last.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

from pydantic import Field

from search import records
from search.charged import BudgetExhausted
from search.protocols import Generation
from search.records import RevisionRecord
from search.strategy import Ask, Candidate, Outcome, Problem, SearchDeps, SearchStrategy, StrategySettings

# The feedback for a computation the exact checker found wrong ({wrong} names it and its right value).
ARITHMETIC_FEEDBACK = "{wrong}. Redo that computation and everything that follows from it"
REVISE_REQUEST = (
    "Your solution was checked: {feedback}\n"
    "Find the mistake and write a corrected, complete solution. End with the final answer as \\boxed{{ANSWER}}."
)


@dataclass(frozen=True)
class Attempt:
    text: str
    answer: str | None
    score: float
    passed: bool
    feedback: str
    truncated: bool = False


class ReviseSettings(StrategySettings):
    max_revisions: int = Field(3, ge=0, le=16)
    accept_score: float = Field(0.8, ge=0, le=1)  # without a verifier, a judge this sure ends the loop
    revision_temperature: float = Field(0.3, ge=0, le=2)  # the first attempt is greedy


class Revise(SearchStrategy[ReviseSettings]):
    name = "revise"
    Settings = ReviseSettings

    def __init__(self, problem: Problem, deps: SearchDeps, settings: ReviseSettings | None = None) -> None:
        super().__init__(problem, deps, settings)
        self.verifier = deps.verifier
        self.max_attempts = 1 + self.settings.max_revisions
        self.accept_score = self.settings.accept_score
        self.attempts: list[Attempt] = []
        self._next_prompt: str | None = problem.prompt

    def ask(self) -> list[Ask]:
        if self._next_prompt is None or len(self.attempts) >= self.max_attempts or self._accepted():
            return []
        prompt, self._next_prompt = self._next_prompt, None
        # The first attempt is greedy; revisions are hot samples (the client's choices over revision_temperature).
        hot = replace(self.problem.sampling, temperature=self.settings.revision_temperature)
        sampling = self.problem.hot(hot) if self.attempts else self.problem.sampling
        return [Ask(prompt=prompt, n=1, sampling=sampling,
                    greedy=not self.attempts, tag=f"attempt {len(self.attempts) + 1}")]

    def _accepted(self) -> bool:
        last = self.attempts[-1] if self.attempts else None
        return last is not None and (last.passed or (self.verifier is None and last.score >= self.accept_score))

    async def _check(self, text: str) -> tuple[float, bool, str]:
        if self.verifier is not None:
            try:
                verdict = await self.verifier.check(text)
            except Exception as exc:  # a crashing verifier fails this attempt, not the search
                return 0.0, False, f"the verifier failed: {type(exc).__name__}: {exc}"
            return verdict.score, verdict.passed, verdict.feedback
        wrong = await asyncio.to_thread(self.deps.tools.arithmetic_error, text)  # bounded, but off the loop
        if wrong is not None:  # a computation checked exactly and found wrong: no judge is surer than that
            return 0.0, False, ARITHMETIC_FEEDBACK.format(wrong=wrong)
        scorer, generator = self.deps.scorer, self.deps.generator
        if scorer is None or generator is None:
            return 0.5, False, "no checker is available"
        try:
            p = await scorer.score(self.problem.messages, [text], generator)
        except BudgetExhausted:
            return 0.5, False, "not checked (budget spent)"
        return p, False, f"a checker thinks it is correct with probability {p:.2f}; re-check every step."

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        if generation is None or not generation.samples:
            return
        text = generation.samples[0].text
        score, passed, feedback = await self._check(text)
        self.attempts.append(Attempt(text, self.deps.tools.extract(text), score, passed, feedback,
                                     truncated=generation.samples[0].finish_reason == "length"))
        if not self._accepted() and self.deps.render is not None and self.problem.messages:
            self._next_prompt = await self.deps.render([
                *self.problem.messages, {"role": "assistant", "content": text},
                {"role": "user", "content": REVISE_REQUEST.format(feedback=feedback)},
            ])

    def best(self) -> Outcome | None:
        if not self.attempts:
            return None
        top = max(self.attempts, key=lambda a: (a.passed, a.score, -self.attempts.index(a)))
        return Outcome(
            content=top.text.strip(), answer=top.answer, confidence=1.0 if top.passed else top.score,
            candidates=tuple(Candidate(answer=a.answer, votes=1.0, score=round(a.score, 3))
                             for a in self.attempts if a.answer is not None),
            revisions=RevisionRecord(
                attempts=tuple(records.Attempt(answer=a.answer, passed=a.passed, feedback=a.feedback)
                               for a in self.attempts), verdict=top.feedback),
            truncated=top.truncated,
        )
