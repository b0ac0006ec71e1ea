"""Self-consistency (Wang et al. 2022): sample N chains, vote on their final answers.

Samples come in batches; sampling stops early once the remaining samples could not
change the winner. Confidence is the winner's vote share. With `greedy_first`, the first
batch includes the greedy pass, whose vote counts `greedy_weight` (a small model's greedy
answer is its single most reliable one, so it wins ties).

With `programs` > 0 (and a problem that carries a program prompt), that many candidates
are programs instead (PAL, search.programs): each is run in the sandbox and the answer it
prints votes beside the chains of thought with `program_weight`. Once `program_trial` programs
have come back and none printed an answer (SmolLM2's never run), no more are asked for.

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
from typing import Any

from search.charged import BudgetExhausted
from search.programs import PROGRAM_OPENING, program_asks, program_content
from search.protocols import AnswerGroup, AnswerTools, Generation, Generator, StepScorer
from search.strategy import Ask, Candidate, Outcome, Problem


class SelfConsistency:
    name = "self_consistency"

    def __init__(
        self, problem: Problem, tools: AnswerTools, *, n: int = 5, batch: int = 4, temperature: float = 0.7,
        top_p: float = 0.95, min_p: float = 0.0, greedy_first: bool = False, greedy_weight: float = 1.5,
        programs: int = 0, program_weight: float = 1.0, program_trial: int = 2, confidence: bool = False,
        confidence_top_k: int = 5, confidence_window: int = 32, confidence_keep: float = 0.9, settle: float = 0.95,
        confidence_warmup: int = 4, judge_close: float = 0.0, scorer: StepScorer | None = None,
        generator: Generator | None = None, **_: Any,
    ) -> None:
        self.problem = problem
        self.tools = tools
        self.n = max(1, int(n))
        self.batch = max(1, int(batch))
        self.temperature = problem.temperature if problem.temperature is not None else float(temperature)
        self.top_p = float(top_p)
        self.min_p = float(min_p)
        self.greedy_first = bool(greedy_first)
        self.greedy_weight = float(greedy_weight)
        self.programs = int(programs) if problem.program_prompt else 0
        self.program_weight = float(program_weight)
        self.program_trial = max(1, int(program_trial))
        self.confidence = bool(confidence)
        self.confidence_top_k = max(2, int(confidence_top_k))  # confidence needs alternatives
        self.confidence_warmup = max(2, int(confidence_warmup))
        self.confidence_window = max(1, int(confidence_window))
        self.confidence_keep = float(confidence_keep)
        self.settle = float(settle)
        self.judge_close = float(judge_close)  # 0: the vote alone decides
        self.scorer, self.generator = scorer, generator
        self.judged: dict[str, float] = {}  # answer -> the judge's p(correct), once a close vote was judged
        self.weights: list[float] = []  # per sample, before confidence
        self.confidences: list[float | None] = []  # per sample; None for programs and without logprobs
        self.effective: list[float] = []  # the weights the vote used
        self.from_program: list[bool] = []
        self.texts: list[str] = []
        self.truncated: list[bool] = []  # each sample was cut by max_tokens
        self.answers: list[str | None] = []
        self.groups: list[AnswerGroup] = []
        self.consensus: list[AnswerGroup] = []  # with confidence: the weighted vote before the filter
        self._requested = 0
        self._programs_requested = 0

    def ask(self) -> list[Ask]:
        if self._settled():
            return []
        asks = self._program_asks()
        remaining = self.n - self._requested
        if remaining <= 0:
            return asks
        size = min(self.batch, remaining)
        p = self.problem
        logprobs = self.confidence_top_k if self.confidence else None
        if self._requested == 0 and self.greedy_first:
            asks.append(Ask(prompt=p.prompt, n=1, max_tokens=p.max_tokens, temperature=0.0, seed=p.seed,
                            stop=p.stop, logprobs=logprobs, tag="greedy"))
            self._requested, size = 1, size - 1
        if size > 0:
            seed = None if p.seed is None else p.seed + self._requested
            self._requested += size
            asks.append(Ask(prompt=p.prompt, n=size, max_tokens=p.max_tokens, temperature=self.temperature,
                            top_p=self.top_p, min_p=self.min_p, seed=seed, stop=p.stop, logprobs=logprobs,
                            tag=f"samples {self._requested - size + 1}-{self._requested}"))
        return asks

    def answered(self, *, programs: bool) -> list[bool]:
        """For each sample of one kind (programs, or chains of thought) come back: did it state an answer."""
        return [a is not None for a, program in zip(self.answers, self.from_program, strict=True)
                if program == programs]

    def _programs_allowed(self) -> int:
        returned = self.answered(programs=True)
        # Programs are given up once a fair trial came back and none printed an answer.
        return len(returned) if len(returned) >= self.program_trial and not any(returned) else self.programs

    def _sampling_over(self) -> bool:
        """Every sample asked for came back and ask() would ask for no more."""
        if len(self.texts) < self._requested + self._programs_requested:
            return False
        if self._settled():
            return True
        return self._requested >= self.n and self._programs_requested >= self._programs_allowed()

    def _settled(self) -> bool:
        """The samples so far decide: the rest could not change the winner, or DeepConf's stop."""
        return bool(self.texts) and (not self._winner_can_change() or self._confidently_settled())

    def _program_asks(self) -> list[Ask]:
        self.programs = self._programs_allowed()
        asks, self._programs_requested = program_asks(
            self.problem, self._programs_requested, self.programs, greedy_first=self.greedy_first, batch=self.batch,
            temperature=self.temperature, top_p=self.top_p, min_p=self.min_p)
        return asks

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        program = ask.tag.startswith("program")
        granted = len(generation.samples) if generation is not None else 0
        # The budget may have granted fewer samples than asked (or none): count what came back.
        if program:
            self._programs_requested -= ask.n - granted
        else:
            self._requested -= ask.n - granted
        if generation is None:
            return
        weight = self.greedy_weight if ask.tag.endswith("greedy") else 1.0
        # A program's prompt ends with the opening fence; its text starts after it.
        texts = [PROGRAM_OPENING + s.text if program else s.text for s in generation.samples]
        if program:
            weight *= self.program_weight
            answers = await asyncio.gather(*(self.tools.run_program(t) for t in texts))
        else:
            answers = [self.tools.extract(t) for t in texts]
        for sample, text, answer in zip(generation.samples, texts, answers, strict=True):
            self.texts.append(text)
            self.answers.append(answer)
            self.weights.append(weight)
            self.from_program.append(program)
            self.truncated.append(sample.finish_reason == "length")
            self.confidences.append(
                self.tools.trace_confidence(getattr(sample, "logprobs", None), self.confidence_window)
                if self.confidence and not program else None)
        self.effective = self._effective_weights(self.confidence_keep)
        self.groups = await self._tally(self.effective)
        if self.confidence:
            self.consensus = await self._tally(self._effective_weights(1.0))
        if self._close_vote() and self._sampling_over():
            await self._judge_top_two()

    def _close_vote(self) -> bool:
        return (self.judge_close > 0 and self.scorer is not None and self.generator is not None
                and not self.judged and len(self.groups) > 1
                and self.groups[1].votes >= self.judge_close * self.groups[0].votes)

    def _shown(self, group: AnswerGroup) -> str:
        """The sample shown for an answer: a chain of thought that reached it, else its program."""
        written = [m for m in group.members if not self.from_program[m]]
        return self.texts[written[0]].strip() if written else program_content(self.texts[group.members[0]], group.answer)

    async def _judge_top_two(self) -> None:
        assert self.scorer is not None and self.generator is not None
        scores: dict[str, float] = {}
        for group in self.groups[:2]:
            try:
                scores[group.answer] = await self.scorer.score(self.problem.messages, [self._shown(group)],
                                                               self.generator)
            except BudgetExhausted:
                return  # not judged: the vote stands
        self.judged = scores

    async def _tally(self, weights: list[float]) -> list[AnswerGroup]:
        # A sample without an answer, or dropped by the confidence filter, does not vote.
        voted = [(i, a) for i, a in enumerate(self.answers) if a is not None and weights[i] > 0]
        groups = await self.tools.tally([a for _, a in voted], [weights[i] for i, _ in voted])
        # tally indexes into the voted list; map members back to sample indexes.
        return [AnswerGroup(g.answer, g.votes, tuple(voted[m][0] for m in g.members)) for g in groups]

    def _effective_weights(self, keep: float) -> list[float]:
        if not self.confidence:
            return list(self.weights)
        # Rank only the chains that stated an answer: an unanswered chain does not vote anyway.
        chains = [i for i, c in enumerate(self.confidences) if c is not None and self.answers[i] is not None]
        factors = self.tools.confident_weights([self.confidences[i] for i in chains], keep)
        scale = dict(zip(chains, factors, strict=True))
        return [w * scale.get(i, 1.0) for i, w in enumerate(self.weights)]

    def _confidently_settled(self) -> bool:
        """DeepConf's early stop: after the warm-up, one answer holds `settle` of the
        confidence-weighted vote of every answered chain."""
        answered = sum(self.answered(programs=False))
        if not self.confidence or not self.consensus or answered < self.confidence_warmup:
            return False
        total = sum(g.votes for g in self.consensus)
        return total > 0 and self.consensus[0].votes / total >= self.settle

    def _winner_can_change(self) -> bool:
        programs_done = sum(self.from_program)
        remaining = (self.n - (len(self.texts) - programs_done)) + (self.programs - programs_done) * self.program_weight
        if self.confidence:
            # A chain still to come can outweigh any so far and move the filter's cut: no bound.
            return remaining > 0
        if not self.groups:
            return remaining > 0
        runner_up = self.groups[1].votes if len(self.groups) > 1 else 0.0
        return runner_up + remaining >= self.groups[0].votes

    def best(self) -> Outcome | None:
        if not self.texts:
            return None
        if not self.groups:  # no sample stated an answer: show the first one as it is
            return Outcome(content=self.texts[0].strip(), answer=None, confidence=0.0, truncated=self.truncated[0])
        winner = self.groups[0]
        if self.judged and self.judged.get(self.groups[1].answer, 0.0) > self.judged.get(winner.answer, 1.0):
            winner = self.groups[1]  # the judge overrules a close vote
        total = sum(self.effective) or 1.0
        # Show a chain of thought that reached the answer; the program itself only when none did.
        written = [m for m in winner.members if not self.from_program[m]]
        content = self._shown(winner)
        details: dict[str, Any] = {"samples": len(self.texts), "answered": sum(a is not None for a in self.answers),
                                   # every sample's vote as [answer, "program" | "chain", weight]: what a
                                   # benchmark needs to test another voting rule without generating again
                                   "votes": [[a, "program" if prog else "chain", round(w, 4)] for a, prog, w
                                             in zip(self.answers, self.from_program, self.effective, strict=True)]}
        if self.judged:
            details["judged"] = {a: round(p, 4) for a, p in self.judged.items()}
        if self.programs:
            details["programs"] = sum(self.from_program)
            details["programs_agreeing"] = sum(self.from_program[m] for m in winner.members)
        if self.confidence:
            known = [c for c in self.confidences if c is not None]
            details["confidence_dropped"] = sum(1 for i, c in enumerate(self.confidences)
                                                if c is not None and self.effective[i] == 0.0)
            details["trace_confidence"] = [round(c, 3) for c in known]
        return Outcome(
            content=content, answer=winner.answer, confidence=winner.votes / total,
            candidates=tuple(Candidate(answer=g.answer, votes=g.votes) for g in self.groups), details=details,
            truncated=bool(written) and self.truncated[written[0]],
        )
