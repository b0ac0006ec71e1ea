"""Open-ended replies, where there is no answer to vote on: sample replies, check them against
the request's own instructions, revise the best one against what failed.

1. The greedy reply, and beside it (with `checks`) a program of instruction checks the model
   writes for the request: one `check_*` function per instruction a program can verify
   (program-aided verification: as programs answer math, here they check form). The sandbox
   runs every check on every reply.
2. More replies in batches of hot samples, up to `n`, until one meets every check (a reply
   that meets all of them cannot be bettered by the checks, so sampling stops).
3. Self-Refine (Madaan et al. 2023) driven by the checks: the best reply is rewritten to fix
   the instructions it failed, up to `revisions` times; a rewrite counts only if it meets more
   checks than the reply it rewrote.
4. Selection (search.reply_choice): a reply that loops is never chosen while another exists; then the
   most checks met (for a mixed request, agreement with the majority answer); with checks, the greedy
   reply (what a single pass returns) unless another met more of them; otherwise the one most
   consistent with the others, by word overlap (`select: "consensus"`, an MBR choice with unigram F1
   as the similarity) or by the model's own pick (`select: "usc"`, universal self-consistency, Chen
   et al. 2023: one more call that shows it the tied replies).
Without checks (`checks: false`) steps 1-2 sample all `n` replies and step 4 picks by consistency
alone. Checks asked for that cannot run (nothing checkable was written, or no sandbox here) end the
sampling with the replies already written, except for a mixed request, whose vote goes on: the model's
consistency was never measured to select a reply that follows instructions better (SmolLM2, whose
checks rarely run, followed 10 of 40 held-out prompts with 3 replies at 5.0x a single pass's tokens,
against 9 of 40; docs/benchmarks/open-ended.md).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Literal

from pydantic import Field

from sampling import Sampling
from search.instruction_prompts import (
    CHECKS_MAX_TOKENS,
    CHECKS_OPENING,
    CHECKS_STOP,
    REPAIR_MAX_TOKENS,
    REPAIR_OPENING,
    repair_messages,
    revise_messages,
    rewritten_reply,
    usc_choice,
    usc_messages,
)
from search.protocols import Generation
from search.reply_choice import Replies
from search.schedule import Schedule
from search.strategy import Ask, AskKind, HotSampling, Outcome, Problem, SearchDeps, SearchStrategy
from search.text_overlap import kept_share

Role = Literal["reply", "checks", "repair", "revision", "usc"]
MIN_KEPT = 0.5  # a repair is an edit: it keeps at least this share of the reply's words, or it is not taken


class OpenEndedSettings(HotSampling):
    n: int = Field(4, ge=1, le=64)  # replies sampled at most (the greedy one first), revisions apart
    batch: int = Field(3, ge=1, le=64)  # hot replies per call
    checks: bool = True  # the model writes checks of the request's instructions (step 1)
    repairs: int = Field(1, ge=0, le=8)  # repair programs for the best reply's failed checks, before rewrites
    revisions: int = Field(1, ge=0, le=8)
    select: Literal["consensus", "usc"] = "consensus"

    def wants_checks(self) -> bool:
        return self.checks


class OpenEnded(SearchStrategy[OpenEndedSettings]):
    name = "open_ended"
    Settings = OpenEndedSettings

    def __init__(self, problem: Problem, deps: SearchDeps, settings: OpenEndedSettings | None = None) -> None:
        super().__init__(problem, deps, settings)
        self.tools = deps.tools
        self.prompt = problem.reply_prompt or problem.prompt
        self.schedule = Schedule(self.settings.n, self.settings.batch, greedy_first=True)
        self.mixed = problem.kind == "mixed"
        self.replies = Replies()
        self.roles: dict[int, tuple[Role, int | None]] = {}  # id(ask) -> what it asked for, the reply it revises
        self.program: str | None = None
        self.checks_state: Literal["asked", "pending", "ready", "none"] = (
            "asked" if self.settings.checks and problem.checks_prompt else "none")
        self.repairs_left, self.revisions_left = self.settings.repairs, self.settings.revisions
        self.revision: tuple[str, int, Role] | None = None  # (rendered prompt, reply it edits, repair | revision)
        self.usc_asked = False
        self.usc_prompt: str | None = None

    # -- ask ------------------------------------------------------------------------------------
    def ask(self) -> list[Ask]:
        asks: list[Ask] = []
        if self.checks_state == "asked":
            self.checks_state = "pending"
            assert self.problem.checks_prompt is not None
            asks.append(self._mark(Ask(prompt=self.problem.checks_prompt, n=1,
                                       sampling=self._program_sampling(CHECKS_MAX_TOKENS),
                                       kind=AskKind.PROGRAM, greedy=True, tag="instruction checks"), "checks"))
        if not self.replies.all_met():
            for d in self.schedule.draws():
                sampling = self.problem.sampling if d.greedy else self.settings.hot(self.problem, d.first)
                tag = "greedy reply" if d.greedy else f"replies {d.first + 1}-{d.first + d.n}"
                asks.append(self._mark(Ask(prompt=self.prompt, n=d.n, sampling=sampling, greedy=d.greedy,
                                           tag=tag), "reply"))
        if asks:
            return asks
        if self.revision is not None:
            prompt, source, role = self.revision
            self.revision = None
            if role == "repair":
                self.repairs_left -= 1
                return [self._mark(Ask(prompt=prompt, n=1, sampling=self._program_sampling(REPAIR_MAX_TOKENS),
                                       kind=AskKind.PROGRAM, greedy=True,
                                       tag=f"repair program for reply {source + 1}"), "repair", source)]
            self.revisions_left -= 1
            return [self._mark(Ask(prompt=prompt, n=1, sampling=self.problem.sampling, greedy=True,
                                   tag=f"revision of reply {source + 1}"), "revision", source)]
        if self.settings.select == "usc" and not self.usc_asked and self.usc_prompt is not None:
            self.usc_asked = True
            return [self._mark(Ask(prompt=self.usc_prompt, n=1, tag="consistency pick",
                                   sampling=replace(self.problem.sampling, max_tokens=32, temperature=0.0)), "usc")]
        return []

    def _program_sampling(self, max_tokens: int) -> Sampling:
        """A program's sampling (checks, repairs): greedy, no penalty (code repeats itself), ends with its block."""
        return replace(self.problem.sampling, max_tokens=min(self.problem.max_tokens, max_tokens), stop=CHECKS_STOP,
                       temperature=0.0, frequency_penalty=0.0, presence_penalty=0.0)

    def _mark(self, ask: Ask, role: Role, source: int | None = None) -> Ask:
        self.roles[id(ask)] = (role, source)
        return ask

    # -- tell -----------------------------------------------------------------------------------
    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        role, source = self.roles.pop(id(ask), ("reply", None))
        granted = generation.samples if generation is not None else ()
        if role == "reply":
            self.schedule.refund(ask.n - len(granted))
        if role == "checks":
            self.program = CHECKS_OPENING + granted[0].text if granted else None
            if self.program is None:
                self._without_checks()
            else:
                self.checks_state = "ready"
        elif role == "usc":
            tied = self.replies.tied()
            pick = usc_choice(granted[0].text, len(tied)) if granted else None
            self.replies.usc_pick = tied[pick].index if pick is not None else None
        elif role == "repair":
            await self._repair(granted[0].text if granted else None, source)
        else:
            texts = [rewritten_reply(g.text) if role == "revision" else g.text for g in granted]
            looping = await asyncio.to_thread(lambda: [self.tools.degenerate(t) for t in texts])  # a regex scan
            for sample, text, loops in zip(granted, texts, looping, strict=True):
                self.replies.add(text, truncated=sample.finish_reason == "length", broken=loops,
                                 greedy=ask.greedy and role == "reply", revises=source)
        await self._check_new()
        if self.mixed:
            await self._vote()
        await self._plan_revision()
        await self._plan_usc()

    async def _repair(self, text: str | None, source: int | None) -> None:
        """Run the repair program on the reply it was written for; its edit joins the replies."""
        if text is None or source is None:
            return
        draft = self.replies.all[source].text
        edited = await self.tools.run_repair(REPAIR_OPENING + text, draft)
        if edited is None or edited.strip() == draft.strip() or kept_share(draft, edited) < MIN_KEPT:
            return
        broken = await asyncio.to_thread(self.tools.degenerate, edited)
        self.replies.add(edited, truncated=False, broken=broken, revises=source)

    async def _check_new(self) -> None:
        """Run the checks on every reply that has no verdicts yet (once the program is back)."""
        if self.checks_state != "ready" or self.program is None:
            return
        new = self.replies.unchecked()
        if not new:
            return
        found = await self.tools.run_checks(self.program, [r.text for r in new])
        if found is None or (self.replies.checks and tuple(found.checks) != self.replies.checks):
            self._without_checks()
            return
        self.replies.judge(tuple(found.checks), new, [tuple(row) for row in found.verdicts])

    def _without_checks(self) -> None:
        """The checks were asked for and none can run: nothing tells replies apart by the instructions, so
        no more are sampled (consistency picks among those already written); a mixed request's vote goes on."""
        self.checks_state = "none"
        self.replies.forget_checks()
        if not self.mixed:
            self.schedule.stop()

    async def _vote(self) -> None:
        answers = [(r.index, self.tools.extract(r.text)) for r in self.replies.all if not r.broken]
        stated = [(i, a) for i, a in answers if a is not None]
        groups = await self.tools.tally([a for _, a in stated]) if stated else []
        top = groups[0] if groups and (len(groups) == 1 or groups[0].votes > groups[1].votes) else None
        self.replies.majority = frozenset(stated[m][0] for m in top.members) if top is not None else frozenset()

    async def _plan_revision(self) -> None:
        """Prepare the repair program, else the rewrite, of the best reply once sampling is over and it
        fails a check."""
        if (self.revision is not None or self.repairs_left + self.revisions_left <= 0 or self.schedule.remaining
                or self.checks_state != "ready" or self.deps.render is None):
            return
        best = self.replies.chosen()
        if best is None or best.index not in self.replies.verdicts or best.broken:
            return
        failed = self.replies.failed(best)
        if not failed:
            return
        if self.repairs_left > 0:
            prompt = await self.deps.render(repair_messages(failed), add_generation_prompt=False)
            self.revision = (prompt, best.index, "repair")
            return
        messages = revise_messages(self.problem.reply_messages or self.problem.messages, best.text.strip(), failed)
        self.revision = (await self.deps.render(messages), best.index, "revision")

    async def _plan_usc(self) -> None:
        self.usc_prompt = None
        if self.settings.select != "usc" or self.usc_asked or self.schedule.remaining or self.revision is not None:
            return
        if (self.revisions_left > 0 and self._failed_any()) or self.deps.render is None:
            return
        tied = self.replies.tied()
        if len(tied) > 1:
            self.usc_prompt = await self.deps.render(usc_messages(self.problem.question,
                                                                  [r.text.strip() for r in tied]))

    def _failed_any(self) -> bool:
        best = self.replies.chosen()
        return best is not None and bool(self.replies.checks) and self.replies.met(best) < 1.0

    def best(self) -> Outcome | None:
        chosen = self.replies.chosen()
        if chosen is None:
            return None
        answer = self.tools.extract(chosen.text) if self.mixed and chosen.index in self.replies.majority else None
        return Outcome(content=chosen.text.strip(), answer=answer,
                       confidence=round(self.replies.confidence(chosen), 4), truncated=chosen.truncated,
                       selection=self.replies.selection(chosen))
