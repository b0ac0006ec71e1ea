"""Tree-of-Thoughts (Yao et al. 2023): propose thoughts, value states, search.

A thought is one reasoning step. Each state (a path of thoughts) is expanded into `thoughts` next
thoughts, sampled independently in one request with n (the paper's "sample" generator, not its
"propose" prompt that lists several thoughts in one reply), and every new state is valued once.
A state's value is the model's own evaluation of it: a value question after the paper's (`valuer`:
can this still reach the answer, sure / likely / impossible, valued 1 / 0.5 / 0 by the judge's
probabilities of the three words; the paper samples its few-shot value prompt 3 times and sums 20 /
1 / 0.001) when given, else the PRM judge's p(the newest thought is correct); an unvalued state
counts 0.5. A ground-truth verifier values finished solutions and ends the search on a pass.

BFS (the paper's Algorithm 1) expands every state of the frontier each round and keeps the
`breadth` best-valued new states that are still open. DFS (Algorithm 2) expands one state a round
from a stack: the new states of the last expansion go on top, the most valued first, except those
valued at or below `threshold`, which are pruned (as in the paper, only a state valued above it is
explored); when a state leaves nothing to explore the search backtracks to the next one down.

How both differ from the paper: a thought that finishes the solution (or reaches `max_depth`) is
collected rather than kept or pruned as a state, and the search ends once `breadth` x `thoughts`
solutions have finished, or when nothing is left to expand, where the paper's BFS runs a fixed
number of steps and its DFS up to a step limit. The answer is a value-weighted vote over the
finished solutions; the paper answers from its single best-valued state.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from search.protocols import Generation
from search.strategies.stepwise import StepSettings, TreeStrategy, grow, step_ask, tree_outcome
from search.strategy import Ask, Outcome, Problem, SearchDeps
from search.tree import Node


class TreeOfThoughtsSettings(StepSettings):
    mode: Literal["bfs", "dfs"] = "bfs"
    thoughts: int = Field(3, ge=1, le=16)
    breadth: int = Field(2, ge=1, le=16)
    threshold: float = Field(0.3, ge=0, le=1)
    max_depth: int = Field(6, ge=1, le=64)


class TreeOfThoughts(TreeStrategy[TreeOfThoughtsSettings]):
    name = "tot"
    Settings = TreeOfThoughtsSettings

    def __init__(self, problem: Problem, deps: SearchDeps, settings: TreeOfThoughtsSettings | None = None) -> None:
        super().__init__(problem, deps, settings)
        self.value_scorer = deps.valuer or deps.scorer
        self.dfs = self.settings.mode == "dfs"
        self.frontier: list[int] = [0]  # BFS: states to expand next round; DFS: a stack (top = last)
        self.finished: list[int] = []
        self.expanding: list[int] = []  # the states of the last round's asks (an anytime answer if it is cut)
        self._new: list[Node] = []

    def _value(self, node_id: int) -> float:
        score = self.tree.nodes[node_id].prm_score
        return 0.5 if score is None else score

    def _absorb(self) -> None:
        self.finished.extend(n.id for n in self._new if n.terminal)
        open_ = sorted((n for n in self._new if not n.terminal), key=lambda n: self._value(n.id), reverse=True)
        self._new = []
        if self.dfs:
            kept = [n.id for n in open_ if self._value(n.id) > self.settings.threshold]  # prune weak thoughts
            self.frontier.extend(reversed(kept))  # the best child on top of the stack
        else:
            self.frontier = [n.id for n in open_[: self.settings.breadth]]

    def _solved(self) -> bool:
        return self.deps.verifier is not None and any(self._value(i) >= 1.0 for i in self.finished)

    def ask(self) -> list[Ask]:
        if self._new:
            self._absorb()
        if self._solved() or not self.frontier or len(self.finished) >= self.settings.breadth * self.settings.thoughts:
            return []
        expand = [self.frontier.pop()] if self.dfs else self.frontier
        if not self.dfs:
            self.frontier = []
        self.expanding = expand
        return [step_ask(self.problem, self.tree, s, self.settings.thoughts, self.settings, f"propose from node {s}")
                for s in expand]

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        if generation is None or ask.node is None:
            return
        children = await grow(self.tree, ask.node, generation, self.problem, self.deps,
                              max_depth=self.settings.max_depth, scorer=self.value_scorer)
        self._new.extend(children)

    def best(self) -> Outcome | None:
        done = self.finished + [n.id for n in self._new if n.terminal]
        # Nothing finished: the open states; when a cut round left none, the states it was expanding.
        pool = done or self.frontier + [n.id for n in self._new] or self.expanding
        return tree_outcome(self.tree, pool, self._value, verifier=self.deps.verifier, key=self.deps.tools.answer_key)
