"""Each package's public names are pinned: a change to them is a decision, made here on purpose."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "sampling": ["ClientSampling", "Sampling"],
    "search": [
        "STRATEGIES", "AnswerTools", "Ask", "AskKind", "Budget", "BudgetExhausted", "ChargedGenerator", "Generation",
        "Generator", "Outcome", "Problem", "SearchDeps", "SearchFailed", "SearchResult", "StepScorer", "Strategy",
        "StrategySettings", "Usage", "Verifier", "build_strategy", "run_search", "strategy_names", "strategy_settings",
    ],
    "rewards": [
        "ExactVerifier", "Game24Verifier", "JsonSchemaVerifier", "LLMJudgePRM", "MathEquivVerifier", "MathEquivalence",
        "PythonTestsVerifier", "RegexVerifier", "RemotePRM", "SandboxLimits", "SandboxResult", "extract_answer",
        "normalize_answer", "value_judge",
    ],
    "backends": [
        "Backend", "BackendError", "BackendUnavailable", "ChatMessage", "Completion", "Sample", "TokenLogprob",
    ],
    "app": ["Settings", "create_app", "load_settings"],
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_public_names_are_pinned_and_resolve(package):
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(PUBLIC[package])
    assert all(getattr(module, name, None) is not None for name in module.__all__)


def test_every_strategy_has_a_settings_model_that_forbids_unknown_fields():
    from pydantic import ValidationError

    from search import STRATEGIES, StrategySettings, strategy_settings

    for name, strategy in STRATEGIES.items():
        assert issubclass(strategy.Settings, StrategySettings), name
        assert strategy_settings(name, {}) == strategy.Settings()  # every setting has a default
        with pytest.raises(ValidationError, match="misspelled"):
            strategy_settings(name, {"misspelled": 1})
