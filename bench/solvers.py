"""How a benchmark item is sent: in-process through plan_request + ReasoningService on one open
backend, or as POST /v1/chat/completions to a running ponder server. Both return a `Solved`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from rewards.equivalence import MathEquivalence
from search.records import VoteRecord

if TYPE_CHECKING:
    from backends.types import Backend


@dataclass(frozen=True)
class Solved:
    """What one request returned, whichever way it was sent."""

    content: str
    ponder_answer: str | None
    strategy: str
    completion_tokens: int
    prompt_tokens: int
    cached_tokens: int
    calls: int
    rounds: int
    stop_reason: str
    errors: tuple[str, ...] = field(default=())
    votes: list[Any] | None = None  # a voting search's samples (in-process only): [answer, source, weight]
    judged: dict[str, float] | None = None  # a close vote's top two answers and the judge's p(correct) of each
    texts: list[str] | None = None  # a voting search's sample texts, in the order of `votes` (in-process only)
    candidates: list[Any] | None = None  # the outcome's tallied answers: [answer, votes] (in-process only)
    tree: list[dict[str, Any]] | None = None  # a tree search's nodes, the root excluded (in-process only)
    selection: dict[str, Any] | None = None  # how an open-ended reply was chosen (in-process only)


class Solver(Protocol):
    async def solve(self, body: dict[str, Any]) -> Solved: ...


class InProcessSolver:
    """Requests through plan_request + ReasoningService on one already-open backend."""

    def __init__(self, settings: Any, service: Any) -> None:
        self.settings = settings
        self.service = service

    async def solve(self, body: dict[str, Any]) -> Solved:
        from app.protocol.chat import ChatCompletionRequest
        from app.reasoning.service import plan_request

        result = await self.service.run(plan_request(ChatCompletionRequest.model_validate(body), self.settings))
        o, usage = result.outcome, result.usage
        return Solved(content=o.content if o else "", ponder_answer=o.answer if o else None, strategy=result.strategy,
                      completion_tokens=usage.completion_tokens, prompt_tokens=usage.prompt_tokens,
                      cached_tokens=usage.cached_tokens, calls=usage.calls, rounds=result.rounds,
                      stop_reason=result.stop_reason, errors=tuple(result.errors),
                      candidates=[[c.answer, c.votes] for c in o.candidates] if o and o.candidates else None,
                      tree=[asdict(n) for n in result.tree] if result.tree is not None else None,
                      selection=asdict(o.selection) if o and o.selection else None,
                      **_vote_fields(o.vote if o else None))


def _vote_fields(vote: VoteRecord | None) -> dict[str, Any]:
    """A vote's ballots as the bench's own columns (what bench.replay reads)."""
    if vote is None:
        return {}
    return {"votes": [[b.answer, b.source, b.weight] for b in vote.ballots], "judged": vote.judged,
            "texts": [b.text for b in vote.ballots]}


class HttpSolver:
    """Requests as POST /v1/chat/completions to a running ponder server."""

    def __init__(self, http: Any) -> None:
        self.http = http  # an httpx.AsyncClient with the server's base URL

    async def solve(self, body: dict[str, Any]) -> Solved:
        reply = await self.http.post("/v1/chat/completions", json=body)
        if reply.status_code != 200:
            try:
                message = reply.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = reply.text[:300]
            raise RuntimeError(f"HTTP {reply.status_code}: {message}")
        data = reply.json()
        usage, info = data["usage"], data["ponder"]
        return Solved(content=data["choices"][0]["message"]["content"] or "", ponder_answer=info.get("answer"),
                      strategy=info["strategy"], completion_tokens=usage["completion_tokens"],
                      prompt_tokens=usage["prompt_tokens"],
                      cached_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0),
                      calls=info["calls"], rounds=info["rounds"], stop_reason=info["stop_reason"],
                      errors=tuple(info.get("errors") or ()))


@asynccontextmanager
async def open_solver(*, model: str, base_url: str | None = None, api_key: str | None = None,
                      backend: Backend | None = None, transport: Any = None,
                      equivalence: MathEquivalence | None = None) -> AsyncIterator[Solver]:
    """A solver for the run: HTTP when `base_url` is given, else in-process on `backend` (not closed
    here) or on the backend the settings name (opened and closed here)."""
    if base_url is not None:
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=httpx.Timeout(3600.0),
                                     transport=transport) as http:
            yield HttpSolver(http)
        return
    from app.compose.build import open_service
    from app.settings import load_settings

    settings = load_settings(model=model)
    async with open_service(settings, backend=backend, equivalence=equivalence) as service:
        yield InProcessSolver(settings, service)
