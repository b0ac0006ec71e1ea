"""The small protocols search needs; `app` hands in objects that satisfy them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sampling import Sampling


class TokenLogprobLike(Protocol):
    @property
    def token(self) -> str: ...

    @property
    def logprob(self) -> float: ...

    @property
    def top(self) -> Sequence[tuple[str, float]]: ...


class GeneratedSample(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def completion_tokens(self) -> int: ...

    @property
    def finish_reason(self) -> str: ...

    @property
    def logprobs(self) -> Sequence[TokenLogprobLike] | None: ...

    @property
    def stop_reason(self) -> str | None:
        """The stop string that ended the sample; None for end of turn or length."""
        ...


class Generation(Protocol):
    """What one backend call returns (a `backends.types.Completion` satisfies it)."""

    @property
    def samples(self) -> Sequence[GeneratedSample]: ...

    @property
    def prompt_tokens(self) -> int: ...

    @property
    def cached_tokens(self) -> int: ...


class Generator(Protocol):
    async def generate(self, prompt: str, *, n: int, sampling: Sampling, deadline: float | None = None) -> Generation:
        """Sample `n` continuations; stop generating at `deadline` (time.monotonic())."""
        ...


@dataclass(frozen=True)
class AnswerGroup:
    """Candidates that give the same answer."""

    answer: str
    votes: float
    members: tuple[int, ...]


class AnswerTools(Protocol):
    """Answer extraction and voting (from `rewards`)."""

    def extract(self, text: str) -> str | None: ...

    def answer_key(self, answer: str) -> str:
        """The form an answer is counted under in a vote ("20.0" and "20" are one answer)."""
        ...

    def boxed_answer(self, text: str) -> str | None:
        """The last boxed answer the text states with its braces closed (a cut `\\boxed{\\frac{2` is
        none); None when there is none."""
        ...

    async def tally(self, answers: Sequence[str], weights: Sequence[float] | None = None) -> list[AnswerGroup]:
        """Group equivalent answers, best first."""
        ...

    async def run_program(self, text: str) -> str | None:
        """Run the program in a model's answer in the sandbox: the answer it prints, or None."""
        ...

    def trace_confidence(self, logprobs: Sequence[TokenLogprobLike] | None, window: int) -> float | None:
        """A sample's confidence from its token logprobs (DeepConf); None without logprobs."""
        ...

    def arithmetic(self, text: str) -> tuple[int, int]:
        """(computations a solution states, how many of them are wrong), checked exactly."""
        ...

    def arithmetic_error(self, text: str) -> str | None:
        """The first wrong computation a solution states, with its right value; None when none is."""
        ...

    def confident_weights(self, confidences: Sequence[float | None], keep: float) -> list[float]:
        """Vote weights for samples with these confidences (the least confident get 0)."""
        ...

    def degenerate(self, text: str) -> bool:
        """Whether a sample ends in a loop (one stretch repeated back to back to its cap)."""
        ...

    async def run_repair(self, program: str, reply: str) -> str | None:
        """Run a model-written `repair(reply)` function on a reply in the sandbox: the text it returns,
        or None when it defines no such function, fails, or returns no text."""
        ...

    async def run_checks(self, program: str, replies: Sequence[str]) -> CheckedReplies | None:
        """Run a model-written program of instruction checks (`check_*` functions) on each reply in
        the sandbox; None when the program defines no check or cannot run."""
        ...


class CheckedReplies(Protocol):
    """What a program of instruction checks found: each check's description (the instruction it
    checks), and for each reply, each check's verdict (None: the check raised on that reply)."""

    @property
    def checks(self) -> tuple[str, ...]: ...

    @property
    def verdicts(self) -> tuple[tuple[bool | None, ...], ...]: ...


@dataclass(frozen=True)
class Check:
    """A verifier's verdict on one candidate."""

    passed: bool
    score: float  # 1.0 passed, 0.0 failed; partial credit in between (tests passed / total)
    feedback: str = ""
    wellformed: bool = True  # False: not even an attempt at the task's form (rewards.verdict)


class CheckLike(Protocol):
    @property
    def passed(self) -> bool: ...

    @property
    def score(self) -> float: ...

    @property
    def feedback(self) -> str: ...

    @property
    def wellformed(self) -> bool: ...


class Verifier(Protocol):
    """Ground truth at serving time (from `rewards`): tests, a game-24 check, a reference."""

    async def check(self, text: str) -> CheckLike: ...


class CandidateRun(Protocol):
    """What one candidate's code did on the client's tests and on tests the model wrote (CodeTests.run)."""

    @property
    def client_passed(self) -> int: ...

    @property
    def client_total(self) -> int: ...

    @property
    def client_failure(self) -> str:
        """The first failing client test and what its call got (returned, raised); "" when none failed."""
        ...

    @property
    def generated(self) -> Sequence[bool]:
        """Each generated test's verdict, in the order the tests were given."""
        ...

    @property
    def generated_failure(self) -> Sequence[str]:
        """For each generated test, what it got where it failed ("" where it passed)."""
        ...

    @property
    def outputs(self) -> Sequence[str]:
        """For each generated test, a digest of what its call of the function returned or raised: two
        candidates with equal outputs behave alike on the generated inputs."""
        ...


class CodeTests(Protocol):
    """A request's `python_tests` for a function, and tests the model writes for it, run on many
    candidates in the sandbox (from `rewards`)."""

    @property
    def function(self) -> str | None:
        """The function the client's tests call, where they name one."""
        ...

    async def generated_tests(self, text: str) -> tuple[tuple[str, ...], int]:
        """The assert lines in a model's text that test the function (deduplicated), and how many were
        dropped for contradicting the client's tests (the same call, another expected value)."""
        ...

    async def run(self, candidates: Sequence[str], tests: Sequence[str]) -> Sequence[CandidateRun | None]:
        """Each candidate's code run on the client's tests and on `tests`; None for a candidate with no
        code that compiles, or whose run broke."""
        ...


class StepScorer(Protocol):
    """A process reward: how likely a solution's last step is correct (from `rewards`)."""

    async def score(self, messages: Sequence[dict[str, Any]], steps: Sequence[str], generator: Generator) -> float:
        """p(correct) of `steps[-1]`, given the problem's chat and the steps before it; its
        calls go through `generator` so the search's budget pays for them."""
        ...
