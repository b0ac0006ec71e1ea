"""Strategy names as clients use them in `reasoning.strategy`, and their typed settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from search.strategies.auto import Auto
from search.strategies.beam import Beam
from search.strategies.best_of_n import BestOfN
from search.strategies.code_search import CodeSearch
from search.strategies.mcts import MCTS
from search.strategies.open_ended import OpenEnded
from search.strategies.particle_filter import ParticleFilter
from search.strategies.revise import Revise
from search.strategies.self_consistency import SelfConsistency
from search.strategies.single import Single
from search.strategies.tot import TreeOfThoughts
from search.strategy import Problem, SearchDeps, Strategy, StrategyClass, StrategySettings

STRATEGIES: dict[str, StrategyClass] = {
    "auto": Auto,
    "beam": Beam,
    "best_of_n": BestOfN,
    "code_search": CodeSearch,
    "single": Single,
    "tot": TreeOfThoughts,
    "mcts": MCTS,
    "open_ended": OpenEnded,
    "particle_filter": ParticleFilter,
    "revise": Revise,
    "self_consistency": SelfConsistency,
}


def strategy_names() -> list[str]:
    return sorted(STRATEGIES)


def strategy_settings(name: str, values: Mapping[str, Any]) -> StrategySettings:
    """`values` validated against strategy `name`'s settings (pydantic.ValidationError names a bad field)."""
    return STRATEGIES[name].Settings.model_validate(dict(values))


def build_strategy(name: str, problem: Problem, deps: SearchDeps,
                   settings: StrategySettings | Mapping[str, Any] | None = None) -> Strategy:
    """A fresh strategy `name` for one search, with its settings (a mapping is validated first)."""
    if not isinstance(settings, StrategySettings):
        settings = strategy_settings(name, settings or {})
    return STRATEGIES[name](problem, deps, settings)
