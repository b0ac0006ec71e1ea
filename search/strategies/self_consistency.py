"""Self-consistency (Wang et al. 2022): sample N chains, vote on their final answers.

Samples come in batches; sampling stops early once the remaining samples could not
change the winner. Confidence is the winner's vote share. With `greedy_first`, the first
batch includes the greedy pass, whose vote counts `greedy_weight` (a small model's greedy
answer is its single most reliable one, so it wins ties).
"""

from __future__ import annotations

from typing import Any

from search.protocols import AnswerGroup, AnswerTools, Generation
from search.strategy import Ask, Candidate, Outcome, Problem


class SelfConsistency:
    name = "self_consistency"

    def __init__(
        self, problem: Problem, tools: AnswerTools, *, n: int = 5, batch: int = 4, temperature: float = 0.7,
        top_p: float = 0.95, greedy_first: bool = False, greedy_weight: float = 1.5, **_: Any,
    ) -> None:
        self.problem = problem
        self.tools = tools
        self.n = max(1, int(n))
        self.batch = max(1, int(batch))
        self.temperature = problem.temperature if problem.temperature is not None else float(temperature)
        self.top_p = float(top_p)
        self.greedy_first = bool(greedy_first)
        self.greedy_weight = float(greedy_weight)
        self.weights: list[float] = []
        self.texts: list[str] = []
        self.answers: list[str | None] = []
        self.groups: list[AnswerGroup] = []
        self._requested = 0

    def ask(self) -> list[Ask]:
        remaining = self.n - self._requested
        if remaining <= 0 or (self.texts and not self._winner_can_change()):
            return []
        size = min(self.batch, remaining)
        p = self.problem
        asks = []
        if self._requested == 0 and self.greedy_first:
            asks.append(Ask(prompt=p.prompt, n=1, max_tokens=p.max_tokens, temperature=0.0, seed=p.seed,
                            stop=p.stop, tag="greedy"))
            self._requested, size = 1, size - 1
        if size > 0:
            seed = None if p.seed is None else p.seed + self._requested
            self._requested += size
            asks.append(Ask(prompt=p.prompt, n=size, max_tokens=p.max_tokens, temperature=self.temperature,
                            top_p=self.top_p, seed=seed, stop=p.stop,
                            tag=f"samples {self._requested - size + 1}-{self._requested}"))
        return asks

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        if generation is None:
            return
        weight = self.greedy_weight if ask.tag == "greedy" else 1.0
        for sample in generation.samples:
            self.texts.append(sample.text)
            self.answers.append(self.tools.extract(sample.text))
            self.weights.append(weight)
        # The budget may have granted fewer samples than asked: count what came back.
        self._requested -= ask.n - len(generation.samples)
        voted = [(i, a) for i, a in enumerate(self.answers) if a is not None]
        groups = await self.tools.tally([a for _, a in voted], [self.weights[i] for i, _ in voted])
        # tally indexes into the voted list; map members back to sample indexes.
        self.groups = [AnswerGroup(g.answer, g.votes, tuple(voted[m][0] for m in g.members)) for g in groups]

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
        total = sum(self.weights)
        return Outcome(
            content=self.texts[winner.members[0]].strip(), answer=winner.answer, confidence=winner.votes / total,
            candidates=tuple(Candidate(answer=g.answer, votes=g.votes) for g in self.groups),
            details={"samples": len(self.texts), "answered": sum(a is not None for a in self.answers)},
        )
