"""Ground-truth verifiers chosen per request (`reasoning.verifier`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rewards.equivalence import MathEquivalence
from rewards.extraction import extract_answer, normalize_answer
from rewards.game24 import check_24, extract_expression
from rewards.verdict import Verdict


@dataclass(frozen=True)
class Game24Verifier:
    numbers: tuple[int, ...]

    async def check(self, text: str) -> Verdict:
        expression = extract_expression(text)
        if expression is None:
            return Verdict.fail("no arithmetic expression was found in the answer")
        return check_24(expression, list(self.numbers))


@dataclass(frozen=True)
class MathEquivVerifier:
    reference: str
    equivalence: MathEquivalence

    async def check(self, text: str) -> Verdict:
        answer = extract_answer(text)
        if answer is None:
            return Verdict.fail("no final answer was stated")
        if await self.equivalence.equivalent(self.reference, answer):
            return Verdict.ok(f"{answer} matches the reference")
        return Verdict.fail(f"{answer} does not match the reference")


@dataclass(frozen=True)
class ExactVerifier:
    reference: str

    async def check(self, text: str) -> Verdict:
        answer = extract_answer(text)
        if answer is not None and normalize_answer(answer) == normalize_answer(self.reference):
            return Verdict.ok("exact match")
        return Verdict.fail(f"{answer!r} is not the expected answer")


@dataclass(frozen=True)
class RegexVerifier:
    pattern: str

    async def check(self, text: str) -> Verdict:
        # Patterns come from the client: bounded input keeps a bad pattern's backtracking short.
        if re.search(self.pattern, text[:20_000]):
            return Verdict.ok("the pattern matches")
        return Verdict.fail(f"the answer does not match /{self.pattern}/")
