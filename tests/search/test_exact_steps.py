"""Exact arithmetic checks in selection: chains with wrong arithmetic weigh less in the vote, a step's
checked arithmetic is its process reward, and revise's feedback names the wrong computation."""

from __future__ import annotations

from app.settings import default_tiers
from rewards.exact_prm import ExactStepsPRM
from sampling import Sampling
from search.budget import Budget
from search.driver import run_search
from search.strategy import Problem

from .scripted import ScriptedGenerator, make_strategy

PROBLEM = Problem(prompt="Q: 3 + 4?", messages=({"role": "user", "content": "3 + 4?"},),
                  sampling=Sampling(max_tokens=64))
WRONG, RIGHT = "3 + 4 = 8, so 8", "3 + 4 = 7, so 7"


def budget() -> Budget:
    return Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None)


async def test_chains_with_wrong_arithmetic_lose_their_vote_only_when_asked():
    plain = await run_search(make_strategy("self_consistency", PROBLEM, n=3, batch=3),
                             generator=ScriptedGenerator([WRONG, WRONG, RIGHT]), budget=budget())
    assert plain.outcome.answer == "8"  # two wrong chains outvote one right one
    checked = await run_search(make_strategy("self_consistency", PROBLEM, n=3, batch=3, wrong_arithmetic_weight=0.0),
                               generator=ScriptedGenerator([WRONG, WRONG, RIGHT]), budget=budget())
    assert checked.outcome.answer == "7" and checked.outcome.confidence == 1.0
    halved = make_strategy("auto", PROBLEM, probe={"samples": 3}, vote={"wrong_arithmetic_weight": 0.5})
    await run_search(halved, generator=ScriptedGenerator([WRONG, RIGHT, RIGHT]), budget=budget())
    assert [b.weight for b in halved.best().vote.ballots][:3] == [0.75, 1.0, 1.0]  # greedy 1.5 x 0.5


async def test_the_effort_tiers_halve_the_vote_of_chains_whose_arithmetic_is_wrong():
    script = [WRONG, RIGHT, WRONG, RIGHT, WRONG]  # the greedy chain and two hot ones compute 3 + 4 = 8
    for effort in ("low", "medium", "high"):
        settings = default_tiers()[effort].settings
        tiered = await run_search(make_strategy("auto", PROBLEM, **settings), generator=ScriptedGenerator(script),
                                  budget=budget())
        assert tiered.outcome.answer == "7", effort  # 8 votes 0.75 + 0.5 + 0.5 against 7's 2
        unchecked = {**settings, "vote": {**settings["vote"], "wrong_arithmetic_weight": 1.0}}
        plain = await run_search(make_strategy("auto", PROBLEM, **unchecked), generator=ScriptedGenerator(script),
                                 budget=budget())
        assert plain.outcome.answer == "8", effort  # 1.5 + 1 + 1 against 2


class CountingJudge:
    def __init__(self) -> None:
        self.calls = 0

    async def score(self, messages, steps, generator) -> float:
        self.calls += 1
        return 0.7


async def test_a_steps_arithmetic_is_its_reward_and_the_judge_scores_only_the_rest():
    judge = CountingJudge()
    prm = ExactStepsPRM(judge)
    assert await prm.score([], ["First, 12 * 9.5 = 114 dollars.\n\n"], None) == 1.0
    assert await prm.score([], ["So 12 * 9.5 = 115 dollars.\n\n"], None) == 0.0
    assert judge.calls == 0
    assert await prm.score([], ["Next we add the two amounts.\n\n"], None) == 0.7 and judge.calls == 1
    assert await ExactStepsPRM().score([], ["No numbers here.\n\n"], None) == 0.5


async def test_revise_names_the_wrong_computation_in_its_feedback():
    seen: list[list[dict]] = []

    async def render(messages):
        seen.append(messages)
        return "revise: " + messages[-1]["content"]

    revise = make_strategy("revise", PROBLEM, render=render, max_revisions=1)
    result = await run_search(revise, generator=ScriptedGenerator([WRONG, RIGHT]), budget=budget())
    feedback = seen[0][-1]["content"]
    assert "`3 + 4` is 7, not 8" in feedback
    assert result.outcome.answer == "7"


async def test_the_server_setting_puts_the_exact_checks_in_front_of_the_judge():
    from app.compose.build import open_service
    from app.settings import load_settings
    from rewards.judge import LLMJudgePRM
    from tests.app.fake_backend import ScriptedBackend

    async with open_service(load_settings(step_reward="exact+judge"), backend=ScriptedBackend()) as service:
        assert isinstance(service.step_scorer, ExactStepsPRM) and service.step_scorer.fallback is service.judge
    async with open_service(load_settings(), backend=ScriptedBackend()) as service:
        assert isinstance(service.step_scorer, LLMJudgePRM)
