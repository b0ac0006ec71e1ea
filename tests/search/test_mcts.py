"""MCTS (search.strategies.mcts): PUCT selection and backup on hand-computed trees, and whole searches
whose steps carry token logprobs and whose rollouts continue each new step."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import pytest

from sampling import Sampling
from search.budget import Budget
from search.driver import run_search
from search.events import RoundStart
from search.strategies.mcts import MCTS
from search.strategy import Problem
from search.tree import STEP_DELIMITER, node_records

from .scripted import ScriptedGenerator, make_strategy
from .test_driver import PassesOn

PROBLEM = Problem(prompt="Q: 2+2?", sampling=Sampling(max_tokens=64))


def mcts(**settings: object) -> MCTS:
    strategy = make_strategy("mcts", PROBLEM, **settings)
    assert isinstance(strategy, MCTS)
    return strategy


def two_children(strategy: MCTS) -> tuple[int, int]:
    """root (N=4, W=2) -> a (P=0.8, N=1, W=0) and b (P=0.2, N=3, W=2): open steps, nothing below them."""
    tree = strategy.tree
    a = tree.add(0, "a" + STEP_DELIMITER, prior=0.8, visits=1, value=0.0).id
    b = tree.add(0, "b" + STEP_DELIMITER, prior=0.2, visits=3, value=2.0).id
    tree.update(0, visits=4, value=2.0)
    return a, b


def test_puct_trades_the_prior_against_the_value_and_backup_adds_the_reward_up_to_the_root():
    strategy = mcts(c_puct=1.0)
    a, b = two_children(strategy)
    # Q + c * P * sqrt(N(root)) / (1 + N):  a: 0 + 0.8 * 2 / 2 = 0.8;  b: 2/3 + 0.2 * 2 / 4 = 0.7667
    assert strategy.puct(0, a) == pytest.approx(0.8)
    assert strategy.puct(0, b) == pytest.approx(2 / 3 + 0.1)
    assert strategy.select() == a  # the prior wins
    strategy.c_puct = 0.5  # a: 0.4;  b: 2/3 + 0.05 = 0.7167
    assert strategy.select() == b  # the value wins
    # Backup: +1 visit and +reward on every node from the given one up to the root, nothing beside it.
    a1 = strategy.tree.add(a, "a1" + STEP_DELIMITER).id
    strategy.backup(a1, 0.25)
    nodes = strategy.tree.nodes
    assert (nodes[a1].visits, nodes[a1].value) == (1, 0.25)
    assert (nodes[a].visits, nodes[a].value) == (2, 0.25)
    assert (nodes[0].visits, nodes[0].value) == (5, 2.25)
    assert (nodes[b].visits, nodes[b].value) == (3, 2.0)
    # An unvisited step counts Q = 0.5: a1's sibling a2 (P=1) under a (N=2): 0.5 + 0.5 * 1 * sqrt(2) / 1
    a2 = strategy.tree.add(a, "a2" + STEP_DELIMITER).id
    assert strategy.puct(a, a2) == pytest.approx(0.5 + 0.5 * math.sqrt(2))


def test_a_round_of_parallel_simulations_is_spread_by_virtual_loss():
    strategy = mcts(c_puct=1.0, parallel=2)
    a, b = two_children(strategy)
    asks = strategy.ask()
    # First a (0.8 > 0.7667, above). Its virtual visit makes root N=5, a N=2 with no more value:
    # a: 0/2 + 0.8 * sqrt(5) / 3 = 0.5963;  b: 2/3 + 0.2 * sqrt(5) / 4 = 0.7785, so b is next.
    assert [ask.node for ask in asks] == [a, b]
    assert all(ask.n == 2 and ask.sampling.logprobs == 1 for ask in asks)  # logprobs for the priors
    assert strategy.done_simulations == 0  # asked for, not yet run


@dataclass(frozen=True)
class Logprob:
    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass
class Policy(ScriptedGenerator):
    """Steps come from the script, with `step_logprobs[text]` as their token logprobs when asked for; a
    rollout (a request without the step delimiter) continues with `rollouts[the path's last step]`."""

    step_logprobs: dict[str, tuple[float, ...]] = field(default_factory=dict)
    rollouts: dict[str, str] = field(default_factory=dict)
    rollout_calls: list[dict[str, object]] = field(default_factory=list)

    async def generate(self, prompt, *, n, sampling, deadline=None):
        if STEP_DELIMITER in sampling.stop:
            out = await super().generate(prompt, n=n, sampling=sampling, deadline=deadline)
            if sampling.logprobs is None:
                return out
            return replace(out, samples=tuple(
                replace(s, logprobs=tuple(Logprob("t", lp) for lp in self.step_logprobs[s.text]))
                if s.text in self.step_logprobs else s for s in out.samples))
        self.rollout_calls.append({"prompt": prompt, "n": n, "sampling": sampling})
        [text] = [v for k, v in self.rollouts.items() if prompt.endswith(k + STEP_DELIMITER)]
        return await ScriptedGenerator([text]).generate(prompt, n=n, sampling=sampling)


async def test_mcts_rolls_out_every_new_step_takes_priors_from_logprobs_and_votes_over_the_rollouts():
    gen = Policy(["step A\n\n", "step B\n\n", "step C\n\n", "step D\n\n"],
                 step_logprobs={"step A": (-0.1, -0.3), "step B": (-1.2,)},  # C and D come without logprobs
                 rollouts={"step A": "so 5", "step B": "so 4", "step C": "so 4", "step D": "so 4"})
    strategy = mcts(simulations=2, expansions=2, parallel=1, c_puct=1.0)
    result = await run_search(strategy, generator=gen,
                              budget=Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None))
    nodes = {n["id"]: n for n in node_records(result.tree)}
    assert [nodes[i]["text"] for i in range(1, 9)] == ["step A\n\n", "step B\n\n", "so 5", "so 4",
                                                       "step C\n\n", "step D\n\n", "so 4", "so 4"]
    # Priors: mean logprobs -0.2 (A) and -1.2 (B), softmaxed: 1 / (1 + e^-1) = 0.7311 and 0.2689;
    # C and D have no logprobs, so uniform.
    assert nodes[1]["prior"] == pytest.approx(1 / (1 + math.exp(-1)))
    assert nodes[2]["prior"] == pytest.approx(1 / (1 + math.exp(1)))
    assert nodes[5]["prior"] == nodes[6]["prior"] == 0.5
    # Every new step was rolled out once, with the request's own sampling, from its path.
    assert [c["prompt"] for c in gen.rollout_calls] == [
        PROBLEM.prompt + "step A\n\n", PROBLEM.prompt + "step B\n\n",
        PROBLEM.prompt + "step A\n\nstep C\n\n", PROBLEM.prompt + "step A\n\nstep D\n\n"]
    assert all(c["n"] == 1 and c["sampling"].temperature == PROBLEM.sampling.temperature
               and STEP_DELIMITER not in c["sampling"].stop for c in gen.rollout_calls)
    assert all(c["logprobs"] == 1 for c in gen.calls)  # the step requests asked for logprobs
    assert [nodes[i]["rollout"] for i in range(1, 9)] == [False, False, True, True, False, False, True, True]
    # Rewards, by hand. Round 1's rollouts say 5 (node 3) and 4 (node 4): each holds 1/2 of the answers.
    # Selection then: A 0.5 + 0.7311 * sqrt(2) / 2 = 1.017 beats B 0.5 + 0.2689 * sqrt(2) / 2 = 0.690,
    # so A is expanded (C, D); their rollouts say 4 and 4: each holds 3/4 of the answers 5, 4, 4, 4.
    # A: rewards 0.5 (its rollout) + 0.75 + 0.75 over 3 visits; B: 0.5 over 1.
    assert (nodes[1]["visits"], nodes[1]["value"]) == (3, pytest.approx(2.0 / 3, abs=1e-4))
    assert (nodes[2]["visits"], nodes[2]["value"]) == (1, 0.5)
    assert (nodes[3]["visits"], nodes[3]["value"], nodes[7]["value"]) == (1, 0.5, 0.75)
    assert (nodes[5]["visits"], nodes[5]["value"]) == (1, 0.75)
    assert nodes[3]["prior"] == 0.0 and nodes[3]["terminal"]  # a rollout is no step to select
    # The vote over the finished rollouts decides: 4 three times, 5 once (the most visited step's own
    # rollout said 5), and the shown solution is the first one that says 4.
    o = result.outcome
    assert o.answer == "4" and o.confidence == 0.75
    assert [(c.answer, c.votes) for c in o.candidates] == [("4", 3.0), ("5", 1.0)]
    assert o.content == "step B\n\nso 4"
    assert (o.path.simulations, o.path.rollouts, o.path.finished) == (2, 4, 4)


async def test_a_finished_step_is_revisited_and_every_simulation_counted_ran():
    # Steps that end the solution get no rollout; with no logprobs the priors are uniform (1/3 each).
    gen = ScriptedGenerator(["so 4", "so 5", "so 4"])
    strategy = mcts(simulations=3, expansions=3, parallel=1, c_puct=1.0)
    result = await run_search(strategy, generator=gen,
                              budget=Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None))
    nodes = {n["id"]: n for n in node_records(result.tree)}
    # Rewards 2/3, 1/3, 2/3 (root N=3). Then: node 1: 2/3 + (1/3) * sqrt(3) / 2 = 0.955 ties node 3 and
    # comes first (node 2: 0.622), revisited with 2/3 (root N=4); then node 1: 2/3 + (1/3) * 2 / 3 =
    # 0.889 < node 3: 2/3 + (1/3) * 2 / 2 = 1.0, so node 3 is. Three simulations, one request.
    assert len(gen.calls) == 1 and result.outcome.path.simulations == 3
    assert [nodes[i]["visits"] for i in (1, 2, 3)] == [2, 1, 2]
    assert result.outcome.answer == "4" and result.outcome.path.rollouts == 0


async def test_a_simulation_that_did_not_run_is_not_counted():
    # The first expansion fails: it is asked again, and the search still runs its one simulation.
    gen = Policy(["step A\n\n", "step B\n\n"], fail_calls={0}, rollouts={"step A": "so 4", "step B": "so 4"})
    result = await run_search(mcts(simulations=1, expansions=2), generator=gen,
                              budget=Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None))
    assert len(gen.calls) == 2 and result.outcome.answer == "4"
    assert result.outcome.path.simulations == 1 and len(gen.rollout_calls) == 2
    # Two parallel simulations from an empty tree: the second finds the root in flight and waits a
    # round, uncounted; both run.
    gen = Policy(["step A\n\n"], rollouts={"step A": "so 4"})
    result = await run_search(mcts(simulations=2, expansions=1, parallel=2), generator=gen,
                              budget=Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None))
    assert [[c.tag for c in e.calls] for e in result.events if isinstance(e, RoundStart)] == [
        ["expand node 0"], ["roll out node 1"], ["expand node 1"], ["roll out node 3"]]
    assert result.outcome.path.simulations == 2


async def test_with_a_verifier_the_rollouts_are_rewarded_by_it_and_a_pass_ends_the_search():
    gen = Policy(["step A\n\n", "step B\n\n"], rollouts={"step A": "so 5", "step B": "so 4"})
    strategy = make_strategy("mcts", PROBLEM, verifier=PassesOn("4"), simulations=8, expansions=2)
    result = await run_search(strategy, generator=gen,
                              budget=Budget.create(max_tokens=10_000, max_calls=None, deadline_s=None))
    nodes = {n["id"]: n for n in node_records(result.tree)}
    assert len(gen.calls) == 1 and len(gen.rollout_calls) == 2  # one simulation, then the pass
    assert (nodes[1]["value"], nodes[2]["value"]) == (0.0, 1.0)  # the verifier's scores, backed up
    assert result.outcome.answer == "4" and result.outcome.confidence == 1.0
