"""Step-level beam search with a process reward model (Snell et al. 2024; HF search-and-learn).

Each round expands every beam into `expansions` next steps (one request with n, so the
shared path is computed once), scores the new steps with the PRM, and keeps the best
`width` open paths. Finished paths are collected; the answer is a PRM-weighted vote
among them. With a ground-truth verifier, a passing path ends the search.

`mode="dvts"` (diverse verifier tree search, Beeching et al. 2024): the first step is
sampled `width` times and each first step roots an independent subtree that keeps only
its own best path, so the beams cannot all collapse onto one early idea.
"""

from __future__ import annotations

from typing import Any

from search.protocols import AnswerTools, Generation, Generator, StepScorer, Verifier
from search.strategies.stepwise import grow, path_score, tree_outcome
from search.strategy import Ask, Outcome, Problem
from search.tree import STEP_DELIMITER, Node, Tree


class Beam:
    name = "beam"

    def __init__(
        self, problem: Problem, tools: AnswerTools, *, scorer: StepScorer | None = None,
        verifier: Verifier | None = None, generator: Generator | None = None, width: int = 2,
        expansions: int = 2, max_depth: int = 8, step_tokens: int = 160, temperature: float = 0.7,
        aggregate: str = "last", mode: str = "beam", **_: Any,
    ) -> None:
        self.problem, self.tools = problem, tools
        self.scorer, self.verifier, self.generator = scorer, verifier, generator
        self.width, self.expansions, self.max_depth = int(width), int(expansions), int(max_depth)
        self.step_tokens = min(int(step_tokens), problem.max_tokens)
        self.temperature = problem.temperature if problem.temperature is not None else float(temperature)
        self.how = aggregate
        self.dvts = mode == "dvts"
        self.tree = Tree()
        self.beams: list[int] = [0]
        self.finished: list[int] = []
        self._new: list[Node] = []
        self._asked: dict[str, int] = {}

    def ask(self) -> list[Ask]:
        if self._new:
            self._select()
        if self._solved() or (len(self.finished) >= self.width and not self.dvts) or not self.beams:
            return []
        self._asked = {f"expand node {b}": b for b in self.beams}
        fan_out = self.width if self.dvts and self.beams == [0] else self.expansions
        return [
            Ask(prompt=self.problem.prompt + self.tree.path_text(b), n=fan_out, max_tokens=self.step_tokens,
                temperature=self.temperature, stop=(STEP_DELIMITER, *self.problem.stop), tag=tag)
            for tag, b in self._asked.items()
        ]

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        if generation is None:
            return
        children = await grow(self.tree, self._asked[ask.tag], generation, self.problem, self.tools,
                              scorer=self.scorer, verifier=self.verifier, generator=self.generator,
                              max_depth=self.max_depth)
        self._new.extend(children)

    def _select(self) -> None:
        self.finished.extend(n.id for n in self._new if n.terminal)
        open_ = [n for n in self._new if not n.terminal]
        open_.sort(key=lambda n: path_score(self.tree, n.id, self.how), reverse=True)
        if self.dvts:
            best_per_subtree: dict[int, int] = {}
            for n in open_:  # best first, so the first seen per subtree is its best
                best_per_subtree.setdefault(self.tree.path(n.id)[0].id, n.id)
            self.beams = list(best_per_subtree.values())
        else:
            self.beams = [n.id for n in open_[: max(0, self.width - len(self.finished))]]
        self._new = []

    def _solved(self) -> bool:
        # Terminal nodes are scored by the verifier when there is one: 1.0 is a pass.
        return self.verifier is not None and any((self.tree.nodes[i].prm_score or 0) >= 1.0 for i in self.finished)

    def best(self) -> Outcome | None:
        done = self.finished + [n.id for n in self._new if n.terminal]
        pool = done or self.beams + [n.id for n in self._new]
        return tree_outcome(self.tree, pool, lambda i: path_score(self.tree, i, self.how), verifier=self.verifier,
                            details={"paths": len(pool), "finished": len(done)})
