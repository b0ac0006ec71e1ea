"""Self-consistency with DeepConf: logprobs are asked for, unsure chains lose the vote, sampling stops once settled."""

from __future__ import annotations

from dataclasses import dataclass

from backends.types import TokenLogprob
from sampling import Sampling
from search.budget import Budget
from search.driver import run_search
from search.strategy import Problem

from .scripted import LastNumberTools, ScriptedGenerator, make_strategy

PROBLEM = Problem(prompt="Q: 2+2?", sampling=Sampling(max_tokens=64))
SURE = TokenLogprob(token="x", logprob=-0.01, top=(("a", -0.01), ("b", -7.0)))
UNSURE = TokenLogprob(token="x", logprob=-0.7, top=(("a", -0.7), ("b", -0.8)))


@dataclass(frozen=True)
class LoggedSample:
    text: str
    completion_tokens: int
    logprobs: tuple[TokenLogprob, ...] | None
    finish_reason: str = "stop"
    stop_reason: str | None = None


class WithLogprobs(ScriptedGenerator):
    """Scripted texts; those in `unsure` come with flat token distributions, the rest peaked."""

    def __init__(self, script, unsure=()):
        super().__init__(script)
        self.unsure = set(unsure)
        self.asked_logprobs: list[int | None] = []

    async def generate(self, prompt, **kw):
        self.asked_logprobs.append(kw["sampling"].logprobs)
        gen = await super().generate(prompt, **kw)
        samples = tuple(LoggedSample(s.text, s.completion_tokens,
                                     None if kw["sampling"].logprobs is None
                                     else (UNSURE if s.text in self.unsure else SURE,) * 8)
                        for s in gen.samples)
        return type(gen)(samples, gen.prompt_tokens, gen.cached_tokens)


def budget():
    return Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None)


async def test_confident_chains_outvote_a_hesitant_majority():
    script = ["so 5", "so 5", "so 5", "so 4", "so 4"]
    plain = await run_search(make_strategy("self_consistency", PROBLEM, LastNumberTools(), n=5, batch=5),
                             generator=WithLogprobs(script, unsure={"so 5"}), budget=budget())
    assert plain.outcome.answer == "5"  # a plain majority
    gen = WithLogprobs(script, unsure={"so 5"})
    sc = make_strategy("self_consistency", PROBLEM, LastNumberTools(), n=5, batch=5, confidence=True,
                                        confidence_keep=0.4, confidence_top_k=2)
    result = await run_search(sc, generator=gen, budget=budget())
    o = result.outcome
    assert gen.asked_logprobs == [2]
    assert o.answer == "4" and o.vote.confidence_dropped == 3
    assert o.confidence == 1.0  # only the kept (confident) chains vote


async def test_sampling_stops_once_the_confident_majority_is_settled():
    script = ["so 4", "so 4", "so 4", "so 4", "so 4", "so 3"]
    gen = WithLogprobs(script, unsure={"so 3"})
    sc = make_strategy("self_consistency", PROBLEM, LastNumberTools(), n=12, batch=3, confidence=True,
                                        confidence_keep=0.7, settle=0.95, confidence_warmup=4)
    result = await run_search(sc, generator=gen, budget=budget())
    # 3 chains are below the warm-up; after 6 the sure "4"s hold 96% of the confidence-weighted vote.
    assert len(gen.calls) == 2 and result.outcome.answer == "4"
    plain_gen = WithLogprobs(script)
    await run_search(make_strategy("self_consistency", PROBLEM, LastNumberTools(), n=12, batch=3),
                     generator=plain_gen, budget=budget())
    assert len(plain_gen.calls) > 2 and plain_gen.asked_logprobs[0] is None


async def test_a_small_keep_does_not_make_a_split_vote_look_settled():
    gen = WithLogprobs(["so 4", "so 5"])  # equally sure, evenly split
    sc = make_strategy("self_consistency", PROBLEM, LastNumberTools(), n=8, batch=2, confidence=True,
                                        confidence_keep=0.1)
    result = await run_search(sc, generator=gen, budget=budget())
    assert len(gen.calls) == 4 and result.outcome.vote.samples == 8  # sampled to n


async def test_without_top_logprobs_chains_keep_plain_votes():
    gen = WithLogprobs(["so 5", "so 5", "so 4"])
    gen.generate = _without_top(gen.generate)
    sc = make_strategy("self_consistency", PROBLEM, LastNumberTools(), n=3, batch=3, confidence=True,
                                        confidence_keep=0.4)
    o = (await run_search(sc, generator=gen, budget=budget())).outcome
    assert o.answer == "5" and o.vote.confidence_dropped == 0 and all(b.confidence is None for b in o.vote.ballots)


def _without_top(generate):
    async def wrapped(prompt, **kw):
        gen = await generate(prompt, **kw)
        bare = tuple(LoggedSample(s.text, s.completion_tokens,
                                  tuple(TokenLogprob(t.token, t.logprob) for t in s.logprobs))
                     for s in gen.samples)
        return type(gen)(bare, gen.prompt_tokens, gen.cached_tokens)
    return wrapped
