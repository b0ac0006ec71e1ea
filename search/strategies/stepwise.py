"""What step-level strategies share: growing children from samples, and scoring them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from pydantic import Field

from search.charged import BudgetExhausted
from search.protocols import AnswerTools, Generation, Generator, StepScorer, Verifier
from search.records import TreeChoice
from search.strategy import Ask, AskKind, Candidate, Outcome, Problem, SearchDeps, SearchStrategy, StrategySettings
from search.tree import STEP_DELIMITER, Node, Tree


class StepSettings(StrategySettings):
    """What every step-level search shares."""

    temperature: float = Field(0.7, ge=0, le=2)
    max_depth: int = Field(8, ge=1, le=64)
    step_tokens: int = Field(160, ge=1, le=32768)  # per step; never above the problem's per-sample cap


StepSettingsT = TypeVar("StepSettingsT", bound=StepSettings)


class TreeStrategy(SearchStrategy[StepSettingsT]):
    """A step-level search: it grows a tree of steps from the root (search.strategy.TreeSearch)."""

    def __init__(self, problem: Problem, deps: SearchDeps, settings: StepSettingsT | None = None) -> None:
        super().__init__(problem, deps, settings)
        self.tree = Tree()

    def search_tree(self) -> Tree:
        return self.tree


def step_ask(problem: Problem, tree: Tree, node_id: int, n: int, settings: StepSettings, tag: str) -> Ask:
    """`n` next steps continuing the path that ends at `node_id`: each stops at the step delimiter, and
    each is a hot sample (the client's sampling choices over the settings' temperature).

    A seeded search draws a seed fixed by the node, not by call order, so it repeats itself."""
    sampling = problem.hot(replace(problem.sampling, temperature=settings.temperature,
                                   stop=(STEP_DELIMITER, *problem.sampling.stop),
                                   max_tokens=min(settings.step_tokens, problem.max_tokens)), 1 + 1009 * node_id)
    return Ask(prompt=problem.prompt + tree.path_text(node_id), n=n, sampling=sampling, kind=AskKind.STEP,
               node=node_id, tag=tag)


def rollout_ask(problem: Problem, tree: Tree, node_id: int, tag: str) -> Ask:
    """The rest of the solution from the path that ends at `node_id`, in one sample with the request's
    own sampling (as the single pass would write it): a simulation's rollout. A seeded search seeds it
    by the node, apart from the node's step asks."""
    sampling = problem.sampling.seeded(2 + 1009 * node_id)
    return Ask(prompt=problem.prompt + tree.path_text(node_id), n=1, sampling=sampling, kind=AskKind.LOOKAHEAD,
               greedy=sampling.greedy, node=node_id, tag=tag)


def add_children(tree: Tree, parent: int, generation: Generation, tools: AnswerTools, *, max_depth: int,
                 delimiter: str = STEP_DELIMITER) -> list[Node]:
    """One child per sample. A sample that ended its turn without the step delimiter ended the
    solution, and so did one that states a whole boxed answer. A sample cut by `step_tokens` is a long
    step, not an end: the next step continues it (an answer read from half a sentence, "\\frac{2",
    is no answer). At `max_depth` every path ends."""
    children = []
    for sample in generation.samples:
        at_delimiter = sample.stop_reason == delimiter
        cut = sample.finish_reason == "length"
        text = sample.text + (delimiter if at_delimiter else "")
        ended = not at_delimiter and not cut
        terminal = ended or tools.boxed_answer(sample.text) is not None or tree.nodes[parent].depth + 1 >= max_depth
        answer = tools.extract(tree.path_text(parent) + text) if terminal else None  # only an ended path answers
        children.append(tree.add(parent, text, tokens=sample.completion_tokens, terminal=terminal, answer=answer))
    return children


async def score_nodes(tree: Tree, nodes: Sequence[Node], problem: Problem, *, scorer: StepScorer | None,
                      verifier: Verifier | None, generator: Generator | None) -> None:
    """Attach a PRM score to each node (a verifier's verdict decides terminal ones)."""

    async def one(node: Node) -> None:
        if node.terminal and verifier is not None:
            try:
                check = await verifier.check(tree.path_text(node.id))
            except Exception as exc:  # a crashing verifier fails this path, not the search
                tree.update(node.id, prm_score=0.0, verdict=f"the verifier failed: {type(exc).__name__}: {exc}")
                return
            tree.update(node.id, prm_score=check.score, verdict=check.feedback)
            return
        if scorer is None or generator is None:
            return
        steps = [n.text for n in tree.path(node.id)]
        try:
            score = await scorer.score(problem.messages, steps, generator)
        except BudgetExhausted:
            return  # unscored; the search is ending anyway
        tree.update(node.id, prm_score=score)

    await asyncio.gather(*(one(n) for n in nodes))


async def grow(tree: Tree, parent: int, generation: Generation, problem: Problem, deps: SearchDeps, *,
               max_depth: int, scorer: StepScorer | None = None) -> list[Node]:
    """Add one child per sample under `parent` and score them (with `scorer`, else the PRM): one
    expansion of a tree search."""
    children = add_children(tree, parent, generation, deps.tools, max_depth=max_depth)
    await score_nodes(tree, children, problem, scorer=scorer or deps.scorer, verifier=deps.verifier,
                      generator=deps.generator)
    return children


def aggregate(scores: Sequence[float | None], how: str) -> float:
    """A path's score from its steps' scores: min, last, product or mean (unscored = 0.5)."""
    values = [0.5 if s is None else s for s in scores] or [0.5]
    if how == "min":
        return min(values)
    if how == "last":
        return values[-1]
    if how == "product":
        out = 1.0
        for v in values:
            out *= v
        return out
    return sum(values) / len(values)


def path_score(tree: Tree, node_id: int, how: str) -> float:
    return aggregate([n.prm_score for n in tree.path(node_id)], how)


def tree_outcome(tree: Tree, pool: Sequence[int], weight: Callable[[int], float], *, verifier: Verifier | None,
                 key: Callable[[str], str], simulations: int | None = None,
                 rollouts: int | None = None) -> Outcome | None:
    """The answer of a tree search: a weight-summed vote over the paths ending in `pool`, answers
    counted under their `key` (AnswerTools.answer_key: "20.0" and "20" are one answer).

    The shown solution is the heaviest path giving the winning answer; with a verifier, a
    path that passed it wins outright (confidence 1). A path with no text (a sample that ended its
    turn at once) is no solution to show while another path says something."""
    pool = [i for i in pool if i != 0]
    pool = [i for i in pool if tree.path_text(i).strip()] or pool
    if not pool:
        return None
    answered = {i: a for i in pool if (a := tree.nodes[i].answer) is not None}
    keys = {i: key(a) for i, a in answered.items()}
    votes: dict[str, float] = {}
    shown: dict[str, str] = {}  # each key's answer as the first path to state it wrote it
    for node_id, k in keys.items():
        votes[k] = votes.get(k, 0.0) + weight(node_id)
        shown.setdefault(k, answered[node_id])
    passed = [i for i in pool
              if verifier is not None and tree.nodes[i].terminal and (tree.nodes[i].prm_score or 0) >= 1]
    if passed:
        top = passed[0]
        winner = tree.nodes[top].answer
        win_key = keys.get(top)
    else:
        win_key = max(votes, key=lambda k: votes[k]) if votes else None
        top = max((i for i in pool if keys.get(i) == win_key), key=weight)
        winner = answered.get(top)
    total = sum(votes.values()) or 1.0
    confidence = 1.0 if passed else (votes.get(win_key, 0.0) / total if win_key is not None else 0.0)
    return Outcome(
        content=tree.path_text(top).strip(), answer=winner, confidence=confidence,
        candidates=tuple(Candidate(answer=shown[k], votes=round(v, 3))
                         for k, v in sorted(votes.items(), key=lambda kv: -kv[1])),
        path=TreeChoice(chosen=top, score=round(weight(top), 3), nodes=len(tree.nodes) - 1,
                        finished=sum(n.terminal for n in tree.nodes.values()), simulations=simulations,
                        rollouts=rollouts),
    )
