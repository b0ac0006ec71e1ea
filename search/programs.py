"""Program-aided candidates (PAL, Gao et al. 2022): the model writes a short program that
computes the answer, the sandbox runs it, and its printed result votes beside the
chain-of-thought answers. A coder model's arithmetic is most reliable when Python does it,
and a program and a chain of thought that agree are strong evidence of the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from search.schedule import Schedule
from search.strategy import Ask, AskKind, HotSampling, Problem

PROGRAM_INSTRUCTION = (
    "Solve the problem by writing a short Python program. Use clear variable names, compute the "
    "result step by step, and end with print(answer) so that it prints only the final answer. "
    "Reply with the program in one ```python block."
)
# For a puzzle whose answer is an expression found by search (Game of 24): a program can try
# every arrangement exactly, where a small model's prose tries a few and loses count. The prompt
# says so in words only: it once carried a complete, general 24-solver as a worked example, and the
# model only changed its numbers, which measured the prompt, not the model (issue 35).
SEARCH_PROGRAM_INSTRUCTION = (
    "Solve the puzzle by writing a short Python program that searches for the answer: it combines "
    "two of the numbers at a time with + - * / (exact, with fractions.Fraction) until one is left, "
    "and stops at the first expression that works. End with print(...) so that it prints only "
    "that expression, written with the numbers, + - * / and parentheses. "
    "Reply with the program in one ```python block."
)
# The program prompt ends inside the assistant's reply, just after this opening fence, so the
# model writes code at once: left to itself, a small model often explains in prose first (the
# user's "solve step by step" invites it) and runs out of tokens before the program.
PROGRAM_OPENING = "```python\n"
PROGRAM_STOP = ("```\n",)  # the closing fence: what follows it is prose the answer does not need
PROGRAM_MAX_TOKENS = 400
PROGRAM_SEED_OFFSET = 1000  # seeded programs draw other seeds than the chains of the same request


def program_messages(messages: Sequence[dict[str, Any]], instruction: str = PROGRAM_INSTRUCTION,
                     example: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """The conversation with the program instruction in place of the system message, an optional
    worked example (a question and its program) before it, and the reply begun with
    PROGRAM_OPENING (render it with `add_generation_prompt=False`)."""
    rest = [dict(m) for m in messages if m.get("role") not in {"system", "developer"}]
    shown = [{"role": "user", "content": example[0]}, {"role": "assistant", "content": example[1]}] if example else []
    return [{"role": "system", "content": instruction}, *shown, *rest,
            {"role": "assistant", "content": PROGRAM_OPENING}]


def program_content(text: str, answer: str) -> str:
    """What the client sees when a program's answer wins and no chain of thought agreed."""
    code = text.strip()
    if not code.startswith("```"):
        code = f"```python\n{code}"
    if not code.rstrip().endswith("```"):
        code = code.rstrip() + "\n```"
    return f"{code}\n\nThe program prints {answer}, so the answer is \\boxed{{{answer}}}."


def program_asks(problem: Problem, schedule: Schedule, hot: HotSampling) -> list[Ask]:
    """The next program requests of a strategy whose `schedule` counts its programs: the greedy
    program first (when the schedule says so), then batches of hot ones."""
    if problem.program_prompt is None:
        return []
    base = replace(problem.sampling, max_tokens=min(problem.max_tokens, PROGRAM_MAX_TOKENS), stop=PROGRAM_STOP)
    program = replace(problem, sampling=base)
    return [Ask(prompt=problem.program_prompt, n=d.n, kind=AskKind.PROGRAM, greedy=d.greedy,
                sampling=base if d.greedy else hot.hot(program, PROGRAM_SEED_OFFSET + d.first),
                tag="program greedy" if d.greedy else f"programs {d.first + 1}-{d.first + d.n}")
            for d in schedule.draws()]
