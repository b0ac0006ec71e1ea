"""The code search: execution feedback into revisions, model-written tests, behaviour groups.

The generator is test code that answers by the prompt's kind (a candidate, the tests, a revision); the
client's tests and the model's run in the real sandbox (rewards.python_tests, rewards.code_tests)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rewards.code_tests import SandboxCodeTests
from rewards.python_tests import PythonTestsVerifier
from rewards.sandbox import SandboxLimits
from sampling import Sampling
from search.driver import run_search
from search.protocols import Check
from search.registry import build_strategy
from search.strategy import Problem, SearchDeps
from tests.search.scripted import FakeGeneration, FakeSample, LastNumberTools

QUESTION = '''def second_largest(xs):
    """The second largest distinct value in xs, or None when there is none.
    >>> second_largest([1, 3, 2])
    2
    """'''
CLIENT = '''
def check(candidate):
    assert candidate([1, 3, 2]) == 2
    assert candidate([5, 1]) == 1
'''
LIMITS = SandboxLimits(cpu_s=10, wall_s=20.0)
SORTED = "```python\ndef second_largest(xs):\n    return sorted(xs)[-2]\n```"  # fails [3, 3] and []
DISTINCT = ("```python\ndef second_largest(xs):\n    s = sorted(set(xs))\n"
            "    return s[-2] if len(s) > 1 else None\n```")
DISTINCT_TOO = ("```python\ndef second_largest(xs):\n    u = sorted(set(xs), reverse=True)\n"
                "    return u[1] if len(u) >= 2 else None\n```")
MAXIMUM = "```python\ndef second_largest(xs):\n    return max(xs)\n```"  # fails both client examples
FIRST = "```python\ndef second_largest(xs):\n    return xs[0]\n```"  # fails both client examples


async def render(messages: list[dict[str, Any]], *, add_generation_prompt: bool = True) -> str:
    return "\n".join(f"<{m['role']}> {m['content']}" for m in messages)


@dataclass
class ByPrompt:
    """Candidates in order for the task's prompt; `tests` for the test writer; `revisions` in order for
    a revision (a prompt that reports a failure). Records every prompt."""

    candidates: Sequence[str]
    tests: str = ""
    revisions: Sequence[str] = ()
    prompts: list[str] = field(default_factory=list)
    _next: dict[str, int] = field(default_factory=dict)

    def _take(self, kind: str, texts: Sequence[str]) -> str:
        i = self._next.get(kind, 0)
        self._next[kind] = i + 1
        return texts[min(i, len(texts) - 1)]

    async def generate(self, prompt: str, *, n: int, sampling: Sampling, deadline: float | None = None) -> Any:
        self.prompts.append(prompt)
        if "You write unit tests" in prompt:
            texts = [self.tests] * n
        elif "failed:" in prompt:
            texts = [self._take("revision", self.revisions) for _ in range(n)]
        else:
            texts = [self._take("candidate", self.candidates) for _ in range(n)]
        return FakeGeneration(tuple(FakeSample(t, 20) for t in texts), prompt_tokens=10)


def problem() -> Problem:
    messages = ({"role": "user", "content": QUESTION},)
    return Problem(prompt=f"<user> {QUESTION}", question=QUESTION, messages=messages,
                   sampling=Sampling(max_tokens=300))


async def search(generator: ByPrompt, *, verifier: Any = None, code_tests: Any = "sandbox", **settings: Any) -> Any:
    deps = SearchDeps(tools=LastNumberTools(), generator=generator,
                      verifier=verifier or PythonTestsVerifier(CLIENT, "second_largest", limits=LIMITS),
                      code_tests=SandboxCodeTests(CLIENT, "second_largest", limits=LIMITS)
                      if code_tests == "sandbox" else code_tests, render=render)
    strategy = build_strategy("code_search", problem(), deps, settings)
    return await run_search(strategy, generator=generator)


async def test_the_first_failing_assertion_and_what_the_call_returned_reach_the_revision():
    gen = ByPrompt(candidates=[MAXIMUM], revisions=[DISTINCT])
    result = await search(gen, n=1, tests=0, revisions=2)
    revision = next(p for p in gen.prompts if "failed:" in p)
    # The candidate in its own turn, then what failed: the client's example, and what the call returned.
    assert "<assistant> " + MAXIMUM in revision
    assert revision.index(MAXIMUM) < revision.index(
        "<user> Your code was run against the tests. This test failed:\n"
        "assert second_largest([1, 3, 2]) == 2  # the call returned 3")
    o = result.outcome
    assert o.content == DISTINCT and o.code.depth == 1 and o.code.revisions == 1 and o.code.client_passed == 1
    assert len(gen.prompts) == 2  # the revision passed: nothing more was asked


async def test_a_candidate_that_passes_the_examples_but_fails_the_edge_cases_loses():
    tests = "[3, 3]) is None\nassert second_largest([]) is None\nassert second_largest([4, 4, 1]) == 1\n```"
    gen = ByPrompt(candidates=[SORTED, DISTINCT], tests=tests)
    result = await search(gen, n=2, revisions=0)
    o = result.outcome
    assert o.content == DISTINCT  # the greedy candidate came first and passes the client's examples too
    assert (o.code.client_passed, o.code.tests, o.code.generated_passed) == (2, 3, 3)
    assert o.confidence == 1.0
    # Without the model's tests the first candidate to pass the examples is the answer.
    baseline = await search(ByPrompt(candidates=[SORTED, DISTINCT]), n=2, tests=0, revisions=0)
    assert baseline.outcome.content == SORTED and baseline.outcome.code.candidates == 1


async def test_a_generated_test_that_contradicts_the_client_is_not_trusted():
    # The model's first test says second_largest([1, 3, 2]) is 3, which the client's example contradicts.
    # Both candidates fail both examples; trusted, that test would rank MAXIMUM (which passes it) first
    # and have it revised; dropped, the two tie and the earlier one is revised.
    tests = "[1, 3, 2]) == 3\nassert second_largest([3, 3]) is None\n```"
    gen = ByPrompt(candidates=[FIRST, MAXIMUM], tests=tests, revisions=[DISTINCT])
    result = await search(gen, n=2, revisions=1, width=1)
    o = result.outcome
    assert (o.code.tests, o.code.untrusted) == (1, 1)
    [revision] = [p for p in gen.prompts if "failed:" in p]
    assert "<assistant> " + FIRST in revision and MAXIMUM not in revision
    assert o.content == DISTINCT and o.code.depth == 1


async def test_behaviour_groups_break_ties_between_candidates_that_pass_the_same_tests():
    # Every candidate passes the examples and the one generated test, which accepts 3 or None for [3, 3];
    # two of them return None there and one returns 3: the pair is the larger group.
    tests = "[3, 3]) in (3, None)\n```"
    gen = ByPrompt(candidates=[MAXIMUM, SORTED, DISTINCT, DISTINCT_TOO], tests=tests)
    result = await search(gen, n=4, batch=3, revisions=0)
    o = result.outcome
    assert (o.code.client_passed, o.code.generated_passed, o.code.groups, o.code.group) == (3, 1, 2, 2)
    assert o.content == DISTINCT  # not SORTED, the first to pass, which a tie on tests alone would keep


async def test_a_passing_candidate_is_revised_against_a_generated_test_another_passing_one_passes():
    # SORTED passes `[2, 2, 1] == 2` (a wrong test) and fails `[3, 3] is None`; DISTINCT the other way
    # round. They tie, SORTED first by index: it is revised, told of the test DISTINCT passes.
    tests = "[3, 3]) is None\nassert second_largest([2, 2, 1]) == 2\n```"
    gen = ByPrompt(candidates=[SORTED, DISTINCT], tests=tests, revisions=[DISTINCT_TOO])
    result = await search(gen, n=2, revisions=1, width=1)
    [revision] = [p for p in gen.prompts if "failed:" in p]
    assert "<assistant> " + SORTED in revision
    assert "this further test failed:\nassert second_largest([3, 3]) is None  # the call returned 3" in revision
    o = result.outcome  # DISTINCT and its revision's twin behave alike: the larger group
    assert o.content == DISTINCT and (o.code.candidates, o.code.groups, o.code.group) == (3, 2, 2)


async def test_a_generated_test_no_passing_candidate_passes_is_not_chased():
    # `[7] == 7` is wrong (there is no second value); the candidate that passes the examples fails it, and
    # nothing witnesses it: the search ends rather than revise a right candidate toward it.
    gen = ByPrompt(candidates=[DISTINCT], tests="[7]) == 7\n```", revisions=[SORTED])
    result = await search(gen, n=1, revisions=4)
    assert not any("failed:" in p for p in gen.prompts)
    assert (result.outcome.code.candidates, result.outcome.code.tests, result.outcome.code.generated_passed) == (
        1, 1, 0)


@dataclass
class Contains:
    """A verifier for tests: a candidate passes when it contains `word`."""

    word: str

    async def check(self, text: str) -> Check:
        ok = self.word in text
        return Check(passed=ok, score=float(ok), feedback="ok" if ok else f"the output lacked {self.word}")


async def test_without_a_test_runner_the_verifier_alone_ranks_and_feeds_back():
    gen = ByPrompt(candidates=["draft 1", "draft 2"], revisions=["fixed good"])
    result = await search(gen, verifier=Contains("good"), code_tests=None, n=2, tests=2, revisions=1)
    revision = next(p for p in gen.prompts if "failed:" in p)
    assert "This test failed:\nthe output lacked good" in revision and "<assistant> draft 1" in revision
    assert result.outcome.content == "fixed good" and not any("unit tests" in p for p in gen.prompts)


async def test_the_revision_budget_and_depth_bound_the_tree():
    gen = ByPrompt(candidates=["draft"], revisions=["still a draft"])
    result = await search(gen, verifier=Contains("good"), code_tests=None, n=1, revisions=8, depth=2, width=1)
    o = result.outcome
    assert o.code.candidates == 3 and o.code.revisions == 2  # a chain of two revisions, then depth stops it
    assert o.confidence == 0.0 and o.code.client_passed == 0


@dataclass
class Counted:
    """A test runner that counts the candidates it is asked to run."""

    inner: SandboxCodeTests
    ran: list[int] = field(default_factory=list)

    @property
    def function(self) -> str | None:
        return self.inner.function

    async def generated_tests(self, text: str) -> tuple[tuple[str, ...], int]:
        return await self.inner.generated_tests(text)

    async def run(self, candidates: Sequence[str], tests: Sequence[str]) -> Any:
        self.ran.append(len(candidates))
        return await self.inner.run(candidates, tests)


async def test_a_lone_failing_first_attempt_is_run_once_with_the_tests_then_revised():
    # The tests are asked for in the second round: the first attempt waits for them to run, and its
    # revision is planned from that run.
    runner = Counted(SandboxCodeTests(CLIENT, "second_largest", limits=LIMITS))
    gen = ByPrompt(candidates=[MAXIMUM], tests="[3, 3]) is None\n```", revisions=[DISTINCT])
    result = await search(gen, code_tests=runner, n=1, revisions=1)
    assert runner.ran == [1, 1]  # the first attempt, then its revision: each run once
    assert [("unit tests" in p, "failed:" in p) for p in gen.prompts] == [(False, False), (True, False), (False, True)]
    assert result.outcome.content == DISTINCT and result.outcome.code.generated_passed == 1


async def test_a_first_attempt_that_passes_the_examples_waits_for_the_tests_which_may_settle_it():
    gen = ByPrompt(candidates=[DISTINCT, SORTED], tests="[3, 3]) is None\n```")
    result = await search(gen, n=4)
    assert [("unit tests" in p) for p in gen.prompts] == [False, True]  # no hot batch beside the tests
    assert result.outcome.code.candidates == 1 and result.outcome.confidence == 1.0
    # One that fails the model's test draws the rest of the first attempts.
    gen = ByPrompt(candidates=[SORTED, DISTINCT], tests="[3, 3]) is None\n```")
    result = await search(gen, n=4, batch=3, revisions=0)
    assert [("unit tests" in p) for p in gen.prompts] == [False, True, False]
    assert result.outcome.code.candidates == 4 and result.outcome.content == DISTINCT
