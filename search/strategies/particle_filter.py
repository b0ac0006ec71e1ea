"""Particle filtering over reasoning steps (Puri et al. 2025, "A Probabilistic Inference
Approach to Inference-Time Scaling of LLMs").

Each particle is a partial solution. Every round each live particle is advanced by one
step, weighted by the PRM score of that step, and the particles are resampled in
proportion to their weights (softmax with a temperature), so compute follows the
promising paths while weaker ones keep a chance. Finished particles stop; the answer is
a weight-summed vote over them.
"""

from __future__ import annotations

import math
import random

from pydantic import Field

from search.protocols import Generation
from search.strategies.stepwise import StepSettings, TreeStrategy, grow, step_ask, tree_outcome
from search.strategy import Ask, Outcome, Problem, SearchDeps
from search.tree import Node


class ParticleFilterSettings(StepSettings):
    particles: int = Field(4, ge=1, le=64)
    softmax_temperature: float = Field(0.5, ge=0.01, le=100)


class ParticleFilter(TreeStrategy[ParticleFilterSettings]):
    name = "particle_filter"
    Settings = ParticleFilterSettings

    def __init__(self, problem: Problem, deps: SearchDeps, settings: ParticleFilterSettings | None = None) -> None:
        super().__init__(problem, deps, settings)
        self.n_particles = self.settings.particles
        self.rng = random.Random(problem.sampling.seed if problem.sampling.seed is not None else 0)
        self.live: list[int] = [0] * self.n_particles  # node ids; duplicates are copies of one path
        self.finished: list[int] = []
        self._stepped: list[Node] = []

    def ask(self) -> list[Ask]:
        if self._stepped:
            self._resample()
        if not self.live or self._solved():
            return []
        # Copies of one path are advanced together: one request with n = number of copies.
        counts: dict[int, int] = {}
        for node in self.live:
            counts[node] = counts.get(node, 0) + 1
        return [step_ask(self.problem, self.tree, node, count, self.settings, f"advance node {node}")
                for node, count in counts.items()]

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        if generation is None or ask.node is None:
            return
        children = await grow(self.tree, ask.node, generation, self.problem, self.deps,
                              max_depth=self.settings.max_depth)
        self._stepped.extend(children)

    def _weight(self, node: Node) -> float:
        score = 0.5 if node.prm_score is None else node.prm_score
        return math.exp(score / self.settings.softmax_temperature)

    def _resample(self) -> None:
        self.finished.extend(n.id for n in self._stepped if n.terminal)
        open_ = [n for n in self._stepped if not n.terminal]
        self._stepped = []
        slots = self.n_particles - len(self.finished)
        if not open_ or slots <= 0:
            self.live = []
            return
        weights = [self._weight(n) for n in open_]
        self.live = [n.id for n in self.rng.choices(open_, weights=weights, k=slots)]

    def _solved(self) -> bool:
        return self.deps.verifier is not None and any((self.tree.nodes[i].prm_score or 0) >= 1.0 for i in self.finished)

    def best(self) -> Outcome | None:
        pool = self.finished + [n.id for n in self._stepped if n.terminal]
        if not pool:
            pool = self.live + [n.id for n in self._stepped]
        return tree_outcome(self.tree, pool, lambda i: self._weight(self.tree.nodes[i]), verifier=self.deps.verifier)
