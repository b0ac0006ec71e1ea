"""Adapters that let `search` use a backend and `rewards` without importing them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from app.protocol.verifier_specs import (
    ExactSpec,
    Game24Spec,
    JsonSchemaSpec,
    MathEquivSpec,
    PythonTestsSpec,
    RegexSpec,
    VerifierSpec,
)
from backends.types import Backend, Completion
from rewards.code_tests import SandboxCodeTests
from rewards.confidence import confident_weights, trace_confidence
from rewards.degeneration import is_degenerate
from rewards.equivalence import MathEquivalence
from rewards.extraction import extract_answer, last_boxed, normalize_answer
from rewards.instruction_checks import CheckedReplies, run_checks, run_repair
from rewards.python_tests import PythonTestsVerifier, program_answer
from rewards.sandbox import SandboxLimits, SandboxResult
from rewards.step_checks import chain_arithmetic, first_error
from rewards.thinking import ReasoningParser, final_text
from rewards.verifiers import ExactVerifier, Game24Verifier, JsonSchemaVerifier, MathEquivVerifier, RegexVerifier
from rewards.voting import Vote, merge_equivalent, weighted_vote
from sampling import Sampling
from search.protocols import AnswerGroup, CodeTests, Verifier


def build_verifier(spec: VerifierSpec, equivalence: MathEquivalence, sandbox: SandboxPolicy | None = None) -> Verifier:
    """The rewards verifier a request's `reasoning.verifier` names."""
    if isinstance(spec, PythonTestsSpec):
        policy = sandbox or SandboxPolicy()
        return PythonTestsVerifier(spec.tests, spec.entry_point, spec.prelude,
                                   replace(policy.limits, wall_s=min(spec.timeout_s, policy.limits.wall_s)),
                                   policy.slots, policy.on_result)
    if isinstance(spec, Game24Spec):
        return Game24Verifier(tuple(spec.numbers))
    if isinstance(spec, MathEquivSpec):
        return MathEquivVerifier(spec.reference, equivalence)
    if isinstance(spec, ExactSpec):
        return ExactVerifier(spec.reference)
    if isinstance(spec, JsonSchemaSpec):
        # the server's one verifier process pool: the equivalence owns it and closes it at shutdown
        return JsonSchemaVerifier(spec.schema_, equivalence.worker)
    assert isinstance(spec, RegexSpec)
    return RegexVerifier(spec.pattern)


def build_code_tests(spec: VerifierSpec, sandbox: SandboxPolicy, reasoning_parser: ReasoningParser) -> CodeTests | None:
    """code_search's runner of the client's and the model's tests over many candidates, for a request
    whose verifier is `python_tests` (None for any other): the server's sandbox, at most 30 s a run."""
    if not isinstance(spec, PythonTestsSpec):
        return None
    limits = replace(sandbox.limits, wall_s=min(sandbox.limits.wall_s, CODE_TESTS_WALL_S))
    return SandboxCodeTests(spec.tests, spec.entry_point, spec.prelude, limits, sandbox.slots, sandbox.on_result,
                            reasoning_parser)


CODE_TESTS_WALL_S = 30.0  # one run of every candidate on the client's and the model's tests
PROGRAM_WALL_S = 10.0  # a program-aided answer is a few lines of arithmetic
CHECKS_WALL_S = 15.0  # every check on every reply, each call under a 1 s alarm


@dataclass
class SandboxPolicy:
    """The server's sandbox limits (a request may only ask for less time), the bound on sandboxes
    running at once, and what to tell metrics about each run."""

    limits: SandboxLimits = SandboxLimits(wall_s=60.0)
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    on_result: Callable[[SandboxResult], None] | None = None

    async def unavailable(self) -> str | None:
        """Why no code can run in this sandbox on this machine (the reason names PONDER_SANDBOX), or
        None: what a request that needs the sandbox (a python_tests verifier) is refused with."""
        from rewards.sandbox import sandbox_unavailable

        return await asyncio.to_thread(sandbox_unavailable, self.limits.mode)


@dataclass(frozen=True)
class FinalTextVerifier:
    """A verifier that checks a sample's final text, never a thinking model's chain of thought."""

    inner: Verifier
    reasoning_parser: ReasoningParser

    async def check(self, text: str) -> Any:
        return await self.inner.check(final_text(text, self.reasoning_parser))


@dataclass(frozen=True)
class CountedVerifier:
    """A verifier whose checks are counted by kind and outcome (ponder_verifier_runs_total)."""

    inner: Verifier
    kind: str
    counter: Any

    async def check(self, text: str) -> Any:
        verdict = await self.inner.check(text)
        self.counter.labels(self.kind, str(bool(verdict.passed)).lower()).inc()
        return verdict


class BackendGenerator:
    """search.protocols.Generator over a backends.types.Backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def generate(self, prompt: str, *, n: int, sampling: Sampling, deadline: float | None = None) -> Completion:
        return await self.backend.complete(prompt, n=n, params=sampling, deadline=deadline)


class RewardsAnswerTools:
    """search.protocols.AnswerTools over rewards' extraction, voting and math equivalence."""

    def __init__(self, equivalence: MathEquivalence, sandbox: SandboxPolicy | None = None,
                 reasoning_parser: ReasoningParser = "auto") -> None:
        self.equivalence = equivalence
        self.sandbox = sandbox or SandboxPolicy()
        self.reasoning_parser = reasoning_parser

    def _limits(self, wall_s: float) -> SandboxLimits:
        """The server's sandbox limits, with at most `wall_s` of wall time (a program's runs are short)."""
        return replace(self.sandbox.limits, wall_s=min(self.sandbox.limits.wall_s, wall_s))

    async def run_program(self, text: str) -> str | None:
        limits = self._limits(PROGRAM_WALL_S)
        return await program_answer(final_text(text, self.reasoning_parser), limits, self.sandbox.slots,
                                    self.sandbox.on_result)

    async def run_checks(self, program: str, replies: Sequence[str]) -> CheckedReplies | None:
        limits = self._limits(CHECKS_WALL_S)
        return await run_checks(program, [final_text(r, self.reasoning_parser) for r in replies], limits,
                                self.sandbox.slots, self.sandbox.on_result)

    async def run_repair(self, program: str, reply: str) -> str | None:
        limits = self._limits(PROGRAM_WALL_S)
        return await run_repair(program, final_text(reply, self.reasoning_parser), limits, self.sandbox.slots,
                                self.sandbox.on_result)

    def degenerate(self, text: str) -> bool:
        """Whether the sample's final text loops (a thinking model's chain may circle before it answers)."""
        return is_degenerate(final_text(text, self.reasoning_parser))

    def extract(self, text: str) -> str | None:
        """The answer a sample states in its final text (a thinking model's chain is not read)."""
        return extract_answer(final_text(text, self.reasoning_parser))

    def answer_key(self, answer: str) -> str:
        return normalize_answer(answer)

    def boxed_answer(self, text: str) -> str | None:
        return last_boxed(final_text(text, self.reasoning_parser))

    def arithmetic(self, text: str) -> tuple[int, int]:
        return chain_arithmetic(final_text(text, self.reasoning_parser))

    def arithmetic_error(self, text: str) -> str | None:
        return first_error(final_text(text, self.reasoning_parser))

    def trace_confidence(self, logprobs: Sequence[Any] | None, window: int) -> float | None:
        return trace_confidence(logprobs or (), window)

    def confident_weights(self, confidences: Sequence[float | None], keep: float) -> list[float]:
        return confident_weights(confidences, keep)

    async def tally(self, answers: Sequence[str], weights: Sequence[float] | None = None) -> list[AnswerGroup]:
        votes = [
            Vote(answer=a, key=normalize_answer(a), weight=1.0 if weights is None else weights[i], index=i)
            for i, a in enumerate(answers)
        ]
        tallies = await merge_equivalent(weighted_vote(votes), self.equivalence)
        return [AnswerGroup(answer=t.answer, votes=t.votes, members=t.members) for t in tallies]
