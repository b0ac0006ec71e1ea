"""`reasoning.verifier: python_tests` over HTTP: code answers are graded in the sandbox."""

from search.programs import PROGRAM_INSTRUCTION

from .fake_backend import ScriptedBackend
from .test_ops import client_for

TESTS = "def check(candidate):\n    assert candidate([3, 1, 2]) == [1, 2, 3]\n"
GOOD = "Sort it:\n```python\ndef sort_list(xs):\n    return sorted(xs)\n```"
BAD = "Sort it:\n```python\ndef sort_list(xs):\n    return xs\n```"


def body(**verifier):
    return {"model": "m", "messages": [{"role": "user", "content": "Write sort_list(xs)."}],
            "reasoning": {"effort": "low", "trace": True,
                          "verifier": {"type": "python_tests", "tests": TESTS, "entry_point": "sort_list", **verifier}}}


async def test_passing_code_stops_the_search_and_is_counted():
    backend = ScriptedBackend(GOOD)
    async with client_for(backend) as http:
        r = await http.post("/v1/chat/completions", json=body())
        assert r.status_code == 200, r.text
        data = r.json()
        assert data["ponder"]["strategy"] == "auto:best_of_n"
        assert "sorted(xs)" in data["choices"][0]["message"]["content"]
        assert backend.calls == 1  # the first (greedy) candidate passed: no more sampling
        metrics = (await http.get("/metrics")).text
        assert 'ponder_sandbox_runs_total{outcome="exited"} 1.0' in metrics
        assert 'ponder_verifier_runs_total{passed="true",verifier="python_tests"} 1.0' in metrics


async def test_failing_code_is_returned_with_the_test_failure_in_the_summary():
    async with client_for(ScriptedBackend(BAD)) as http:
        r = await http.post("/v1/chat/completions", json=body())
        assert r.status_code == 200, r.text
        data = r.json()
        reasoning = data["choices"][0]["message"]["reasoning_content"]
        assert "0 of" in reasoning and "AssertionError" in reasoning and data["ponder"]["confidence"] <= 0.5


async def test_bad_python_tests_specs_are_400s():
    async with client_for(ScriptedBackend(GOOD)) as http:
        for bad in ({"entry_point": "os.system('x')"}, {"timeout_s": 0}, {"tests": ""}, {"unknown": 1}):
            r = await http.post("/v1/chat/completions", json=body(**bad))
            assert r.status_code == 400, (bad, r.text)
            assert r.json()["error"]["type"] == "invalid_request_error"
        # Tests that do not compile would fail every answer and blame the model: refused, naming the field.
        for field, code in (("tests", "def check(candidate)\n    assert candidate(1) == 2"), ("prelude", "import (")):
            r = await http.post("/v1/chat/completions", json=body(**{field: code}))
            assert r.status_code == 400 and "does not compile" in r.json()["error"]["message"], r.text
            assert r.json()["error"]["param"].endswith(field)


BOTH = "print(4)\n```\nSo the answer is \\boxed{4}."  # a chain of thought, and a program after its opening fence


async def test_effort_tiers_ask_a_program_for_quantitative_questions_and_stop_when_it_agrees():
    backend = ScriptedBackend(BOTH)
    async with client_for(backend) as http:
        r = await http.post("/v1/chat/completions", json={
            "model": "m", "reasoning_effort": "low",
            "messages": [{"role": "user", "content": "Tom has 3 apples and buys 1 more. How many?"}]})
        assert r.status_code == 200, r.text
        data = r.json()
        assert data["ponder"]["answer"] == "4" and data["ponder"]["confidence"] == 1.0
        assert backend.calls == 2  # the greedy chain and the greedy program, one round, then settled
        program_prompt = next(p for p in backend.prompts if "by writing a short Python program" in p)
        assert program_prompt.endswith("<assistant>```python\n")  # the reply starts as code
        assert "1 agree with the chosen answer" in data["choices"][0]["message"]["reasoning_content"]
        metrics = (await http.get("/metrics")).text
        assert 'ponder_sandbox_runs_total{outcome="exited"} 1.0' in metrics


async def test_no_program_is_asked_for_a_question_without_numbers():
    backend = ScriptedBackend(BOTH)
    async with client_for(backend) as http:
        r = await http.post("/v1/chat/completions", json={
            "model": "m", "reasoning_effort": "low", "messages": [{"role": "user", "content": "Name a colour."}]})
        assert r.status_code == 200, r.text
        assert "program" not in r.json()["choices"][0]["message"]["reasoning_content"]
        # No program-aided answer was asked for (an open-ended request may still get instruction checks).
        assert not any(PROGRAM_INSTRUCTION in p for p in backend.prompts)


async def test_json_schema_verifier_over_http_and_bad_schemas_are_400s():
    schema = {"type": "object", "required": ["total"], "properties": {"total": {"type": "integer"}}}
    request = {"model": "m", "messages": [{"role": "user", "content": "Give the total as JSON."}],
               "reasoning": {"effort": "low", "verifier": {"type": "json_schema", "schema": schema}}}
    backend = ScriptedBackend('```json\n{"total": 12}\n```')
    async with client_for(backend) as http:
        r = await http.post("/v1/chat/completions", json=request)
        assert r.status_code == 200, r.text
        assert r.json()["ponder"]["confidence"] == 1.0 and backend.calls == 1  # passed at once
        bad = {**request, "reasoning": {"verifier": {"type": "json_schema", "schema": {"type": 5}}}}
        r = await http.post("/v1/chat/completions", json=bad)
        assert r.status_code == 400 and "JSON Schema" in r.json()["error"]["message"]
    async with client_for(ScriptedBackend('{"total": "twelve"}')) as http:
        r = await http.post("/v1/chat/completions", json=request)
        assert r.status_code == 200 and "total" in r.json()["choices"][0]["message"]["reasoning_content"]


async def test_without_a_sandbox_a_python_tests_request_is_a_503_naming_the_setting(monkeypatch):
    import rewards.sandbox

    monkeypatch.setattr(rewards.sandbox, "find_bwrap", lambda: None)  # a machine without bubblewrap
    backend = ScriptedBackend(GOOD)
    async with client_for(backend) as http:
        r = await http.post("/v1/chat/completions", json=body())
    assert r.status_code == 503 and r.json()["error"]["code"] == "sandbox_unavailable"
    assert "PONDER_SANDBOX" in r.json()["error"]["message"] and backend.calls == 0


class CodeAndTests(ScriptedBackend):
    """A candidate for the function, or, asked for tests of it, two assert lines (one an edge case)."""

    async def complete(self, prompt, *, n, params, deadline=None):
        if prompt.endswith("```python\nassert sort_list("):
            self.text = "[]) == []\nassert sort_list([2, 1, 2]) == [1, 2, 2]\n```"
        else:
            self.text = GOOD
        return await super().complete(prompt, n=n, params=params, deadline=deadline)


async def test_code_search_runs_the_models_tests_in_the_sandbox_beside_the_clients():
    backend = CodeAndTests()
    request = body()
    request["reasoning"] = {**request["reasoning"], "strategy": "code_search", "settings": {"n": 2, "batch": 1}}
    async with client_for(backend) as http:
        r = await http.post("/v1/chat/completions", json=request)
        assert r.status_code == 200, r.text
        data = r.json()
        assert data["ponder"]["strategy"] == "code_search" and "sorted(xs)" in data["choices"][0]["message"]["content"]
        assert any(p.endswith("assert sort_list(") for p in backend.prompts)  # the model was asked for tests
        trace = (await http.get(f"/v1/traces/{data['id']}")).json()
    code = trace["code"]
    assert code["tests"] == 2 and code["generated_passed"] == 2 and code["client_passed"] >= 1
    assert "passed 2 of 2 test(s) the model wrote" in data["choices"][0]["message"]["reasoning_content"]


async def test_auto_runs_the_code_search_where_a_request_sets_its_code_settings():
    request = body()
    request["reasoning"] = {**request["reasoning"], "settings": {"code": {"n": 2, "batch": 1}}}
    async with client_for(CodeAndTests()) as http:
        chosen = (await http.post("/v1/chat/completions", json=request)).json()["ponder"]["strategy"]
        plain = (await http.post("/v1/chat/completions", json=body())).json()["ponder"]["strategy"]
    assert (chosen, plain) == ("auto:code_search", "auto:best_of_n")  # the tiers leave it off until measured
