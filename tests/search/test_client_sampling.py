"""The client's sampling choices (Problem.client_sampling) reach the hot samples of every registered
strategy, over the strategy's own defaults; its greedy passes stay greedy."""

from __future__ import annotations

import pytest

from sampling import ClientSampling, Sampling
from search.budget import Budget
from search.driver import run_search
from search.registry import STRATEGIES
from search.strategy import Problem

from .scripted import LastNumberTools, ScriptedGenerator, make_strategy

# Values no strategy uses as a default, so each one seen on a call came from the client.
CLIENT = ClientSampling(temperature=1.3, top_p=0.6, min_p=0.2, frequency_penalty=0.4, presence_penalty=-0.1)
QUESTION = "What is 2 + 2?"
MESSAGES = ({"role": "user", "content": QUESTION},)
# open_ended answers requests with no answer to vote on; auto routes such a request to it too.
OPEN = "Write a haiku about autumn."


async def render(messages, *, add_generation_prompt: bool = True) -> str:
    return "".join(f"<{m['role']}>{m['content']}" for m in messages)


def problem(name: str, client: ClientSampling) -> Problem:
    question = OPEN if name == "open_ended" else QUESTION
    # A bare base (no client field in it): whatever a hot sample takes from the client came by Problem.hot.
    return Problem(prompt=f"Q: {question}", question=question, messages=({"role": "user", "content": question},),
                   sampling=Sampling(max_tokens=64), client_sampling=client)


async def calls_of(name: str, client: ClientSampling, **settings: object) -> list[Sampling]:
    gen = ScriptedGenerator(["so 4", "so 5", "so 6"], tokens=10)
    strategy = make_strategy(name, problem(name, client), LastNumberTools(), render=render, **settings)
    await run_search(strategy, generator=gen, budget=Budget.create(max_tokens=5000, max_calls=12, deadline_s=None))
    return [c["sampling"] for c in gen.calls]  # type: ignore[misc]


@pytest.mark.parametrize("name", sorted(STRATEGIES))
async def test_the_clients_sampling_reaches_every_strategys_hot_samples(name):
    calls = await calls_of(name, CLIENT)
    temperatures = {s.temperature for s in calls}
    assert CLIENT.temperature in temperatures  # it drew hot samples, at the client's temperature
    assert temperatures <= {0.0, CLIENT.temperature}  # no strategy default leaked past it
    hot = {(s.top_p, s.min_p, s.frequency_penalty, s.presence_penalty) for s in calls if not s.greedy}
    assert hot == {(0.6, 0.2, 0.4, -0.1)}


@pytest.mark.parametrize("name", ["auto", "best_of_n", "open_ended", "revise", "self_consistency"])
async def test_a_strategys_greedy_pass_stays_greedy_under_a_clients_temperature(name):
    calls = await calls_of(name, CLIENT, **({"greedy_first": True} if name == "self_consistency" else {}))
    assert any(s.greedy for s in calls) and any(not s.greedy for s in calls)


async def test_revise_revises_at_the_clients_temperature_else_at_its_own():
    own = await calls_of("revise", ClientSampling(), max_revisions=2)
    clients = await calls_of("revise", ClientSampling(temperature=0.9), max_revisions=2)
    assert [s.temperature for s in own] == [0.0, 0.3, 0.3]  # greedy first, then revision_temperature
    assert [s.temperature for s in clients] == [0.0, 0.9, 0.9]


@pytest.mark.parametrize("name", ["beam", "self_consistency", "single"])
async def test_without_client_choices_the_strategys_defaults_stay(name):
    calls = await calls_of(name, ClientSampling(), **({"temperature": 0.5} if name != "self_consistency" else {}))
    hot = {s.temperature for s in calls if not s.greedy}
    assert hot == ({0.7} if name == "self_consistency" else {0.5})
