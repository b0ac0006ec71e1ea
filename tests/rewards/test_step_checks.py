"""The exact step checker: which computations a step states, and whether they are right."""

import dataclasses
import time
from fractions import Fraction

import pytest

from rewards.step_checks import Computation, chain_arithmetic, find_computations, first_error, step_score


def verdicts(text: str) -> list[bool]:
    return [c.correct for c in find_computations(text)]


# Each form the checker reads, once right and once wrong.
FORMS = [
    ("12 * 9.5 = 114", "12 * 9.5 = 115"),
    ("$183 - 12 = $171", "$183 - 12 = $170"),
    ("$183 - $12 = $171", "$183 - $12 = $181"),
    ("3/4 * 20 = 15", "3/4 * 20 = 16"),
    ("20% of 50 = 10", "20% of 50 = 12"),
    ("0.2 * 50 = 10", "0.2 * 50 = 100"),
    ("1,200 + 300 = 1,500", "1,200 + 300 = 500"),
    ("(5 + 3) × 2 = 16", "(5 + 3) × 2 = 11"),
    ("48 / 2 = 24 clips", "48 / 2 = 22 clips"),
    ("2 hours * 60 = 120 minutes", "2 hours * 60 = 100 minutes"),
    (r"\frac{3}{4} \times 20 = 15", r"\frac{3}{4} \times 20 = 16"),
    (r"\$5 \times 3 = \$15", r"\$5 \times 3 = \$18"),
    (r"\( 7 \cdot 8 = 56 \)", r"\( 7 \cdot 8 = 54 \)"),
    ("84 ÷ 4 = 21", "84 ÷ 4 = 24"),
    ("3 x 4 = 12 eggs", "3 x 4 = 7 eggs"),
    ("5 boxes x 12 eggs = 60 eggs", "5 boxes x 12 eggs = 17 eggs"),
    ("3/4 of 20 = 15", "3/4 of 20 = 5"),
    ("15 percent of 80 = 12", "15 percent of 80 = 20"),
    ("$9.50/hour * 8 hours = $76", "$9.50/hour * 8 hours = $72"),
    ("3 plus 2 * 4 = 11", "3 plus 2 * 4 = 20"),
    ("2(3 + 4) = 14", "2(3 + 4) = 10"),
    ("3 1/2 * 2 = 7", "3 1/2 * 2 = 6"),
    ("2^10 = 1024", "2^10 = 1000"),
    ("5 - 8 = -3", "5 - 8 = 3"),
    ("17 // 5 = 3", "17 // 5 = 4"),
    ("**Total:** 5 * 3 = **15**", "**Total:** 5 * 3 = **16**"),
]


@pytest.mark.parametrize("right, wrong", FORMS)
def test_each_form_is_read_and_judged(right, wrong):
    assert verdicts(right) == [True]
    assert verdicts(wrong) == [False]


def test_a_computation_records_both_values_exactly():
    (c,) = find_computations("He works 12 * 9.5 = 115 hours")
    assert c == Computation(expression="12 * 9.5", stated="115", stated_value=Fraction(115), value=Fraction(114),
                            correct=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.correct = True  # type: ignore[misc]


def test_units_and_currency_are_dropped_but_kept_in_the_text():
    (c,) = find_computations("She pays $183 - $12 = $171 in all.")
    assert (c.expression, c.stated, c.value) == ("$183 - $12", "$171", Fraction(171))


@pytest.mark.parametrize(
    "text",
    [
        "x = 5",
        "she has 5 apples = 5",
        "Let's think step by step about the apples.",
        "The answer is 42.",
        "Total = 5 * 3",  # no stated result
        "15 = 5 * 3",  # a result first: not the form read here
        "",
    ],
)
def test_steps_without_a_computation_are_neutral(text):
    assert find_computations(text) == []
    assert step_score(text) is None
    assert first_error(text) is None
    assert chain_arithmetic(text) == (0, 0)


@pytest.mark.parametrize(
    "text, correct",
    [
        ("10/3 = 3.33", True),  # rounds correctly to two places
        ("10/3 = 3.3", True),
        ("10/3 = 3.333", True),
        ("10/3 = 3.4", False),
        ("10/3 = 3.334", False),
        ("2/3 = 0.67", True),
        ("2/3 = 0.66", False),  # truncated, not rounded
        ("12 * 9.5 = 114.0", True),
        ("12 * 9.5 = 114", True),
        ("12 * 9.5 = 114.01", False),
        ("100 / 3 = 33", False),  # a stated integer is exact ...
        ("100 / 3 ≈ 33", True),  # ... unless the step says it rounded
        ("100 / 3 = about 33", True),
        ("100 / 3 = ~33", True),
        ("100 / 3 ~ 33", True),
        ("100 / 3 ≈ 30", False),  # 10% off is not a rounding
        ("12 * 3 ≈ 35", False),  # an integer value has nothing to round
        ("1/3 = 33.3%", True),
    ],
)
def test_a_stated_number_is_held_to_the_precision_it_was_written_with(text, correct):
    assert verdicts(text) == [correct]


def test_commas_in_thousands_are_one_number_and_commas_in_a_list_separate():
    assert verdicts("1,200 + 300 = 1,500") == [True]
    assert verdicts("12,345.5 * 2 = 24,691") == [True]
    assert verdicts("Her scores were 1, 2, 3 and then 4 + 5 = 9.") == [True]
    (c,) = find_computations("She scored 1, 200 + 300 = 500")  # a list: "200 + 300"
    assert (c.expression, c.correct) == ("200 + 300", True)
    assert verdicts("Add 1, 2, 3: 1 + 2 + 3 = 6") == [True]


def test_percent_forms():
    assert verdicts("20% of 50 = 10") == [True]
    assert verdicts("A 15% tip on $80 is 15% * $80 = $12.") == [True]
    assert verdicts("10 / 50 * 100 = 20%") == [True]  # the expression already scaled by 100
    assert verdicts("10 / 50 = 20%") == [True]  # the percent read as a fraction
    assert verdicts("10 / 50 = 25%") == [False]
    assert verdicts("80 * (1 - 25%) = 60") == [True]
    assert find_computations("50 + 10% = 55") == []  # 55 or 50.1: not judged


def test_money_forms():
    assert verdicts("45 * $2.50 = $112.50") == [True]
    assert verdicts("$1.50 * 4 = $6.00") == [True]
    assert verdicts("He had $20 - $7.25 = $12.75 left.") == [True]
    assert verdicts("He had $20 - $7.25 = $13.75 left.") == [False]
    assert first_error("$183 - $12 = $170") == "`$183 - $12` is $171, not $170"


def test_a_chain_is_checked_link_by_link():
    computations = find_computations("(5 + 3) * 2 = 8 * 2 = 18")
    assert [(c.expression, c.correct) for c in computations] == [("(5 + 3) * 2", True), ("8 * 2", False)]
    assert step_score("(5 + 3) * 2 = 8 * 2 = 18") == 0.5
    assert first_error("(5 + 3) * 2 = 8 * 2 = 18") == "`8 * 2` is 16, not 18"
    assert verdicts("Total = 4 * 6 = 24") == [True]  # a named total is no link
    assert verdicts(r"(5+3) \times 2 &= 8 \times 2 \\ &= 17") == [True, False]  # aligned LaTeX lines


def test_a_run_on_chain_states_each_step_in_turn():
    # "5 * 3 = 15 + 2 = 17" writes two steps in one line; the first link states 15.
    computations = find_computations("5 * 3 = 15 + 2 = 17")
    assert [(c.expression, c.stated, c.correct) for c in computations] == [
        ("5 * 3", "15", True), ("15 + 2", "17", True)
    ]
    assert verdicts("5 * 3 = 16 + 2 = 18") == [False, True]


@pytest.mark.parametrize(
    "text",
    [
        "2x + 3 = 7",  # algebra, not arithmetic
        "x * 5 + 3 = 8",
        "sqrt 16 + 1 = 5",
        r"\sqrt{16} + 1 = 5",
        "√16 + 1 = 5",
        "half of 16 + 2 = 10",
        "3 less than 5 * 4 = 17",
        "4 squared + 1 = 17",
        "5! = 120",
        "9:30 + 2 = 11:30",  # clock arithmetic
        "11am + 2 = 1pm",
        "1 200 + 300 = 1500",  # a space as a thousands separator, or two numbers
        "50 + 10% = 55",
        "3rd + 2 = 5",
    ],
)
def test_what_cannot_be_read_one_way_is_skipped_not_judged(text):
    assert find_computations(text) == []


def test_units_of_one_kind_are_converted_and_never_mixed():
    assert verdicts("2 hours * 60 = 120 minutes") == [True]  # the expression converts
    assert verdicts("2 * 45 minutes = 1.5 hours") == [True]  # the result converts
    assert verdicts("2 * 45 minutes = 2 hours") == [False]
    assert first_error("2 * 45 minutes = 2 hours") == "`2 * 45 minutes` is 1.5 hours, not 2 hours"
    assert first_error("2 hours * 60 = 100 minutes") == "`2 hours * 60` is 120 minutes, not 100 minutes"
    assert verdicts("5 * 20 cents = $1") == [True]
    assert verdicts("3 * 4 feet = 4 yards") == [True]
    assert verdicts("12 minutes per day * 5 days = 1 hour") == [True]  # a rate is no amount of minutes
    assert verdicts("$5 a day * 7 days = $35") == [True]
    assert verdicts("2 * 5 km = 6.2 miles") == [True]  # 6.21 miles, to the one place written
    # Numbers in two units of one kind cannot be added as plain numbers: not judged.
    assert find_computations("4 hours + 2 hours + 90 minutes = 7.5 hours") == []
    assert find_computations("$5 + 50 cents = $5.50") == []
    assert find_computations("3 feet + 6 inches = 3.5 feet") == []


def test_powers_take_small_integer_exponents_only():
    assert verdicts("2^64 = 18446744073709551616") == [True]
    assert verdicts("1.1^2 = 1.21") == [True]
    assert find_computations("2^65 = 36893488147419103232") == []  # past the exponent bound
    assert find_computations("4^0.5 = 2") == []


def test_a_bullet_dash_is_not_a_minus_sign():
    assert verdicts("- 5 + 3 = 8") == [True]
    assert verdicts("- 5 + 3 = -2") == [False]
    assert verdicts("10 - 15 = - 5") == [True]


def test_first_error_names_the_first_wrong_computation_and_its_right_value():
    assert first_error("12 * 9.5 = 115") == "`12 * 9.5` is 114, not 115"
    assert first_error("1 + 1 = 2. Then 2 * 2 = 5. Then 3 * 3 = 10.") == "`2 * 2` is 4, not 5"
    assert first_error("10/3 = 3.4") == "`10/3` is about 3.3333, not 3.4"
    assert first_error("10/50 = 25%") == "`10/50` is 20%, not 25%"
    assert first_error("10 / 50 * 100 = 25%") == "`10 / 50 * 100` is 20%, not 25%"
    assert first_error("1,250 + 2,375 = 3,525") == "`1,250 + 2,375` is 3,625, not 3,525"
    assert first_error("12 * 9.5 = 114") is None


def test_step_score_is_the_share_of_right_computations():
    assert step_score("3 * 4 = 12 and 12 + 5 = 17") == 1.0
    assert step_score("3 * 4 = 13") == 0.0
    assert step_score("3 * 4 = 12, 12 + 5 = 18, 18 - 2 = 16, 16 / 2 = 9") == 0.5


@pytest.mark.parametrize(
    "text",
    [
        "9**9**9 = 1",
        "9^9^9 = 1",
        "2^100000 = 1",
        "1 + " * 2500 + "1 = 2501",  # a 10,000-character expression
        "(" * 5000 + "1" + ")" * 5000 + " = 1",  # deeply nested parentheses
        "(" * 10000 + " = 1",
        "(" + "(1 + 1) + " * 2000 + "1 = 3",  # an unclosed parenthesis before a long run
        "9" * 10000 + " + 1 = 5",  # a 10,000-digit number
        " * ".join(["9" * 20] * 4) + " = 1",  # an 80-digit product
        "10^60 * 10 = 1",
        r"\frac{" * 3000 + "1" + "}{2}" * 3000 + " = 1",
        "1 / 0 = 5",
        "__import__('os').system('true') = 0",
        "(1).__class__ + 1 = 2",
    ],
)
def test_hostile_steps_return_quickly_without_raising(text):
    began = time.perf_counter()
    assert find_computations(text) == []
    assert step_score(text) is None
    # A stall guard, not a benchmark: each of these takes milliseconds; an unbounded power would never return.
    assert time.perf_counter() - began < 10


def test_a_huge_text_is_read_in_bounded_time_and_many_computations_are_found():
    text = "He adds 1 + 1 = 2. " * 5000  # 95,000 characters: the first 50,000 are read
    began = time.perf_counter()
    found, wrong = chain_arithmetic(text)
    assert (found, wrong) == (500, 0)  # at most 500 computations are reported for one text
    assert time.perf_counter() - began < 10


# Ten steps in the style of grade-school word-problem solutions, written for these tests:
# (step, verdicts of its computations in order).
REALISTIC = [
    ("Maria buys 3 packs of pencils with 12 pencils in each pack, so she has 3 * 12 = 36 pencils.", [True]),
    ("She gives away 1/4 of them: 36 / 4 = 9 pencils, which leaves her 36 - 9 = 27 pencils.", [True, True]),
    ("The bakery sells 45 muffins at $2.50 each, so it earns 45 * $2.50 = $112.50.", [True]),
    ("A 15% tip on the $60 bill is 0.15 * 60 = $8.", [False]),
    ("Tom drives for 2.5 hours at 48 miles per hour, covering 2.5 * 48 = 120 miles.", [True]),
    ("The garden is 12 feet by 8 feet, so its area is 12 * 8 = 96 square feet and the fence "
     "around it is 2 * (12 + 8) = 42 feet long.", [True, False]),
    ("Each of the 4 friends pays $84 / 4 = $21.", [True]),
    ("Over 3 weeks he saves 3 * 7 * $5 = $105, and after buying a $38 game he has $105 - $38 = $67 left.",
     [True, True]),
    ("Now she has 27 stickers left in her album.", []),
    ("On Saturday 1,250 people visited and on Sunday 2,375 did, so 1,250 + 2,375 = 3,525 visitors came.", [False]),
]


@pytest.mark.parametrize("step, expected", REALISTIC)
def test_realistic_steps(step, expected):
    assert verdicts(step) == expected
    score = step_score(step)
    assert score == (sum(expected) / len(expected) if expected else None)


def test_realistic_feedback_reads_naturally():
    assert first_error(REALISTIC[3][0]) == "`0.15 * 60` is $9, not $8"
    assert first_error(REALISTIC[5][0]) == "`2 * (12 + 8)` is 40 feet, not 42 feet"


def test_chain_arithmetic_counts_a_whole_solution():
    solution = "\n".join(step for step, _ in REALISTIC) + "\nThe answer is \\boxed{27}."
    expected = [v for _, verdicts_ in REALISTIC for v in verdicts_]
    assert chain_arithmetic(solution) == (len(expected), expected.count(False))
    assert chain_arithmetic(solution) == (12, 3)
