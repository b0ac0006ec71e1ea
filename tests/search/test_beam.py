"""Beam search and DVTS (search.strategies.beam): which paths go on, on hand-computed PRM scores.

Each scripted step states its PRM score, "(0.9) ..." (StatedScorer)."""

from __future__ import annotations

import pytest

from sampling import Sampling
from search.budget import Budget
from search.driver import SearchResult, run_search
from search.strategy import Problem

from .scripted import ScriptedGenerator, StatedScorer, make_strategy

PROBLEM = Problem(prompt="Q: 2+2?", sampling=Sampling(max_tokens=64))


async def search(script: list[str], **settings: object) -> tuple[SearchResult, ScriptedGenerator]:
    gen = ScriptedGenerator(script)
    strategy = make_strategy("beam", PROBLEM, generator=gen, scorer=StatedScorer(), **settings)
    result = await run_search(strategy, generator=gen,
                              budget=Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None))
    return result, gen


def parents(result: SearchResult, depth: int) -> set[int | None]:
    assert result.tree is not None
    return {n.parent for n in result.tree if n.depth == depth}


# Round 1 samples width x expansions = 4 first steps (nodes 1-4); round 2 expands the two kept beams
# (A first: nodes 5, 6; then C: 7, 8); round 3 reaches max_depth, so its four steps (9-12) finish.
SCRIPT = ["(0.9) A\n\n", "(0.3) B\n\n", "(0.5) C\n\n", "(0.1) D\n\n",
          "(0.6) A1\n\n", "(0.55) A2\n\n", "(0.8) C1\n\n", "(0.7) C2\n\n",
          "(0.9) so 4", "(0.2) so 5", "(0.4) so 5", "(0.1) so 5"]


@pytest.mark.parametrize("how", ["last", "min"])
async def test_beam_keeps_the_width_best_paths_by_their_aggregated_prm_score(how):
    result, gen = await search(SCRIPT, width=2, expansions=2, max_depth=3, aggregate=how)
    assert [c["n"] for c in gen.calls] == [4, 2, 2, 2, 2]  # N = width x expansions first steps
    # Round 1: A 0.9 and C 0.5 beat B 0.3 and D 0.1 (one step: every aggregate is that score).
    assert parents(result, 2) == {1, 3}
    # Round 2, paths A-A1 (0.9, 0.6), A-A2 (0.9, 0.55), C-C1 (0.5, 0.8), C-C2 (0.5, 0.7):
    #   last: C1 0.8, C2 0.7 > A1 0.6, A2 0.55;   min: A1 0.6, A2 0.55 > C1 0.5, C2 0.5.
    kept = {"last": {7, 8}, "min": {5, 6}}[how]
    assert parents(result, 3) == kept
    # Four finished paths (>= width): the search ends. Their answers 4, 5, 5, 5 vote with their scores:
    #   last: 4: 0.9;  5: 0.2 + 0.4 + 0.1 = 0.7  -> 4, confidence 0.9 / 1.6
    #   min (A1's paths min 0.6 and 0.2, A2's 0.4 and 0.1): 4: 0.6;  5: 0.2 + 0.4 + 0.1 = 0.7  -> 5
    o = result.outcome
    assert o is not None
    if how == "last":
        assert (o.answer, o.confidence) == ("4", pytest.approx(0.9 / 1.6))
        assert o.content == "(0.5) C\n\n(0.8) C1\n\n(0.9) so 4" and o.path.chosen == 9
    else:
        assert (o.answer, o.confidence) == ("5", pytest.approx(0.7 / 1.3))
        assert [(c.answer, c.votes) for c in o.candidates] == [("5", 0.7), ("4", 0.6)]
        assert o.content == "(0.9) A\n\n(0.55) A2\n\n(0.4) so 5"  # the heaviest path saying 5


async def test_a_finished_path_takes_one_of_the_beams_places():
    # Round 1: "so 4" (0.9) finishes, so only width - 1 = 1 beam goes on: B (0.8) over C (0.7) and D.
    result, gen = await search(["(0.9) so 4", "(0.8) B\n\n", "(0.7) C\n\n", "(0.1) D\n\n", "(0.5) so 5", "(0.6) so 4"],
                               width=2, expansions=2, max_depth=3)
    assert [c["n"] for c in gen.calls] == [4, 2] and parents(result, 2) == {2}
    # Three finished (>= 2): the vote is 4: 0.9 + 0.6 = 1.5 against 5: 0.5.
    assert result.outcome is not None and (result.outcome.answer, result.outcome.confidence) == ("4", 0.75)


async def test_dvts_searches_each_subtree_greedily_and_ends_one_when_its_best_step_finishes():
    script = ["(0.7) a\n\n", "(0.8) b\n\n", "(0.4) c\n\n", "(0.3) d\n\n",  # subtrees (1, 2) and (3, 4)
              "(0.9) so 4", "(0.5) e\n\n", "(0.6) f\n\n", "(0.3) so 5",  # b's steps 5, 6; c's 7, 8
              "(0.7) so 4", "(0.1) so 6"]  # f's steps 9, 10 (max_depth)
    result, gen = await search(script, width=2, expansions=2, max_depth=3, mode="dvts")
    assert [c["n"] for c in gen.calls] == [4, 2, 2, 2]
    # Each subtree keeps its own best first step: b (0.8 > a 0.7) and c (0.4 > d 0.3). Beam search
    # would have kept b and a, the global two best, both from the first subtree.
    assert parents(result, 2) == {2, 3}
    # b's best new step, "so 4" (0.9), finishes: that subtree ends, and e (0.5) is never expanded.
    # c's best is f (0.6 > "so 5" 0.3): it goes on, and ends when its own best, "so 4" (0.7), finishes.
    assert parents(result, 3) == {7}
    # The finished paths vote with their last scores: 4: 0.9 + 0.7 = 1.6;  5: 0.3;  6: 0.1.
    o = result.outcome
    assert o is not None and (o.answer, o.confidence) == ("4", pytest.approx(0.8))
    assert [(c.answer, c.votes) for c in o.candidates] == [("4", 1.6), ("5", 0.3), ("6", 0.1)]
    assert o.content == "(0.8) b\n\n(0.9) so 4"
