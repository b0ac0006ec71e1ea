"""Self-consistency (Wang et al. 2022): sample N chains, vote on their final answers.

Samples come in batches; sampling stops early once the remaining samples could not
change the winner. Confidence is the winner's vote share. With `greedy_first`, the first
batch includes the greedy pass, whose vote counts `greedy_weight`.

The loop is the paper's; its separable pieces live in search.vote, each with its settings:
- what a ballot weighs (search.vote.weights: `greedy_weight`, `wrong_arithmetic_weight`; a chain
  that loops does not vote);
- programs among the ballots (search.vote.programs, PAL: `programs`, `program_weight`,
  `program_trial`): each is run in the sandbox and the answer it prints votes beside the chains;
- DeepConf's confidence filter and early stop (search.vote.confidence: `confidence`,
  `confidence_top_k`, `confidence_window`, `confidence_keep`, `settle`, `confidence_warmup`);
- the judge's tie-break on a close vote (search.vote.tie_break: `judge_close`, with a `scorer`).
"""

from __future__ import annotations

from dataclasses import replace

from pydantic import Field

from search import records
from search.programs import PROGRAM_OPENING, program_asks
from search.protocols import AnswerGroup, Generation
from search.schedule import Schedule
from search.strategy import Ask, AskKind, Candidate, HotSampling, Outcome, Problem, SearchDeps, SearchStrategy
from search.vote import confidence, tie_break
from search.vote.ballots import Ballot, answered, shown, tally
from search.vote.confidence import ConfidenceFilter
from search.vote.programs import ProgramVote, program_answers, programs_allowed
from search.vote.tie_break import TieBreak
from search.vote.weights import BallotWeights, shares


class SelfConsistencySettings(HotSampling, BallotWeights, ProgramVote, ConfidenceFilter, TieBreak):
    n: int = Field(5, ge=1, le=64)  # chains of thought in all
    batch: int = Field(4, ge=1, le=64)
    greedy_first: bool = False


class SelfConsistency(SearchStrategy[SelfConsistencySettings]):
    name = "self_consistency"
    Settings = SelfConsistencySettings

    def __init__(self, problem: Problem, deps: SearchDeps, settings: SelfConsistencySettings | None = None) -> None:
        super().__init__(problem, deps, settings)
        self.tools = deps.tools
        s = self.settings
        self.chains = Schedule(s.n, s.batch, greedy_first=s.greedy_first, greedy_alone=False)
        self.programs = Schedule(s.programs if problem.program_prompt else 0, s.batch, greedy_first=s.greedy_first)
        self.judge_close = s.judge_close
        self.judged: dict[str, float] = {}  # answer -> the judge's p(correct), once a close vote was judged
        self.ballots: list[Ballot] = []
        self.effective: list[float] = []  # the weights the vote used
        self.groups: list[AnswerGroup] = []
        self.consensus: list[AnswerGroup] = []  # with confidence: the weighted vote before the filter

    # What a strategy that runs this vote as its probe (auto) may ask of it and do with it.

    @property
    def with_programs(self) -> bool:
        """Programs are among the ballots asked for (the problem has a program prompt and the settings want some)."""
        return self.programs.total > 0

    @property
    def program_failed(self) -> bool:
        """Programs came back and none printed an answer, while a chain of thought stated one."""
        programs = answered(self.ballots, programs=True)
        return bool(programs) and not any(programs) and any(answered(self.ballots, programs=False))

    def grow(self, *, chains: int, programs: int, batch: int, judge_close: float) -> None:
        """Let the vote go on to `chains` chains and `programs` programs (never fewer than now wanted)."""
        self.chains.total = max(self.chains.total, chains)
        if self.programs.total:  # programs only where the problem has a program prompt and the probe had one
            self.programs.total = max(self.programs.total, programs)
        self.chains.batch = self.programs.batch = batch
        self.judge_close = judge_close

    # Sample.

    def ask(self) -> list[Ask]:
        if self._settled():
            return []
        self.programs.total = self._programs_allowed()
        asks = program_asks(self.problem, self.programs, self.settings)
        logprobs = self.settings.logprobs()
        for d in self.chains.draws():
            if d.greedy:
                sampling = replace(self.problem.sampling, logprobs=logprobs)
                tag = "greedy"
            else:
                sampling = self.settings.hot(self.problem, d.first, logprobs=logprobs)
                tag = f"samples {d.first + 1}-{d.first + d.n}"
            asks.append(Ask(prompt=self.problem.prompt, n=d.n, sampling=sampling, greedy=d.greedy, tag=tag))
        return asks

    # Tally.

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        program = ask.kind is AskKind.PROGRAM
        granted = len(generation.samples) if generation is not None else 0
        # The budget may have granted fewer samples than asked (or none): count what came back.
        (self.programs if program else self.chains).refund(ask.n - granted)
        if generation is None:
            return
        s = self.settings
        # A program's prompt ends with the opening fence; its text starts after it.
        texts = [PROGRAM_OPENING + g.text if program else g.text for g in generation.samples]
        answers = await program_answers(self.tools, texts) if program else [self.tools.extract(t) for t in texts]
        weight = (s.greedy_weight if ask.greedy else 1.0) * (s.program_weight if program else 1.0)
        kept = await shares(self.tools, texts, program=program, wrong_arithmetic_weight=s.wrong_arithmetic_weight)
        confidences = ([None] * len(texts) if program
                       else confidence.trace_confidences(self.tools, generation.samples, s))
        for sample, text, answer, share, conf in zip(generation.samples, texts, answers, kept, confidences,
                                                      strict=True):
            self.ballots.append(Ballot(text, answer, weight * share, program, sample.finish_reason == "length", conf))
        self.effective = self._weights(s.confidence_keep)
        self.groups = await tally(self.tools, self.ballots, self.effective)
        if s.confidence:
            self.consensus = await tally(self.tools, self.ballots, self._weights(1.0))
        if self._close_vote() and self._sampling_over():
            scorer, generator = self.deps.scorer, self.deps.generator
            assert scorer is not None and generator is not None
            self.judged = await tie_break.judge_top_two(scorer, generator, self.problem.messages, self.groups,
                                                        self._shown)

    def _weights(self, keep: float) -> list[float]:
        if not self.settings.confidence:
            return [b.weight for b in self.ballots]
        return confidence.filtered_weights(self.tools, self.ballots, keep)

    def _close_vote(self) -> bool:
        return (self.deps.scorer is not None and self.deps.generator is not None and not self.judged
                and tie_break.close_vote(self.groups, self.judge_close))

    def _shown(self, group: AnswerGroup) -> str:
        return shown(self.ballots, group)

    # Stop early.

    def _settled(self) -> bool:
        """The samples so far decide: the rest could not change the winner, or DeepConf's stop."""
        chains_answered = sum(answered(self.ballots, programs=False))
        return bool(self.ballots) and (not self._winner_can_change()
                                       or confidence.settled(self.consensus, chains_answered, self.settings))

    def _winner_can_change(self) -> bool:
        programs_done = sum(b.program for b in self.ballots)
        chains_done = len(self.ballots) - programs_done
        remaining = ((self.chains.total - chains_done)
                     + (self.programs.total - programs_done) * self.settings.program_weight)
        if self.settings.confidence:
            # A chain still to come can outweigh any so far and move the filter's cut: no bound.
            return remaining > 0
        if not self.groups:
            return remaining > 0
        runner_up = self.groups[1].votes if len(self.groups) > 1 else 0.0
        return runner_up + remaining >= self.groups[0].votes

    def _programs_allowed(self) -> int:
        return programs_allowed(answered(self.ballots, programs=True), self.programs.total,
                                self.settings.program_trial)

    def _sampling_over(self) -> bool:
        """Every sample asked for came back and ask() would ask for no more."""
        if len(self.ballots) < self.chains.requested + self.programs.requested:
            return False
        if self._settled():
            return True
        return self.chains.remaining == 0 and self.programs.requested >= self._programs_allowed()

    # Best.

    def best(self) -> Outcome | None:
        if not self.ballots:
            return None
        if not self.groups:  # no sample stated an answer: show the first one as it is (one that loops last)
            first = min(self.ballots, key=lambda b: b.weight == 0.0)
            return Outcome(content=first.text.strip(), answer=None, confidence=0.0, truncated=first.truncated)
        winner = tie_break.winner(self.groups, self.judged)
        total = sum(self.effective) or 1.0
        # Show a chain of thought that reached the answer; the program itself only when none did.
        written = [m for m in winner.members if not self.ballots[m].program]
        vote = records.VoteRecord(
            ballots=tuple(records.Ballot(answer=b.answer, source="program" if b.program else "chain",
                                         weight=round(w, 4), text=b.text, confidence=b.confidence)
                          for b, w in zip(self.ballots, self.effective, strict=True)),
            agreeing=tuple(winner.members), with_programs=self.with_programs,
            judged={a: round(p, 4) for a, p in self.judged.items()} if self.judged else None,
            confidence_filter=self.settings.confidence)
        return Outcome(
            content=self._shown(winner), answer=winner.answer, confidence=winner.votes / total,
            candidates=tuple(Candidate(answer=g.answer, votes=g.votes) for g in self.groups), vote=vote,
            truncated=bool(written) and self.ballots[written[0]].truncated,
        )
