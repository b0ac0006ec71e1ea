"""Every parameter of OpenAI's chat-completions and Responses request schemas (as the official SDK
types them) is honoured, accepted as a label, or refused with a 400 naming it: none is dropped."""

from __future__ import annotations

import pytest
from openai.types.chat.completion_create_params import CompletionCreateParamsBase
from openai.types.responses.response_create_params import ResponseCreateParamsBase

from app.http.responses_api import ResponsesRequest
from app.http.responses_api import as_chat as responses_as_chat
from app.protocol import unsupported
from app.protocol.chat import ChatCompletionRequest
from app.protocol.errors import ApiError
from app.reasoning.service import plan_request
from app.settings import load_settings
from backends.types import Completion
from sampling import Sampling

from .fake_backend import ScriptedBackend
from .test_ops import client_for

MESSAGES = [{"role": "user", "content": "What is 2 + 2?"}]

# Used by the search (each has a test of its own in this suite or the e2e one).
CHAT_HONOURED = {"model", "messages", "reasoning_effort", "max_completion_tokens", "max_tokens", "temperature",
                 "top_p", "seed", "stop", "stream", "stream_options", "n", "response_format", "frequency_penalty",
                 "presence_penalty"}
RESPONSES_HONOURED = {"model", "input", "instructions", "reasoning", "max_output_tokens", "temperature", "top_p",
                      "stream", "stream_options", "text"}

# A value of each refused parameter that asks for what ponder cannot do.
ASKING = {
    "logprobs": True, "top_logprobs": 3, "tools": [{"type": "function", "function": {"name": "f"}}],
    "tool_choice": "auto", "functions": [{"name": "f"}], "function_call": "auto",
    "audio": {"voice": "alloy", "format": "wav"}, "modalities": ["text", "audio"], "logit_bias": {"50256": -100},
    "prediction": {"type": "content", "content": "4"},
    "web_search_options": {"search_context_size": "low"}, "store": True, "service_tier": "flex",
    "verbosity": "low", "moderation": "strict", "previous_response_id": "resp_1", "conversation": "conv_1",
    "background": True, "background_options": {"x": 1}, "include": ["reasoning.encrypted_content"],
    "max_tool_calls": 2, "truncation": "auto", "prompt": {"id": "pmpt_1"},
    "context_management": [{"type": "compaction"}], "access_programs": ["x"], "image": {"x": 1},
}


def sdk_fields(typed: type) -> set[str]:
    return set(typed.__annotations__) | {"stream"}


def test_every_chat_parameter_is_honoured_labelled_or_refused():
    fields = sdk_fields(CompletionCreateParamsBase)
    assert fields <= set(ChatCompletionRequest.model_fields)
    unclassified = fields - CHAT_HONOURED - set(unsupported.CHAT) - set(unsupported.LABELS)
    assert unclassified == set()


def test_every_responses_parameter_is_honoured_labelled_or_refused():
    fields = sdk_fields(ResponseCreateParamsBase)
    assert fields <= set(ResponsesRequest.model_fields)
    unclassified = fields - RESPONSES_HONOURED - set(unsupported.RESPONSES) - set(unsupported.LABELS)
    assert unclassified == set()


@pytest.mark.parametrize("name", sorted(unsupported.CHAT))
def test_a_refused_chat_parameter_is_a_400_naming_it_and_its_neutral_value_is_accepted(name):
    settings = load_settings()
    with pytest.raises(ApiError) as info:
        plan_request(ChatCompletionRequest.model_validate({"model": "m", "messages": MESSAGES, name: ASKING[name]}),
                     settings)
    assert (info.value.status, info.value.param, info.value.code) == (400, name, "unsupported_parameter")
    plan_request(ChatCompletionRequest.model_validate({"model": "m", "messages": MESSAGES, name: None}), settings)


@pytest.mark.parametrize("name", sorted(unsupported.RESPONSES))
def test_a_refused_responses_parameter_is_a_400_naming_it(name):
    with pytest.raises(ApiError) as info:
        responses_as_chat(ResponsesRequest.model_validate({"model": "m", "input": "2 + 2?", name: ASKING[name]}))
    assert (info.value.status, info.value.param) == (400, name)


def test_labels_are_accepted_and_change_nothing():
    labels = {"user": "u1", "metadata": {"k": "v"}, "safety_identifier": "s", "prompt_cache_key": "c",
              "parallel_tool_calls": True}
    settings = load_settings()
    plain = plan_request(ChatCompletionRequest.model_validate({"model": "m", "messages": MESSAGES}), settings)
    labelled = plan_request(ChatCompletionRequest.model_validate({"model": "m", "messages": MESSAGES, **labels}),
                            settings)
    assert labelled == plain


def test_response_format_json_becomes_the_json_schema_verifier():
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    body = {"model": "m", "messages": MESSAGES,
            "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}}
    plan = plan_request(ChatCompletionRequest.model_validate(body), load_settings())
    assert plan.verifier is not None and plan.verifier.type == "json_schema" and plan.verifier.schema_ == schema
    loose = plan_request(ChatCompletionRequest.model_validate({**body, "response_format": {"type": "json_object"}}),
                         load_settings())
    assert loose.verifier.schema_ == {"type": "object"}
    text = {**body, "response_format": {"type": "text"}}
    assert plan_request(ChatCompletionRequest.model_validate(text), load_settings()).verifier is None
    both = {**body, "reasoning": {"verifier": {"type": "exact", "reference": "4"}}}
    with pytest.raises(ApiError) as info:
        plan_request(ChatCompletionRequest.model_validate(both), load_settings())
    assert info.value.param == "response_format"


def test_responses_text_format_and_top_p_reach_the_plan():
    req = ResponsesRequest.model_validate({"model": "m", "input": "2 + 2?", "top_p": 0.5,
                                           "text": {"format": {"type": "json_object"}}})
    plan = plan_request(responses_as_chat(req), load_settings())
    assert plan.sampling.top_p == 0.5 and plan.verifier is not None and plan.verifier.type == "json_schema"


async def test_over_http_an_unknown_parameter_and_a_refused_one_are_400s_in_openais_format():
    async with client_for(ScriptedBackend()) as http:
        unknown = await http.post("/v1/chat/completions", json={"model": "m", "messages": MESSAGES, "top_k": 5})
        assert unknown.status_code == 400
        assert unknown.json()["error"] == {"message": "unsupported parameter: top_k", "type": "invalid_request_error",
                                           "param": "top_k", "code": "unsupported_parameter"}
        tools = await http.post("/v1/chat/completions", json={"model": "m", "messages": MESSAGES, **{
            "tools": ASKING["tools"]}})
        assert tools.status_code == 400 and tools.json()["error"]["param"] == "tools"
        responses = await http.post("/v1/responses", json={"model": "m", "input": "hi", "previous_response_id": "r"})
        assert responses.status_code == 400 and responses.json()["error"]["param"] == "previous_response_id"
        bad_schema = await http.post("/v1/responses", json={"model": "m", "input": "hi", "text": {
            "format": {"type": "json_schema", "schema": {"type": 5}}}})
        assert bad_schema.status_code == 400


class RecordingBackend(ScriptedBackend):
    """The scripted backend, recording the sampling of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.params: list[Sampling] = []

    async def complete(self, prompt: str, *, n: int, params: Sampling, deadline: float | None = None) -> Completion:
        self.params.append(params)
        return await super().complete(prompt, n=n, params=params, deadline=deadline)


async def test_over_http_the_clients_sampling_reaches_revises_revisions_and_a_bad_min_p_is_a_400():
    backend = RecordingBackend()
    # The exact verifier fails the scripted answer (4), so the one revision runs; revise has no temperature setting.
    body = {"model": "m", "messages": MESSAGES, "temperature": 0.9, "top_p": 0.7, "min_p": 0.1,
            "reasoning": {"strategy": "revise", "settings": {"max_revisions": 1},
                          "verifier": {"type": "exact", "reference": "5"}}}
    async with client_for(backend) as http:
        ok = await http.post("/v1/chat/completions", json=body)
        bad = await http.post("/v1/chat/completions", json={**body, "min_p": 1.5})
    assert ok.status_code == 200
    assert [(p.temperature, p.top_p, p.min_p) for p in backend.params] == [(0.0, 0.7, 0.1), (0.9, 0.7, 0.1)]
    assert bad.status_code == 400
    assert (bad.json()["error"]["param"], bad.json()["error"]["type"]) == ("min_p", "invalid_request_error")
