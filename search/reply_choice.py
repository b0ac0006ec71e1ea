"""Which open-ended reply to return (search.strategies.open_ended's step 4), with no answer to vote on.

A reply that loops (rewards.degeneration) is never chosen while another exists, nor a rewrite that met
no more checks than its draft; then the most checks met; for a "mixed" request (a quantity to compute,
under instructions) agreement with the majority answer; a reply not cut by its token cap. Among the
replies still tied: with checks, the greedy reply (what a single pass returns) unless another met more
of them: a small model's checks are often wrong (docs/benchmarks/open-ended.md), and a hot reply that
only ties is no evidence; else the model's own pick where one was asked for (universal
self-consistency), else the one most consistent with the others by word overlap (search.text_overlap).
"""

from __future__ import annotations

from dataclasses import dataclass

from search.records import Selection
from search.text_overlap import consensus


@dataclass(frozen=True)
class Reply:
    index: int
    text: str
    truncated: bool
    broken: bool  # it loops (rewards.degeneration)
    greedy: bool = False
    revises: int | None = None  # the reply this one rewrote


class Replies:
    """The replies written so far, the checks' verdicts on them, and the choice among them."""

    def __init__(self) -> None:
        self.all: list[Reply] = []
        self.checks: tuple[str, ...] = ()  # each check's description (the instruction it checks)
        self.verdicts: dict[int, tuple[bool | None, ...]] = {}  # reply index -> each check's verdict
        self.rejected: set[int] = set()  # rewrites that met no more checks than their source
        self.majority: frozenset[int] = frozenset()  # the replies that state the majority answer (mixed)
        self.usc_pick: int | None = None  # the model's own pick among the tied replies

    def add(self, text: str, *, truncated: bool, broken: bool, greedy: bool = False,
            revises: int | None = None) -> Reply:
        reply = Reply(len(self.all), text, truncated, broken, greedy, revises)
        self.all.append(reply)
        return reply

    def unchecked(self) -> list[Reply]:
        return [r for r in self.all if r.index not in self.verdicts]

    def judge(self, checks: tuple[str, ...], new: list[Reply], verdicts: list[tuple[bool | None, ...]]) -> None:
        """Take the checks' verdicts on `new`; a rewrite that met no more than its draft is set aside."""
        self.checks = checks
        for reply, row in zip(new, verdicts, strict=True):
            self.verdicts[reply.index] = row
        for reply in new:
            if reply.revises is not None and self.met(reply) <= self.met(self.all[reply.revises]):
                self.rejected.add(reply.index)

    def forget_checks(self) -> None:
        self.checks, self.verdicts = (), {}

    def met(self, reply: Reply) -> float:
        """The share of the checks the reply met (0 with no verdicts)."""
        verdicts = self.verdicts.get(reply.index)
        if not verdicts:
            return 0.0
        return sum(v is True for v in verdicts) / len(verdicts)

    def failed(self, reply: Reply) -> list[str]:
        """The checks the reply failed (a check that raised is not among them)."""
        return [c for c, v in zip(self.checks, self.verdicts.get(reply.index, ()), strict=True) if v is False]

    def all_met(self) -> bool:
        """Some sound reply met every check (the checks cannot better it)."""
        return bool(self.checks) and any(self.met(r) == 1.0 and not r.broken for r in self.all)

    def eligible(self) -> list[Reply]:
        kept = [r for r in self.all if r.index not in self.rejected]
        sound = [r for r in kept if not r.broken]
        return sound or kept

    def _key(self, reply: Reply) -> tuple[float, bool, bool]:
        return self.met(reply), reply.index in self.majority, not reply.truncated

    def tied(self) -> list[Reply]:
        """The eligible replies that the checks, the vote and the token cap cannot separate."""
        eligible = self.eligible()
        if not eligible:
            return []
        top = max(self._key(r) for r in eligible)
        return [r for r in eligible if self._key(r) == top]

    def chosen(self) -> Reply | None:
        tied = self.tied()
        if not tied:
            return None
        if self.usc_pick is not None and any(r.index == self.usc_pick for r in tied):
            return self.all[self.usc_pick]
        if self.checks and (greedy := next((r for r in tied if r.greedy), None)) is not None:
            return greedy  # a hot reply replaces the greedy one (a single pass's reply) only by meeting more checks
        agreement = consensus([r.text for r in tied], [r.text for r in self.eligible()])
        return max(zip(tied, agreement, strict=True), key=lambda rc: (rc[1], rc[0].greedy, -rc[0].index))[0]

    def confidence(self, reply: Reply) -> float:
        """The share of checks met; without checks, the reply's agreement with the others."""
        if self.checks:
            return self.met(reply)
        return consensus([reply.text], [r.text for r in self.eligible()])[0]

    def selection(self, chosen: Reply) -> Selection:
        """The record of how `chosen` was picked, with every reply written."""
        met = self.verdicts.get(chosen.index, ())
        method = ("instruction checks" if self.checks else
                  "the model's consistency pick" if self.usc_pick == chosen.index else "consensus")
        return Selection(method=method, replies=len(self.all), checks=self.checks,
                         met=sum(v is True for v in met),
                         failed=tuple(c for c, v in zip(self.checks, met, strict=True) if v is not True) if met else (),
                         broken=sum(r.broken for r in self.all), revised=chosen.revises is not None,
                         rejected_revisions=len(self.rejected), texts=tuple(r.text.strip() for r in self.all),
                         chosen=chosen.index)
