"""Open-ended requests through the API: the reply is written without the math prompt, checked
against the request's instructions, never a loop, and said so; a bare answer is shown bare."""

from __future__ import annotations

from backends.types import Completion, Sample
from sampling import Sampling
from search.instruction_prompts import CHECKS_INSTRUCTION

from .fake_backend import ScriptedBackend
from .test_ops import client_for

LOOP = "Autumn leaves. " + "a leaf's fate is sealed, " * 14
CHECKS = ''' "Your entire response should be in lowercase letters."

def check_1(reply):
    """Your entire response should be in lowercase letters."""
    return reply == reply.lower()
```
'''


class OpenBackend(ScriptedBackend):
    """The checks prompt gets CHECKS; replies come from `replies` in turn (test code)."""

    def __init__(self, replies: list[str]) -> None:
        super().__init__()
        self.replies = replies
        self.reply_prompts: list[str] = []
        self.reply_params: list[Sampling] = []

    async def complete(self, prompt, *, n, params, deadline=None):
        self.calls += 1
        if CHECKS_INSTRUCTION in prompt:
            texts = [CHECKS] * n
        else:
            self.reply_prompts.append(prompt)
            self.reply_params.append(params)
            texts = [self.replies[(len(self.reply_prompts) - 1 + i) % len(self.replies)] for i in range(n)]
        finish = ["length" if t == LOOP else "stop" for t in texts]
        return Completion(samples=tuple(Sample(t, 30, f) for t, f in zip(texts, finish, strict=True)),
                          prompt_tokens=10 * n, backend=self.name)


def chat(question: str, effort: str) -> dict:
    return {"model": "m", "reasoning_effort": effort, "messages": [{"role": "user", "content": question}]}


async def test_an_open_ended_request_gets_a_checked_reply_and_says_how_it_was_chosen() -> None:
    backend = OpenBackend([LOOP, "Crisp Air, Red Leaves", "crisp air, red leaves fall"])
    async with client_for(backend, sandbox="unsafe-rlimits") as http:
        r = await http.post("/v1/chat/completions", json=chat("Write a haiku about autumn in all lowercase.", "high"))
    assert r.status_code == 200
    body = r.json()
    message = body["choices"][0]["message"]
    assert message["content"] == "crisp air, red leaves fall"
    assert "selected by instruction checks among 3 replies (1 of 1 instructions met" in message["reasoning_content"]
    assert "1 looping reply set aside" in message["reasoning_content"]
    assert body["ponder"]["strategy"] == "auto:open_ended"
    # no reply prompt carries the server's default math prompt
    assert backend.reply_prompts and not any("boxed" in p for p in backend.reply_prompts)


async def test_effort_none_writes_an_open_ended_reply_without_the_math_prompt() -> None:
    backend = OpenBackend(["crisp air"])
    async with client_for(backend) as http:
        r = await http.post("/v1/chat/completions", json=chat("Write a haiku about autumn.", "none"))
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "crisp air"
    assert not any("boxed" in p for p in backend.reply_prompts)


async def test_a_bare_answer_is_shown_bare_and_the_work_stays_in_the_reasoning() -> None:
    backend = ScriptedBackend("17 * 23 = 391. The answer is \\boxed{391}.")
    async with client_for(backend) as http:
        r = await http.post("/v1/chat/completions", json=chat("What is 17 * 23? Give the number only.", "none"))
        plain = await http.post("/v1/chat/completions", json=chat("What is 17 * 23?", "none"))
    message = r.json()["choices"][0]["message"]
    assert message["content"] == "391"
    assert "17 * 23 = 391" in message["reasoning_content"]
    assert plain.json()["choices"][0]["message"]["content"].startswith("17 * 23 = 391")


async def test_open_ended_replies_get_the_loop_penalty_unless_the_client_sends_its_own_and_math_gets_none() -> None:
    backend = OpenBackend(["crisp air"])
    async with client_for(backend, open_frequency_penalty=0.4) as http:
        await http.post("/v1/chat/completions", json=chat("Write a haiku about autumn.", "none"))
        await http.post("/v1/chat/completions", json={**chat("Write a haiku about autumn.", "none"),
                                                      "frequency_penalty": 0.0, "presence_penalty": 0.7})
        # An explicit zero is the client's choice, as any other value: no loop penalty over it.
        await http.post("/v1/chat/completions", json={**chat("Write a haiku about autumn.", "none"),
                                                      "frequency_penalty": 0.0})
        await http.post("/v1/chat/completions", json=chat("What is 17 * 23?", "none"))
        refused = await http.post("/v1/chat/completions", json={**chat("Hi", "none"), "frequency_penalty": 3})
    penalties = [(p.frequency_penalty, p.presence_penalty) for p in backend.reply_params]
    assert penalties == [(0.4, 0.0), (0.0, 0.7), (0.0, 0.0), (0.0, 0.0)]
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "frequency_penalty"


async def test_the_trace_of_an_open_ended_search_holds_its_checks_for_the_viewer() -> None:
    backend = OpenBackend(["Crisp Air", "crisp air"])
    async with client_for(backend, sandbox="unsafe-rlimits") as http:
        body = {**chat("Write a haiku about autumn in all lowercase.", "high"), "reasoning": {"trace": True}}
        trace_id = (await http.post("/v1/chat/completions", json=body)).json()["id"]
        trace = (await http.get(f"/v1/traces/{trace_id}")).json()
    selection = trace["selection"]
    assert selection["method"] == "instruction checks" and selection["met"] == 1 and selection["failed"] == []
    assert selection["checks"] == ["Your entire response should be in lowercase letters."]
    assert trace["content"] == "crisp air"
    assert selection["texts"][selection["chosen"]] == "crisp air" and "Crisp Air" in selection["texts"]
