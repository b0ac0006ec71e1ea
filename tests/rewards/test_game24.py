import csv
import importlib.util
from pathlib import Path

import pytest

from rewards.game24 import check_24, extract_expression, solvable


@pytest.mark.parametrize("expr", ["(10 - 4) * (13 - 9)", "(10-4)×(13-9)", "[(13 - 9) * (10 - 4)] = 24"])
def test_valid_forms_are_accepted(expr):
    assert check_24(expr, [4, 9, 10, 13]).passed


@pytest.mark.parametrize(
    "expr, numbers, why",
    [
        ("(10 - 4) * (13 - 9) * 1", [4, 9, 10, 13], "must use exactly"),  # an extra number
        ("(10 - 4) * (10 - 4)", [4, 9, 10, 13], "must use exactly"),  # reused, missing
        ("4 * 6", [4, 6, 1, 1], "must use exactly"),  # missing numbers
        ("(1 + 2) / (3 - 3) + 4", [1, 2, 3, 3, 4], "division by zero"),
        ("1 + 2 + 3 + 4", [1, 2, 3, 4], "not 24"),
        ("__import__('os').system('true')", [1, 2, 3, 4], "only integers"),
        ("2 ** 4 + 8", [2, 4, 8], "only integers"),
        ("", [1, 2, 3, 4], "no expression"),
    ],
)
def test_invalid_answers_are_rejected_with_feedback(expr, numbers, why):
    verdict = check_24(expr, numbers)
    assert not verdict.passed and why in verdict.feedback
    # Only an expression that keeps the rules and misses the target (or divides by zero) is a well-formed attempt.
    assert verdict.wellformed == (why in ("not 24", "division by zero"))


def test_exact_rationals_not_floats():
    assert check_24("8 / (3 - 8 / 3)", [3, 3, 8, 8]).passed  # 8 / (1/3) = 24 exactly


def test_extracts_expression_from_model_text():
    assert extract_expression("Steps...\nSo \\boxed{(10 - 4) * (13 - 9)}") == "(10 - 4) * (13 - 9)"
    assert extract_expression("We get (6 + 6) * 2 = 24.") == "(6 + 6) * 2"
    assert extract_expression("no arithmetic here") is None
    assert extract_expression("\\boxed{(10 - 4) * (13 - 9) = 24}") == "(10 - 4) * (13 - 9)"  # its value stated too


def _puzzles() -> list[list[int]]:
    spec = importlib.util.find_spec("tot")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("tree-of-thoughts-llm is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "24" / "24.csv"
    with path.open() as f:
        return [[int(x) for x in row["Puzzles"].split()] for row in csv.DictReader(f)]


def test_all_1362_puzzles_are_solvable_and_a_found_solution_checks():
    puzzles = _puzzles()
    assert len(puzzles) == 1362
    assert all(solvable(p) for p in puzzles)
    assert not solvable([1, 1, 1, 1])
