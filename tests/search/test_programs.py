"""Program-aided candidates vote beside chains of thought (search.programs + self_consistency)."""

from __future__ import annotations

import pytest

from sampling import Sampling
from search.budget import Budget
from search.driver import run_search
from search.programs import (
    PROGRAM_INSTRUCTION,
    PROGRAM_OPENING,
    SEARCH_PROGRAM_INSTRUCTION,
    program_messages,
)
from search.request_kind import wants_program
from search.strategy import Problem

from .scripted import LastNumberTools, ScriptedGenerator, make_strategy

PROBLEM = Problem(prompt="Q: 2+2?", program_prompt="program: 2+2?", sampling=Sampling(max_tokens=64))


class ByPrompt(ScriptedGenerator):
    """Chains of thought from `script`, programs (prompts starting "program:") from `programs`."""

    def __init__(self, script, programs):
        super().__init__(script)
        self.program_gen = ScriptedGenerator(programs)

    async def generate(self, prompt, **kw):
        if prompt.startswith("program:"):
            sampling = kw["sampling"]
            self.calls.append({"prompt": prompt, "n": kw["n"], "temperature": sampling.temperature,
                               "min_p": sampling.min_p})
            return await self.program_gen.generate(prompt, **kw)
        return await super().generate(prompt, **kw)


def budget():
    return Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None)


async def test_a_program_that_agrees_with_the_greedy_chain_settles_the_probe():
    gen = ByPrompt(["so 4"], ["x = 2 + 2\nprint(4)"])
    auto = make_strategy("auto", PROBLEM, LastNumberTools(), probe={"samples": 2, "programs": 1}, n=6)
    result = await run_search(auto, generator=gen, budget=budget())
    o = result.outcome
    assert o.answer == "4" and o.confidence == 1.0 and o.content == "so 4"  # the chain is shown, not the code
    assert o.vote.programs_agreeing == 1
    assert len(gen.calls) == 2 and {c["temperature"] for c in gen.calls} == {0.0}  # one round, greedy both


async def test_disagreement_samples_more_and_programs_can_outvote_the_chains():
    gen = ByPrompt(["so 5", "so 4", "so 5", "so 7"], ["print(4)"])
    sc = make_strategy("self_consistency", PROBLEM, LastNumberTools(), n=4, programs=3, batch=2, greedy_first=True,
                                        greedy_weight=1.0)
    result = await run_search(sc, generator=gen, budget=budget())
    o = result.outcome
    assert o.answer == "4" and o.vote.programs == 3 and o.vote.programs_agreeing == 3
    assert o.content == "so 4"  # a chain that reached the winner is preferred as the content
    # Every sample's ballot is in the vote record, by source, for replaying other voting rules offline.
    votes = [(b.answer, b.source, b.weight) for b in o.vote.ballots]
    assert sorted(a for a, src, _ in votes if src == "chain") == ["4", "5", "5", "7"]
    assert [a for a, src, _ in votes if src == "program"] == ["4", "4", "4"]
    assert all(w > 0 for _, _, w in votes)
    # ...and each sample's text beside it, in the same order: a program's code, a chain's words.
    texts = [b.text for b in o.vote.ballots]
    assert len(texts) == len(votes)
    assert all(t.startswith("so ") for t, (_, src, _) in zip(texts, votes, strict=True) if src == "chain")
    assert all("print(4)" in t for t, (_, src, _) in zip(texts, votes, strict=True) if src == "program")


@pytest.mark.parametrize("verifier", [None, "never passes"])
async def test_min_p_reaches_every_hot_sample_chains_and_programs_but_not_the_greedy_ones(verifier):
    # auto's vote (self_consistency) and, with a verifier, its best_of_n
    gen = ByPrompt(["so 5", "so 4", "so 5", "so 7"], ["print(4)"])
    auto = make_strategy("auto", PROBLEM, LastNumberTools(), probe={"samples": 2, "programs": 1}, n=4,
                         vote={"programs": 3, "chains_with_programs": 3}, verify={"programs": 3}, batch=2,
                         min_p=0.1, verifier=Passes("99") if verifier else None)
    await run_search(auto, generator=gen, budget=budget())
    hot = [c for c in gen.calls if c["temperature"] > 0]
    assert {c["prompt"] for c in hot} == {"Q: 2+2?", "program: 2+2?"}  # both kinds were sampled hot
    assert {c["min_p"] for c in hot} == {0.1}
    assert {c["min_p"] for c in gen.calls if c["temperature"] == 0.0} == {0.0}


async def test_a_program_only_winner_is_shown_as_code_with_its_answer():
    gen = ByPrompt(["so ?"], ["print(9)"])
    sc = make_strategy("self_consistency", PROBLEM, LastNumberTools(), n=1, programs=2, batch=2)
    result = await run_search(sc, generator=gen, budget=budget())
    o = result.outcome
    assert o.answer == "9" and o.content.startswith("```python\nprint(9)") and "\\boxed{9}" in o.content


async def test_without_a_program_prompt_no_programs_are_asked_for():
    plain = Problem(prompt="Q: 2+2?", sampling=Sampling(max_tokens=64))
    gen = ByPrompt(["so 4"], ["print(5)"])
    sc = make_strategy("self_consistency", plain, LastNumberTools(), n=2, programs=3, batch=2)
    result = await run_search(sc, generator=gen, budget=budget())
    assert result.outcome.answer == "4" and all(not c["prompt"].startswith("program:") for c in gen.calls)


def test_program_messages_replace_the_system_prompt_and_keep_the_conversation():
    msgs = program_messages([{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+2?"}])
    assert msgs == [{"role": "system", "content": PROGRAM_INSTRUCTION}, {"role": "user", "content": "2+2?"},
                    {"role": "assistant", "content": PROGRAM_OPENING}]


def test_programs_are_wanted_for_quantitative_questions_only():
    assert wants_program("Tom has 3 apples and buys 4 more. How many apples does he have?")
    assert not wants_program("Write a poem about the sea.")
    assert not wants_program("Write a Python function f(n) that returns the 3 largest items.")
    assert not wants_program("Fix this:\n```python\nprint(1/0)\n```")


class Passes:
    """A verifier that passes exactly the answer `good` (stated as \\boxed{good})."""

    def __init__(self, good):
        self.good, self.checked = good, []

    async def check(self, text):
        from search.protocols import Check

        self.checked.append(text)
        ok = f"\\boxed{{{self.good}}}" in text
        return Check(passed=ok, score=float(ok), feedback="ok" if ok else "wrong")


async def test_best_of_n_checks_what_a_program_prints_and_stops_at_the_first_pass():
    gen = ByPrompt(["I tried 4 + 5 ... no luck"], ["from itertools import permutations\nprint(7)"])
    verifier = Passes("7")
    bon = make_strategy("best_of_n", PROBLEM, LastNumberTools(), verifier=verifier, n=6, batch=2, programs=3)
    result = await run_search(bon, generator=gen, budget=budget())
    o = result.outcome
    assert o.answer == "7" and o.confidence == 1.0 and o.content.startswith("```python\nfrom itertools")
    assert len(gen.calls) == 2  # round one: the greedy chain and the greedy program; the program passed
    assert o.verified.programs == 1


async def test_a_program_that_prints_nothing_fails_without_reaching_the_verifier():
    gen = ByPrompt(["so 7"], ["x = 1"])  # the program prints nothing
    verifier = Passes("7")
    bon = make_strategy("best_of_n", PROBLEM, LastNumberTools(), verifier=verifier, n=1, batch=1, programs=1)
    o = (await run_search(bon, generator=gen, budget=budget())).outcome
    assert o.answer == "7" and len(verifier.checked) == 1  # only the chain was checked


class FormedPasses(Passes):
    """Passes `good`; a candidate with no boxed answer is not even well-formed."""

    async def check(self, text):
        from search.protocols import Check

        verdict = await super().check(text)
        return verdict if "\\boxed{" in text else Check(passed=False, score=0.0, feedback="no answer", wellformed=False)


async def test_best_of_n_stops_its_programs_after_a_failed_trial_and_goes_on_with_chains():
    def search(trial, programs):
        gen = ByPrompt(["\\boxed{5}", "\\boxed{6}", "\\boxed{7}", "\\boxed{8}"], programs)
        bon = make_strategy("best_of_n", PROBLEM, LastNumberTools(), verifier=FormedPasses("7"), n=5, batch=2,
                            programs=3, program_trial=trial)
        return gen, run_search(bon, generator=gen, budget=budget())

    gen, running = search(1, ["x = 1"])  # no program prints anything
    o = (await running).outcome
    # round one: the greedy program (printed nothing) and the greedy chain (wrong); then chains only
    assert [c["prompt"].startswith("program:") for c in gen.calls] == [True, False, False]
    assert o.confidence == 1.0 and o.content == "\\boxed{7}"
    assert o.verified.programs == 1 and o.verified.programs_stopped is True
    gen, running = search(0, ["x = 1"])
    o = (await running).outcome
    assert o.verified.programs == 3 and not o.verified.programs_stopped  # program_trial=0: all asked for
    # A greedy program that prints something well-formed, if wrong, keeps the programs going.
    gen, running = search(1, ["print(3)", "print(7)"])
    o = (await running).outcome
    assert o.verified.programs == 3 and not o.verified.programs_stopped
    assert [c["prompt"].startswith("program:") for c in gen.calls] == [True, False, True, False]


async def test_auto_with_a_verifier_passes_its_programs_to_best_of_n_and_without_one_best_of_n_has_none():
    gen = ByPrompt(["so 5"], ["print(7)"])
    auto = make_strategy("auto", PROBLEM, LastNumberTools(), verifier=Passes("7"), n=4, probe={"samples": 2},
                         verify={"programs": 2})
    assert (await run_search(auto, generator=gen, budget=budget())).outcome.answer == "7"
    plain = make_strategy("best_of_n", PROBLEM, LastNumberTools(), n=2, batch=2, programs=2)  # no verifier
    assert plain.programs.total == 0
    tried = make_strategy("auto", PROBLEM, LastNumberTools(), verifier=Passes("7"),
                          verify={"programs": 2, "program_trial": 1})
    assert tried.child.settings.program_trial == 1


def test_a_worked_example_goes_between_the_instruction_and_the_question():
    example = ("A shop sells pens at 3 dollars. How much do 4 pens cost?", "```python\nprint(3 * 4)\n```")
    msgs = program_messages([{"role": "user", "content": "Use 4 5 6 10 to make 24."}], SEARCH_PROGRAM_INSTRUCTION,
                            example)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant"]
    assert msgs[1]["content"] == example[0] and msgs[2]["content"] == example[1]
    assert msgs[3]["content"] == "Use 4 5 6 10 to make 24." and msgs[4]["content"] == PROGRAM_OPENING


def test_no_program_prompt_carries_a_program():
    """A prompt with a program that solves its own task family measures the prompt, not the model."""
    for instruction in (PROGRAM_INSTRUCTION, SEARCH_PROGRAM_INSTRUCTION):
        msgs = program_messages([{"role": "user", "content": "Use 4 5 6 10 to make 24."}], instruction)
        text = "\n".join(m["content"] for m in msgs[:-1])
        assert "```python\n" not in text and "def " not in text and "import " not in text


async def test_programs_stop_once_a_trial_of_them_printed_nothing():
    # A model whose programs never run (SmolLM2's): the greedy program and one hot batch, then chains only.
    gen = ByPrompt(["so 4", "so 5", "so 4", "so 4"], ["x = 1"])
    auto = make_strategy("auto", PROBLEM, LastNumberTools(), probe={"samples": 2, "programs": 1},
                         vote={"programs": 8, "chains_with_programs": 4}, n=5, batch=2)
    result = await run_search(auto, generator=gen, budget=budget())
    o = result.outcome
    assert o.answer == "4" and o.vote.programs == 3 and o.vote.samples == 7
    assert [c["n"] for c in gen.calls if c["prompt"].startswith("program:")] == [1, 2]


async def test_one_failed_program_is_not_a_trial_and_answering_programs_go_on():
    # The greedy program printed nothing, a hot one answers: programs keep coming (a coder model's
    # single failure is not evidence that programs do not suit it).
    gen = ByPrompt(["so 4", "so 5", "so 6", "so 7"], ["x = 1", "print(5)"])
    auto = make_strategy("auto", PROBLEM, LastNumberTools(), probe={"samples": 2, "programs": 1},
                         vote={"programs": 5, "chains_with_programs": 4}, n=5, batch=2)
    result = await run_search(auto, generator=gen, budget=budget())
    assert result.outcome.vote.programs == 5


async def test_a_probe_program_that_prints_nothing_settles_on_the_greedy_chain_when_asked():
    script, programs = ["so 4", "so 5", "so 6", "so 7"], ["x = 1", "print(5)"]
    config = dict(vote={"programs": 5, "chains_with_programs": 4}, n=5, batch=2)
    gen = ByPrompt(script, programs)
    auto = make_strategy("auto", PROBLEM, LastNumberTools(),
                         probe={"samples": 2, "programs": 1, "settle_if_program_fails": True}, **config)
    result = await run_search(auto, generator=gen, budget=budget())
    o = result.outcome
    assert o.answer == "4" and o.vote.samples == 2 and len(gen.calls) == 2
    assert o.confidence < 1.0  # the failed program's weight is in the total: not a sure answer
    # Without the option the same probe goes on to a vote.
    gen = ByPrompt(script, programs)
    result = await run_search(make_strategy("auto", PROBLEM, LastNumberTools(),
                                            probe={"samples": 2, "programs": 1}, **config),
                              generator=gen, budget=budget())
    assert result.outcome.vote.samples > 2


async def test_a_failed_probe_program_with_no_chain_answer_still_votes():
    gen = ByPrompt(["so ?", "so 5", "so 5", "so 5"], ["x = 1"])
    auto = make_strategy("auto", PROBLEM, LastNumberTools(),
                         probe={"samples": 2, "programs": 1, "settle_if_program_fails": True},
                         vote={"programs": 5, "chains_with_programs": 4}, n=5, batch=2)
    result = await run_search(auto, generator=gen, budget=budget())
    assert result.outcome.answer == "5" and result.outcome.vote.samples > 2
