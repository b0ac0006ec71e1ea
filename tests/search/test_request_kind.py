"""Which requests are voted on and which are open-ended, read from what they instruct."""

from __future__ import annotations

import pytest

from search.request_kind import asks_bare_answer, request_kind


@pytest.mark.parametrize("question", [
    "Write a haiku about autumn.",
    "Explain in two sentences why the sky is blue.",
    "Give me three tips for a job interview, as a bulleted list.",
    "Describe Paris in all lowercase letters.",
    "What is the capital of France?",
    "Draft an email to my landlord about the broken heater. End your response with 'Best regards'.",
    "List the prime numbers below 20 as a table.",
    "Give advice on how to prepare for a job interview. Your response must have 5 sections.",
    "Write a poem about the sea. In your response, the word wave should appear at least 3 times.",
])
def test_open_ended_requests(question: str) -> None:
    assert request_kind(question) == "open"


@pytest.mark.parametrize("question", [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?",
    "What is 17 * 23?",
    "What is 17 * 23? Give the number only.",
    "Use the numbers 4 6 8 2 and the operations + - * / to make 24. Use each number exactly once.",
    "A store sells pencils at $2 each. Tom buys 5 and pays with a $20 bill. How much change does he get?\n\n"
    "Solve the problem step by step. End with the final answer as \\boxed{ANSWER}.",
])
def test_questions_with_one_answer_are_voted_on(question: str) -> None:
    assert request_kind(question) == "answer"


@pytest.mark.parametrize("question", [
    "What is 17 * 23? Explain your reasoning in French.",
    "How many legs do 3 spiders have? Answer in exactly 2 sentences.",
])
def test_quantitative_questions_under_instructions_are_mixed(question: str) -> None:
    assert request_kind(question) == "mixed"


def test_every_gsm8k_problem_keeps_the_vote() -> None:
    """The 100 GSM8K problems of the benchmark: word problems state facts and ask; none instructs a form."""
    datasets = pytest.importorskip("bench.datasets")
    try:
        items = datasets.gsm8k()
    except Exception as exc:  # the data package is installed by scripts/test.sh
        pytest.skip(f"gsm8k data unavailable: {exc}")
    suffix = datasets.MATH_PROMPT.split("{problem}")[1].replace("{{", "{").replace("}}", "}")
    for strip in ("", suffix):  # as the benchmark sends them, and the bare problems without the boxed request
        kinds = {item.id: request_kind(item.question.replace(strip, "") if strip else item.question) for item in items}
        assert len(kinds) == 100
        assert {i: k for i, k in kinds.items() if k != "answer"} == {}


@pytest.mark.parametrize(("question", "bare"), [
    ("What is 17 * 23? Give the number only.", True),
    ("How many apples are left? Answer with a single number.", True),
    ("What is the answer? Just the answer, no explanation.", True),
    ("Only output the final answer.", True),
    ("What is 17 * 23?", False),
    ("Explain only the first step.", False),
])
def test_bare_answer_requests(question: str, bare: bool) -> None:
    assert asks_bare_answer(question) is bare
