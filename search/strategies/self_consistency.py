"""Self-consistency (Wang et al. 2022): sample N chains, vote on their final answers.

Samples come in batches; sampling stops early once the remaining samples could not
change the winner. Confidence is the winner's vote share.
"""

from __future__ import annotations

from typing import Any

from search.protocols import AnswerGroup, AnswerTools, Generation
from search.strategy import Ask, Candidate, Outcome, Problem


class SelfConsistency:
    name = "self_consistency"

    def __init__(
        self, problem: Problem, tools: AnswerTools, *, n: int = 5, batch: int = 4, temperature: float = 0.7,
        top_p: float = 0.95, **_: Any,
    ) -> None:
        self.problem = problem
        self.tools = tools
        self.n = max(1, int(n))
        self.batch = max(1, int(batch))
        self.temperature = problem.temperature if problem.temperature is not None else float(temperature)
        self.top_p = float(top_p)
        self.texts: list[str] = []
        self.answers: list[str | None] = []
        self.groups: list[AnswerGroup] = []
        self._requested = 0
        self._settled = False

    def ask(self) -> list[Ask]:
        remaining = self.n - self._requested
        if remaining <= 0 or self._settled:
            return []
        size = min(self.batch, remaining)
        seed = None if self.problem.seed is None else self.problem.seed + self._requested
        self._requested += size
        return [Ask(prompt=self.problem.prompt, n=size, max_tokens=self.problem.max_tokens,
                    temperature=self.temperature, top_p=self.top_p, seed=seed, stop=self.problem.stop,
                    tag=f"samples {self._requested - size + 1}-{self._requested}")]

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        if generation is None:
            return
        for sample in generation.samples:
            self.texts.append(sample.text)
            self.answers.append(self.tools.extract(sample.text))
        # The budget may have granted fewer samples than asked: count what came back.
        self._requested -= ask.n - len(generation.samples)
        voted = [(i, a) for i, a in enumerate(self.answers) if a is not None]
        groups = await self.tools.tally([a for _, a in voted])
        # tally indexes into the voted list; map members back to sample indexes.
        self.groups = [AnswerGroup(g.answer, g.votes, tuple(voted[m][0] for m in g.members)) for g in groups]
        self._settled = not self._winner_can_change()

    def _winner_can_change(self) -> bool:
        remaining = self.n - len(self.texts)
        if not self.groups:
            return remaining > 0
        runner_up = self.groups[1].votes if len(self.groups) > 1 else 0.0
        return runner_up + remaining >= self.groups[0].votes

    def best(self) -> Outcome | None:
        if not self.texts:
            return None
        if not self.groups:  # no sample stated an answer: show the first one as it is
            return Outcome(content=self.texts[0].strip(), answer=None, confidence=0.0)
        winner = self.groups[0]
        total = len(self.texts)
        return Outcome(
            content=self.texts[winner.members[0]].strip(), answer=winner.answer, confidence=winner.votes / total,
            candidates=tuple(Candidate(answer=g.answer, votes=g.votes) for g in self.groups),
            details={"samples": total, "answered": sum(a is not None for a in self.answers)},
        )
