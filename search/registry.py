"""Strategy names as clients use them in `reasoning.strategy`."""

from __future__ import annotations

from search.strategies.auto import Auto
from search.strategies.beam import Beam
from search.strategies.best_of_n import BestOfN
from search.strategies.mcts import MCTS
from search.strategies.particle_filter import ParticleFilter
from search.strategies.revise import Revise
from search.strategies.self_consistency import SelfConsistency
from search.strategies.single import Single
from search.strategies.tot import TreeOfThoughts
from search.strategy import StrategyFactory

STRATEGIES: dict[str, StrategyFactory] = {
    "auto": Auto,
    "beam": Beam,
    "best_of_n": BestOfN,
    "single": Single,
    "tot": TreeOfThoughts,
    "mcts": MCTS,
    "particle_filter": ParticleFilter,
    "revise": Revise,
    "self_consistency": SelfConsistency,
}


def strategy_names() -> list[str]:
    return sorted(STRATEGIES)
