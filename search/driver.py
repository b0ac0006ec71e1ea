"""The loop that runs a strategy: rounds of asks, the budget, the deadline, events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from search.budget import Budget
from search.charged import BudgetExhausted, ChargedGenerator, Usage
from search.events import CallPlan, Event, NodeAdded, RoundEnd, RoundStart, SelectionSoFar
from search.protocols import Generation, Generator
from search.records import Limits
from search.strategy import Ask, Outcome, Strategy, TreeSearch
from search.tree import Node, Tree

Emit = Callable[[Event], Awaitable[None] | None]

__all__ = ["Emit", "SearchFailed", "SearchResult", "Usage", "run_search"]


@dataclass(frozen=True, kw_only=True)
class SearchResult:
    strategy: str
    outcome: Outcome | None
    usage: Usage
    stop_reason: str  # done | tokens | calls | deadline | backend_failures | shutdown (the server's drain)
    rounds: int
    elapsed_s: float
    errors: tuple[str, ...] = ()
    events: tuple[Event, ...] = field(default=(), repr=False)
    tree: tuple[Node, ...] | None = field(default=None, repr=False)  # a tree search's nodes, the root excluded
    budget: Limits = Limits(tokens=None, calls=None, deadline_s=None)  # the limits it ran under


class SearchFailed(Exception):
    """No answer at all could be produced; `cause` is the first backend error."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


async def run_search(
    strategy: Strategy,
    *,
    generator: Generator | ChargedGenerator,
    budget: Budget | None = None,
    emit: Emit | None = None,
    concurrency: int = 4,
    max_rounds: int = 1000,
) -> SearchResult:
    """Run `strategy` until it is done or the budget ends; return its best answer.

    Running out of budget or time is not an error: the best answer so far is returned.
    SearchFailed is raised only when every call failed and nothing was found."""
    if isinstance(generator, ChargedGenerator):
        charged = generator
    else:
        charged = ChargedGenerator(generator, budget or Budget(), concurrency=concurrency)
    budget = charged.budget
    started = time.monotonic()
    events: list[Event] = []
    errors: list[Exception] = []

    async def publish(event: Event) -> None:
        events.append(event)
        if emit is not None:
            maybe = emit(event)
            if maybe is not None:
                await maybe

    async def call(ask: Ask) -> tuple[Generation | None, Exception | None]:
        try:
            return await charged.generate(ask.prompt, n=ask.n, sampling=ask.sampling), None
        except BudgetExhausted as exc:
            return None, exc
        except Exception as exc:  # a failed branch is recorded, the search goes on
            return None, exc

    stop_reason = "done"
    rounds = 0
    seen_nodes = 0
    while rounds < max_rounds:
        # The strategy first: one that has finished is "done" even where the budget is spent too
        # (a single pass under max_calls=1); asks the budget cannot pay for are never sent.
        asks = strategy.ask()
        if not asks:
            break
        reason = budget.stop_reason()
        if reason is not None:
            stop_reason = reason
            break
        rounds += 1
        await publish(RoundStart(round=rounds, calls=tuple(_describe(a) for a in asks)))
        results = await asyncio.gather(*(call(a) for a in asks))
        for ask, (generation, error) in zip(asks, results, strict=True):
            if error is not None and not isinstance(error, BudgetExhausted):
                errors.append(error)
            await strategy.tell(ask, generation, error)
        best = strategy.best()
        expanded, seen_nodes = _new_nodes(strategy, seen_nodes)
        chosen = best.selection if best is not None else None
        await publish(RoundEnd(
            round=rounds, best_answer=best.answer if best else None, confidence=best.confidence if best else None,
            tokens_used=budget.tokens_used, tokens_budget=budget.max_tokens, calls_used=budget.calls_used,
            errors=tuple(f"{type(e).__name__}: {e}" for _, e in results if e is not None), expanded=expanded,
            selection=SelectionSoFar(method=chosen.method, replies=chosen.replies, met=chosen.met,
                                     checks=len(chosen.checks)) if chosen is not None else None,
        ))
        exhausted = [e for _, e in results if isinstance(e, BudgetExhausted)]
        if exhausted and len(exhausted) == len(results):
            stop_reason = exhausted[0].reason
            break
    outcome = strategy.best()
    usage = charged.usage
    if outcome is None and errors and usage.failed_calls == usage.calls:
        raise SearchFailed(errors[0])
    tree = _tree(strategy)
    return SearchResult(
        strategy=strategy.name, outcome=outcome, usage=usage, stop_reason=stop_reason, rounds=rounds,
        elapsed_s=time.monotonic() - started, errors=tuple(f"{type(e).__name__}: {e}" for e in errors),
        events=tuple(events), tree=tree.grown() if tree is not None else None, budget=_limits(budget, started),
    )


def _limits(budget: Budget, started: float) -> Limits:
    deadline_s = round(budget.deadline - started, 3) if budget.deadline is not None else None
    return Limits(tokens=budget.max_tokens, calls=budget.max_calls, deadline_s=deadline_s)


def _tree(strategy: Strategy) -> Tree | None:
    return strategy.search_tree() if isinstance(strategy, TreeSearch) else None


def _new_nodes(strategy: Strategy, seen: int) -> tuple[tuple[NodeAdded, ...], int]:
    """The tree nodes a round added (with their step text and scores), and how many nodes there are now."""
    tree = _tree(strategy)
    if tree is None:
        return (), seen
    nodes = list(tree.nodes.values())
    new = tuple(NodeAdded(node=n.id, parent=n.parent, text=n.text, score=n.prm_score, terminal=n.terminal,
                          answer=n.answer) for n in nodes[seen:] if n.id != 0)
    return new, len(nodes)


def _describe(ask: Ask) -> CallPlan:
    return CallPlan(tag=ask.tag, kind=ask.kind.value, n=ask.n, max_tokens=ask.sampling.max_tokens,
                    temperature=ask.sampling.temperature)
