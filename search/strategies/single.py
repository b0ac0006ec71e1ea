"""One pass: the baseline every other strategy is measured against."""

from __future__ import annotations

from typing import Any

from search.protocols import AnswerTools, Generation
from search.strategy import Ask, Candidate, Outcome, Problem


class Single:
    name = "single"

    def __init__(self, problem: Problem, tools: AnswerTools, *, temperature: float = 0.0, **_: Any) -> None:
        self.problem = problem
        self.tools = tools
        self.temperature = problem.temperature if problem.temperature is not None else temperature
        self._asked = False
        self._outcome: Outcome | None = None

    def ask(self) -> list[Ask]:
        if self._asked:
            return []
        self._asked = True
        p = self.problem
        return [Ask(prompt=p.prompt, n=1, max_tokens=p.max_tokens, temperature=self.temperature,
                    seed=p.seed, stop=p.stop, tag="single")]

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        if generation is None or not generation.samples:
            return
        sample = generation.samples[0]
        answer = self.tools.extract(sample.text)
        self._outcome = Outcome(
            content=sample.text.strip(), answer=answer, confidence=1.0 if answer is not None else 0.0,
            candidates=(Candidate(answer=answer, votes=1.0),) if answer is not None else (),
            truncated=sample.finish_reason == "length",
        )

    def best(self) -> Outcome | None:
        return self._outcome
