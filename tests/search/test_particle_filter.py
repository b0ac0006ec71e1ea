"""The particle filter (search.strategies.particle_filter): its resampling weights and draws, worked
out by hand. Each scripted step states its PRM score, "(0.9) ..." (StatedScorer); an unseeded request
resamples with random.Random(0), whose first draws are 0.8444, 0.7580, 0.4206, 0.2589, 0.5113, 0.4049,
0.7838, 0.3033."""

from __future__ import annotations

import math

import pytest

from sampling import Sampling
from search.budget import Budget
from search.driver import run_search
from search.events import RoundStart
from search.strategies.particle_filter import ParticleFilter
from search.strategy import Problem

from .scripted import ScriptedGenerator, StatedScorer, make_strategy
from .test_driver import PassesOn

PROBLEM = Problem(prompt="Q: 2+2?", sampling=Sampling(max_tokens=64))


async def test_every_particle_finished_ones_too_is_resampled_by_the_softmax_of_its_reward():
    gen = ScriptedGenerator(["(0.9) a\n\n", "(0.1) b\n\n", "(0.5) so 4", "(0.5) d\n\n",  # round 1: nodes 1-4
                             "(0.2) so 5", "(0.8) so 4", "(0.6) so 7"])  # round 2: d's step 5; a's steps 6, 7
    strategy = make_strategy("particle_filter", PROBLEM, generator=gen, scorer=StatedScorer(), particles=4,
                             softmax_temperature=0.5)
    assert isinstance(strategy, ParticleFilter)
    result = await run_search(strategy, generator=gen,
                              budget=Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None))
    # Round 1: four particles from the root. Weights exp(score / 0.5): a e^1.8 = 6.0496, b e^0.2 = 1.2214,
    # "so 4" (finished) e^1 = 2.7183, d e^1 = 2.7183; of 12.7076: 0.4761, 0.0961, 0.2139, 0.2139,
    # cumulative 0.4761, 0.5722, 0.7861, 1. Draws 0.8444 -> d, 0.7580 -> "so 4", 0.4206 -> a, 0.2589 -> a.
    assert strategy.weight(1) == pytest.approx(math.exp(1.8)) and strategy.weight(2) == pytest.approx(math.exp(0.2))
    # So round 2 advances d once and a twice (b is gone); the finished "so 4" keeps its place.
    assert [[(c.tag, c.n) for c in e.calls] for e in result.events if isinstance(e, RoundStart)] == [
        [("advance node 0", 4)], [("advance node 4", 1), ("advance node 1", 2)]]
    # Round 2: all finished. The set is "so 4" (node 3) e^1 = 2.7183, and the new 5 ("so 5") e^0.4 = 1.4918,
    # 6 ("so 4") e^1.6 = 4.9530, 7 ("so 7") e^1.2 = 3.3201; of 12.4832, cumulative 0.2178, 0.3373, 0.7340, 1.
    # Draws 0.5113 -> 6, 0.4049 -> 6, 0.7838 -> 7, 0.3033 -> 5: node 3 is resampled away.
    assert strategy.particles == [6, 6, 7, 5]
    # The answer: a vote over the distinct finished particles, each weighing exp(score / 0.5):
    # 4: 4.9530;  7: 3.3201;  5: 1.4918  -> 4, confidence 4.9530 / 9.7649.
    o = result.outcome
    assert o is not None and o.answer == "4"
    assert o.confidence == pytest.approx(math.exp(1.6) / (math.exp(1.6) + math.exp(1.2) + math.exp(0.4)))
    assert o.content == "(0.9) a\n\n(0.8) so 4" and o.path.chosen == 6


async def test_a_verified_solution_ends_the_search_though_the_draw_would_drop_it():
    gen = ScriptedGenerator(["so 4", "(1.0) b\n\n", "(1.0) c\n\n", "(1.0) d\n\n"])
    strategy = make_strategy("particle_filter", PROBLEM, generator=gen, scorer=StatedScorer(),
                             verifier=PassesOn("4"), particles=4, softmax_temperature=0.5)
    result = await run_search(strategy, generator=gen,
                              budget=Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None))
    # The verifier scores "so 4" 1.0, as the PRM does b, c and d: four weights e^2, cumulative 0.25, 0.5,
    # 0.75, 1. Draws 0.8444, 0.7580, 0.4206, 0.2589 would keep d, d, b, b and drop "so 4", but the pass ends
    # the search first.
    assert len(gen.calls) == 1 and 1 in strategy.particles
    assert result.outcome is not None and (result.outcome.answer, result.outcome.confidence) == ("4", 1.0)
