"""Self-consistency (Wang et al. 2022): sample N chains, vote on their final answers.

Samples come in batches; sampling stops early once the remaining samples could not
change the winner. Confidence is the winner's vote share. With `greedy_first`, the first
batch includes the greedy pass, whose vote counts `greedy_weight` (a small model's greedy
answer is its single most reliable one, so it wins ties).

With `programs` > 0 (and a problem that carries a program prompt), that many candidates
are programs instead (PAL, search.programs): each is run in the sandbox and the answer it
prints votes beside the chains of thought with `program_weight`. Once `program_trial` programs
have come back and none printed an answer (a model whose programs never run), no more are asked for.

With `confidence=True` (DeepConf, Fu et al. 2025) the chains are sampled with top-k token
logprobs; each chain's confidence is its weakest `confidence_window`-token stretch
(rewards.confidence). The least confident chains are dropped from the vote (the top
`confidence_keep` fraction stays), the rest weigh their confidence. Sampling stops once
at least `confidence_warmup` chains have answered and one answer holds `settle` of the
confidence-weighted vote of all of them (measured before the filter, or a small `keep`
would make any answer unanimous).

With `judge_close` > 0 (and a `scorer`, the LLM judge) a close vote goes to the judge: once
sampling is over and the runner-up holds at least `judge_close` of the winner's votes, the
judge scores one sample of each of the two answers (a chain of thought that reached it, else the
program) and the likelier one is chosen. Its calls are charged to the same budget.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

from pydantic import Field

from search import records
from search.charged import BudgetExhausted
from search.programs import PROGRAM_OPENING, program_asks, program_content
from search.protocols import AnswerGroup, Generation
from search.records import VoteRecord
from search.schedule import Schedule
from search.strategy import Ask, AskKind, Candidate, HotSampling, Outcome, Problem, SearchDeps, SearchStrategy


class SelfConsistencySettings(HotSampling):
    n: int = Field(5, ge=1, le=64)  # chains of thought in all
    batch: int = Field(4, ge=1, le=64)
    greedy_first: bool = False
    greedy_weight: float = Field(1.5, ge=0)
    programs: int = Field(0, ge=0, le=64)
    program_weight: float = Field(1.0, ge=0)
    program_trial: int = Field(2, ge=1, le=64)
    confidence: bool = False
    confidence_top_k: int = Field(5, ge=2, le=20)  # confidence needs alternatives
    confidence_window: int = Field(32, ge=1, le=4096)
    confidence_keep: float = Field(0.9, gt=0, le=1)
    settle: float = Field(0.95, gt=0, le=1)
    confidence_warmup: int = Field(4, ge=2, le=64)
    judge_close: float = Field(0.0, ge=0)  # 0: the vote alone decides
    # A chain whose stated arithmetic is wrong (checked exactly, rewards.step_checks) votes with this
    # share of its weight: 1 keeps today's vote, 0 drops it. Programs compute, so they are not checked.
    wrong_arithmetic_weight: float = Field(1.0, ge=0, le=1)

    def wants_programs(self) -> bool:
        return self.programs > 0


@dataclass(frozen=True)
class Ballot:
    """One sample's vote."""

    text: str
    answer: str | None
    weight: float  # before confidence
    program: bool
    truncated: bool  # cut by max_tokens
    confidence: float | None  # DeepConf's; None for programs and without logprobs


class SelfConsistency(SearchStrategy[SelfConsistencySettings]):
    name = "self_consistency"
    Settings = SelfConsistencySettings

    def __init__(self, problem: Problem, deps: SearchDeps, settings: SelfConsistencySettings | None = None) -> None:
        super().__init__(problem, deps, settings)
        self.tools = deps.tools
        s = self.settings
        self.chains = Schedule(s.n, s.batch, greedy_first=s.greedy_first, greedy_alone=False)
        self.programs = Schedule(s.programs if problem.program_prompt else 0, s.batch, greedy_first=s.greedy_first)
        self.judge_close = self.settings.judge_close
        self.judged: dict[str, float] = {}  # answer -> the judge's p(correct), once a close vote was judged
        self.ballots: list[Ballot] = []
        self.effective: list[float] = []  # the weights the vote used
        self.groups: list[AnswerGroup] = []
        self.consensus: list[AnswerGroup] = []  # with confidence: the weighted vote before the filter

    def grow(self, *, chains: int, programs: int, batch: int, judge_close: float) -> None:
        """Let the vote go on to `chains` chains and `programs` programs (never fewer than now wanted)."""
        self.chains.total = max(self.chains.total, chains)
        if self.programs.total:  # programs only where the problem has a program prompt and the probe had one
            self.programs.total = max(self.programs.total, programs)
        self.chains.batch = self.programs.batch = batch
        self.judge_close = judge_close

    def ask(self) -> list[Ask]:
        if self._settled():
            return []
        self.programs.total = self._programs_allowed()
        asks = program_asks(self.problem, self.programs, self.settings)
        logprobs = self.settings.confidence_top_k if self.settings.confidence else None
        for d in self.chains.draws():
            if d.greedy:
                sampling = replace(self.problem.sampling, logprobs=logprobs)
                tag = "greedy"
            else:
                sampling = self.settings.hot(self.problem, d.first, logprobs=logprobs)
                tag = f"samples {d.first + 1}-{d.first + d.n}"
            asks.append(Ask(prompt=self.problem.prompt, n=d.n, sampling=sampling, greedy=d.greedy, tag=tag))
        return asks

    def answered(self, *, programs: bool) -> list[bool]:
        """For each sample of one kind (programs, or chains of thought) come back: did it state an answer."""
        return [b.answer is not None for b in self.ballots if b.program == programs]

    def _programs_allowed(self) -> int:
        returned = self.answered(programs=True)
        # Programs are given up once a fair trial came back and none printed an answer.
        failed = len(returned) >= self.settings.program_trial and not any(returned)
        return len(returned) if failed else self.programs.total

    def _sampling_over(self) -> bool:
        """Every sample asked for came back and ask() would ask for no more."""
        if len(self.ballots) < self.chains.requested + self.programs.requested:
            return False
        if self._settled():
            return True
        return self.chains.remaining == 0 and self.programs.requested >= self._programs_allowed()

    def _settled(self) -> bool:
        """The samples so far decide: the rest could not change the winner, or DeepConf's stop."""
        return bool(self.ballots) and (not self._winner_can_change() or self._confidently_settled())

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        program = ask.kind is AskKind.PROGRAM
        granted = len(generation.samples) if generation is not None else 0
        # The budget may have granted fewer samples than asked (or none): count what came back.
        (self.programs if program else self.chains).refund(ask.n - granted)
        if generation is None:
            return
        s = self.settings
        weight = (s.greedy_weight if ask.greedy else 1.0) * (s.program_weight if program else 1.0)
        checked = s.wrong_arithmetic_weight < 1.0 and not program
        # A program's prompt ends with the opening fence; its text starts after it.
        texts = [PROGRAM_OPENING + g.text if program else g.text for g in generation.samples]
        if program:
            answers = list(await asyncio.gather(*(self.tools.run_program(t) for t in texts)))
        else:
            answers = [self.tools.extract(t) for t in texts]
        # The arithmetic check is bounded, but a long chain takes a while: off the event loop.
        miscomputed = (await asyncio.to_thread(lambda: [self.tools.arithmetic(t)[1] > 0 for t in texts])
                       if checked else [False] * len(texts))
        # A chain that loops states whatever its last copy says: it does not vote (a regex scan: off the loop too).
        looping = (await asyncio.to_thread(lambda: [self.tools.degenerate(t) for t in texts])
                   if not program else [False] * len(texts))
        for sample, text, answer, wrong, loops in zip(generation.samples, texts, answers, miscomputed, looping,
                                                      strict=True):
            confidence = (self.tools.trace_confidence(sample.logprobs, s.confidence_window)
                          if s.confidence and not program else None)
            share = 0.0 if loops else (s.wrong_arithmetic_weight if wrong else 1.0)
            self.ballots.append(Ballot(text, answer, weight * share, program, sample.finish_reason == "length",
                                       confidence))
        self.effective = self._effective_weights(s.confidence_keep)
        self.groups = await self._tally(self.effective)
        if s.confidence:
            self.consensus = await self._tally(self._effective_weights(1.0))
        if self._close_vote() and self._sampling_over():
            await self._judge_top_two()

    def _close_vote(self) -> bool:
        return (self.judge_close > 0 and self.deps.scorer is not None and self.deps.generator is not None
                and not self.judged and len(self.groups) > 1
                and self.groups[1].votes >= self.judge_close * self.groups[0].votes)

    def _shown(self, group: AnswerGroup) -> str:
        """The sample shown for an answer: a chain of thought that reached it, else its program."""
        written = [m for m in group.members if not self.ballots[m].program]
        if written:
            return self.ballots[written[0]].text.strip()
        return program_content(self.ballots[group.members[0]].text, group.answer)

    async def _judge_top_two(self) -> None:
        scorer, generator = self.deps.scorer, self.deps.generator
        assert scorer is not None and generator is not None
        scores: dict[str, float] = {}
        for group in self.groups[:2]:
            try:
                scores[group.answer] = await scorer.score(self.problem.messages, [self._shown(group)], generator)
            except BudgetExhausted:
                return  # not judged: the vote stands
        self.judged = scores

    async def _tally(self, weights: list[float]) -> list[AnswerGroup]:
        # A sample without an answer, or dropped by the confidence filter, does not vote.
        voted = [(i, b.answer) for i, b in enumerate(self.ballots) if b.answer is not None and weights[i] > 0]
        groups = await self.tools.tally([a for _, a in voted], [weights[i] for i, _ in voted])
        # tally indexes into the voted list; map members back to sample indexes.
        return [AnswerGroup(g.answer, g.votes, tuple(voted[m][0] for m in g.members)) for g in groups]

    def _effective_weights(self, keep: float) -> list[float]:
        if not self.settings.confidence:
            return [b.weight for b in self.ballots]
        # Rank only the chains that stated an answer: an unanswered chain does not vote anyway.
        chains = [i for i, b in enumerate(self.ballots) if b.confidence is not None and b.answer is not None]
        factors = self.tools.confident_weights([self.ballots[i].confidence for i in chains], keep)
        scale = dict(zip(chains, factors, strict=True))
        return [b.weight * scale.get(i, 1.0) for i, b in enumerate(self.ballots)]

    def _confidently_settled(self) -> bool:
        """DeepConf's early stop: after the warm-up, one answer holds `settle` of the
        confidence-weighted vote of every answered chain."""
        answered = sum(self.answered(programs=False))
        if not self.settings.confidence or not self.consensus or answered < self.settings.confidence_warmup:
            return False
        total = sum(g.votes for g in self.consensus)
        return total > 0 and self.consensus[0].votes / total >= self.settings.settle

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

    def best(self) -> Outcome | None:
        if not self.ballots:
            return None
        if not self.groups:  # no sample stated an answer: show the first one as it is (one that loops last)
            first = min(self.ballots, key=lambda b: b.weight == 0.0)
            return Outcome(content=first.text.strip(), answer=None, confidence=0.0, truncated=first.truncated)
        winner = self.groups[0]
        if self.judged and self.judged.get(self.groups[1].answer, 0.0) > self.judged.get(winner.answer, 1.0):
            winner = self.groups[1]  # the judge overrules a close vote
        total = sum(self.effective) or 1.0
        # Show a chain of thought that reached the answer; the program itself only when none did.
        written = [m for m in winner.members if not self.ballots[m].program]
        vote = VoteRecord(
            ballots=tuple(records.Ballot(answer=b.answer, source="program" if b.program else "chain",
                                         weight=round(w, 4), text=b.text, confidence=b.confidence)
                          for b, w in zip(self.ballots, self.effective, strict=True)),
            agreeing=tuple(winner.members), with_programs=bool(self.programs.total),
            judged={a: round(p, 4) for a, p in self.judged.items()} if self.judged else None,
            confidence_filter=self.settings.confidence)
        return Outcome(
            content=self._shown(winner), answer=winner.answer, confidence=winner.votes / total,
            candidates=tuple(Candidate(answer=g.answer, votes=g.votes) for g in self.groups), vote=vote,
            truncated=bool(written) and self.ballots[written[0]].truncated,
        )
