"""The prompts of the code search (search.strategies.code_search): the model writes tests for the
function it is asked for (CodeT, Chen et al. 2022), and revises a candidate given the test it failed
(Reflexion, Shinn et al. 2023, with the failing test in place of a written reflection)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# In words only: the prompt carries no test or solution of any task (a worked one would solve the task
# family it is measured on).
TESTS_INSTRUCTION = (
    "You write unit tests for a Python function from its description. Write assert statements, one per "
    "line, each calling `{function}` with concrete arguments and comparing the result with the exact value "
    "the description implies. Cover edge cases above all: empty inputs, a single element, zero and negative "
    "numbers, duplicates, ties, and every boundary or special case the description names; then a few "
    "typical cases. Work each expected value out from the description, not from any code. Write only the "
    "assert lines: no function body, no comments, no prints."
)
TESTS_MAX_TOKENS = 400
TESTS_STOP = ("```",)

# The candidate stays in its own turn and the failure comes in the next one, as a test run would report it.
CLIENT_FAILED = (
    "Your code was run against the tests. This test failed:\n{failure}\n"
    "Find the mistake and write the corrected, complete code in one ```python block."
)
GENERATED_FAILED = (
    "Your code passes the examples, but this further test failed:\n{failure}\n"
    "If the test is right, find the mistake and write the corrected, complete code in one ```python block; "
    "keep every example passing."
)

_DEF = re.compile(r"^\s*def\s+([A-Za-z_]\w*)\s*\(", re.MULTILINE)


def tests_opening(function: str) -> str:
    """The start of the test writer's reply: a code block begun with its first assert."""
    return f"```python\nassert {function}("


def tests_messages(question: str, function: str) -> list[dict[str, Any]]:
    """The chat asking for tests of `function`, the reply begun with tests_opening (render it with
    `add_generation_prompt=False`)."""
    return [{"role": "system", "content": TESTS_INSTRUCTION.format(function=function)},
            {"role": "user", "content": question},
            {"role": "assistant", "content": tests_opening(function)}]


def revision_messages(messages: Sequence[dict[str, Any]], candidate: str, failure: str,
                      client: bool) -> list[dict[str, Any]]:
    """The conversation, the candidate as the assistant's turn, and what it failed as the next user turn."""
    request = (CLIENT_FAILED if client else GENERATED_FAILED).format(failure=failure)
    return [*messages, {"role": "assistant", "content": candidate}, {"role": "user", "content": request}]


def function_in(question: str) -> str | None:
    """The function a task asks for, where the task shows its signature (the last `def name(`)."""
    found = _DEF.findall(question)
    return found[-1] if found else None
