"""Faults with defined outcomes, through the real gateway; after each the server answers."""

from __future__ import annotations

import asyncio

from backends.errors import BackendBadResponse, BackendUnavailable
from backends.types import Completion

from .fake_backend import ScriptedBackend
from .test_ops import client_for

SC = {"model": "m", "messages": [{"role": "user", "content": "2+2?"}],
      "reasoning": {"strategy": "self_consistency", "n": 6, "budget_tokens": 2000}}


class DiesAfter(ScriptedBackend):
    """Answers `good` calls, then fails every call with `error`."""

    def __init__(self, good: int, error: Exception, delay_s: float = 0.0) -> None:
        super().__init__(delay_s=delay_s)
        self.good, self.error = good, error

    async def complete(self, prompt, *, n, params, deadline=None) -> Completion:
        if self.calls >= self.good:
            self.calls += 1
            raise self.error
        return await super().complete(prompt, n=n, params=params, deadline=deadline)


async def test_backend_dies_mid_search_best_so_far_is_returned():
    backend = DiesAfter(1, BackendUnavailable("connection refused", backend="scripted"))
    async with client_for(backend) as http:
        r = await http.post("/v1/chat/completions", json={**SC, "reasoning": {**SC["reasoning"], "n": 12}})
        assert r.status_code == 200
        data = r.json()
        assert data["ponder"]["answer"] == "4" and any("connection refused" in e for e in data["ponder"]["errors"])


async def test_backend_down_from_the_start_is_503_then_the_server_still_answers():
    async with client_for(DiesAfter(0, BackendUnavailable("connection refused", backend="scripted"))) as http:
        r = await http.post("/v1/chat/completions", json=SC)
        assert r.status_code == 503 and r.json()["error"]["code"] == "backend_unavailable"
        assert (await http.get("/v1/models")).status_code == 200


async def test_malformed_backend_answer_drops_the_branch_and_is_recorded():
    backend = DiesAfter(0, BackendBadResponse("answered without choices", backend="scripted"))
    async with client_for(backend) as http:
        r = await http.post("/v1/chat/completions", json=SC)
        assert r.status_code == 502 and "without choices" in r.json()["error"]["message"]
    mixed = DiesAfter(1, BackendBadResponse("malformed JSON", backend="scripted"))
    async with client_for(mixed) as http:
        r = await http.post("/v1/chat/completions",
                            json={**SC, "reasoning": {**SC["reasoning"], "n": 12, "trace": True}})
        assert r.status_code == 200
        ends = [e for e in r.json()["ponder"]["trace"] if e["type"] == "round.end"]
        assert any("malformed JSON" in err for e in ends for err in e["errors"])


async def test_slow_backend_meets_the_deadline_with_best_so_far():
    class Slow(ScriptedBackend):
        async def complete(self, prompt, *, n, params, deadline=None) -> Completion:
            if self.calls >= 1:
                await asyncio.sleep(30)  # far past the deadline
            return await super().complete(prompt, n=n, params=params, deadline=deadline)

    async with client_for(Slow()) as http:
        body = {**SC, "reasoning": {**SC["reasoning"], "n": 8, "deadline_s": 1.0}}
        started = asyncio.get_running_loop().time()
        r = await asyncio.wait_for(http.post("/v1/chat/completions", json=body), timeout=20)
        assert r.status_code == 200 and r.json()["ponder"]["answer"] == "4"
        assert asyncio.get_running_loop().time() - started < 10


async def test_verifier_crash_marks_the_candidate_failed():
    class Crashing:
        async def check(self, text):
            raise RuntimeError("checker exploded")

    from sampling import Sampling
    from search.budget import Budget
    from search.driver import run_search
    from search.strategy import Problem
    from tests.search.scripted import LastNumberTools, ScriptedGenerator, make_strategy

    strategy = make_strategy("best_of_n", Problem(prompt="p", sampling=Sampling(max_tokens=32)), LastNumberTools(),
                             verifier=Crashing(), n=3)
    result = await run_search(strategy, generator=ScriptedGenerator(["so 4"]),
                              budget=Budget.create(max_tokens=1000, max_calls=None, deadline_s=None))
    assert result.outcome.answer == "4" and "checker exploded" in result.outcome.verified.verdict


async def test_a_backend_that_never_answers_gets_504_at_the_deadline():
    class Hangs(ScriptedBackend):
        async def complete(self, prompt, *, n, params, deadline=None) -> Completion:
            await asyncio.sleep(60)
            raise AssertionError("unreachable")

    async with client_for(Hangs()) as http:
        body = {**SC, "reasoning": {**SC["reasoning"], "deadline_s": 0.5}}
        r = await asyncio.wait_for(http.post("/v1/chat/completions", json=body), timeout=20)
        assert r.status_code == 504 and r.json()["error"]["code"] == "deadline_exceeded"
