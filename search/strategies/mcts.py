"""Monte Carlo tree search over reasoning steps, PUCT selection (as in AlphaZero; for LLM
reasoning see rStar and ReST-MCTS*).

Each simulation walks from the root by PUCT, expands the leaf it reaches into several
next steps (one request with n), values the new steps with the PRM (or, for finished
solutions, the verifier), and backs the best new value up the path. Several simulations
run per round; a virtual loss on the paths in flight spreads them over the tree.
"""

from __future__ import annotations

import math
from typing import Any

from search.protocols import AnswerTools, Generation, Generator, StepScorer, Verifier
from search.strategies.stepwise import branch_seed, grow, tree_outcome
from search.strategy import Ask, Outcome, Problem
from search.tree import STEP_DELIMITER, Tree


class MCTS:
    name = "mcts"

    def __init__(
        self, problem: Problem, tools: AnswerTools, *, scorer: StepScorer | None = None,
        verifier: Verifier | None = None, generator: Generator | None = None, simulations: int = 8,
        expansions: int = 2, parallel: int = 2, c_puct: float = 1.0, max_depth: int = 8, step_tokens: int = 160,
        temperature: float = 0.7, **_: Any,
    ) -> None:
        self.problem, self.tools = problem, tools
        self.scorer, self.verifier, self.generator = scorer, verifier, generator
        self.simulations, self.expansions = int(simulations), int(expansions)
        self.parallel, self.c_puct, self.max_depth = int(parallel), float(c_puct), int(max_depth)
        self.step_tokens = min(int(step_tokens), problem.max_tokens)
        self.temperature = problem.temperature if problem.temperature is not None else float(temperature)
        self.tree = Tree()
        self.done_simulations = 0
        self._in_flight: dict[str, int] = {}
        self._virtual: dict[int, int] = {}

    def _puct(self, parent: int, child: int) -> float:
        node = self.tree.nodes[child]
        visits = node.visits + self._virtual.get(child, 0)
        q = node.value / visits if visits else 0.5  # virtual visits count as losses
        parent_visits = self.tree.nodes[parent].visits + self._virtual.get(parent, 0)
        return q + self.c_puct * node.prior * math.sqrt(parent_visits + 1) / (1 + visits)

    def _select(self) -> int:
        current = 0
        while self.tree.children[current]:
            current = max(self.tree.children[current], key=lambda c: self._puct(current, c))
        return current

    def _backup(self, leaf: int, value: float) -> None:
        for node in [*self.tree.path(leaf)[::-1], self.tree.root]:
            self.tree.update(node.id, visits=node.visits + 1, value=node.value + value)

    def _solved(self) -> bool:
        return self.verifier is not None and any(n.terminal and (n.prm_score or 0) >= 1.0 for n in self.tree.leaves())

    def ask(self) -> list[Ask]:
        self._in_flight, self._virtual = {}, {}
        asks: list[Ask] = []
        while len(asks) < self.parallel and self.done_simulations < self.simulations and not self._solved():
            leaf = self._select()
            node = self.tree.nodes[leaf]
            self.done_simulations += 1
            if node.terminal:  # a finished solution: revisiting it re-counts its value
                self._backup(leaf, node.prm_score if node.prm_score is not None else 0.5)
                continue
            if leaf in self._in_flight.values():
                break  # every open path is already being expanded this round
            for n in [*self.tree.path(leaf), self.tree.root]:
                self._virtual[n.id] = self._virtual.get(n.id, 0) + 1
            tag = f"expand node {leaf}"
            self._in_flight[tag] = leaf
            asks.append(Ask(prompt=self.problem.prompt + self.tree.path_text(leaf), n=self.expansions,
                            max_tokens=self.step_tokens, temperature=self.temperature,
                            seed=branch_seed(self.problem, leaf),
                            stop=(STEP_DELIMITER, *self.problem.stop), tag=tag))
        return asks

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        if generation is None:
            return
        children = await grow(self.tree, self._in_flight[ask.tag], generation, self.problem, self.tools,
                              scorer=self.scorer, verifier=self.verifier, generator=self.generator,
                              max_depth=self.max_depth)
        for child in children:
            scored = self.tree.nodes[child.id]
            self._backup(child.id, scored.prm_score if scored.prm_score is not None else 0.5)

    def best(self) -> Outcome | None:
        finished = [n.id for n in self.tree.leaves() if n.terminal]
        pool = finished or [n.id for n in self.tree.leaves()]
        return tree_outcome(self.tree, pool, lambda i: self.tree.nodes[i].mean_value, verifier=self.verifier,
                            details={"simulations": self.done_simulations, "finished": len(finished)})
