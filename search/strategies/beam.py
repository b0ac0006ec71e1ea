"""Step-level beam search with a process reward model (Snell et al. 2024; HF search-and-learn).

The first round samples `width` x `expansions` first steps (Snell et al.'s N, with `width` = N/M and
`expansions` = M). Every later round expands each beam into `expansions` next steps (one request
with n, so the shared path is computed once). The PRM scores each new step; an open path is ranked
by its steps' scores aggregated by `aggregate` (`last`, search-and-learn's default, `min`, `product`
or `mean`; an unscored step counts 0.5), and the best ones go on as the next round's beams.

A finished path leaves the beam and takes one of its `width` places, as in classic beam search: at
most `width` minus the paths finished so far go on, and the search ends once `width` paths have
finished (or at `max_depth`, where every path ends). Search-and-learn instead keeps N/M beams going
until every beam has finished or its round cap. The answer is a PRM-weighted vote over the finished
paths, each weighing its aggregated score (Snell et al.'s best-of-N weighted selection). With a
ground-truth verifier, the verifier scores finished paths in the PRM's place and a pass ends the
search.

`mode="dvts"` (diverse verifier tree search, Beeching et al. 2024): the first round's steps fall into
`width` subtrees of `expansions` steps each (in the order they were sampled), and each subtree is
searched on its own, greedily: every round it keeps only its single best new step, so the beams cannot
all collapse onto one early idea. As in search-and-learn, a subtree ends when its best new step
finishes the solution; its other finished steps still vote.

`lookahead=k` (Snell et al.'s lookahead search): before the beams are chosen, every new open step is
rolled out k more steps greedily (one request, cut to k steps), and the PRM's score of the rollout's
last step, not the step's own aggregated score, ranks it, as in Snell et al. (search-and-learn
aggregates every step's score along the rollout with `aggregate`; with `last` the two agree). The
rollout only informs the choice; the tree keeps the step alone, and the next round samples onward
from it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from pydantic import Field

from search.charged import BudgetExhausted
from search.protocols import Generation
from search.strategies.stepwise import StepSettings, TreeStrategy, grow, path_score, step_ask, tree_outcome
from search.strategy import Ask, AskKind, Outcome, Problem, SearchDeps
from search.tree import STEP_DELIMITER, Node


class BeamSettings(StepSettings):
    width: int = Field(2, ge=1, le=16)
    expansions: int = Field(2, ge=1, le=16)
    aggregate: Literal["last", "min", "product", "mean"] = "last"
    mode: Literal["beam", "dvts"] = "beam"
    lookahead: int = Field(0, ge=0, le=8)


class Beam(TreeStrategy[BeamSettings]):
    name = "beam"
    Settings = BeamSettings

    def __init__(self, problem: Problem, deps: SearchDeps, settings: BeamSettings | None = None) -> None:
        super().__init__(problem, deps, settings)
        self.width, self.expansions = self.settings.width, self.settings.expansions
        self.how = self.settings.aggregate
        self.dvts = self.settings.mode == "dvts"
        self.lookahead = self.settings.lookahead
        self.ahead: dict[int, float] = {}  # step id -> PRM score at the end of its rollout
        self._looked = False
        self.beams: list[int] = [0]
        self.finished: list[int] = []
        self._new: list[Node] = []

    def ask(self) -> list[Ask]:
        if self._new and self.lookahead and not self._looked and self.deps.scorer is not None:
            self._looked = True
            rollouts = self._lookahead_asks()
            if rollouts:
                return rollouts
        if self._new:
            self._select()
        if self._solved() or (len(self.finished) >= self.width and not self.dvts) or not self.beams:
            return []
        fan_out = self.width * self.expansions if self.beams == [0] else self.expansions
        return [step_ask(self.problem, self.tree, b, fan_out, self.settings, f"expand node {b}") for b in self.beams]

    def _lookahead_asks(self) -> list[Ask]:
        p = self.problem
        sampling = replace(p.sampling, max_tokens=min(self.settings.step_tokens * self.lookahead, p.max_tokens))
        return [Ask(prompt=p.prompt + self.tree.path_text(n.id), n=1, sampling=sampling, kind=AskKind.LOOKAHEAD,
                    greedy=True, node=n.id, tag=f"look ahead from node {n.id}") for n in self._new if not n.terminal]

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        if generation is None or ask.node is None:
            return
        if ask.kind is AskKind.LOOKAHEAD:
            if generation.samples:
                await self._score_rollout(ask.node, generation.samples[0].text)
            return
        children = await grow(self.tree, ask.node, generation, self.problem, self.deps,
                              max_depth=self.settings.max_depth)
        self._new.extend(children)

    async def _score_rollout(self, node_id: int, text: str) -> None:
        rollout = [step + STEP_DELIMITER for step in text.split(STEP_DELIMITER) if step.strip()][: self.lookahead]
        scorer, generator = self.deps.scorer, self.deps.generator
        if not rollout or scorer is None or generator is None:
            return
        steps = [n.text for n in self.tree.path(node_id)] + rollout
        try:
            self.ahead[node_id] = await scorer.score(self.problem.messages, steps, generator)
        except BudgetExhausted:
            return  # ranked by its own score; the search is ending anyway

    def _rank(self, node_id: int) -> float:
        return self.ahead.get(node_id, path_score(self.tree, node_id, self.how))

    def _select(self) -> None:
        self._looked = False
        self.finished.extend(n.id for n in self._new if n.terminal)
        if self.dvts:
            best_per_subtree: dict[int, Node] = {}
            for n in sorted(self._new, key=lambda n: self._rank(n.id), reverse=True):
                best_per_subtree.setdefault(self.subtree(n.id), n)  # best first: the first seen is its best
            self.beams = [n.id for n in best_per_subtree.values() if not n.terminal]  # a finished best ends it
        else:
            open_ = sorted((n for n in self._new if not n.terminal), key=lambda n: self._rank(n.id), reverse=True)
            self.beams = [n.id for n in open_[: max(0, self.width - len(self.finished))]]
        self._new = []

    def subtree(self, node_id: int) -> int:
        """DVTS: the subtree a node belongs to, by where its first step came in the first round."""
        first = self.tree.path(node_id)[0].id
        return self.tree.children[0].index(first) // self.expansions

    def _solved(self) -> bool:
        # Terminal nodes are scored by the verifier when there is one: 1.0 is a pass.
        return self.deps.verifier is not None and any((self.tree.nodes[i].prm_score or 0) >= 1.0 for i in self.finished)

    def best(self) -> Outcome | None:
        done = self.finished + [n.id for n in self._new if n.terminal]
        pool = done or self.beams + [n.id for n in self._new]
        return tree_outcome(self.tree, pool, lambda i: path_score(self.tree, i, self.how), verifier=self.deps.verifier,
                            key=self.deps.tools.answer_key)
