"""The open-ended search: replies checked against the request's instructions, loops set aside,
revisions that must check better, consistency where the checks cannot separate; and auto's
choice of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sampling import Sampling
from search.budget import Budget
from search.driver import run_search
from search.strategy import Problem
from tests.search.scripted import FakeGeneration, FakeSample, make_strategy

LOOP = "Autumn leaves. " + "a leaf's fate is sealed, " * 12
CHECKS = "contains: lowercase\ncontains: haiku"


@dataclass
class PromptedGenerator:
    """Answers the checks prompt with `checks`, a revision prompt with `revision`, a consistency
    prompt with `usc`, and every reply with the next text of `replies` (test code)."""

    replies: Sequence[str]
    checks: str = CHECKS
    revision: str = "revised lowercase haiku"
    repair: str = "no repair"
    usc: str = "The most consistent response is Response 1"
    calls: list[tuple[str, int, float]] = field(default_factory=list)
    _next: int = 0

    async def generate(self, prompt: str, *, n: int, sampling: Sampling,
                       deadline: float | None = None) -> FakeGeneration:
        kind = ("checks" if prompt == "CHECKS" else "revision" if "does not follow" in prompt
                else "repair" if "repair(reply)" in prompt else "usc" if "most consistent" in prompt else "reply")
        self.calls.append((kind, n, sampling.temperature))
        if kind == "reply":
            texts = []
            for _ in range(n):
                texts.append(self.replies[self._next % len(self.replies)])
                self._next += 1
        else:
            scripted = {"checks": self.checks, "revision": self.revision, "usc": self.usc, "repair": self.repair}
            texts = [scripted[kind]] * n
        length = [("length" if t == LOOP else "stop") for t in texts]
        samples = tuple(FakeSample(t, 20, f) for t, f in zip(texts, length, strict=True))
        return FakeGeneration(samples, prompt_tokens=5)


async def render(messages: Sequence[dict[str, object]], *, add_generation_prompt: bool = True) -> str:
    return "\n".join(str(m["content"]) for m in messages)


def problem(question: str = "Write a haiku about autumn, in all lowercase.") -> Problem:
    return Problem(prompt="PROMPT", question=question, sampling=Sampling(max_tokens=64),
                   reply_prompt="REPLY", checks_prompt="CHECKS",
                   messages=({"role": "user", "content": question},))


async def run(generator: PromptedGenerator, question: str | None = None, **settings: object):
    strategy = make_strategy("open_ended", problem(question) if question else problem(), generator=generator,
                             render=render, **settings)
    budget = Budget.create(max_tokens=10_000, max_calls=50, deadline_s=60)
    return await run_search(strategy, generator=generator, budget=budget)


async def test_a_greedy_reply_that_meets_every_check_ends_the_search() -> None:
    gen = PromptedGenerator(["a lowercase haiku", "other"])
    result = await run(gen, n=4)
    assert [c[0] for c in gen.calls] == ["checks", "reply"]  # no hot replies, no revision
    assert result.outcome is not None and result.outcome.content == "a lowercase haiku"
    selection = result.outcome.selection
    assert selection is not None and selection.method == "instruction checks"
    assert (selection.met, len(selection.checks), selection.replies) == (2, 2, 1)


async def test_replies_are_sampled_until_one_meets_every_check_and_it_is_chosen() -> None:
    gen = PromptedGenerator(["A Haiku In Capitals", "a lowercase poem", "a lowercase haiku", "never asked"])
    result = await run(gen, n=6, batch=2, revisions=0)
    assert result.outcome is not None and result.outcome.content == "a lowercase haiku"
    assert sum(n for kind, n, _ in gen.calls if kind == "reply") == 3  # greedy, then a batch of 2
    assert result.outcome.confidence == 1.0
    # the replies are written to the client's chat (reply_prompt), never the math prompt
    assert all(kind != "reply" or t == 0.0 or t == 0.7 for kind, _, t in gen.calls)


async def test_a_looping_reply_is_never_chosen_while_another_exists() -> None:
    # The loop meets both checks ("lowercase", "haiku" are in it); the sound reply meets one.
    gen = PromptedGenerator([LOOP + " lowercase haiku " + LOOP, "a lowercase poem"], revision="a lowercase poem")
    result = await run(gen, n=2, batch=1)
    assert result.outcome is not None and result.outcome.content == "a lowercase poem"
    assert result.outcome.selection is not None and result.outcome.selection.broken == 1


async def test_a_revision_counts_only_if_it_meets_more_checks() -> None:
    better = PromptedGenerator(["a lowercase poem"], revision="a lowercase haiku, revised")
    result = await run(better, n=1, repairs=0, revisions=1)
    assert [c[0] for c in better.calls] == ["checks", "reply", "revision"]
    assert result.outcome is not None and result.outcome.content == "a lowercase haiku, revised"
    assert result.outcome.selection is not None and result.outcome.selection.revised

    worse = PromptedGenerator(["a lowercase poem"], revision="A POEM")
    result = await run(worse, n=1, repairs=0, revisions=1)
    assert result.outcome is not None and result.outcome.content == "a lowercase poem"
    assert result.outcome.selection is not None and result.outcome.selection.rejected_revisions == 1
    assert result.outcome.selection.failed == ("contains haiku",)


async def test_a_repair_program_edits_the_best_reply_first_and_counts_only_if_it_checks_better() -> None:
    repaired = PromptedGenerator(["a lowercase poem about autumn leaves"], repair="append: haiku")
    result = await run(repaired, n=1, repairs=1, revisions=1)
    assert [c[0] for c in repaired.calls] == ["checks", "reply", "repair"]  # the edit met every check: no rewrite
    assert result.outcome is not None and result.outcome.content == "a lowercase poem about autumn leaves haiku"
    assert result.outcome.selection is not None and result.outcome.selection.revised

    useless = PromptedGenerator(["a lowercase poem about autumn leaves"], repair="append: again",
                                revision="a lowercase haiku about autumn leaves")
    result = await run(useless, n=1, repairs=1, revisions=1)
    assert [c[0] for c in useless.calls] == ["checks", "reply", "repair", "revision"]
    assert result.outcome is not None and result.outcome.content == "a lowercase haiku about autumn leaves"
    assert result.outcome.selection is not None and result.outcome.selection.rejected_revisions == 1


async def test_without_checks_every_reply_is_sampled_and_the_most_consistent_is_chosen() -> None:
    gen = PromptedGenerator(["the sky is blue because air scatters blue light",
                             "the sky is blue because air scatters blue light more",
                             "cats are nice"])
    result = await run(gen, n=3, batch=2, checks=False)
    assert "checks" not in [kind for kind, _, _ in gen.calls]
    assert sum(n for kind, n, _ in gen.calls if kind == "reply") == 3
    assert result.outcome is not None and result.outcome.content.startswith("the sky is blue")
    assert result.outcome.selection is not None and result.outcome.selection.method == "consensus"


async def test_usc_asks_the_model_to_pick_among_tied_replies() -> None:
    gen = PromptedGenerator(["first reply", "second reply", "third"])
    result = await run(gen, n=3, batch=2, select="usc", checks=False)
    assert [c[0] for c in gen.calls][-1] == "usc"
    assert result.outcome is not None and result.outcome.content == "second reply"  # "Response 1", from 0


async def test_a_mixed_request_prefers_replies_that_agree_with_the_majority_answer() -> None:
    question = "How many legs do 3 spiders have? Explain in one paragraph, in all lowercase."
    gen = PromptedGenerator(["lowercase haiku 24", "lowercase haiku 30", "lowercase haiku 24"],
                            checks="contains: lowercase")
    result = await run(gen, question, n=3, batch=2)
    assert result.outcome is not None and result.outcome.answer == "24"
    assert result.outcome.content.endswith("24")


async def test_auto_sends_an_open_ended_request_to_the_open_ended_search_and_keeps_the_vote_for_math() -> None:
    gen = PromptedGenerator(["a lowercase haiku"])
    strategy = make_strategy("auto", problem(), generator=gen, render=render)
    assert strategy.name == "auto:open_ended"
    math = make_strategy("auto", problem("Tom has 3 apples and buys 4 more. How many apples does he have?"),
                         generator=gen, render=render)
    assert math.name == "auto:self_consistency"
    voted = make_strategy("auto", problem(), generator=gen, render=render, open=None)
    assert voted.name == "auto:self_consistency"


async def test_a_looping_chain_does_not_vote() -> None:
    gen = PromptedGenerator([LOOP + " 7", "so the answer is 5", LOOP + " 7"])
    strategy = make_strategy("self_consistency", Problem(prompt="p", question="q", sampling=Sampling()), n=3, batch=3)
    budget = Budget.create(max_tokens=1000, max_calls=5, deadline_s=60)
    result = await run_search(strategy, generator=gen, budget=budget)
    assert result.outcome is not None and result.outcome.answer == "5"


def test_the_revision_request_carries_the_draft_in_the_users_turn_and_its_fence_is_dropped() -> None:
    from search.instruction_prompts import revise_messages, rewritten_reply

    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "Write a poem."}]
    revised = revise_messages(messages, "a draft", ["Use all capital letters."])
    assert [m["role"] for m in revised] == ["system", "user"]
    assert revised[1]["content"].startswith("Write a poem.") and "a draft" in revised[1]["content"]
    assert "- Use all capital letters." in revised[1]["content"]
    assert rewritten_reply('"""\nA NEW POEM\n"""') == "A NEW POEM" and rewritten_reply("as is") == "as is"
    # A line announcing the rewrite is not part of it; a reply that starts with its own colon line is kept.
    framed = "Certainly! Here is the revised reply that follows the instructions:\n\n---\n\nBees make honey."
    assert rewritten_reply(framed) == "Bees make honey."
    assert rewritten_reply("Ingredients:\n- flour\n- water") == "Ingredients:\n- flour\n- water"
    assert rewritten_reply("Here is the revised reply:") == "Here is the revised reply:"  # nothing after it


async def test_with_checks_a_hot_reply_that_only_ties_the_greedy_one_does_not_replace_it() -> None:
    # Each reply meets one check of two; the two hot replies agree with each other more than with the
    # greedy one, so consensus alone would pick a hot reply.
    gen = PromptedGenerator(["a haiku of autumn", "lowercase words about a red leaf falling",
                             "lowercase words about a red leaf falling down"])
    result = await run(gen, n=3, batch=2, repairs=0, revisions=0)
    assert sum(n for kind, n, _ in gen.calls if kind == "reply") == 3
    assert result.outcome is not None and result.outcome.content == "a haiku of autumn"
    assert result.outcome.selection is not None and result.outcome.selection.met == 1

    better = PromptedGenerator(["a haiku of autumn", "a lowercase haiku", "lowercase words"])
    result = await run(better, n=3, batch=2, repairs=0, revisions=0)
    assert result.outcome is not None and result.outcome.content == "a lowercase haiku"


async def test_checks_that_cannot_run_end_the_sampling_with_the_greedy_reply() -> None:
    gen = PromptedGenerator(["the greedy reply", "a hot reply", "another hot reply"], checks="CHECKS = None")
    result = await run(gen, n=3, batch=2)
    assert [kind for kind, _, _ in gen.calls] == ["checks", "reply"]
    assert result.outcome is not None and result.outcome.content == "the greedy reply"
    assert result.outcome.selection is not None and result.outcome.selection.replies == 1
