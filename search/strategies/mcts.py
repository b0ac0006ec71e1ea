"""Monte Carlo tree search over reasoning steps, as AlphaZero runs it (PUCT selection with the
policy's priors) and rStar (Qi et al. 2024) runs it for LLM reasoning (rollouts to a finished
solution, rewarded by answer agreement).

One simulation:

1. Selection: from the root, step to the child with the highest PUCT score
   Q + c_puct * P * sqrt(N(parent)) / (1 + N), where N is the child's visits, Q its backed-up
   reward per visit (0.5 while unvisited) and P its prior, until a node with no steps below it.
2. Expansion: that node gets `expansions` next steps (one request with n, token logprobs on). A
   step's prior is its length-normalised sequence log-probability (the mean of its token logprobs)
   softmaxed over its siblings; where the backend returns no logprobs the priors are uniform.
3. Simulation: every new step that did not end the solution is rolled out to a finished solution
   in one sample with the request's own sampling (as the single pass would continue it). The
   rollout is kept in the tree as a terminal node marked `rollout`; selection never enters it.
4. Reward of a finished solution (a rollout, or a step that ended the solution): the verifier's
   score where the request has one; otherwise a majority reward, as rStar rewards its terminal
   nodes: the share of all finished solutions stating an answer that state the same one (compared
   as the vote compares them, by AnswerTools.answer_key; 0 for a solution with no answer). A round's
   solutions are rewarded together once its rollouts are in, so each is compared with all of them.
5. Backup: each reward is added to the value, and 1 to the visits, of every node from the finished
   solution's last node (its rollout, or the step that ended it) up to the root.

A selected node that is itself a finished solution is not expanded: its reward is backed up again.
A simulation counts once it ran (its expansion came back, or its finished node was backed up
again). `parallel` simulations run per round, then their rollouts in the next; a virtual loss (a
visit without reward) on each path in flight spreads them over the tree. No PRM is called: values
come from rollouts only. With a verifier, a passing solution ends the search.

The answer is a vote over every finished solution, one vote each, as self-consistency votes over
its samples (with a verifier, a passing one wins outright).

Where it differs from the papers: AlphaZero values a leaf with a value network, here with a rollout;
rStar selects by UCT without priors, proposes steps from a set of action prompts, and picks the final
answer with a second model's check of each path (mutual consistency), here a plain vote.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from pydantic import Field

from search.protocols import GeneratedSample, Generation
from search.strategies.stepwise import (
    StepSettings,
    TreeStrategy,
    add_children,
    rollout_ask,
    score_nodes,
    step_ask,
    tree_outcome,
)
from search.strategy import Ask, AskKind, Outcome, Problem, SearchDeps

UNVISITED_Q = 0.5  # an unvisited step has neither won nor lost


class MCTSSettings(StepSettings):
    simulations: int = Field(8, ge=1, le=256)  # simulations in all (each one expansion and its rollouts)
    expansions: int = Field(2, ge=1, le=16)  # next steps per expansion, each rolled out
    parallel: int = Field(2, ge=1, le=16)  # simulations per round, spread by virtual loss
    c_puct: float = Field(1.0, ge=0, le=100)  # exploration: the prior's weight against Q


def policy_priors(samples: Sequence[GeneratedSample]) -> list[float]:
    """Softmax over siblings of each sample's mean token logprob; uniform when any sample has none."""
    means = []
    for sample in samples:
        logprobs = [t.logprob for t in sample.logprobs or () if math.isfinite(t.logprob)]
        if not logprobs:
            return [1.0 / len(samples)] * len(samples)
        means.append(sum(logprobs) / len(logprobs))
    top = max(means, default=0.0)
    weights = [math.exp(m - top) for m in means]
    return [w / sum(weights) for w in weights]


class MCTS(TreeStrategy[MCTSSettings]):
    name = "mcts"
    Settings = MCTSSettings

    def __init__(self, problem: Problem, deps: SearchDeps, settings: MCTSSettings | None = None) -> None:
        super().__init__(problem, deps, settings)
        self.c_puct = self.settings.c_puct
        self.done_simulations = 0
        self.finished: list[int] = []  # finished solutions: rollouts and steps that ended the solution
        self._unrewarded: list[int] = []  # finished since the last backup
        self._to_roll_out: list[int] = []  # open steps from last round's expansions
        self._virtual: dict[int, int] = {}

    def puct(self, parent: int, child: int) -> float:
        """The child's PUCT score under `parent`, the virtual losses of this round's paths included."""
        node = self.tree.nodes[child]
        visits = node.visits + self._virtual.get(child, 0)
        q = node.value / visits if visits else UNVISITED_Q  # virtual visits count as losses
        parent_visits = self.tree.nodes[parent].visits + self._virtual.get(parent, 0)
        return q + self.c_puct * node.prior * math.sqrt(parent_visits) / (1 + visits)

    def steps_below(self, node_id: int) -> list[int]:
        """The node's children that are steps (its rollout is not one)."""
        return [c for c in self.tree.children[node_id] if not self.tree.nodes[c].rollout]

    def select(self) -> int:
        """The node a simulation expands: the best PUCT child at each level from the root down."""
        current = 0
        while steps := self.steps_below(current):
            current = max(steps, key=lambda c: self.puct(current, c))
        return current

    def reward(self, node_id: int) -> float:
        """A finished solution's reward: the verifier's score, else its answer's share of the finished answers."""
        node = self.tree.nodes[node_id]
        if self.deps.verifier is not None:
            return node.prm_score or 0.0  # the verifier's score (score_nodes)
        key = self.deps.tools.answer_key
        answers = [key(a) for i in self.finished if (a := self.tree.nodes[i].answer) is not None]
        return answers.count(key(node.answer)) / len(answers) if node.answer is not None and answers else 0.0

    def backup(self, node_id: int, reward: float) -> None:
        """One more visit and `reward` more value for every node from `node_id` up to the root."""
        for node in [*self.tree.path(node_id), self.tree.root]:
            self.tree.update(node.id, visits=node.visits + 1, value=node.value + reward)

    def _solved(self) -> bool:
        return self.deps.verifier is not None and any((self.tree.nodes[i].prm_score or 0) >= 1 for i in self.finished)

    def ask(self) -> list[Ask]:
        if self._to_roll_out and not self._solved():
            due, self._to_roll_out = self._to_roll_out, []
            return [rollout_ask(self.problem, self.tree, i, f"roll out node {i}") for i in due]
        rewards = [(i, self.reward(i)) for i in self._unrewarded]  # all of them before any is backed up
        for node_id, reward in rewards:
            self.backup(node_id, reward)
        self._unrewarded = []
        if self._solved():
            return []
        self._virtual = {}
        asks: list[Ask] = []
        s = self.settings
        while len(asks) < s.parallel and self.done_simulations + len(asks) < s.simulations:
            leaf = self.select()
            if self.tree.nodes[leaf].terminal:  # a finished solution: revisiting it re-counts its reward
                self.backup(leaf, self.reward(leaf))
                self.done_simulations += 1
                continue
            if any(a.node == leaf for a in asks):
                break  # every open path is already being expanded this round
            for node in [*self.tree.path(leaf), self.tree.root]:
                self._virtual[node.id] = self._virtual.get(node.id, 0) + 1
            ask = step_ask(self.problem, self.tree, leaf, s.expansions, s, f"expand node {leaf}")
            asks.append(replace(ask, sampling=replace(ask.sampling, logprobs=1)))  # logprobs for the priors
        return asks

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        if generation is None or ask.node is None or not generation.samples:
            return
        if ask.kind is AskKind.LOOKAHEAD:
            await self._add_rollout(ask.node, generation.samples[0])
            return
        children = add_children(self.tree, ask.node, generation, self.deps.tools, max_depth=self.settings.max_depth)
        for child, prior in zip(children, policy_priors(generation.samples), strict=True):
            self.tree.update(child.id, prior=prior)
        ended = [c for c in children if c.terminal]
        await score_nodes(self.tree, ended, self.problem, scorer=None, verifier=self.deps.verifier, generator=None)
        self.finished += [c.id for c in ended]
        self._unrewarded += [c.id for c in ended]
        self._to_roll_out += [c.id for c in children if not c.terminal]
        self.done_simulations += 1

    async def _add_rollout(self, node_id: int, sample: GeneratedSample) -> None:
        tools = self.deps.tools
        # As in add_children: a rollout cut by its token cap answers only with a whole boxed answer.
        answered = sample.finish_reason != "length" or tools.boxed_answer(sample.text) is not None
        answer = tools.extract(self.tree.path_text(node_id) + sample.text) if answered else None
        rollout = self.tree.add(node_id, sample.text, tokens=sample.completion_tokens, terminal=True, rollout=True,
                                prior=0.0, answer=answer)  # prior 0: no step for selection to take
        await score_nodes(self.tree, [rollout], self.problem, scorer=None, verifier=self.deps.verifier,
                          generator=None)
        self.finished.append(rollout.id)
        self._unrewarded.append(rollout.id)

    def best(self) -> Outcome | None:
        finished = self.finished
        pool = finished or [i for i in self.tree.nodes if i and not self.steps_below(i)]
        # Finished solutions vote one each; with none finished, open paths by their value.
        weight = (lambda i: 1.0) if finished else (lambda i: self.tree.nodes[i].mean_value)
        return tree_outcome(self.tree, pool, weight, verifier=self.deps.verifier, key=self.deps.tools.answer_key,
                            simulations=self.done_simulations,
                            rollouts=sum(self.tree.nodes[i].rollout for i in finished))
