import pytest

from app.protocol.chat import ChatCompletionRequest
from app.protocol.errors import ApiError
from app.reasoning.service import plan_request
from app.settings import DEFAULT_SYSTEM_PROMPT, load_settings
from search.strategies.beam import BeamSettings
from search.strategies.single import SingleSettings

MSG = [{"role": "user", "content": "hi"}]


def req(**body):
    return ChatCompletionRequest.model_validate({"model": "m", "messages": MSG, **body})


def test_effort_picks_tier_and_caps_budget_by_max_completion_tokens():
    settings = load_settings()
    plan = plan_request(req(reasoning_effort="high", max_completion_tokens=500), settings)
    assert plan.strategy == "auto" and plan.settings.n == 12
    assert plan.budget_tokens == 500 and plan.sampling.max_tokens <= 500
    assert plan_request(req(reasoning_effort="none"), settings).strategy == "single"


def test_reasoning_object_overrides_tier():
    plan = plan_request(req(reasoning_effort="low", reasoning={"strategy": "single", "budget_tokens": 64,
                                                               "max_calls": 2, "deadline_s": 5}), load_settings())
    assert (plan.strategy, plan.budget_tokens, plan.max_calls, plan.deadline_s) == ("single", 64, 2, 5)
    assert plan.settings == SingleSettings()  # the tier's auto settings do not leak into another strategy


def test_the_default_deadline_depends_on_the_effort_and_the_server_bounds_it():
    deadlines = {effort: plan_request(req(reasoning_effort=effort), load_settings()).deadline_s
                 for effort in ("none", "minimal", "low", "medium", "high")}
    assert deadlines == {"none": 60, "minimal": 60, "low": 150, "medium": 300, "high": 600}
    lowered = load_settings(default_deadline_s=100)  # an operator's lower default bounds every tier
    assert [plan_request(req(reasoning_effort=e), lowered).deadline_s for e in ("none", "high")] == [60, 100]
    asked = plan_request(req(reasoning_effort="none", reasoning={"deadline_s": 200}), load_settings())
    assert asked.deadline_s == 200  # a request's own deadline wins, up to max_deadline_s


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


@pytest.mark.parametrize(
    "body, param",
    [
        ({"reasoning": {"strategy": "beam", "n": 4}}, "reasoning.n"),  # beam has no n
        ({"reasoning": {"strategy": "beam", "settings": {"widht": 4}}}, "reasoning.settings.widht"),
        ({"reasoning": {"strategy": "beam", "settings": {"width": 0}}}, "reasoning.settings.width"),
        ({"reasoning": {"strategy": "beam", "settings": {"mode": "bogus"}}}, "reasoning.settings.mode"),
    ],
)
def test_strategy_settings_from_the_request_are_checked_by_the_strategys_model(body, param):
    with pytest.raises(ApiError) as info:
        plan_request(req(**body), load_settings())
    assert info.value.status == 400 and info.value.param == param
    assert param.rsplit(".", 1)[-1] in info.value.message


@pytest.mark.parametrize("flat, value", [("probe_programs", 1), ("chains_with_programs", 3), ("judge_close", 0.7),
                                         ("give_up_after", 4), ("wrong_arithmetic_weight", 0.5), ("probe", 2)])
def test_autos_former_flat_settings_are_refused_naming_them(flat, value):
    # auto's settings nest by phase (probe, vote, verify): a client still sending the flat names learns which one
    with pytest.raises(ApiError) as info:
        plan_request(req(reasoning={"strategy": "auto", "settings": {flat: value}}), load_settings())
    assert info.value.status == 400 and info.value.param == f"reasoning.settings.{flat}"
    assert flat in info.value.message


def test_autos_nested_settings_reach_it():
    plan = plan_request(req(reasoning={"strategy": "auto", "settings": {"vote": {"judge_close": 0.7},
                                                                        "probe": {"samples": 3}}}), load_settings())
    assert (plan.settings.vote.judge_close, plan.settings.probe.samples) == (0.7, 3)


def test_a_request_changes_one_setting_of_a_tiers_nested_group_and_keeps_the_rest():
    tier = plan_request(req(reasoning_effort="low"), load_settings()).settings
    plan = plan_request(req(reasoning_effort="low", reasoning={"settings": {"vote": {"judge_close": 0.7}}}),
                        load_settings())
    assert plan.settings.vote.judge_close == 0.7 and tier.vote.judge_close != 0.7
    assert plan.settings.vote.programs == tier.vote.programs > 0  # the tier's other vote settings stay
    assert plan.settings.verify == tier.verify and plan.settings.probe == tier.probe
    with pytest.raises(ApiError) as info:  # a misspelled name in a group lists that group's settings
        plan_request(req(reasoning_effort="low", reasoning={"settings": {"vote": {"jduge_close": 0.7}}}),
                     load_settings())
    assert info.value.param == "reasoning.settings.vote" and "judge_close" in info.value.message
    assert "probe" not in info.value.message.split("its settings:")[1]


def test_request_settings_reach_the_strategy_and_sampling_fields_reach_the_plan():
    plan = plan_request(req(reasoning={"strategy": "beam", "settings": {"width": 3, "mode": "dvts"}},
                            temperature=0.4, top_p=0.8, min_p=0.05, seed=9, stop=["END"]), load_settings())
    assert plan.settings == BeamSettings(width=3, mode="dvts")  # sampling fields are no strategy settings
    assert plan.client_sampling.chosen() == {"temperature": 0.4, "top_p": 0.8, "min_p": 0.05}
    assert (plan.sampling.top_p, plan.sampling.min_p, plan.sampling.seed, plan.sampling.stop,
            plan.sampling.temperature) == (0.8, 0.05, 9, ("END",), 0.0)  # the base is greedy; hot samples take 0.4
    # `revise` has no `temperature` setting: the client's still reaches its revisions through the overlay.
    revised = plan_request(req(reasoning={"strategy": "revise"}, temperature=1.1), load_settings())
    assert revised.client_sampling.temperature == 1.1 and revised.sampling.temperature == 0.0


@pytest.mark.parametrize("body, param", [({"min_p": 1.5}, "min_p"), ({"min_p": "0.1"}, "min_p"),
                                         ({"top_p": 0}, "top_p"), ({"temperature": 2.5}, "temperature")])
def test_an_out_of_range_sampling_field_is_refused_naming_it(body, param):
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        req(**body)
    assert [e["loc"] for e in info.value.errors()] == [(param,)]


def test_a_misspelled_tier_setting_stops_the_settings_naming_tier_and_field():
    from pydantic import ValidationError

    tiers = {"low": {"strategy": "auto", "budget_tokens": 100, "max_calls": 2, "settings": {"progams": 5}}}
    with pytest.raises(ValidationError) as info:
        load_settings(tiers=tiers)
    assert "tier 'low'" in str(info.value) and "progams" in str(info.value)
    with pytest.raises(ValidationError, match="unknown strategy 'bean'"):
        load_settings(tiers={"low": {"strategy": "bean", "budget_tokens": 100, "max_calls": 2}})


def test_tiers_from_the_environment_are_checked_at_startup(monkeypatch):
    from pydantic import ValidationError

    monkeypatch.setenv("PONDER_TIERS", '{"high": {"strategy": "beam", "budget_tokens": 9, "max_calls": 2, '
                                       '"config": {"width": 2, "expansion": 3}}}')
    with pytest.raises(ValidationError, match="tier 'high' \\(beam\\): expansion: Extra inputs"):
        load_settings()
    monkeypatch.setenv("PONDER_TIERS", '{"high": {"strategy": "beam", "budget_tokens": 9, "max_calls": 2, '
                                       '"config": {"width": 2}}}')  # `config`, the field's former name
    assert load_settings().tiers["high"].settings == {"width": 2}


def test_effort_from_a_model_alias_and_openai_efforts_without_a_tier_of_their_own():
    settings = load_settings()
    assert plan_request(req(model="smollm2:none"), settings).strategy == "single"
    assert plan_request(req(model="smollm2:high"), settings).settings.n == 12
    # An explicit effort field wins over the alias; a suffix that is no effort is part of the model's name.
    assert plan_request(req(model="smollm2:none", reasoning_effort="high"), settings).strategy == "auto"
    assert plan_request(req(model="llama3:8b"), settings).effort == "medium"
    assert plan_request(req(reasoning_effort="minimal"), settings).strategy == "single"
    xhigh = plan_request(req(reasoning_effort="xhigh"), settings)
    assert (xhigh.effort, xhigh.budget_tokens) == ("xhigh", settings.tiers["high"].budget_tokens)


def test_the_sample_cap_follows_the_request_then_the_tier_within_the_budget_and_the_limit():
    settings = load_settings(tiers={"low": {"strategy": "single", "budget_tokens": 8000, "max_calls": 1,
                                            "max_tokens_per_sample": 2048}}, default_effort="low",
                             effort_aliases={})
    assert plan_request(req(), settings).sampling.max_tokens == 2048
    asked = plan_request(req(reasoning={"max_tokens_per_sample": 4096}), settings)
    assert asked.sampling.max_tokens == 4096
    assert plan_request(req(reasoning={"max_tokens_per_sample": 4096}, max_completion_tokens=1000),
                        settings).sampling.max_tokens == 1000
    assert plan_request(req(reasoning_effort="low"), load_settings()).sampling.max_tokens == 512
    with pytest.raises(ApiError) as info:
        plan_request(req(reasoning={"max_tokens_per_sample": 10**6}), settings)
    assert info.value.param == "reasoning.max_tokens_per_sample"
    with pytest.raises(ApiError) as unknown:
        plan_request(req(reasoning_effort="high"), settings)  # no such tier here
    assert unknown.value.param == "reasoning_effort" and "efforts: low" in unknown.value.message
