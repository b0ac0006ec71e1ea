"""Best-of-N against a verifier: sample, check each candidate, keep the best.

With a ground-truth verifier the first passing candidate ends the search (more samples
cannot improve on a pass). Without one, each candidate is scored by the outcome reward
model (the PRM judge on the whole solution as one step). Candidates are ranked by score;
among equals, by how many samples share their answer. With `weighted=True` the answer
with the largest summed score wins (score-weighted voting).

With a verifier and `programs` > 0 (and a problem that carries a program prompt), that many
candidates are programs (search.programs): the sandbox runs each, and what it prints is
checked as the answer. For a search puzzle (Game of 24) a program can try every expression,
which a small model cannot do in prose.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from search.charged import BudgetExhausted
from search.programs import PROGRAM_OPENING, program_asks, program_content
from search.protocols import AnswerTools, Check, CheckLike, Generation, Generator, StepScorer, Verifier
from search.strategy import Ask, Candidate, Outcome, Problem


@dataclass(frozen=True)
class Scored:
    index: int
    text: str
    answer: str | None
    check: CheckLike
    truncated: bool = False


class BestOfN:
    name = "best_of_n"

    def __init__(
        self, problem: Problem, tools: AnswerTools, *, verifier: Verifier | None = None,
        scorer: StepScorer | None = None, generator: Generator | None = None, n: int = 8, batch: int = 4,
        temperature: float = 0.7, top_p: float = 0.95, min_p: float = 0.0, greedy_first: bool = True,
        weighted: bool = False, programs: int = 0, **_: Any,
    ) -> None:
        self.problem = problem
        self.tools = tools
        self.verifier = verifier
        self.scorer, self.generator = scorer, generator
        self.weighted = bool(weighted)
        self.n = max(1, int(n))
        self.batch = max(1, int(batch))
        self.temperature = problem.temperature if problem.temperature is not None else float(temperature)
        self.top_p = float(top_p)
        self.min_p = float(min_p)
        self.greedy_first = greedy_first  # a small model's greedy pass is its single best guess
        # Programs only where a verifier checks what they print (an ORM would judge code, not the answer).
        self.programs = max(0, int(programs)) if problem.program_prompt and verifier is not None else 0
        self.scored: list[Scored] = []
        self._requested = 0
        self._programs_requested = 0

    def ask(self) -> list[Ask]:
        if any(s.check.passed for s in self.scored):
            return []
        asks = self._program_asks()
        if self._requested >= self.n:
            return asks
        p = self.problem
        if self._requested == 0 and self.greedy_first:
            self._requested = 1
            return [*asks, Ask(prompt=p.prompt, n=1, max_tokens=p.max_tokens, temperature=0.0, seed=p.seed,
                               stop=p.stop, tag="greedy candidate")]
        size = min(self.batch, self.n - self._requested)
        seed = None if p.seed is None else p.seed + self._requested
        self._requested += size
        return [*asks, Ask(prompt=p.prompt, n=size, max_tokens=p.max_tokens, temperature=self.temperature,
                           top_p=self.top_p, min_p=self.min_p, seed=seed, stop=p.stop,
                           tag=f"candidates {self._requested - size + 1}-{self._requested}")]

    def _program_asks(self) -> list[Ask]:
        asks, self._programs_requested = program_asks(
            self.problem, self._programs_requested, self.programs, greedy_first=self.greedy_first, batch=self.batch,
            temperature=self.temperature, top_p=self.top_p, min_p=self.min_p)
        return asks

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        program = ask.tag.startswith("program")
        granted = len(generation.samples) if generation is not None else 0
        if program:
            self._programs_requested -= ask.n - granted
        else:
            self._requested -= ask.n - granted
        if generation is None:
            return
        if program:
            codes = [PROGRAM_OPENING + s.text for s in generation.samples]
            printed = await asyncio.gather(*(self.tools.run_program(c) for c in codes))
            # A program's candidate is its code with the answer it printed; one that printed nothing fails.
            texts = [program_content(c, a) if a is not None else c for c, a in zip(codes, printed, strict=True)]
            answers: list[str | None] = list(printed)
        else:
            texts = [s.text for s in generation.samples]
            answers = [self.tools.extract(t) for t in texts]
        checks = await asyncio.gather(*(
            _printed_nothing() if program and a is None else self._check(t) for t, a in zip(texts, answers, strict=True)))
        start = len(self.scored)
        for i, (sample, text, answer, check) in enumerate(zip(generation.samples, texts, answers, checks, strict=True)):
            self.scored.append(Scored(start + i, text, answer, check, truncated=sample.finish_reason == "length"))

    async def _check(self, text: str) -> CheckLike:
        if self.verifier is not None:
            try:
                return await self.verifier.check(text)
            except Exception as exc:  # a verifier that crashes fails this candidate, not the search
                return Check(passed=False, score=0.0, feedback=f"the verifier failed: {type(exc).__name__}: {exc}")
        if self.scorer is not None and self.generator is not None:
            try:
                score = await self.scorer.score(self.problem.messages, [text], self.generator)
            except BudgetExhausted:
                score = 0.5  # unscored: neither favoured nor dropped
            return Check(passed=False, score=score, feedback=f"ORM p(correct) = {score:.2f}")
        return Check(passed=False, score=0.0)

    def best(self) -> Outcome | None:
        if not self.scored:
            return None
        votes: dict[str | None, float] = {}
        for s in self.scored:
            votes[s.answer] = votes.get(s.answer, 0.0) + (s.check.score if self.weighted else 1.0)
        if self.weighted and not any(s.check.passed for s in self.scored):
            top = max(self.scored, key=lambda s: (votes[s.answer] if s.answer else 0.0, s.check.score, -s.index))
        else:
            top = max(self.scored, key=lambda s: (s.check.score, votes[s.answer] if s.answer else 0.0, -s.index))
        ranked: dict[str, Candidate] = {}
        for s in sorted(self.scored, key=lambda s: -s.check.score):
            if s.answer is not None and s.answer not in ranked:
                ranked[s.answer] = Candidate(answer=s.answer, votes=float(votes[s.answer]), score=s.check.score)
        total = sum(votes.values()) or 1.0
        confidence = 1.0 if top.check.passed else votes.get(top.answer, 0.0) / total * (
            0.5 if self.verifier is not None else 1.0)  # nothing verified: at most half sure
        return Outcome(
            content=top.text.strip(), answer=top.answer, confidence=confidence, candidates=tuple(ranked.values()),
            details={"samples": len(self.scored), "passed": sum(s.check.passed for s in self.scored),
                     "verdict": top.check.feedback, **({"programs": self._programs_requested} if self.programs else {})},
            truncated=top.truncated,
        )


async def _printed_nothing() -> CheckLike:
    return Check(passed=False, score=0.0, feedback="the program printed no answer")
