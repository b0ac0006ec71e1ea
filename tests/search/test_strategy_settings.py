"""Every strategy's settings: a model with a default for each knob, and a misspelled knob is an error."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from search.registry import STRATEGIES, strategy_settings
from search.strategy import StrategySettings


def test_every_strategy_has_a_settings_model_that_forbids_unknown_fields():
    for name, strategy in STRATEGIES.items():
        assert issubclass(strategy.Settings, StrategySettings), name
        assert strategy_settings(name, {}) == strategy.Settings()  # every setting has a default
        with pytest.raises(ValidationError, match="misspelled"):
            strategy_settings(name, {"misspelled": 1})
