"""What each strategy reports of how it chose its answer: one frozen record per kind of search.

The API's `ponder` object, the summary, traces, the viewer and the bench read these; none of them
reads a strategy's state or a loose dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, kw_only=True)
class Ballot:
    """One sample's vote in self-consistency."""

    answer: str | None  # None: the sample stated no answer (or looped)
    source: Literal["chain", "program"]  # a chain of thought, or a program run in the sandbox
    weight: float  # its vote after the confidence filter and arithmetic checks (0: dropped)
    text: str  # the sample's text (a program's code): for rules that read the work (bench.replay)
    confidence: float | None = None  # its trace confidence (DeepConf), where logprobs were asked for


@dataclass(frozen=True, kw_only=True)
class VoteRecord:
    """How a self-consistency vote went: every ballot, in the order the samples came back."""

    ballots: tuple[Ballot, ...]
    agreeing: tuple[int, ...] = ()  # the ballots whose answers the chosen one merged (equal forms agree)
    judged: dict[str, float] | None = None  # the judge's scores of a close vote's two leaders
    with_programs: bool = False  # programs were part of the vote
    confidence_filter: bool = False  # DeepConf's filter was on

    @property
    def samples(self) -> int:
        return len(self.ballots)

    @property
    def answered(self) -> int:
        return sum(b.answer is not None for b in self.ballots)

    @property
    def programs(self) -> int:
        return sum(b.source == "program" for b in self.ballots)

    @property
    def programs_agreeing(self) -> int:
        return sum(self.ballots[i].source == "program" for i in self.agreeing)

    @property
    def confidence_dropped(self) -> int:
        return sum(b.confidence is not None and b.weight == 0.0 for b in self.ballots)


@dataclass(frozen=True, kw_only=True)
class VerifierRecord:
    """How best-of-N's candidates fared against the request's verifier (or the answer check)."""

    samples: int
    passed: int
    verdict: str  # what the check said of the chosen candidate
    gave_up: bool = False  # stopped by give_up_after with samples still to ask for
    programs: int = 0  # programs asked for
    programs_stopped: bool = False  # the program trial stopped them with programs still to ask for


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """One attempt of the revision loop: its answer, and the check's feedback the next one was given."""

    answer: str | None
    passed: bool
    feedback: str


@dataclass(frozen=True, kw_only=True)
class RevisionRecord:
    attempts: tuple[Attempt, ...]
    verdict: str  # the check's feedback on the chosen attempt


@dataclass(frozen=True, kw_only=True)
class CodeSearchRecord:
    """How a code search went: its candidates against the client's tests, the tests the model wrote,
    and the behaviour groups (search.strategies.code_search)."""

    candidates: int  # programs written, revisions included
    revisions: int  # of them, revisions of a candidate given what it failed
    client_passed: int  # candidates that passed the client's tests
    tests: int  # tests the model wrote that were kept
    untrusted: int  # tests the model wrote that contradict the client's examples (dropped)
    generated_passed: int  # of `tests`, how many the chosen candidate passed
    groups: int  # behaviour groups among the candidates that passed the client's tests
    group: int  # candidates in the chosen one's group (1 when it passed no client tests)
    depth: int  # revisions between the chosen candidate and a first attempt (0: a first attempt)
    verdict: str  # the client's tests' verdict on the chosen candidate


@dataclass(frozen=True, kw_only=True)
class TreeChoice:
    """Which path of a tree search was shown (the tree itself is `SearchResult.tree`)."""

    chosen: int  # the node the shown path ends at
    score: float  # its weight in the vote over paths
    nodes: int  # nodes grown (the root excluded)
    finished: int  # finished paths (terminal nodes, MCTS rollouts included), with an answer or not
    simulations: int | None = None  # MCTS: simulations run
    rollouts: int | None = None  # MCTS: finished solutions that were rollouts (the rest ended on a step)


@dataclass(frozen=True, kw_only=True)
class Selection:
    """How an open-ended reply was chosen where there was no answer to vote on."""

    method: str  # "instruction checks", "consensus", "the model's consistency pick"
    replies: int  # replies compared, rewrites included
    checks: tuple[str, ...] = ()  # the instructions checked (each check's description)
    met: int = 0  # checks the chosen reply met
    failed: tuple[str, ...] = ()  # the checks it did not meet
    broken: int = 0  # replies that looped (never chosen while another exists)
    revised: bool = False  # the chosen reply is a rewrite that met more checks than its source
    rejected_revisions: int = 0  # rewrites that met no more checks than their source
    texts: tuple[str, ...] = ()  # every reply compared, in the order written (rewrites included)
    chosen: int | None = None  # the chosen reply's place in `texts`


@dataclass(frozen=True, kw_only=True)
class Limits:
    """The budget a search ran under."""

    tokens: int | None
    calls: int | None
    deadline_s: float | None
