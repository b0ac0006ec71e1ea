"""Tree-of-Thoughts (search.strategies.tot): BFS's breadth and DFS's pruning on hand-valued thoughts.
Each scripted thought states its value, "(0.9) ..." (StatedScorer)."""

from __future__ import annotations

import pytest

from sampling import Sampling
from search.budget import Budget
from search.driver import SearchResult, run_search
from search.events import RoundStart
from search.strategy import Problem

from .scripted import ScriptedGenerator, StatedScorer, make_strategy

PROBLEM = Problem(prompt="Q: 2+2?", sampling=Sampling(max_tokens=64))


async def search(script: list[str], **settings: object) -> SearchResult:
    gen = ScriptedGenerator(script)
    strategy = make_strategy("tot", PROBLEM, generator=gen, scorer=StatedScorer(), **settings)
    return await run_search(strategy, generator=gen,
                            budget=Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None))


def expanded(result: SearchResult) -> list[list[tuple[str, int]]]:
    return [[(c.tag, c.n) for c in e.calls] for e in result.events if isinstance(e, RoundStart)]


async def test_bfs_keeps_the_breadth_best_valued_thoughts_and_votes_by_value():
    result = await search(["(0.2) a\n\n", "(0.9) b\n\n", "(0.6) c\n\n",  # depth 1: nodes 1-3
                           "(0.9) so 4", "(0.3) so 5", "(0.2) so 6",  # b's: 4-6 (max_depth: finished)
                           "(0.4) so 5", "(0.5) so 5", "(0.1) so 4"],  # c's: 7-9
                          mode="bfs", thoughts=3, breadth=2, max_depth=2)
    # Depth 1: b 0.9 and c 0.6 are the two best; a (0.2) is dropped. Each of them proposes 3 thoughts.
    assert expanded(result) == [[("propose from node 0", 3)],
                                [("propose from node 2", 3), ("propose from node 3", 3)]]
    # Six finished (breadth x thoughts): done. Value-weighted vote: 4: 0.9 + 0.1 = 1.0;
    # 5: 0.3 + 0.4 + 0.5 = 1.2;  6: 0.2  -> 5, confidence 1.2 / 2.4 (the paper would answer from 4's 0.9).
    o = result.outcome
    assert o is not None and (o.answer, o.confidence) == ("5", pytest.approx(0.5))
    assert o.content == "(0.6) c\n\n(0.5) so 5"  # the best-valued path saying 5


async def test_dfs_goes_deep_on_the_best_thought_prunes_at_the_threshold_and_backtracks():
    result = await search(["(0.6) a\n\n", "(0.8) b\n\n",  # depth 1: nodes 1, 2
                           "(0.5) b1\n\n", "(0.2) b2\n\n",  # b's: 3, 4
                           "(0.9) a1\n\n", "(0.4) so 5",  # a's: 5, 6 (6 finishes)
                           "(0.7) so 4", "(0.3) so 6"],  # a1's: 7, 8 (max_depth)
                          mode="dfs", thoughts=2, threshold=0.5, max_depth=3)
    # b (0.8) before a (0.6); both are above 0.5. b's thoughts, 0.5 and 0.2, are not above it: pruned,
    # so the search backtracks to a. a1 (0.9) goes on; "so 5" finishes (finished thoughts are not pruned).
    assert expanded(result) == [[("propose from node 0", 2)], [("propose from node 2", 2)],
                                [("propose from node 1", 2)], [("propose from node 5", 2)]]
    # Nothing left on the stack. Value-weighted vote: 4: 0.7;  5: 0.4;  6: 0.3  -> 4, confidence 0.5.
    o = result.outcome
    assert o is not None and (o.answer, o.confidence) == ("4", pytest.approx(0.5))
    assert o.content == "(0.6) a\n\n(0.9) a1\n\n(0.7) so 4"


async def test_a_cut_expansion_still_answers_from_the_states_it_was_expanding():
    gen = ScriptedGenerator(["(0.2) a\n\n", "(0.9) b\n\n", "(0.6) c\n\n"])
    strategy = make_strategy("tot", PROBLEM, generator=gen, scorer=StatedScorer(), mode="bfs", thoughts=3,
                             breadth=2, max_depth=3)
    # One call: the first round's thoughts come back; the round expanding b and c is refused.
    result = await run_search(strategy, generator=gen, budget=Budget.create(max_tokens=10_000, max_calls=1,
                                                                            deadline_s=None))
    o = result.outcome
    assert o is not None and o.content == "(0.9) b"  # the best-valued open state, as an anytime answer
