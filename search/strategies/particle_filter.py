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
from typing import Any

from search.protocols import AnswerTools, Generation, Generator, StepScorer, Verifier
from search.strategies.stepwise import branch_seed, grow, tree_outcome
from search.strategy import Ask, Outcome, Problem
from search.tree import STEP_DELIMITER, Node, Tree


class ParticleFilter:
    name = "particle_filter"

    def __init__(
        self, problem: Problem, tools: AnswerTools, *, scorer: StepScorer | None = None,
        verifier: Verifier | None = None, generator: Generator | None = None, particles: int = 4,
        max_depth: int = 8, step_tokens: int = 160, temperature: float = 0.7, softmax_temperature: float = 0.5,
        **_: Any,
    ) -> None:
        self.problem, self.tools = problem, tools
        self.scorer, self.verifier, self.generator = scorer, verifier, generator
        self.n_particles, self.max_depth = int(particles), int(max_depth)
        self.step_tokens = min(int(step_tokens), problem.max_tokens)
        self.temperature = problem.temperature if problem.temperature is not None else float(temperature)
        self.softmax_temperature = float(softmax_temperature)
        self.rng = random.Random(problem.seed if problem.seed is not None else 0)
        self.tree = Tree()
        self.live: list[int] = [0] * self.n_particles  # node ids; duplicates are copies of one path
        self.finished: list[int] = []
        self._stepped: list[Node] = []
        self._asked: dict[str, int] = {}

    def ask(self) -> list[Ask]:
        if self._stepped:
            self._resample()
        if not self.live or self._solved():
            return []
        # Copies of one path are advanced together: one request with n = number of copies.
        counts: dict[int, int] = {}
        for node in self.live:
            counts[node] = counts.get(node, 0) + 1
        self._asked = {f"advance node {node}": node for node in counts}
        return [
            Ask(prompt=self.problem.prompt + self.tree.path_text(node), n=count, max_tokens=self.step_tokens,
                temperature=self.temperature, seed=branch_seed(self.problem, node), stop=(STEP_DELIMITER, *self.problem.stop), tag=f"advance node {node}")
            for node, count in counts.items()
        ]

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        if generation is None:
            return
        children = await grow(self.tree, self._asked[ask.tag], generation, self.problem, self.tools,
                              scorer=self.scorer, verifier=self.verifier, generator=self.generator,
                              max_depth=self.max_depth)
        self._stepped.extend(children)

    def _weight(self, node: Node) -> float:
        score = 0.5 if node.prm_score is None else node.prm_score
        return math.exp(score / self.softmax_temperature)

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
        return self.verifier is not None and any((self.tree.nodes[i].prm_score or 0) >= 1.0 for i in self.finished)

    def best(self) -> Outcome | None:
        pool = self.finished + [n.id for n in self._stepped if n.terminal]
        if not pool:
            pool = self.live + [n.id for n in self._stepped]
        return tree_outcome(self.tree, pool, lambda i: self._weight(self.tree.nodes[i]), verifier=self.verifier,
                            details={"particles": self.n_particles, "finished": len(self.finished)})
