"""Search controllers: budget, driver, strategies. Knows no HTTP and no backend."""

from search.budget import Budget
from search.charged import BudgetExhausted, ChargedGenerator, Usage
from search.driver import SearchFailed, SearchResult, run_search
from search.protocols import AnswerTools, Generation, Generator, StepScorer, Verifier
from search.registry import STRATEGIES, build_strategy, strategy_names, strategy_settings
from search.strategy import Ask, AskKind, Outcome, Problem, SearchDeps, Strategy, StrategySettings

__all__ = [
    "STRATEGIES", "AnswerTools", "Ask", "AskKind", "Budget", "BudgetExhausted", "ChargedGenerator", "Generation",
    "Generator", "Outcome", "Problem", "SearchDeps", "SearchFailed", "SearchResult", "StepScorer", "Strategy",
    "StrategySettings", "Usage", "Verifier", "build_strategy", "run_search", "strategy_names", "strategy_settings",
]
