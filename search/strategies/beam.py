"""Step-level beam search with a process reward model (Snell et al. 2024; HF search-and-learn).

Each round expands every beam into `expansions` next steps (one request with n, so the
shared path is computed once), scores the new steps with the PRM, and keeps the best
`width` open paths. Finished paths are collected; the answer is a PRM-weighted vote
among them. With a ground-truth verifier, a passing path ends the search.

`mode="dvts"` (diverse verifier tree search, Beeching et al. 2024): the first step is
sampled `width` times and each first step roots an independent subtree that keeps only
its own best path, so the beams cannot all collapse onto one early idea.

`lookahead=k` (search-and-learn's lookahead search): before the beams are chosen, every new
open step is rolled out k more steps greedily, and the PRM's score at the end of that
rollout, not the step's own, ranks it. The rollout only informs the choice; the tree keeps
the step alone, and the next round samples onward from it.
"""

from __future__ import annotations

from typing import Any

from search.charged import BudgetExhausted
from search.protocols import AnswerTools, Generation, Generator, StepScorer, Verifier
from search.strategies.stepwise import branch_seed, grow, path_score, tree_outcome
from search.strategy import Ask, Outcome, Problem
from search.tree import STEP_DELIMITER, Node, Tree


class Beam:
    name = "beam"

    def __init__(
        self, problem: Problem, tools: AnswerTools, *, scorer: StepScorer | None = None,
        verifier: Verifier | None = None, generator: Generator | None = None, width: int = 2,
        expansions: int = 2, max_depth: int = 8, step_tokens: int = 160, temperature: float = 0.7,
        aggregate: str = "last", mode: str = "beam", lookahead: int = 0, **_: Any,
    ) -> None:
        self.problem, self.tools = problem, tools
        self.scorer, self.verifier, self.generator = scorer, verifier, generator
        self.width, self.expansions, self.max_depth = int(width), int(expansions), int(max_depth)
        self.step_tokens = min(int(step_tokens), problem.max_tokens)
        self.temperature = problem.temperature if problem.temperature is not None else float(temperature)
        self.how = aggregate
        self.dvts = mode == "dvts"
        self.lookahead = max(0, int(lookahead))
        self.ahead: dict[int, float] = {}  # step id -> PRM score at the end of its rollout
        self._looked = False
        self.tree = Tree()
        self.beams: list[int] = [0]
        self.finished: list[int] = []
        self._new: list[Node] = []
        self._asked: dict[str, int] = {}

    def ask(self) -> list[Ask]:
        if self._new and self.lookahead and not self._looked and self.scorer is not None:
            self._looked = True
            rollouts = self._lookahead_asks()
            if rollouts:
                return rollouts
        if self._new:
            self._select()
        if self._solved() or (len(self.finished) >= self.width and not self.dvts) or not self.beams:
            return []
        self._asked = {f"expand node {b}": b for b in self.beams}
        fan_out = self.width if self.dvts and self.beams == [0] else self.expansions
        return [
            Ask(prompt=self.problem.prompt + self.tree.path_text(b), n=fan_out, max_tokens=self.step_tokens,
                temperature=self.temperature, seed=branch_seed(self.problem, b), stop=(STEP_DELIMITER, *self.problem.stop), tag=tag)
            for tag, b in self._asked.items()
        ]

    def _lookahead_asks(self) -> list[Ask]:
        self._asked = {f"look ahead from node {n.id}": n.id for n in self._new if not n.terminal}
        return [Ask(prompt=self.problem.prompt + self.tree.path_text(i), n=1, temperature=0.0,
                    max_tokens=min(self.step_tokens * self.lookahead, self.problem.max_tokens),
                    stop=self.problem.stop, tag=tag) for tag, i in self._asked.items()]

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        if generation is None:
            return
        if ask.tag.startswith("look ahead"):
            if generation.samples:
                await self._score_rollout(self._asked[ask.tag], generation.samples[0].text)
            return
        children = await grow(self.tree, self._asked[ask.tag], generation, self.problem, self.tools,
                              scorer=self.scorer, verifier=self.verifier, generator=self.generator,
                              max_depth=self.max_depth)
        self._new.extend(children)

    async def _score_rollout(self, node_id: int, text: str) -> None:
        rollout = [step + STEP_DELIMITER for step in text.split(STEP_DELIMITER) if step.strip()][: self.lookahead]
        if not rollout or self.scorer is None or self.generator is None:
            return
        steps = [n.text for n in self.tree.path(node_id)] + rollout
        try:
            self.ahead[node_id] = await self.scorer.score(self.problem.messages, steps, self.generator)
        except BudgetExhausted:
            return  # ranked by its own score; the search is ending anyway

    def _rank(self, node_id: int) -> float:
        return self.ahead.get(node_id, path_score(self.tree, node_id, self.how))

    def _select(self) -> None:
        self._looked = False
        self.finished.extend(n.id for n in self._new if n.terminal)
        open_ = [n for n in self._new if not n.terminal]
        open_.sort(key=lambda n: self._rank(n.id), reverse=True)
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
