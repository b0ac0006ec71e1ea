"""A benchmark run's summary: accuracy with its Wilson 95% interval, token and call costs,
latency percentiles, and the markdown table the docs/benchmarks/ pages carry."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from bench.config import Config


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between order statistics; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarise(rows: Sequence[dict[str, Any]], config: Config | None = None) -> dict[str, Any]:
    """Accuracy with its Wilson 95% interval, token and call costs, latency percentiles."""
    n = len(rows)
    per = max(n, 1)
    correct = sum(bool(r["correct"]) for r in rows)
    lo, hi = wilson(correct, n)
    completion = sum(r["completion_tokens"] for r in rows)
    prompt = sum(r["prompt_tokens"] for r in rows)
    cached = sum(r["cached_tokens"] for r in rows)
    walls = [r["wall_s"] for r in rows]
    summary: dict[str, Any] = {}
    if config is not None:
        summary.update(strategy=config.strategy, effort=config.effort, budget_tokens=config.budget_tokens)
    summary.update(
        items=n, correct=correct, accuracy=round(correct / per, 4), wilson95=[round(lo, 4), round(hi, 4)],
        completion_tokens_per_item=round(completion / per, 1),
        completion_tokens_per_correct=round(completion / correct, 1) if correct else None,
        prompt_tokens_per_item=round(prompt / per, 1),
        cached_over_prompt=round(cached / prompt, 3) if prompt else 0.0,
        calls_per_item=round(sum(r["calls"] for r in rows) / per, 2),
        latency_p50_s=round(percentile(walls, 50), 2), latency_p95_s=round(percentile(walls, 95), 2),
        wall_s_total=round(sum(walls), 1),
        answers_extracted=sum(r["answer"] is not None for r in rows),  # by the grader, from the content if need be
        # by ponder itself: fewer than the grader's means responses without an answer (a cut solution)
        answers_returned=sum(r.get("ponder_answer") is not None for r in rows),
        stop_reasons=dict(Counter(r["stop_reason"] for r in rows)),
        items_with_errors=sum(bool(r["errors"]) for r in rows),
    )
    if config is not None and config.budget_tokens:
        summary["budget_used"] = round(completion / (per * config.budget_tokens), 3)
    verdicts = [followed for r in rows for followed in (r.get("instructions_followed") or {}).values()]
    if verdicts:  # instruction-following items: IFEval's instruction-level strict share beside the prompt-level one
        summary.update(instructions=len(verdicts), instructions_followed=sum(verdicts),
                       instruction_accuracy=round(sum(verdicts) / len(verdicts), 4))
    graded = [r["replies_correct"] for r in rows if r.get("replies_correct")]
    if graded:  # open-ended searches: items where some reply written was right (a perfect selector's score)
        summary.update(replies_graded=len(graded), any_reply_correct=sum(any(g) for g in graded),
                       replies_per_item=round(sum(map(len, graded)) / len(graded), 2))
    return summary


MARKDOWN_HEADER = (
    "| config | correct | accuracy (95% CI) | tokens/item | tokens/correct | p50 s | p95 s | cached/prompt "
    "| calls/item |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def markdown_row(label: str, s: dict[str, Any]) -> str:
    """One summary as a row under MARKDOWN_HEADER."""
    lo, hi = s["wilson95"]
    per_correct = s["completion_tokens_per_correct"]
    # instruction-following runs: the instructions followed, after the prompts that follow all of theirs
    followed = f", {s['instructions_followed']}/{s['instructions']} instr." if "instructions" in s else ""
    return (f"| {label} | {s['correct']}/{s['items']}{followed} | {s['accuracy']:.1%} ({lo:.1%}-{hi:.1%}) "
            f"| {s['completion_tokens_per_item']:.0f} | {'-' if per_correct is None else f'{per_correct:.0f}'} "
            f"| {s['latency_p50_s']:.1f} | {s['latency_p95_s']:.1f} | {s['cached_over_prompt']:.2f} "
            f"| {s['calls_per_item']:.1f} |")


def markdown_table(configs: dict[str, dict[str, Any]]) -> str:
    return "\n".join([MARKDOWN_HEADER, *(markdown_row(label, s) for label, s in configs.items())])
