"""Step-level beam search with a process reward model (Snell et al. 2024; HF search-and-learn).

Each round expands every beam into `expansions` next steps (one request with n, so the
shared path is computed once), scores the new steps with the PRM, and keeps the best
`width` open paths. Finished paths are collected; the answer is a PRM-weighted vote
among them. With a ground-truth verifier, a passing path ends the search.
"""

from __future__ import annotations

from typing import Any

from search.protocols import AnswerTools, Generation, Generator, StepScorer, Verifier
from search.strategies.stepwise import add_children, path_score, score_nodes
from search.strategy import Ask, Candidate, Outcome, Problem
from search.tree import STEP_DELIMITER, Node, Tree


class Beam:
    name = "beam"

    def __init__(
        self, problem: Problem, tools: AnswerTools, *, scorer: StepScorer | None = None,
        verifier: Verifier | None = None, generator: Generator | None = None, width: int = 2,
        expansions: int = 2, max_depth: int = 8, step_tokens: int = 160, temperature: float = 0.7,
        aggregate: str = "last", **_: Any,
    ) -> None:
        self.problem, self.tools = problem, tools
        self.scorer, self.verifier, self.generator = scorer, verifier, generator
        self.width, self.expansions, self.max_depth = int(width), int(expansions), int(max_depth)
        self.step_tokens = min(int(step_tokens), problem.max_tokens)
        self.temperature = problem.temperature if problem.temperature is not None else float(temperature)
        self.how = aggregate
        self.tree = Tree()
        self.beams: list[int] = [0]
        self.finished: list[int] = []
        self._new: list[Node] = []
        self._asked: dict[str, int] = {}

    def ask(self) -> list[Ask]:
        if self._new:
            self._select()
        if self._solved() or len(self.finished) >= self.width or not self.beams:
            return []
        self._asked = {f"expand node {b}": b for b in self.beams}
        return [
            Ask(prompt=self.problem.prompt + self.tree.path_text(b), n=self.expansions, max_tokens=self.step_tokens,
                temperature=self.temperature, stop=(STEP_DELIMITER, *self.problem.stop), tag=tag)
            for tag, b in self._asked.items()
        ]

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        if generation is None:
            return
        children = add_children(self.tree, self._asked[ask.tag], generation, self.tools, max_depth=self.max_depth)
        await score_nodes(self.tree, children, self.problem, scorer=self.scorer, verifier=self.verifier,
                          generator=self.generator)
        self._new.extend(children)

    def _select(self) -> None:
        self.finished.extend(n.id for n in self._new if n.terminal)
        open_ = [n for n in self._new if not n.terminal]
        open_.sort(key=lambda n: path_score(self.tree, n.id, self.how), reverse=True)
        self.beams = [n.id for n in open_[: max(0, self.width - len(self.finished))]]
        self._new = []

    def _solved(self) -> bool:
        # Terminal nodes are scored by the verifier when there is one: 1.0 is a pass.
        return self.verifier is not None and any((self.tree.nodes[i].prm_score or 0) >= 1.0 for i in self.finished)

    def best(self) -> Outcome | None:
        done = self.finished + [n.id for n in self._new if n.terminal]
        candidates = done or self.beams + [n.id for n in self._new]
        candidates = [c for c in candidates if c != 0]
        if not candidates:
            return None
        scores = {c: path_score(self.tree, c, self.how) for c in candidates}
        by_answer: dict[str, float] = {}
        for c in candidates:
            answer = self.tree.nodes[c].answer
            if answer is not None:
                by_answer[answer] = by_answer.get(answer, 0.0) + scores[c]
        if by_answer:
            winner = max(by_answer, key=lambda a: by_answer[a])
            top = max((c for c in candidates if self.tree.nodes[c].answer == winner), key=lambda c: scores[c])
        else:
            winner, top = None, max(candidates, key=lambda c: scores[c])
        node = self.tree.nodes[top]
        total = sum(by_answer.values()) or 1.0
        passed = self.verifier is not None and (node.prm_score or 0) >= 1.0 and node.terminal
        return Outcome(
            content=self.tree.path_text(top).strip(), answer=winner,
            confidence=1.0 if passed else (by_answer.get(winner, 0.0) / total if winner else 0.0),
            candidates=tuple(Candidate(answer=a, votes=v) for a, v in sorted(by_answer.items(), key=lambda kv: -kv[1])),
            details={"paths": len(candidates), "finished": len(done), "nodes": len(self.tree.nodes) - 1,
                     "score": round(scores[top], 3)},
        )
