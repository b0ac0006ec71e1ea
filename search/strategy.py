"""The ask/tell contract every strategy implements, and the records it trades."""

from __future__ import annotations

import enum
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from sampling import ClientSampling, Sampling
from search.protocols import AnswerTools, CodeTests, Generation, Generator, StepScorer, Verifier
from search.records import CodeSearchRecord, RevisionRecord, Selection, TreeChoice, VerifierRecord, VoteRecord
from search.request_kind import RequestKind, request_kind
from search.tree import Tree


class Render(Protocol):
    """Renders a chat with the model's template; `add_generation_prompt=False` continues its last message."""

    def __call__(self, messages: list[dict[str, Any]], *, add_generation_prompt: bool = True) -> Awaitable[str]: ...



class AskKind(enum.Enum):
    """What an ask's samples are, so that a strategy routes their results without parsing labels."""

    CHAIN = "chain"  # whole solutions in prose (chains of thought, candidates, attempts)
    PROGRAM = "program"  # programs whose printed output is the answer (search.programs)
    STEP = "step"  # next steps continuing the path that ends at `Ask.node`
    LOOKAHEAD = "lookahead"  # a rollout from `Ask.node` that values it (beam's lookahead, MCTS's simulation)


@dataclass(frozen=True, kw_only=True)
class Ask:
    """One backend call a strategy wants made: `n` samples continuing `prompt`."""

    prompt: str
    n: int = 1
    sampling: Sampling
    kind: AskKind = AskKind.CHAIN
    greedy: bool = False  # a strategy's greedy pass (its single best guess), as opposed to a hot sample
    node: int | None = None  # the tree node a STEP or LOOKAHEAD ask continues
    tag: str = ""  # a label for the trace only; strategies never read it


@dataclass(frozen=True)
class Candidate:
    answer: str
    votes: float
    score: float | None = None


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """A strategy's best answer so far."""

    content: str  # the full text shown to the user
    answer: str | None  # the extracted final answer
    confidence: float
    candidates: tuple[Candidate, ...] = ()
    truncated: bool = False  # the shown text was cut by max_tokens (OpenAI's finish_reason "length")
    # How it was chosen: the record of the search that chose it (at most one is set).
    vote: VoteRecord | None = None  # self-consistency
    verified: VerifierRecord | None = None  # best-of-N against a verifier
    revisions: RevisionRecord | None = None  # the revision loop
    path: TreeChoice | None = None  # tree searches: the path shown
    selection: Selection | None = None  # open-ended searches: how the reply was chosen
    code: CodeSearchRecord | None = None  # the code search
    work: str | None = None  # the text `content` was taken from, when the request asked for the bare answer
    thinking_chars: int = 0  # a thinking model's chain cut from `content` (app.reasoning.service)


@dataclass(frozen=True, kw_only=True)
class Problem:
    prompt: str  # the chat rendered with the model's template, generation prompt included
    question: str = ""  # the last user message
    messages: tuple[dict[str, Any], ...] = ()  # the chat `prompt` was rendered from (for judges)
    # Every call's base: the per-sample cap, the request's seed and stop strings, and the client's sampling
    # choices but its temperature (greedy); `hot` lays all of them over each hot sample.
    sampling: Sampling
    client_sampling: ClientSampling = field(default_factory=ClientSampling)
    program_prompt: str | None = None  # the chat asking for a program instead (search.programs)
    # Open-ended requests: the chat without the server's default (math) system prompt, rendered, and
    # the chat asking for checks of the request's instructions (search.instruction_prompts).
    reply_messages: tuple[dict[str, Any], ...] = ()
    reply_prompt: str | None = None
    checks_prompt: str | None = None

    @property
    def max_tokens(self) -> int:
        return self.sampling.max_tokens

    @cached_property
    def kind(self) -> RequestKind:
        """What kind of reply the question wants (search.request_kind), read once per problem."""
        return request_kind(self.question)

    def hot(self, sampling: Sampling, offset: int = 0) -> Sampling:
        """A hot sample's sampling: the strategy's `sampling` (its defaults) with the client's choices
        over it, its seed moved by `offset` (unseeded stays unseeded). Every hot sample is made here."""
        return self.client_sampling.over(sampling).seeded(offset)


@dataclass(frozen=True, kw_only=True)
class SearchDeps:
    """The objects a strategy is handed, apart from its settings."""

    tools: AnswerTools
    generator: Generator | None = None  # the search's charged generator, for judge calls
    scorer: StepScorer | None = None  # the PRM (the LLM judge, or a remote PRM)
    valuer: StepScorer | None = None  # Tree-of-Thoughts' value prompt
    verifier: Verifier | None = None  # the request's ground truth, when it has one
    render: Render | None = None  # renders a chat with the model's template (revise)
    code_tests: CodeTests | None = None  # a python_tests verifier's tests, and the model's, run per candidate


class StrategySettings(BaseModel):
    """A strategy's documented knobs; a misspelled one is an error, not a silent no-op."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def wants_programs(self) -> bool:
        """Whether the strategy may ask for programs (then the problem carries a program prompt)."""
        return False

    def wants_checks(self) -> bool:
        """Whether the strategy may ask for instruction checks (then the problem carries a checks prompt)."""
        return False


class HotSampling(StrategySettings):
    """How the hot (non-greedy) samples are drawn by default (a tier may set them; a client's own
    choices go over them: Problem.hot)."""

    temperature: float = Field(0.7, ge=0, le=2)
    top_p: float = Field(0.95, gt=0, le=1)
    min_p: float = Field(0.0, ge=0, le=1)  # 0 = off

    def hot(self, problem: Problem, offset: int, *, logprobs: int | None = None) -> Sampling:
        """The problem's sampling with these defaults and the client's choices over them, seeded for the
        `offset`-th sample."""
        return problem.hot(replace(problem.sampling, temperature=self.temperature, top_p=self.top_p,
                                   min_p=self.min_p, logprobs=logprobs), offset)


SettingsT = TypeVar("SettingsT", bound=StrategySettings)


class SearchStrategy(Generic[SettingsT]):
    """What every strategy holds: its problem, the objects it is handed, and its settings (the
    settings model's defaults when none are given)."""

    Settings: type[SettingsT]

    def __init__(self, problem: Problem, deps: SearchDeps, settings: SettingsT | None = None) -> None:
        self.problem, self.deps = problem, deps
        self.settings: SettingsT = settings if settings is not None else self.Settings()


class Strategy(Protocol):
    @property
    def name(self) -> str: ...

    def ask(self) -> list[Ask]:
        """The calls of the next round; an empty list means the strategy is done."""
        ...

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        """The result of one ask (error set and generation None when the call failed)."""
        ...

    def best(self) -> Outcome | None:
        """The best answer found so far (anytime), or None."""
        ...


@runtime_checkable
class TreeSearch(Protocol):
    """A strategy that grows a tree of steps (the driver reports its nodes)."""

    def search_tree(self) -> Tree | None: ...


class StrategyClass(Protocol):
    """A strategy's class: it names its settings model and builds one strategy per search."""

    @property
    def Settings(self) -> type[StrategySettings]: ...  # the class attribute the registry reads

    def __call__(self, problem: Problem, deps: SearchDeps, settings: Any) -> Strategy: ...
