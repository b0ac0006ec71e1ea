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

from pydantic import Field

from search.charged import BudgetExhausted
from search.programs import PROGRAM_OPENING, program_asks, program_content
from search.protocols import Check, CheckLike, Generation, Verifier
from search.records import VerifierRecord
from search.schedule import Schedule
from search.strategy import Ask, AskKind, Candidate, HotSampling, Outcome, Problem, SearchDeps, SearchStrategy


class BestOfNSettings(HotSampling):
    n: int = Field(8, ge=1, le=64)
    batch: int = Field(4, ge=1, le=64)
    greedy_first: bool = True  # a small model's greedy pass is its single best guess
    weighted: bool = False
    programs: int = Field(0, ge=0, le=64)
    # Stop once this many candidates are checked and not one was well-formed (no answer, broken
    # rules, code that does not compile or prints nothing): the model cannot produce the task's
    # form, and more samples of it are tokens for nothing. A sample cut at its token cap counts as
    # what it is, usually malformed: more samples under the same cap end the same way. 0: never.
    give_up_after: int = Field(0, ge=0, le=64)
    # Ask for no more programs once this many have come back and none was even well-formed (printed
    # nothing, or not the task's form), as self-consistency's program_trial: a model that cannot put
    # the problem into code gains little from more samples of it, and a small model's broken
    # programs run to their token cap. The remaining candidates are chains of thought. 0: never.
    program_trial: int = Field(0, ge=0, le=64)

    def wants_programs(self) -> bool:
        return self.programs > 0


@dataclass(frozen=True)
class Scored:
    index: int
    text: str
    answer: str | None
    check: CheckLike
    truncated: bool = False


class BestOfN(SearchStrategy[BestOfNSettings]):
    name = "best_of_n"
    Settings = BestOfNSettings

    def __init__(self, problem: Problem, deps: SearchDeps, settings: BestOfNSettings | None = None) -> None:
        super().__init__(problem, deps, settings)
        self.tools, self.verifier = deps.tools, deps.verifier
        s = self.settings
        self.candidates = Schedule(s.n, s.batch, greedy_first=s.greedy_first)
        # Programs only where a verifier checks what they print (an ORM would judge code, not the answer).
        wanted = s.programs if problem.program_prompt and self.verifier is not None else 0
        self.programs = Schedule(wanted, s.batch, greedy_first=s.greedy_first)
        self.scored: list[Scored] = []
        self.gave_up = False  # stopped by give_up_after with samples still to ask for
        self.programs_formed: list[bool] = []  # whether each program that came back was well-formed
        self.programs_stopped = False  # program_trial stopped them with programs still to ask for

    def ask(self) -> list[Ask]:
        if any(s.check.passed for s in self.scored):
            return []
        if self._hopeless():
            self.gave_up = self.candidates.remaining + self.programs.remaining > 0
            return []
        trial = self.settings.program_trial
        if 0 < trial <= len(self.programs_formed) and not any(self.programs_formed) and self.programs.remaining:
            self.programs_stopped = True
            self.programs.stop()
        asks = program_asks(self.problem, self.programs, self.settings)
        for d in self.candidates.draws():
            asks.append(Ask(
                prompt=self.problem.prompt, n=d.n, greedy=d.greedy,
                sampling=self.problem.sampling if d.greedy else self.settings.hot(self.problem, d.first),
                tag="greedy candidate" if d.greedy else f"candidates {d.first + 1}-{d.first + d.n}"))
        return asks

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        program = ask.kind is AskKind.PROGRAM
        granted = len(generation.samples) if generation is not None else 0
        (self.programs if program else self.candidates).refund(ask.n - granted)
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
            _printed_nothing() if program and a is None else self._check(t)
            for t, a in zip(texts, answers, strict=True)))
        if program:
            self.programs_formed.extend(c.wellformed for c in checks)
        start = len(self.scored)
        for i, (sample, text, answer, check) in enumerate(zip(generation.samples, texts, answers, checks, strict=True)):
            self.scored.append(Scored(start + i, text, answer, check, truncated=sample.finish_reason == "length"))

    def _hopeless(self) -> bool:
        after = self.settings.give_up_after
        return 0 < after <= len(self.scored) and not any(s.check.wellformed for s in self.scored)

    async def _check(self, text: str) -> CheckLike:
        if self.verifier is not None:
            return await verifier_check(self.verifier, text)
        scorer, generator = self.deps.scorer, self.deps.generator
        if scorer is not None and generator is not None:
            try:
                score = await scorer.score(self.problem.messages, [text], generator)
            except BudgetExhausted:
                score = 0.5  # unscored: neither favoured nor dropped
            return Check(passed=False, score=score, feedback=f"ORM p(correct) = {score:.2f}")
        return Check(passed=False, score=0.0)

    def best(self) -> Outcome | None:
        if not self.scored:
            return None
        votes: dict[str | None, float] = {}
        for s in self.scored:
            votes[s.answer] = votes.get(s.answer, 0.0) + (s.check.score if self.settings.weighted else 1.0)
        if self.settings.weighted and not any(s.check.passed for s in self.scored):
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
            verified=VerifierRecord(samples=len(self.scored), passed=sum(s.check.passed for s in self.scored),
                                    verdict=top.check.feedback, gave_up=self.gave_up,
                                    programs=self.programs.requested if self.programs.total else 0,
                                    programs_stopped=self.programs_stopped),
            truncated=top.truncated,
        )


async def verifier_check(verifier: Verifier, text: str) -> CheckLike:
    """The verifier's verdict on a candidate; a verifier that crashes fails the candidate, not the search."""
    try:
        return await verifier.check(text)
    except Exception as exc:
        return Check(passed=False, score=0.0, feedback=f"the verifier failed: {type(exc).__name__}: {exc}")


async def _printed_nothing() -> CheckLike:
    return Check(passed=False, score=0.0, feedback="the program printed no answer", wellformed=False)
