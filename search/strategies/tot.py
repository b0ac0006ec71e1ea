"""Tree-of-Thoughts (Yao et al. 2023): propose thoughts, value states, search.

BFS keeps the `breadth` best states at each depth; DFS follows the most valued thought
first, prunes states valued below `threshold`, and backtracks. A state's value is the
model's own evaluation of it: the paper's value prompt (`valuer`: can this still reach the
answer, sure / likely / impossible) when given, else the PRM judge's p(the newest thought is
correct); a ground-truth verifier values finished solutions and ends the search on a pass.
"""

from __future__ import annotations

from typing import Any

from search.protocols import AnswerTools, Generation, Generator, StepScorer, Verifier
from search.strategies.stepwise import branch_seed, grow, tree_outcome
from search.strategy import Ask, Outcome, Problem
from search.tree import STEP_DELIMITER, Node, Tree


class TreeOfThoughts:
    name = "tot"

    def __init__(
        self, problem: Problem, tools: AnswerTools, *, scorer: StepScorer | None = None,
        valuer: StepScorer | None = None, verifier: Verifier | None = None, generator: Generator | None = None, mode: str = "bfs", thoughts: int = 3,
        breadth: int = 2, threshold: float = 0.3, max_depth: int = 6, step_tokens: int = 160,
        temperature: float = 0.7, **_: Any,
    ) -> None:
        self.problem, self.tools = problem, tools
        self.scorer, self.verifier, self.generator = valuer or scorer, verifier, generator
        self.dfs = mode == "dfs"
        self.thoughts, self.breadth, self.threshold = int(thoughts), int(breadth), float(threshold)
        self.max_depth = int(max_depth)
        self.step_tokens = min(int(step_tokens), problem.max_tokens)
        self.temperature = problem.temperature if problem.temperature is not None else float(temperature)
        self.tree = Tree()
        self.frontier: list[int] = [0]  # BFS: states to expand next round; DFS: a stack (top = last)
        self.finished: list[int] = []
        self._new: list[Node] = []
        self._asked: dict[str, int] = {}

    def _value(self, node_id: int) -> float:
        score = self.tree.nodes[node_id].prm_score
        return 0.5 if score is None else score

    def _absorb(self) -> None:
        self.finished.extend(n.id for n in self._new if n.terminal)
        open_ = sorted((n for n in self._new if not n.terminal), key=lambda n: self._value(n.id), reverse=True)
        self._new = []
        if self.dfs:
            kept = [n.id for n in open_ if self._value(n.id) >= self.threshold]  # prune weak thoughts
            self.frontier.extend(reversed(kept))  # the best child on top of the stack
        else:
            self.frontier = [n.id for n in open_[: self.breadth]]

    def _solved(self) -> bool:
        return self.verifier is not None and any(self._value(i) >= 1.0 for i in self.finished)

    def ask(self) -> list[Ask]:
        if self._new:
            self._absorb()
        if self._solved() or not self.frontier or len(self.finished) >= self.breadth * self.thoughts:
            return []
        expand = [self.frontier.pop()] if self.dfs else self.frontier
        if not self.dfs:
            self.frontier = []
        self._asked = {f"propose from node {s}": s for s in expand}
        return [
            Ask(prompt=self.problem.prompt + self.tree.path_text(s), n=self.thoughts, max_tokens=self.step_tokens,
                temperature=self.temperature, seed=branch_seed(self.problem, s), stop=(STEP_DELIMITER, *self.problem.stop), tag=tag)
            for tag, s in self._asked.items()
        ]

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        if generation is None:
            return
        children = await grow(self.tree, self._asked[ask.tag], generation, self.problem, self.tools,
                              scorer=self.scorer, verifier=self.verifier, generator=self.generator,
                              max_depth=self.max_depth)
        self._new.extend(children)

    def best(self) -> Outcome | None:
        done = self.finished + [n.id for n in self._new if n.terminal]
        pool = done or self.frontier + [n.id for n in self._new]
        return tree_outcome(self.tree, pool, self._value, verifier=self.verifier,
                            details={"mode": "dfs" if self.dfs else "bfs", "finished": len(done)})
