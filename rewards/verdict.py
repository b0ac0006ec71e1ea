"""A verifier's verdict on one candidate."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    passed: bool
    score: float  # 1.0 passed, 0.0 failed; partial credit in between (e.g. tests passed / total)
    feedback: str = ""  # why, in words a revision prompt can use
    # False: not even an attempt at the task's form (no answer, an expression that breaks the rules,
    # code that does not compile), as opposed to a well-formed attempt that is wrong. A search stops
    # sampling a model whose candidates are all malformed (best_of_n's give_up_after).
    wellformed: bool = True

    @classmethod
    def ok(cls, feedback: str = "") -> Verdict:
        return cls(True, 1.0, feedback)

    @classmethod
    def fail(cls, feedback: str, score: float = 0.0) -> Verdict:
        return cls(False, score, feedback)

    @classmethod
    def malformed(cls, feedback: str) -> Verdict:
        return cls(False, 0.0, feedback, wellformed=False)
