"""Grading a final answer against an item's reference, independent of any serving-time signal.

game24: the extracted expression must make 24 from the puzzle's numbers (`check_24`).
math: the extracted final answer must equal the gold numerically (`normalize_answer`), or,
given a `MathEquivalence`, by math-verify. code: the task's tests run on the answer's code
in the sandbox (`PythonTestsVerifier`). gym: the generator's own `score_answer` on the
extracted final answer (1.0 is right). instructions: every instruction's IFEval checker on the
whole content; right when all are followed (IFEval's prompt-level strict), and the
per-instruction verdicts are kept for the instruction-level share.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench import instruction_following
from bench.datasets import Item
from rewards.equivalence import MathEquivalence
from rewards.extraction import extract_answer, normalize_answer
from rewards.game24 import check_24, extract_expression
from rewards.python_tests import PythonTestsVerifier, extract_code
from rewards.sandbox import SandboxLimits

# Grading runs the reference tests once per item; a generous wall clock keeps slow-but-right
# solutions from failing on a busy machine.
GRADING_LIMITS = SandboxLimits(cpu_s=10, wall_s=30.0)


@dataclass(frozen=True)
class Grade:
    answer: str | None  # what grading read from the content: expression, final answer, or code
    correct: bool
    feedback: str
    instructions: dict[str, bool] | None = None  # instructions items: per instruction id, followed or not


async def grade(item: Item, content: str, equivalence: MathEquivalence | None = None) -> Grade:
    """Whether `content` (the final answer text) solves `item`."""
    if item.kind == "game24":
        expression = extract_expression(content)
        if expression is None:
            return Grade(None, False, "no expression found")
        verdict = check_24(expression, list(item.reference["numbers"]))
        return Grade(expression, verdict.passed, verdict.feedback)
    if item.kind == "math":
        answer = extract_answer(content)
        if answer is None:
            return Grade(None, False, "no final answer found")
        if normalize_answer(answer) == normalize_answer(item.gold):
            return Grade(answer, True, "equal to the reference")
        if equivalence is not None and await equivalence.equivalent(item.gold, answer):
            return Grade(answer, True, "equivalent to the reference (math-verify)")
        return Grade(answer, False, f"{answer!r} is not the reference {item.gold!r}")
    if item.kind == "code":
        code = extract_code(content)
        ref = item.reference
        verifier = PythonTestsVerifier(ref["tests"], ref["entry_point"], ref.get("prelude", ""), GRADING_LIMITS)
        verdict = await verifier.check(content)
        return Grade(code, verdict.passed, verdict.feedback)
    if item.kind == "gym":
        answer = extract_answer(content)
        if answer is None:
            return Grade(None, False, "no final answer found")
        score = item.reference["dataset"].score_answer(answer=answer, entry=item.reference["entry"])
        return Grade(answer, score >= 1.0, f"reasoning-gym score {score:g}")
    if item.kind == "instructions":
        return grade_instructions(item, content)
    raise ValueError(f"no grading for item kind {item.kind!r}")


def grade_instructions(item: Item, content: str) -> Grade:
    """IFEval's strict check of each of the item's instructions on `content` (the checkers are
    fast string tests, so they run inline); a checker that raises counts as not followed."""
    verdicts = instruction_following.follows(item.reference["instructions"], content)
    missed = [v.id if v.error is None else f"{v.id} ({v.error})" for v in verdicts if not v.followed]
    followed = sum(v.followed for v in verdicts)
    return Grade(f"{followed}/{len(verdicts)} followed" if content.strip() else None, not missed,
                 "not followed: " + ", ".join(missed) if missed else "all instructions followed",
                 instructions={v.id: v.followed for v in verdicts})
