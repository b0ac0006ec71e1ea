"""One pass: the baseline every other strategy is measured against (greedy unless the request sets a
temperature; an open-ended request is answered without the server's default math prompt)."""

from __future__ import annotations

from dataclasses import replace

from pydantic import Field

from search.protocols import Generation
from search.strategy import Ask, Candidate, Outcome, Problem, SearchDeps, SearchStrategy, StrategySettings


class SingleSettings(StrategySettings):
    temperature: float = Field(0.0, ge=0, le=2)  # greedy unless a tier or the request sets a temperature


class Single(SearchStrategy[SingleSettings]):
    name = "single"
    Settings = SingleSettings

    def __init__(self, problem: Problem, deps: SearchDeps, settings: SingleSettings | None = None) -> None:
        super().__init__(problem, deps, settings)
        self._asked = False
        self._outcome: Outcome | None = None

    def ask(self) -> list[Ask]:
        if self._asked:
            return []
        self._asked = True
        sampling = self.problem.hot(replace(self.problem.sampling, temperature=self.settings.temperature))
        # An open-ended request's reply is written to the client's chat (Problem.reply_prompt).
        prompt = self.problem.reply_prompt or self.problem.prompt
        return [Ask(prompt=prompt, n=1, sampling=sampling, greedy=sampling.greedy, tag="single")]

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        if generation is None or not generation.samples:
            return
        sample = generation.samples[0]
        answer = self.deps.tools.extract(sample.text)
        self._outcome = Outcome(
            content=sample.text.strip(), answer=answer, confidence=1.0 if answer is not None else 0.0,
            candidates=(Candidate(answer=answer, votes=1.0),) if answer is not None else (),
            truncated=sample.finish_reason == "length",
        )

    def best(self) -> Outcome | None:
        return self._outcome
