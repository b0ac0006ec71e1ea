"""A close final vote goes to the LLM judge (self_consistency's `judge_close`)."""

from __future__ import annotations

from sampling import Sampling
from search.budget import Budget
from search.charged import BudgetExhausted, ChargedGenerator
from search.driver import run_search
from search.strategy import Problem

from .scripted import KeywordScorer, LastNumberTools, ScriptedGenerator, make_strategy
from .test_programs import ByPrompt

PROBLEM = Problem(prompt="Q: 2+2?", messages=({"role": "user", "content": "2+2?"},), sampling=Sampling(max_tokens=64))
TIED = ["so 5", "good so 4", "so 5", "good so 4"]  # 2 votes each; the judge likes the chains saying "good"


def charged(gen: ScriptedGenerator) -> ChargedGenerator:
    return ChargedGenerator(gen, Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None))


async def vote(script, *, judge_close=0.75, scorer=None, with_generator=True):
    gen = ScriptedGenerator(script)
    generator = charged(gen)
    scorer = scorer or KeywordScorer("good")
    sc = make_strategy("self_consistency", PROBLEM, LastNumberTools(), n=4, batch=2, judge_close=judge_close,
                                        scorer=scorer, generator=generator if with_generator else None)
    return await run_search(sc, generator=generator), scorer, gen


async def test_the_judge_overrules_a_tied_vote_and_its_calls_are_charged():
    result, scorer, gen = await vote(TIED)
    o = result.outcome
    assert o.answer == "4" and o.content == "good so 4" and scorer.calls == 2
    assert o.vote.judged == {"5": 0.1, "4": 0.9}
    assert sum(1 for c in gen.calls if str(c["prompt"]).startswith("judge: ")) == 2
    assert result.usage.calls == 4  # two sampling calls and two judge calls, all on the search's budget


async def test_a_clear_vote_judge_close_zero_or_no_generator_never_calls_the_judge():
    for script, judge_close, with_generator in ((["so 5", "so 5", "so 5", "good so 4"], 0.75, True),
                                                (TIED, 0.0, True), (TIED, 0.75, False)):
        result, scorer, _ = await vote(script, judge_close=judge_close, with_generator=with_generator)
        assert result.outcome.answer == "5" and scorer.calls == 0 and result.outcome.vote.judged is None


async def test_a_judge_out_of_budget_leaves_the_vote_as_it_was():
    class Broke(KeywordScorer):
        async def score(self, question, steps, generator):
            self.calls += 1
            raise BudgetExhausted("tokens")

    result, scorer, _ = await vote(TIED, scorer=Broke("good"))
    assert result.outcome.answer == "5" and scorer.calls == 1 and result.outcome.vote.judged is None


async def test_auto_judges_the_final_vote_not_the_probe_disagreement():
    # The probe's greedy chain says 5 and its greedy program 4 (tied at 1.5 each): the vote goes on,
    # unjudged. Then 2 chains (4, 5) and 2 programs (5, 7): 5 has 3.5 votes, 4 has 2.5, a close vote.
    problem = Problem(prompt="Q: 2+2?", program_prompt="program: 2+2?", messages=PROBLEM.messages,
                      sampling=Sampling(max_tokens=64))
    gen = ByPrompt(["so 5", "good so 4", "so 5"], ["print(4)", "print(5)", "print(7)"])
    generator = charged(gen)
    scorer = KeywordScorer("good")
    auto = make_strategy("auto", problem, LastNumberTools(), probe={"samples": 2, "programs": 1}, batch=2,
                         vote={"programs": 3, "chains_with_programs": 3, "judge_close": 0.7},
                         scorer=scorer, generator=generator)
    result = await run_search(auto, generator=generator)
    o = result.outcome
    assert o.vote.samples == 6 and scorer.calls == 2  # judged once, after the whole vote
    assert o.answer == "4" and o.content == "good so 4"
