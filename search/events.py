"""What a search reports as it runs: one event when a round's calls go out, one when they are back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, kw_only=True)
class CallPlan:
    """One call of a round, as the progress lines and the viewer name it."""

    tag: str
    kind: str  # the ask's kind: chain, program, step, lookahead
    n: int
    max_tokens: int
    temperature: float


@dataclass(frozen=True, kw_only=True)
class NodeAdded:
    """A tree node a round grew, with what the live viewer draws of it."""

    node: int
    parent: int | None
    text: str
    score: float | None
    terminal: bool
    answer: str | None


@dataclass(frozen=True, kw_only=True)
class SelectionSoFar:
    """An open-ended search's choice so far: its method, and instructions met of those checked."""

    method: str
    replies: int
    met: int
    checks: int


@dataclass(frozen=True, kw_only=True)
class RoundStart:
    round: int
    calls: tuple[CallPlan, ...]
    type: Literal["round.start"] = "round.start"


@dataclass(frozen=True, kw_only=True)
class RoundEnd:
    round: int
    best_answer: str | None
    confidence: float | None
    tokens_used: int
    tokens_budget: int | None
    calls_used: int
    errors: tuple[str, ...] = ()  # the round's failed calls, "Type: message"
    expanded: tuple[NodeAdded, ...] = ()  # tree searches: the nodes this round added
    selection: SelectionSoFar | None = None
    type: Literal["round.end"] = "round.end"


Event = RoundStart | RoundEnd
