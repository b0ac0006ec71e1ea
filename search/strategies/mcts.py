"""Monte Carlo tree search over reasoning steps, PUCT selection (as in AlphaZero; for LLM
reasoning see rStar and ReST-MCTS*).

Each simulation walks from the root by PUCT, expands the leaf it reaches into several
next steps (one request with n), values the new steps with the PRM (or, for finished
solutions, the verifier), and backs the best new value up the path. Several simulations
run per round; a virtual loss on the paths in flight spreads them over the tree. If no path
has finished when the simulations are spent, the best one is finished in one sample (a rollout
with the request's own sampling): a search answers with a whole solution, never half of one.
"""

from __future__ import annotations

import math

from pydantic import Field

from search.protocols import Generation
from search.strategies.stepwise import StepSettings, TreeStrategy, finish_ask, grow, step_ask, tree_outcome
from search.strategy import Ask, Outcome, Problem, SearchDeps


class MCTSSettings(StepSettings):
    simulations: int = Field(8, ge=1, le=256)
    expansions: int = Field(2, ge=1, le=16)
    parallel: int = Field(2, ge=1, le=16)  # simulations per round, spread by virtual loss
    c_puct: float = Field(1.0, ge=0, le=100)


class MCTS(TreeStrategy[MCTSSettings]):
    name = "mcts"
    Settings = MCTSSettings

    def __init__(self, problem: Problem, deps: SearchDeps, settings: MCTSSettings | None = None) -> None:
        super().__init__(problem, deps, settings)
        self.c_puct = self.settings.c_puct
        self.done_simulations = 0
        self._in_flight: set[int] = set()
        self._virtual: dict[int, int] = {}
        self.finished_from: int | None = None  # the unfinished path the closing rollout continued

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
        leaves = self.tree.leaves()
        return self.deps.verifier is not None and any(n.terminal and (n.prm_score or 0) >= 1.0 for n in leaves)

    def ask(self) -> list[Ask]:
        self._in_flight, self._virtual = set(), {}
        asks: list[Ask] = []
        s = self.settings
        while len(asks) < s.parallel and self.done_simulations < s.simulations and not self._solved():
            leaf = self._select()
            node = self.tree.nodes[leaf]
            self.done_simulations += 1
            if node.terminal:  # a finished solution: revisiting it re-counts its value
                self._backup(leaf, node.prm_score if node.prm_score is not None else 0.5)
                continue
            if leaf in self._in_flight:
                break  # every open path is already being expanded this round
            for n in [*self.tree.path(leaf), self.tree.root]:
                self._virtual[n.id] = self._virtual.get(n.id, 0) + 1
            self._in_flight.add(leaf)
            asks.append(step_ask(self.problem, self.tree, leaf, s.expansions, s, f"expand node {leaf}"))
        leaves = list(self.tree.leaves())  # never the root
        if asks or self.finished_from is not None or not leaves or any(n.terminal for n in leaves):
            return asks
        best = max(leaves, key=lambda n: (n.mean_value, n.depth, -n.id))
        self.finished_from = best.id
        return [finish_ask(self.problem, self.tree, best.id, f"finish node {best.id}")]

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        if generation is None or ask.node is None:
            return
        children = await grow(self.tree, ask.node, generation, self.problem, self.deps,
                              max_depth=self.settings.max_depth)
        for child in children:
            scored = self.tree.nodes[child.id]
            self._backup(child.id, scored.prm_score if scored.prm_score is not None else 0.5)

    def best(self) -> Outcome | None:
        finished = [n.id for n in self.tree.leaves() if n.terminal]
        pool = finished or [n.id for n in self.tree.leaves()]
        return tree_outcome(self.tree, pool, lambda i: self.tree.nodes[i].mean_value, verifier=self.deps.verifier,
                            simulations=self.done_simulations, finished_from=self.finished_from)
