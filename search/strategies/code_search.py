"""Code search with execution feedback: a revision tree over candidates for a function the client tests.

1. First attempts as best-of-N draws them (the greedy one, then hot batches, up to `n`). After the
   first (with `tests`) the model writes assert lines for the function from its description, edge
   cases above all (CodeT, Chen et al. 2022); a first attempt that passes the client's tests waits
   for them before more are drawn. A generated test that calls the function as a client's example
   does but expects another value is dropped: the client's tests are never outvoted.
2. Every candidate is checked by the client's tests (the request's verifier, the authority) and run,
   all of a round's candidates in one sandbox run, on the client's tests one by one and on the
   generated ones; what each generated test's call returned is the candidate's behaviour.
3. Ranking: passing the client's tests, then the share of them passed, then generated tests passed,
   then the size of the candidate's behaviour group (candidates passing the client's tests that
   return the same on every generated input: AlphaCode's clustering, MBR-exec's agreement).
4. The search stops once the best candidate passes the client's tests and every generated test.
   Otherwise, once the first attempts are in, the `width` best candidates not yet revised are revised
   (Reflexion, Shinn et al. 2023; LATS, Zhou et al. 2023): the candidate stays its own turn and the
   next says what failed, the first failing client test with what its call returned or raised, or
   for a candidate that passes them the first failing generated test that another such candidate
   passes (a test none of them passes is as likely wrong as the code: no revision is told to meet it).
   Revisions go `depth` deep, `revisions` in all; the answer is the best-ranked candidate.
Without a test runner (`SearchDeps.code_tests`) the verifier alone ranks and feeds back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Literal

from pydantic import Field

from sampling import Sampling
from search.code_prompts import (
    TESTS_MAX_TOKENS,
    TESTS_STOP,
    function_in,
    revision_messages,
    tests_messages,
    tests_opening,
)
from search.protocols import CandidateRun, Check, CheckLike, Generation
from search.records import CodeSearchRecord
from search.schedule import Schedule
from search.strategies.best_of_n import verifier_check
from search.strategy import Ask, AskKind, HotSampling, Outcome, Problem, SearchDeps, SearchStrategy

Role = Literal["candidate", "tests"]


class CodeSearchSettings(HotSampling):
    n: int = Field(4, ge=1, le=64)  # first attempts (the greedy one first), revisions apart
    batch: int = Field(4, ge=1, le=64)  # hot first attempts per call
    tests: int = Field(1, ge=0, le=8)  # test-writing samples (the first greedy); 0: the client's tests alone
    max_tests: int = Field(16, ge=1, le=64)  # generated tests kept
    revisions: int = Field(4, ge=0, le=64)  # revised candidates in all
    width: int = Field(2, ge=1, le=16)  # candidates revised per round, the best-ranked first
    children: int = Field(1, ge=1, le=8)  # revisions of one candidate, sampled together
    depth: int = Field(3, ge=1, le=16)  # revisions of revisions at most


@dataclass(frozen=True)
class Program:
    index: int
    text: str
    check: CheckLike  # the client's tests' verdict (the request's verifier)
    parent: int | None = None  # the candidate this one revises
    depth: int = 0
    truncated: bool = False


class CodeSearch(SearchStrategy[CodeSearchSettings]):
    name = "code_search"
    Settings = CodeSearchSettings

    def __init__(self, problem: Problem, deps: SearchDeps, settings: CodeSearchSettings | None = None) -> None:
        super().__init__(problem, deps, settings)
        s = self.settings
        self.verifier, self.code_tests = deps.verifier, deps.code_tests
        self.first = Schedule(s.n, s.batch, greedy_first=True)
        self.programs: list[Program] = []
        self.runs: dict[int, CandidateRun | None] = {}
        self.function = (self.code_tests.function if self.code_tests else None) or function_in(problem.question)
        wanted = s.tests > 0 and self.code_tests is not None and deps.render is not None and self.function
        # The tests' prompt is rendered after the first round (rendering is async, `ask` is not).
        self.tests_state: Literal["wanted", "rendered", "pending", "ready"] = "wanted" if wanted else "ready"
        self.tests_prompt = ""
        self.tests: tuple[str, ...] = ()
        self.untrusted = 0
        self.roles: dict[int, tuple[Role, int | None]] = {}  # id(ask) -> what it asked for, the candidate it revises
        self.outstanding = 0  # asks of this round not yet told
        self.planned: list[tuple[str, int]] = []  # rendered revision prompts, the candidate each revises
        self.expanded: set[int] = set()
        self.revised = 0  # revisions asked for

    # -- ask ------------------------------------------------------------------------------------
    def ask(self) -> list[Ask]:
        asks: list[Ask] = []
        if self.tests_state == "rendered":
            self.tests_state = "pending"
            asks.append(self._mark(Ask(prompt=self.tests_prompt, n=self.settings.tests, kind=AskKind.PROGRAM,
                                       sampling=self._tests_sampling(), greedy=self.settings.tests == 1,
                                       tag="tests of the function"), "tests"))
            if any(p.check.passed for p in self.programs):  # the tests may settle it: no more samples yet
                self.outstanding = len(asks)
                return asks
        if self._settled():
            return asks
        for d in self.first.draws():
            sampling = self.problem.sampling if d.greedy else self.settings.hot(self.problem, d.first)
            asks.append(self._mark(Ask(prompt=self.problem.prompt, n=d.n, sampling=sampling, greedy=d.greedy,
                                       tag="greedy candidate" if d.greedy else
                                       f"candidates {d.first + 1}-{d.first + d.n}"), "candidate"))
        if not asks:
            for prompt, parent in self.planned:
                sampling = self.settings.hot(self.problem, self.settings.n + self.revised)
                self.revised += self.settings.children
                self.expanded.add(parent)
                asks.append(self._mark(Ask(prompt=prompt, n=self.settings.children, sampling=sampling,
                                           tag=f"revision of candidate {parent + 1}"), "candidate", parent))
            self.planned = []
        self.outstanding = len(asks)
        return asks

    def _tests_sampling(self) -> Sampling:
        base = self.problem.sampling if self.settings.tests == 1 else self.settings.hot(self.problem, 0)
        return replace(base, max_tokens=min(self.problem.max_tokens, TESTS_MAX_TOKENS), stop=TESTS_STOP,
                       frequency_penalty=0.0, presence_penalty=0.0)

    def _mark(self, ask: Ask, role: Role, parent: int | None = None) -> Ask:
        self.roles[id(ask)] = (role, parent)
        return ask

    # -- tell -----------------------------------------------------------------------------------
    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        role, parent = self.roles.pop(id(ask), ("candidate", None))
        samples = generation.samples if generation is not None else ()
        if role == "tests":
            await self._take_tests([s.text for s in samples])
        else:
            if parent is None:
                self.first.refund(ask.n - len(samples))
            checks = await asyncio.gather(*(self._check(s.text) for s in samples))
            for sample, check in zip(samples, checks, strict=True):
                depth = self.programs[parent].depth + 1 if parent is not None else 0
                self.programs.append(Program(len(self.programs), sample.text, check, parent, depth,
                                             truncated=sample.finish_reason == "length"))
        await self._run_new()
        self.outstanding -= 1
        if self.outstanding > 0:
            return
        if self.tests_state == "wanted" and self.deps.render is not None and self.function is not None:
            self.tests_prompt = await self.deps.render(tests_messages(self.problem.question, self.function),
                                                       add_generation_prompt=False)
            self.tests_state = "rendered"
        if not self.first.remaining:
            await self._plan()

    async def _check(self, text: str) -> CheckLike:
        if self.verifier is None:  # no client tests: nothing passes, the generated tests alone rank
            return Check(passed=False, score=0.0)
        return await verifier_check(self.verifier, text)

    async def _take_tests(self, texts: list[str]) -> None:
        assert self.code_tests is not None and self.function is not None
        kept = list(self.tests)
        for text in texts:
            found, dropped = await self.code_tests.generated_tests(tests_opening(self.function) + text)
            self.untrusted += dropped
            kept.extend(t for t in found if t not in kept)
        self.tests, self.tests_state = tuple(kept[: self.settings.max_tests]), "ready"
        self.runs.clear()  # every candidate is run again with the tests

    async def _run_new(self) -> None:
        new = [p for p in self.programs if p.index not in self.runs]
        if self.code_tests is None or self.tests_state != "ready" or not new:  # run once, with the tests
            return
        try:
            runs = list(await self.code_tests.run([p.text for p in new], self.tests))
        except Exception:  # the runner's failure loses the ranking signal, not the candidates
            runs = [None] * len(new)
        for program, run in zip(new, runs, strict=True):
            self.runs[program.index] = run

    async def _plan(self) -> None:
        """Render the revisions of the next round: the best-ranked candidates with a failure to fix."""
        self.planned = []
        if self.tests_state != "ready" or self._settled() or self.deps.render is None or not self.problem.messages:
            return
        budget = self.settings.revisions - self.revised
        for program in sorted(self.programs, key=self._rank, reverse=True):
            if len(self.planned) >= self.settings.width or budget < self.settings.children:
                break
            failure = self._failure(program)
            if program.index in self.expanded or program.depth >= self.settings.depth or failure is None:
                continue
            budget -= self.settings.children
            messages = revision_messages(self.problem.messages, program.text.strip(), failure,
                                         client=not program.check.passed)
            self.planned.append((await self.deps.render(messages), program.index))

    # -- ranking --------------------------------------------------------------------------------
    def _failure(self, program: Program) -> str | None:
        """What a revision of `program` is told failed; None when it fails nothing it can be told."""
        run = self.runs.get(program.index)
        if not program.check.passed:
            told = run.client_failure if run is not None and run.client_failure else program.check.feedback
            return told or None
        if run is None:
            return None
        witnessed = self._witnessed()
        return next((f for i, (ok, f) in enumerate(zip(run.generated, run.generated_failure, strict=True))
                     if not ok and i in witnessed), None)

    def _witnessed(self) -> set[int]:
        """The generated tests that some candidate passing the client's tests passes."""
        return {i for p in self.programs if p.check.passed and (r := self.runs.get(p.index)) is not None
                for i, ok in enumerate(r.generated) if ok}

    def _generated(self, program: Program) -> int:
        run = self.runs.get(program.index)
        return sum(run.generated) if run is not None else 0

    def _behaviour(self, program: Program) -> tuple[str, ...] | int:
        run = self.runs.get(program.index)
        return tuple(run.outputs) if run is not None else program.index  # no run: a group of its own

    def _group(self, program: Program) -> int:
        if not program.check.passed:
            return 1
        mine = self._behaviour(program)
        return sum(p.check.passed and self._behaviour(p) == mine for p in self.programs)

    def _client_share(self, program: Program) -> float:
        run = self.runs.get(program.index)
        if program.check.passed or run is None or not run.client_total:
            return 1.0 if program.check.passed else program.check.score
        return run.client_passed / run.client_total

    def _rank(self, p: Program) -> tuple[bool, float, int, int, bool, bool, int]:
        return (p.check.passed, self._client_share(p), self._generated(p), self._group(p), p.check.wellformed,
                not p.truncated, -p.index)

    def _settled(self) -> bool:
        if self.tests_state != "ready" or not self.programs:
            return False
        top = max(self.programs, key=self._rank)
        run = self.runs.get(top.index)
        return top.check.passed and (run is None or all(run.generated))

    def best(self) -> Outcome | None:
        if not self.programs:
            return None
        top = max(self.programs, key=self._rank)
        passers = [p for p in self.programs if p.check.passed]
        passed_tests = self._generated(top)
        confidence = (0.5 * self._client_share(top) if not top.check.passed else
                      (1.0 + passed_tests / len(self.tests)) / 2 if self.tests else 1.0)
        return Outcome(
            content=top.text.strip(), answer=self.deps.tools.extract(top.text), confidence=round(confidence, 4),
            truncated=top.truncated,
            code=CodeSearchRecord(
                candidates=len(self.programs), revisions=sum(p.parent is not None for p in self.programs),
                client_passed=len(passers), tests=len(self.tests), untrusted=self.untrusted,
                generated_passed=passed_tests, groups=len({self._behaviour(p) for p in passers}),
                group=self._group(top), depth=top.depth, verdict=top.check.feedback))
