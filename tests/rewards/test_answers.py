import asyncio
import threading

import pytest

from rewards.equivalence import MathEquivalence
from rewards.extraction import extract_answer, last_boxed, normalize_answer
from rewards.voting import Vote, majority_vote, merge_equivalent, weighted_vote


@pytest.mark.parametrize(
    "text, answer",
    [
        ("so \\boxed{\\frac{1}{2}} and later \\boxed{42}", "42"),
        ("nested \\boxed{\\frac{a}{\\sqrt{2}}}", "\\frac{a}{\\sqrt{2}}"),
        ("The answer is 42.", "42"),
        ("So the final answer is: **391**", "391"),
        ("the answer is indeed 360 because 17 times 23 is what we computed above", "360"),
        ("The answer is Paris.", "Paris"),
        ("He pays 1,234 dollars, then 5 more", "5"),
        ("We get 1,234 dollars", "1,234"),
        ("no digits here", None),
    ],
)
def test_extract_answer(text, answer):
    assert extract_answer(text) == answer


def test_last_boxed_reads_only_a_box_whose_braces_close():
    assert last_boxed("so \\boxed{\\frac{1}{2}}, then \\boxed{\\frac{2") == "\\frac{1}{2}"  # the cut box is none
    assert last_boxed("x = \\boxed{\\frac{2") is None and last_boxed("no box") is None
    assert last_boxed("\\fbox{7} and \\boxed {8}") == "8" and last_boxed("\\boxed{}") == ""


@pytest.mark.parametrize(
    "raw, key",
    [("1,234.50", "2469/2"), ("0.5", "1/2"), ("3.0", "3"), ("-0", "0"), ("\\frac{1}{2}", "1/2"), ("2/4", "1/2"),
     ("$18", "18"), ("18 dollars", "18"), ("\\text{Paris}", "paris"), ("x = 5", "5")],
)
def test_normalize_answer(raw, key):
    assert normalize_answer(raw) == key


def votes(*answers, weights=None):
    return [Vote(a, normalize_answer(a), i, 1.0 if weights is None else weights[i]) for i, a in enumerate(answers)]


def test_majority_and_weighted_vote_rank_and_break_ties_by_first_seen():
    tallies = majority_vote(votes("5", "7", "7.0", "5"))
    assert [(t.key, t.votes, t.members) for t in tallies] == [("5", 2, (0, 3)), ("7", 2, (1, 2))]
    weighted = weighted_vote(votes("5", "7", "7", weights=[3.0, 1.0, 1.0]))
    assert weighted[0].key == "5" and weighted[0].votes == 3.0


async def test_math_equivalence_merges_equal_answers_off_the_loop():
    eq = MathEquivalence(timeout_s=30)
    try:
        assert await eq.equivalent("0.5", "\\frac{1}{2}")
        assert not await eq.equivalent("2", "3")
        merged = await merge_equivalent(weighted_vote(votes("0.5", "\\frac{1}{2}", "3")), eq)
        assert merged[0].votes == 2 and merged[0].members == (0, 1)
    finally:
        await eq.aclose()


def test_math_equivalence_works_from_another_thread():
    # math-verify's own timeouts need the main thread; ours run in a worker process.
    result: list[bool] = []

    def worker() -> None:
        async def go() -> None:
            eq = MathEquivalence(timeout_s=30)
            try:
                result.append(await eq.equivalent("1/4", "0.25"))
            finally:
                await eq.aclose()

        asyncio.run(go())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(60)
    assert result == [True]
