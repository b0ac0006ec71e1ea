import pytest

from app.errors import ApiError
from app.protocol import ChatCompletionRequest
from app.service import plan_request
from app.settings import DEFAULT_SYSTEM_PROMPT, load_settings

MSG = [{"role": "user", "content": "hi"}]


def req(**body):
    return ChatCompletionRequest.model_validate({"model": "m", "messages": MSG, **body})


def test_effort_picks_tier_and_caps_budget_by_max_completion_tokens():
    settings = load_settings()
    plan = plan_request(req(reasoning_effort="high", max_completion_tokens=500), settings)
    assert plan.strategy == "auto" and plan.config["n"] == 12
    assert plan.budget_tokens == 500 and plan.max_tokens_per_sample <= 500
    assert plan_request(req(reasoning_effort="none"), settings).strategy == "single"


def test_reasoning_object_overrides_tier():
    plan = plan_request(req(reasoning_effort="low", reasoning={"strategy": "single", "budget_tokens": 64,
                                                               "max_calls": 2, "deadline_s": 5}), load_settings())
    assert (plan.strategy, plan.budget_tokens, plan.max_calls, plan.deadline_s) == ("single", 64, 2, 5)
    assert plan.config == {}  # the tier's self-consistency config does not leak into another strategy


def test_system_prompt_added_only_when_client_sent_none():
    settings = load_settings()
    assert plan_request(req(), settings).messages[0] == {"role": "system", "content": DEFAULT_SYSTEM_PROMPT}
    own = [{"role": "developer", "content": "be terse"}, *MSG]
    assert plan_request(req(messages=own), settings).messages[0] == {"role": "system", "content": "be terse"}


@pytest.mark.parametrize(
    "body, param",
    [
        ({"reasoning": {"strategy": "nope"}}, "reasoning.strategy"),
        ({"reasoning": {"budget_tokens": 10**7}}, "reasoning.budget_tokens"),
        ({"reasoning": {"max_calls": 10**5}}, "reasoning.max_calls"),
        ({"reasoning": {"n": 10**4}}, "reasoning.n"),
        ({"messages": MSG * 300}, "messages"),
    ],
)
def test_limits_are_4xx_naming_the_parameter(body, param):
    with pytest.raises(ApiError) as info:
        plan_request(req(**body), load_settings())
    assert info.value.status == 400 and info.value.param == param
