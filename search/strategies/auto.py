"""`auto`: choose the search from what the request offers and how hard the problem looks.

- A ground-truth verifier: best-of-N against it (greedy first, stop at the first pass), with
  `verify.programs` of the candidates written as programs where the question suits one. With
  `code` set and a `python_tests` verifier, the code search instead (search.strategies.code_search).
- Otherwise a probe: the greedy pass plus a few samples (`probe.samples`; with `probe.programs`,
  the greedy program-aided answer among them: search.programs). If they agree, the problem is
  easy and the search stops there (compute-optimal scaling, Snell et al. 2024: spend
  little where the first samples already agree). If not, it is hard: more samples are
  voted on (`hard="self_consistency"`: the probe's vote goes on, with programs up to
  `vote.programs` of them beside `vote.chains_with_programs` chains, else to `n` chains), or a
  PRM-guided beam search runs (`hard="beam"`) and its answer joins the probe's votes.
- An open-ended request (search.request_kind: "open" or "mixed"; no verifier): there is no answer
  to vote on, so the open-ended search (search.strategies.open_ended, settings `open`) compares
  replies against the request's own instructions instead; `open: null` votes on it as on any other.
- With `probe.settle_if_program_fails`, a probe whose greedy program printed nothing while its greedy
  chain stated an answer is settled on that chain: a model that cannot put the problem into code gains
  nothing from more samples of it (docs/benchmarks/gsm8k.md#settle_if_program_fails).

Its settings nest by phase (`probe`, `vote`, `verify`, `code`, `beam`, `open`); `vote` is made of
self-consistency's own pieces (search.vote), so a vote setting means here what it means there.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from search.protocols import Generation
from search.strategies.beam import Beam, BeamSettings
from search.strategies.best_of_n import BestOfN, BestOfNSettings
from search.strategies.code_search import CodeSearch, CodeSearchSettings
from search.strategies.open_ended import OpenEnded, OpenEndedSettings
from search.strategies.self_consistency import SelfConsistency, SelfConsistencySettings
from search.strategy import Ask, HotSampling, Outcome, Problem, SearchDeps, SearchStrategy, Strategy, StrategySettings
from search.tree import Tree
from search.vote.programs import ProgramVote
from search.vote.tie_break import TieBreak
from search.vote.weights import BallotWeights


class ProbeSettings(StrategySettings):
    """The first look where there is no verifier: the greedy pass and a few hot samples."""

    samples: int = Field(3, ge=1, le=16)  # its programs included
    programs: int = Field(0, ge=0, le=16)  # of them programs (the greedy one first), where the question suits one
    agree: float = Field(1.0, gt=0, le=1)  # the probe's vote share that settles the question
    # A greedy program that printed nothing beside a chain that stated an answer settles on the chain.
    settle_if_program_fails: bool = False


class VoteSettings(BallotWeights, ProgramVote, TieBreak):
    """The vote a split probe goes on to. The probe's samples are its first ballots, so they weigh as
    it says (`greedy_weight`, `program_weight`, `wrong_arithmetic_weight`; `program_trial` counts
    the probe's programs too); `judge_close` judges the final vote, not the probe."""

    chains_with_programs: int = Field(1, ge=1, le=64)  # with programs, the chains of thought in all (else `n`)


class VerifySettings(StrategySettings):
    """best_of_n's, where the request has a verifier (search.strategies.best_of_n says what each does)."""

    programs: int = Field(0, ge=0, le=64)
    give_up_after: int = Field(0, ge=0, le=64)
    program_trial: int = Field(2, ge=0, le=64)


class AutoSettings(HotSampling):
    n: int = Field(6, ge=1, le=64)  # samples in all: the vote's chains without programs, or verified candidates
    batch: int | None = Field(None, ge=1, le=64)  # samples per call after the probe (default: probe.samples)
    hard: Literal["self_consistency", "beam"] = "self_consistency"
    probe: ProbeSettings = ProbeSettings()
    vote: VoteSettings = VoteSettings()  # the search of `hard: "self_consistency"`
    verify: VerifySettings = VerifySettings()  # the search of a request with a verifier
    beam: BeamSettings = BeamSettings()  # the search of `hard: "beam"`
    open: OpenEndedSettings | None = OpenEndedSettings()  # the search of an open-ended request
    # The search of a request with python_tests (None: best-of-N against them, as any verifier). Off in the
    # tiers until it is measured against best-of-N at equal tokens (issue 35).
    code: CodeSearchSettings | None = None

    def wants_programs(self) -> bool:
        return self.probe.programs > 0 or self.vote.programs > 0 or self.verify.programs > 0

    def wants_checks(self) -> bool:
        return self.open is not None and self.open.checks


class Auto(SearchStrategy[AutoSettings]):
    Settings = AutoSettings

    def __init__(self, problem: Problem, deps: SearchDeps, settings: AutoSettings | None = None) -> None:
        super().__init__(problem, deps, settings)
        s = self.settings
        self.batch = s.batch or s.probe.samples
        self.probe_outcome: Outcome | None = None
        self.child: Strategy
        hot = {name: getattr(s, name) for name in HotSampling.model_fields}  # the children draw as this tier says
        if deps.verifier is None and s.open is not None and problem.kind != "answer":
            self.phase = "open"
            self.child = OpenEnded(problem, deps, s.open.model_copy(update=hot))
        elif deps.verifier is not None and deps.code_tests is not None and s.code is not None:
            self.phase = "code"  # a function with the client's tests: the code search (search.strategies.code_search)
            self.child = CodeSearch(problem, deps, s.code.model_copy(update=hot))
        elif deps.verifier is not None:
            self.phase = "verify"
            v = s.verify
            self.child = BestOfN(problem, deps, BestOfNSettings(n=s.n, batch=self.batch, programs=v.programs,
                                                                give_up_after=v.give_up_after,
                                                                program_trial=v.program_trial, **hot))
        else:
            self.phase = "probe"
            # With a program prompt, part of the probe is the greedy program (a second, independent
            # way to the answer); without one the probe is all chains of thought.
            probe, vote = s.probe, s.vote
            programs_now = min(probe.programs, probe.samples - 1) if problem.program_prompt else 0
            # The probe is the vote's beginning (it grows into the vote): its ballots weigh as the vote's.
            self.child = SelfConsistency(problem, deps, SelfConsistencySettings(
                n=probe.samples - programs_now, batch=probe.samples, greedy_first=True, programs=programs_now,
                greedy_weight=vote.greedy_weight, program_weight=vote.program_weight,
                program_trial=vote.program_trial, wrong_arithmetic_weight=vote.wrong_arithmetic_weight, **hot))

    @property
    def name(self) -> str:
        return f"auto:{self.child.name}" if self.phase != "search" else "auto:self_consistency+beam"

    def search_tree(self) -> Tree | None:
        return self.child.tree if isinstance(self.child, Beam) else None

    def ask(self) -> list[Ask]:
        asks = self.child.ask()
        if asks or self.phase != "probe":
            return asks
        assert isinstance(self.child, SelfConsistency)
        if self.settings.probe.settle_if_program_fails and self.child.program_failed:
            return []  # settled on the greedy chain
        probe = self.child.best()
        if probe is not None and probe.answer is not None and probe.confidence >= self.settings.probe.agree:
            return []  # the probe agreed: settled
        if self.settings.hard == "beam":
            self.probe_outcome = probe
            self.phase = "search"
            # The beam samples its steps as hot as the vote would have (a client's choices go over both: Problem.hot).
            beam = self.settings.beam.model_copy(update={"temperature": self.settings.temperature})
            self.child = Beam(self.problem, self.deps, beam)
        else:
            self.phase = "vote"
            # With programs, more programs (cheaper and surer than hot chains of thought) beside a few
            # chains; without, the same vote with more samples.
            vote = self.settings.vote
            self.child.grow(chains=vote.chains_with_programs if self.child.with_programs else self.settings.n,
                            programs=vote.programs, batch=self.batch, judge_close=vote.judge_close)
        return self.child.ask()

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        await self.child.tell(ask, generation, error)

    def best(self) -> Outcome | None:
        found = self.child.best()
        if self.phase != "search" or self.probe_outcome is None:
            return found
        # The beam's answer is one more (PRM-backed) vote beside the probe's.
        if found is None or found.answer is None:
            return self.probe_outcome
        probe_votes = {c.answer: c.votes for c in self.probe_outcome.candidates}
        if probe_votes.get(found.answer, 0.0) + 1.0 >= max(probe_votes.values(), default=0.0):
            return found
        return self.probe_outcome
