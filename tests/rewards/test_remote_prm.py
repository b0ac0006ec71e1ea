"""The remote PRM at the network edge: vLLM `/pooling` answers in the shape a Qwen2.5-Math-PRM
server returns (per step tag, softmax over incorrect/correct)."""

from __future__ import annotations

import json

import httpx

from backends.http_retry import SEARCH_SESSION
from rewards.remote_prm import QWEN_PRM_SYSTEM, RemotePRM

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "What is 2 + 3 * 4?"}]
STEPS = ["3 * 4 = 12\n\n", "2 + 12 = 14\n\n", "So the answer is \\boxed{14}."]


def pooling_response(rows: list[list[float]]) -> dict:
    return {"id": "pool-8c1f0e2d", "object": "list", "created": 1764000000, "model": "Qwen/Qwen2.5-Math-PRM-7B",
            "data": [{"index": 0, "object": "pooling", "data": rows}],
            "usage": {"prompt_tokens": 112, "total_tokens": 112, "completion_tokens": 0, "prompt_tokens_details": None}}


def prm_on(handler, **kwargs) -> tuple[RemotePRM, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(record))
    return RemotePRM("http://prm:8001/v1", client=client, backoff_s=0.01, **kwargs), seen


async def test_steps_go_as_the_assistant_turn_with_a_tag_after_each_and_the_last_step_is_scored():
    rows = [[0.0205, 0.9795], [0.0312, 0.9688], [0.1523, 0.8477]]
    prm, seen = prm_on(lambda r: httpx.Response(200, json=pooling_response(rows)), model="Qwen/Qwen2.5-Math-PRM-7B")
    assert await prm.score(MESSAGES, STEPS, generator=None) == 0.8477
    assert await prm.step_scores(MESSAGES, STEPS) == [0.9795, 0.9688, 0.8477]
    request = seen[0]
    assert request.method == "POST" and str(request.url) == "http://prm:8001/pooling"
    body = json.loads(request.content)
    assert body["model"] == "Qwen/Qwen2.5-Math-PRM-7B"
    assert body["messages"][0] == {"role": "system", "content": QWEN_PRM_SYSTEM}
    assert body["messages"][1] == {"role": "user", "content": "What is 2 + 3 * 4?"}
    assert body["messages"][2]["content"] == ("3 * 4 = 12<extra_0>2 + 12 = 14<extra_0>"
                                              "So the answer is \\boxed{14}.<extra_0>")


async def test_a_failing_or_inconsistent_server_gives_no_verdict_and_is_counted():
    broken, tries = prm_on(lambda r: httpx.Response(500, json={"error": {"message": "CUDA out of memory"}}))
    assert await broken.score(MESSAGES, STEPS, generator=None) == 0.5 and broken.failures == 1
    assert len(tries) == 3  # a 5xx is retried twice, like every backend call, before it counts as a failure
    short, _ = prm_on(lambda r: httpx.Response(200, json=pooling_response([[0.5, 0.5]])))
    assert await short.score(MESSAGES, STEPS, generator=None) == 0.5 and short.failures == 1
    garbage, _ = prm_on(lambda r: httpx.Response(200, json={"data": []}))
    assert await garbage.score(MESSAGES, STEPS, generator=None) == 0.5
    none, seen = prm_on(lambda r: httpx.Response(200, json=pooling_response([])))
    assert await none.score(MESSAGES, [], generator=None) == 0.5 and seen == []


async def test_a_blip_is_retried_and_the_search_session_goes_with_every_call():
    answers = iter([httpx.Response(503, json={"error": {"message": "loading"}}),
                    httpx.Response(200, json=pooling_response([[0.1, 0.9]]))])
    prm, seen = prm_on(lambda r: next(answers))
    token = SEARCH_SESSION.set("search-7f3a")
    try:
        assert await prm.score(MESSAGES, STEPS[:1], generator=None) == 0.9 and prm.failures == 0
    finally:
        SEARCH_SESSION.reset(token)
    assert [r.headers.get("x-session-id") for r in seen] == ["search-7f3a", "search-7f3a"]


async def test_the_service_scores_steps_with_the_remote_prm_when_one_is_configured():
    from app.compose.build import open_service
    from app.settings import load_settings
    from rewards.judge import LLMJudgePRM
    from tests.app.fake_backend import ScriptedBackend

    async with open_service(load_settings(prm_url="http://prm:8001", prm_model="prm"),
                            backend=ScriptedBackend()) as remote:
        assert isinstance(remote.judge, RemotePRM) and remote.judge.model == "prm"
    async with open_service(load_settings(), backend=ScriptedBackend()) as local:
        assert isinstance(local.judge, LLMJudgePRM)
