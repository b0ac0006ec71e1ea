"""Particle filtering over reasoning steps (Puri et al. 2025, "A Probabilistic Inference
Approach to Inference-Time Scaling of LLMs", Algorithm 1).

`particles` partial solutions start from the problem. Every round each unfinished particle is
advanced by one sampled step (copies of one path in one request with n, each copy its own sample),
and the PRM scores the new step given its path: that score is the particle's reward. Then all
`particles` places are resampled with replacement from the whole set, finished particles included,
each drawn with probability softmax(reward / `softmax_temperature`) over the set (an unscored particle
counts 0.5). A finished particle that is drawn stays finished and keeps its place; one that is not
drawn leaves the set. The search ends when every particle has finished.

How it differs from the paper: Algorithm 1 softmaxes the rewards themselves (temperature 1) and the
authors' code their logits (weights in proportion to p / (1 - p)); here the temperature sets how
sharply the draw follows the PRM. The answer is a vote over the distinct finished paths in the final
set, each weighing exp(reward / `softmax_temperature`), where the authors' code returns the single
heaviest particle. With a ground-truth verifier, the verifier scores finished particles in the PRM's
place and a pass ends the search before it is resampled away. Resampling draws from a generator
seeded by the request's seed (0 when it has none).
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
        self.particles: list[int] = [0] * self.n_particles  # node ids; duplicates are copies of one path
        self._stepped: list[Node] = []

    def ask(self) -> list[Ask]:
        if self._stepped:
            self._resample()
        if self._solved():
            return []
        # Copies of one path are advanced together: one request with n = number of copies.
        counts: dict[int, int] = {}
        for node in self.particles:
            if not self.tree.nodes[node].terminal:
                counts[node] = counts.get(node, 0) + 1
        return [step_ask(self.problem, self.tree, node, count, self.settings, f"advance node {node}")
                for node, count in counts.items()]

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        if generation is None or ask.node is None:
            return
        children = await grow(self.tree, ask.node, generation, self.problem, self.deps,
                              max_depth=self.settings.max_depth)
        self._stepped.extend(children)

    def weight(self, node_id: int) -> float:
        """A particle's unnormalised resampling weight: exp(reward / softmax_temperature)."""
        score = self.tree.nodes[node_id].prm_score
        return math.exp((0.5 if score is None else score) / self.settings.softmax_temperature)

    def _resample(self) -> None:
        held = [i for i in self.particles if self.tree.nodes[i].terminal]  # finished particles stay in the set
        pool = held + [n.id for n in self._stepped]
        self._stepped = []
        if not pool or self._passed(pool):
            self.particles = pool  # a verified solution is not resampled away
            return
        self.particles = self.rng.choices(pool, weights=[self.weight(i) for i in pool], k=self.n_particles)

    def _passed(self, pool: list[int]) -> bool:
        return self.deps.verifier is not None and any(
            self.tree.nodes[i].terminal and (self.tree.nodes[i].prm_score or 0) >= 1.0 for i in pool)

    def _solved(self) -> bool:
        return self._passed(self.particles)

    def best(self) -> Outcome | None:
        current = self.particles + [n.id for n in self._stepped]
        finished = list(dict.fromkeys(i for i in current if self.tree.nodes[i].terminal))
        pool = finished or list(dict.fromkeys(current))
        return tree_outcome(self.tree, pool, self.weight, verifier=self.deps.verifier, key=self.deps.tools.answer_key)
