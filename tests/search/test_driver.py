import asyncio

import pytest

from sampling import Sampling
from search.budget import Budget
from search.driver import SearchFailed, run_search
from search.registry import STRATEGIES
from search.strategy import Problem

from .scripted import LastNumberTools, ScriptedGenerator, make_strategy

PROBLEM = Problem(prompt="Q: 2+2?", sampling=Sampling(max_tokens=64))


def make(name: str, **config):
    return make_strategy(name, PROBLEM, LastNumberTools(), **config)


# Settings that make each strategy want more than the budget gives.
GREEDY = {"self_consistency": {"n": 8, "batch": 2}, "best_of_n": {"n": 8, "batch": 2}, "auto": {"n": 8, "batch": 2},
          "beam": {"width": 4, "expansions": 4}, "mcts": {"simulations": 16, "parallel": 4},
          "tot": {"thoughts": 4, "breadth": 4}, "particle_filter": {"particles": 8}, "revise": {"max_revisions": 8},
          "single": {}, "open_ended": {"n": 8, "batch": 2}, "code_search": {"n": 8, "batch": 2, "revisions": 8}}


def test_the_contract_covers_every_strategy():
    assert sorted(GREEDY) == sorted(STRATEGIES)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
async def test_contract_budget_never_exceeded_and_events_emitted(name):
    gen = ScriptedGenerator(["so 4", "so 5", "so 4"], tokens=30)
    budget = Budget.create(max_tokens=100, max_calls=10, deadline_s=None)
    seen = []
    result = await run_search(make(name, **GREEDY[name]), generator=gen, budget=budget, emit=seen.append)
    assert result.usage.completion_tokens <= 100
    assert budget.tokens_used == result.usage.completion_tokens
    assert result.outcome is not None
    if name == "open_ended":  # no answer to extract: the chosen reply itself
        assert result.outcome.answer is None and result.outcome.content in {"so 4", "so 5"}
    else:
        assert result.outcome.answer in {"4", "5"}
    assert [e.type for e in seen][:2] == ["round.start", "round.end"]
    assert all(c["n"] * c["max_tokens"] <= 100 for c in gen.calls)


async def test_self_consistency_majority_and_early_stop():
    gen = ScriptedGenerator(["so 7", "so 7", "so 7", "so 3"], tokens=10)
    budget = Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None)
    result = await run_search(make("self_consistency", n=5, batch=3), generator=gen, budget=budget)
    # 3 of 3 agree after the first batch; 2 remaining samples cannot overturn it.
    assert len(gen.calls) == 1 and result.stop_reason == "done"
    assert result.outcome.answer == "7" and result.outcome.confidence == 1.0


async def test_self_consistency_keeps_sampling_while_undecided():
    gen = ScriptedGenerator(["so 7", "so 3", "so 3", "so 3", "so 7"], tokens=10)
    budget = Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None)
    result = await run_search(make("self_consistency", n=5, batch=2), generator=gen, budget=budget)
    assert result.outcome.answer == "3"
    assert result.outcome.confidence == pytest.approx(3 / 4)
    assert [c["n"] for c in gen.calls] == [2, 2]  # 3 vs 1 with 1 left: settled after 4 samples


async def test_budget_exhaustion_returns_best_so_far():
    gen = ScriptedGenerator(["so 9"], tokens=40)
    budget = Budget.create(max_tokens=80, max_calls=None, deadline_s=None)
    result = await run_search(make("self_consistency", n=10, batch=1), generator=gen, budget=budget)
    assert result.stop_reason == "tokens" and result.outcome.answer == "9"
    assert result.usage.completion_tokens == 80


async def test_a_finished_search_is_done_even_when_it_spent_the_whole_budget():
    # effort none: one greedy pass under max_calls=1 finishes, it is not cut short.
    one_call = Budget.create(max_tokens=None, max_calls=1, deadline_s=None)
    result = await run_search(make("single"), generator=ScriptedGenerator(["so 4"]), budget=one_call)
    assert result.stop_reason == "done" and result.outcome.answer == "4"
    # A vote that still wants samples when the calls run out says so.
    two_calls = Budget.create(max_tokens=None, max_calls=2, deadline_s=None)
    result = await run_search(make("self_consistency", n=5, batch=1), generator=ScriptedGenerator(["so 4", "so 5"]),
                              budget=two_calls)
    assert result.stop_reason == "calls" and result.usage.calls == 2


async def test_failed_branch_is_survived_but_total_failure_raises():
    gen = ScriptedGenerator(["so 2"], fail_calls={0})
    budget = Budget.create(max_tokens=1000, max_calls=None, deadline_s=None)
    result = await run_search(make("self_consistency", n=4, batch=2), generator=gen, budget=budget)
    assert result.outcome.answer == "2" and result.usage.failed_calls == 1
    with pytest.raises(SearchFailed):
        await run_search(make("single"), generator=ScriptedGenerator(["x"], fail_calls={0}),
                         budget=Budget.create(max_tokens=100, max_calls=None, deadline_s=None))


async def test_deadline_returns_best_answer_not_error():
    gen = ScriptedGenerator(["so 1"], delay_s=0.05)
    budget = Budget.create(max_tokens=None, max_calls=None, deadline_s=0.12)
    result = await run_search(make("self_consistency", n=50, batch=1), generator=gen, budget=budget)
    assert result.stop_reason == "deadline" and result.outcome.answer == "1"
    assert len(gen.calls) < 50


async def test_cancellation_propagates():
    gen = ScriptedGenerator(["so 1"], delay_s=10)
    budget = Budget.create(max_tokens=None, max_calls=None, deadline_s=None)
    task = asyncio.create_task(run_search(make("single"), generator=gen, budget=budget))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


class PassesOn:
    def __init__(self, word: str) -> None:
        self.word = word
        self.checked: list[str] = []

    async def check(self, text: str):
        from search.protocols import Check

        self.checked.append(text)
        ok = text.endswith(self.word)
        return Check(passed=ok, score=1.0 if ok else 0.0, feedback="" if ok else "wrong")


async def test_best_of_n_stops_at_first_verified_candidate():
    gen = ScriptedGenerator(["so 5", "so 5", "so 6", "so 4", "so 5"], tokens=10)
    verifier = PassesOn("4")
    budget = Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None)
    result = await run_search(make("best_of_n", verifier=verifier, n=10, batch=3), generator=gen, budget=budget)
    assert result.outcome.answer == "4" and result.outcome.confidence == 1.0
    assert [c["n"] for c in gen.calls] == [1, 3]  # greedy first, then one batch held the pass
    assert gen.calls[0]["temperature"] == 0.0
    assert len(verifier.checked) == 4


async def test_best_of_n_without_a_pass_prefers_the_majority_and_is_unsure():
    gen = ScriptedGenerator(["so 5", "so 6", "so 5"], tokens=10)
    budget = Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None)
    result = await run_search(make("best_of_n", verifier=PassesOn("4"), n=3, batch=2), generator=gen, budget=budget)
    assert result.outcome.answer == "5" and result.outcome.confidence < 0.5


class FormedWhen(PassesOn):
    """Candidates ending in "so <number>" are well-formed attempts; anything else is malformed."""

    async def check(self, text: str):
        from search.protocols import Check

        self.checked.append(text)
        if not text.startswith("so "):
            return Check(passed=False, score=0.0, feedback="no answer", wellformed=False)
        ok = text.endswith(self.word)
        return Check(passed=ok, score=1.0 if ok else 0.0, feedback="" if ok else "wrong")


async def test_best_of_n_gives_up_when_no_candidate_is_even_well_formed():
    budget = Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None)
    gen = ScriptedGenerator(["hmm", "???", "what", "no", "so 4"], tokens=10)
    verifier = FormedWhen("4")
    result = await run_search(make("best_of_n", verifier=verifier, n=10, batch=3, give_up_after=4),
                              generator=gen, budget=budget)
    assert [c["n"] for c in gen.calls] == [1, 3]  # greedy, one batch: 4 malformed, then no more
    assert result.outcome.verified.gave_up is True and result.outcome.confidence < 0.5
    # One well-formed (if wrong) attempt among them: the model can produce the form, so it goes on.
    gen = ScriptedGenerator(["hmm", "so 5", "what", "no", "so 4"], tokens=10)
    result = await run_search(make("best_of_n", verifier=FormedWhen("4"), n=10, batch=3, give_up_after=4),
                              generator=gen, budget=Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None))
    assert result.outcome.answer == "4" and not result.outcome.verified.gave_up
    # give_up_after=0 (the default) never gives up
    gen = ScriptedGenerator(["hmm"] * 5 + ["so 4"], tokens=10)
    result = await run_search(make("best_of_n", verifier=FormedWhen("4"), n=10, batch=3), generator=gen,
                              budget=Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None))
    assert result.outcome.answer == "4"
    # Out of samples with none well-formed is running out, not giving up.
    gen = ScriptedGenerator(["hmm"] * 4, tokens=10)
    result = await run_search(make("best_of_n", verifier=FormedWhen("4"), n=4, batch=3, give_up_after=4),
                              generator=gen, budget=Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None))
    assert not result.outcome.verified.gave_up and len(gen.calls) == 2


async def test_beam_keeps_the_best_scored_steps_and_charges_the_judge():
    from search.charged import ChargedGenerator

    from .scripted import KeywordScorer

    # Each beam is expanded into 2 steps: one the PRM likes ("good") and one it does not.
    gen = ScriptedGenerator(["good step\n\n", "bad step\n\n", "good end so 4", "bad end so 5"], tokens=10)
    scorer = KeywordScorer("good")
    charged = ChargedGenerator(gen, Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None))
    beam = make("beam", scorer=scorer, generator=charged, width=1, expansions=2, max_depth=4)
    result = await run_search(beam, generator=charged)
    assert result.outcome.answer == "4"
    assert result.outcome.content.startswith("good step")
    # the kept path is extended from its own text: the second prompt continues the first good step
    expand_prompts = [c["prompt"] for c in gen.calls if not str(c["prompt"]).startswith("judge: ")]
    assert expand_prompts[1] == PROBLEM.prompt + "good step\n\n"
    # judge calls were charged: usage counts the 1-token judge calls too
    assert scorer.calls == 4 and result.usage.completion_tokens == 4 * 10 + scorer.calls * 1
    assert result.tree and {n.depth for n in result.tree} == {1, 2}


async def test_revise_feeds_verifier_feedback_into_the_next_attempt():
    problem = Problem(prompt="Q: 2+2?", sampling=Sampling(max_tokens=64),
                      messages=({"role": "user", "content": "2+2?"},))
    gen = ScriptedGenerator(["so 5", "so 4", "so 9"], tokens=10)

    async def render(messages):
        return "R|" + messages[-1]["content"]

    revise = make_strategy("revise", problem, LastNumberTools(), render=render, verifier=PassesOn("4"), max_revisions=5)
    result = await run_search(revise, generator=gen,
                              budget=Budget.create(max_tokens=1000, max_calls=None, deadline_s=None))
    assert result.outcome.answer == "4" and result.outcome.confidence == 1.0
    assert len(gen.calls) == 2  # stopped as soon as the check passed
    assert str(gen.calls[1]["prompt"]).startswith("R|Your solution was checked: wrong")


async def test_mcts_and_particle_filter_find_the_verified_path():
    from search.charged import ChargedGenerator

    from .scripted import KeywordScorer

    for name, config in [("mcts", {"simulations": 6, "expansions": 2, "parallel": 2}),
                         ("particle_filter", {"particles": 2}), ("tot", {"thoughts": 2, "breadth": 1}),
                         ("tot", {"mode": "dfs", "thoughts": 2})]:
        gen = ScriptedGenerator(["good step\n\n", "bad step\n\n", "good so 4", "bad so 5"], tokens=10)
        charged = ChargedGenerator(gen, Budget.create(max_tokens=5000, max_calls=None, deadline_s=None))
        strategy = make(name, scorer=KeywordScorer("good"), verifier=PassesOn("4"), generator=charged, **config)
        result = await run_search(strategy, generator=charged)
        assert result.outcome.answer == "4", name
        assert result.outcome.confidence == 1.0, name
        assert result.tree and any(n.terminal for n in result.tree), name


async def test_auto_stops_after_an_agreeing_probe_and_votes_on_when_split():
    easy = ScriptedGenerator(["so 7"], tokens=10)
    budget = Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None)
    result = await run_search(make("auto", probe={"samples": 3}, n=9), generator=easy, budget=budget)
    assert result.outcome.answer == "7" and sum(c["n"] for c in easy.calls) == 3
    assert easy.calls[0]["temperature"] == 0.0  # the probe includes the greedy pass
    hard = ScriptedGenerator(["so 7", "so 3", "so 3", "so 7", "so 3"], tokens=10)
    budget = Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None)
    result = await run_search(make("auto", probe={"samples": 3}, n=5, batch=2), generator=hard, budget=budget)
    assert sum(c["n"] for c in hard.calls) == 5 and result.strategy == "auto:self_consistency"
    assert result.outcome.answer == "3"  # 3 votes beat the greedy 7's 1.5 + 1


async def test_best_of_n_with_an_orm_picks_the_best_scored_and_weighted_voting_sums_scores():
    from search.charged import ChargedGenerator

    from .scripted import KeywordScorer

    script = ["good so 4", "bad so 5", "bad so 5", "bad so 5"]
    charged = ChargedGenerator(ScriptedGenerator(script, tokens=10),
                               Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None))
    result = await run_search(make("best_of_n", scorer=KeywordScorer("good"), generator=charged, n=4, batch=3,
                                   greedy_first=False), generator=charged)
    assert result.outcome.answer == "4"  # 0.9 beats three 0.1s by score
    charged = ChargedGenerator(ScriptedGenerator(script, tokens=10),
                               Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None))
    result = await run_search(make("best_of_n", scorer=KeywordScorer("good"), generator=charged, n=4, batch=4,
                                   greedy_first=False, weighted=True), generator=charged)
    assert result.outcome.answer == "4"  # summed: 0.9 vs 0.3
    assert result.usage.completion_tokens == 4 * 10 + 4  # four 1-token judge calls were charged


async def test_dvts_keeps_one_path_per_subtree_and_rounds_report_scored_nodes():
    from search.charged import ChargedGenerator

    from .scripted import KeywordScorer

    gen = ScriptedGenerator(["good a\n\n", "bad b\n\n", "good c\n\n", "bad d\n\n", "so 4", "so 5"], tokens=5)
    charged = ChargedGenerator(gen, Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None))
    events = []
    beam = make("beam", scorer=KeywordScorer("good"), generator=charged, mode="dvts", width=2, expansions=2)
    result = await run_search(beam, generator=charged, emit=events.append)
    first = next(e for e in events if e.type == "round.end")
    # width x expansions first steps: subtree 0 is (1 good a, 2 bad b), subtree 1 is (3 good c, 4 bad d)
    assert next(c["n"] for c in gen.calls if not str(c["prompt"]).startswith("judge")) == 4
    assert {e.node for e in first.expanded} == {1, 2, 3, 4} and all(e.score is not None for e in first.expanded)
    second_round_parents = {e.parent for e in events[3].expanded}
    assert second_round_parents == {1, 3}  # each subtree grew from its own best first step
    assert result.outcome is not None


async def test_beam_lookahead_ranks_a_step_by_where_its_greedy_rollout_leads():
    from dataclasses import dataclass

    from search.charged import ChargedGenerator

    from .scripted import FakeGeneration, FakeSample

    @dataclass
    class ByPath:
        """Expansions from the root offer a tempting step and a plain one; rollouts from the
        tempting step reach a dead end, rollouts from the plain one a good step."""

        calls: list

        async def generate(self, prompt, *, n, sampling, deadline=None):
            temperature, stop = sampling.temperature, sampling.stop
            self.calls.append((prompt, n, temperature, stop))
            if prompt.startswith("judge: "):
                return FakeGeneration((FakeSample("Yes", 1),), prompt_tokens=3)
            path = prompt[len(PROBLEM.prompt):]
            if temperature == 0.0:  # a lookahead rollout
                text = "dead end\n\nstill dead" if path.startswith("tempting") else "good move\n\nmore"
                return FakeGeneration((FakeSample(text, 12),), prompt_tokens=5)
            if path == "":
                texts = [("tempting step", "\n\n"), ("plain step", "\n\n")][:n]
            else:
                texts = [("end so 4" if path.startswith("plain") else "end so 5", None)] * n
            return FakeGeneration(tuple(FakeSample(t, 10, stop_reason=s) for t, s in texts), prompt_tokens=5 * n)

    class TableScorer:
        table = {"tempting": 0.8, "plain": 0.4, "good": 0.9, "dead": 0.1, "end": 0.5}

        async def score(self, messages, steps, generator):
            await generator.generate("judge: " + steps[-1], n=1, sampling=Sampling(max_tokens=1))
            return next(v for k, v in self.table.items() if k in steps[-1])

    results = {}
    for lookahead in (0, 1):
        gen = ByPath([])
        charged = ChargedGenerator(gen, Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None))
        beam = make("beam", scorer=TableScorer(), generator=charged, width=1, expansions=2, max_depth=3,
                    lookahead=lookahead)
        results[lookahead] = (await run_search(beam, generator=charged), gen.calls)
    assert results[0][0].outcome.answer == "5"  # the locally better step leads nowhere
    assert results[1][0].outcome.answer == "4" and results[1][0].outcome.content.startswith("plain step")
    rollouts = [c for c in results[1][1] if c[2] == 0.0 and not c[0].startswith("judge: ")]
    assert len(rollouts) == 2 and all(c[1] == 1 and "\n\n" not in c[3] for c in rollouts)
    assert "dead end" not in results[1][0].outcome.content  # the rollout informs; the tree keeps the step


async def test_tot_values_states_with_its_value_judge_when_given_one():
    from search.charged import ChargedGenerator

    from .scripted import KeywordScorer

    # Without a verifier the answer follows the values: the PRM likes "bad", the valuer "good".
    for scorers, answer in [({"scorer": KeywordScorer("bad")}, "5"),
                            ({"scorer": KeywordScorer("bad"), "valuer": KeywordScorer("good")}, "4")]:
        gen = ScriptedGenerator(["good step\n\n", "bad step\n\n", "good so 4", "bad so 5"], tokens=10)
        charged = ChargedGenerator(gen, Budget.create(max_tokens=5000, max_calls=None, deadline_s=None))
        result = await run_search(make("tot", thoughts=2, breadth=1, generator=charged, **scorers), generator=charged)
        assert result.outcome.answer == answer, scorers


@pytest.mark.parametrize("name", ["beam", "tot", "mcts", "particle_filter"])
async def test_a_seeded_tree_search_seeds_each_branch_by_its_node(name):
    from dataclasses import replace

    from search.charged import ChargedGenerator

    from .scripted import KeywordScorer

    # One beam: beam's first round of width x expansions steps would finish two paths and end it in one call.
    settings = {"width": 1} if name == "beam" else {}

    def seeds(seed):
        gen = ScriptedGenerator(["good step\n\n", "bad step\n\n", "good so 4", "bad so 5"], tokens=10)
        charged = ChargedGenerator(gen, Budget.create(max_tokens=5000, max_calls=None, deadline_s=None))
        strategy = make_strategy(name, replace(PROBLEM, sampling=Sampling(max_tokens=64, seed=seed)), LastNumberTools(),
                                 scorer=KeywordScorer("good"), generator=charged, **settings)
        return gen, run_search(strategy, generator=charged)

    gen, run = seeds(7)
    await run
    seeded = [c["seed"] for c in gen.calls if not str(c["prompt"]).startswith("judge: ")]
    assert len(seeded) >= 2 and None not in seeded and len(set(seeded)) == len(seeded)  # one seed per branch
    again, run = seeds(7)
    await run
    assert [c["seed"] for c in again.calls if not str(c["prompt"]).startswith("judge: ")] == seeded
    unseeded, run = seeds(None)
    await run
    assert {c["seed"] for c in unseeded.calls if not str(c["prompt"]).startswith("judge: ")} == {None}
