from .fake_backend import ScriptedBackend
from .test_ops import client_for


async def test_reason_endpoint_returns_answer_candidates_usage_and_a_retrievable_trace():
    async with client_for(ScriptedBackend("so the answer is \\boxed{4}")) as http:
        r = await http.post("/v1/reason", json={"problem": "2+2?", "strategy": "self_consistency", "n": 3,
                                               "budget": {"tokens": 500}, "trace": True, "summary": "detailed"})
        assert r.status_code == 200, r.text
        data = r.json()
        assert data["answer"] == "4" and data["confidence"] == 1.0
        assert data["candidates"][0]["answer"] == "4" and data["usage"]["completion_tokens"] <= 500
        assert data["trace"][0]["type"] == "round.start" and "chosen: 4" in data["summary"]
        stored = await http.get(f"/v1/traces/{data['id']}")
        assert stored.status_code == 200 and stored.json()["answer"] == "4"
        missing = await http.get("/v1/traces/nope")
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
        bad = await http.post("/v1/reason", json={"problem": "", "budget": {"tokens": 0}})
        assert bad.status_code == 400


async def test_chat_completion_traces_are_kept_and_bounded():
    async with client_for(ScriptedBackend(), max_traces=2) as http:
        ids = []
        for _ in range(3):
            r = await http.post("/v1/chat/completions", json={
                "model": "m", "reasoning_effort": "none", "reasoning": {"trace": True},
                "messages": [{"role": "user", "content": "hi"}]})
            ids.append(r.json()["id"])
        assert (await http.get(f"/v1/traces/{ids[0]}")).status_code == 404  # the oldest was dropped
        assert (await http.get(f"/v1/traces/{ids[2]}")).json()["strategy"] == "single"


async def test_finish_reason_is_length_when_max_tokens_cut_the_chosen_answer():
    async with client_for(ScriptedBackend()) as http:
        for effort in ("none", "low"):
            base = {"model": "m", "reasoning_effort": effort, "messages": [{"role": "user", "content": "2+2?"}]}
            cut = await http.post("/v1/chat/completions", json={**base, "max_completion_tokens": 5})
            whole = await http.post("/v1/chat/completions", json=base)
            assert cut.status_code == whole.status_code == 200, cut.text
            assert cut.json()["choices"][0]["finish_reason"] == "length", effort
            assert whole.json()["choices"][0]["finish_reason"] == "stop", effort
