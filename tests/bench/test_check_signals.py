"""The model's own instruction signals against the grader (bench.check_signals), on a scripted model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backends.types import Completion, Sample, TokenLogprob
from bench.check_signals import JUDGE, Signals, auc, summarize
from tests.bench.test_second_opinion import Backend

LOWER = "a short reply, all in lowercase"


@dataclass
class Generator:
    """Writes one check program; as judge, says Yes to a lowercase reply and No otherwise."""

    prompts: list[str] = field(default_factory=list)

    async def generate(self, prompt: str, *, n: int, sampling: Any, deadline: float | None = None) -> Completion:
        self.prompts.append(prompt)
        if JUDGE in prompt:
            reply = prompt.split("<assistant>")[1]
            top = (("Yes", -0.2), ("No", -1.8)) if reply.startswith(LOWER) else (("No", -0.1), ("Yes", -2.4))
            return Completion(samples=(Sample(text=top[0][0], completion_tokens=1, finish_reason="length",
                                              logprobs=(TokenLogprob(top[0][0], top[0][1], top),)),), prompt_tokens=9)
        program = ' "all lowercase"\ndef check_1(reply):\n    """all lowercase"""\n    return reply == reply.lower()\n'
        return Completion(samples=(Sample(text=program, completion_tokens=20, finish_reason="stop"),), prompt_tokens=9)


@dataclass(frozen=True)
class Found:
    checks: tuple[str, ...]
    verdicts: tuple[tuple[bool | None, ...], ...]


class Tools:
    async def run_checks(self, program: str, replies: list[str]) -> Found | None:
        if "def check_1" not in program:
            return None
        return Found(("all lowercase",), tuple((r == r.lower(),) for r in replies))


@dataclass
class Service:
    backend: Backend = field(default_factory=Backend)
    generator: Generator = field(default_factory=Generator)
    tools: Tools = field(default_factory=Tools)


def test_auc_counts_pairs_and_ties_a_half():
    assert auc([1.0, 0.5, 0.0], [True, False, False]) == 1.0
    assert auc([0.0, 1.0], [True, False]) == 0.0
    assert auc([0.5, 0.5, 0.5], [True, True, False]) == 0.5
    assert auc([1.0], [True]) is None  # no wrong reply to compare with


async def test_signals_score_a_reply_with_the_models_checks_and_its_judgement():
    service = Service()
    signals = Signals(service)
    met, count, program = await signals.checks("Write it in lowercase.", LOWER)
    assert (met, count) == (1.0, 1) and program.startswith("```python\n# The instructions")
    assert (await signals.checks("Write it in lowercase.", "Not Lowercase"))[0] == 0.0
    yes = await signals.judge("Write it in lowercase.", LOWER)
    no = await signals.judge("Write it in lowercase.", "Not Lowercase")
    assert yes is not None and no is not None and yes > 0.5 > no
    assert signals.tokens == {"checks": 40, "judge": 2}


def test_summary_compares_each_signal_with_the_grader():
    rows = [{"id": "a", "correct": True, "checks_met": 1.0, "judge_yes": 0.9},
            {"id": "b", "correct": False, "checks_met": 1.0, "judge_yes": 0.6},
            {"id": "c", "correct": False, "checks_met": None, "judge_yes": None},
            {"id": "d", "correct": True, "checks_met": 0.5, "judge_yes": 0.8}]
    s = summarize(rows, {"checks": 400, "judge": 4})
    assert s["checks"] == {"agree": 2, "called_all_met": 2, "right_among_all_met": 1, "no_check": 1,
                           "auc": 0.625, "tokens_per_item": 100.0}
    assert s["judge"]["auc"] == 1.0 and s["judge"]["no_score"] == 1 and s["judge"]["mean_yes_right"] == 0.85
