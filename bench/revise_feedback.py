"""Does `revise` with the exact checker's feedback fix greedy chains that compute wrongly?
(issue 25: "revise with checker feedback corrects at least a third of greedy chains that contain a
wrong computation").

    python -m bench.revise_feedback --dataset gsm8k --limit 50 --model smollm2

Each item runs `revise` with one revision and no verifier. Its first attempt is the greedy chain;
when the exact checker (rewards/step_checks.py) finds a wrong computation in it, the revision
request names that computation and its right value. Over the items whose greedy chain had one:
how many revised chains have no wrong computation left (a revision with no computation the checker
reads counts too), how many revised answers are right (and how many greedy ones were), and the
tokens per item (greedy pass, revision and judge together). Rows go to
docs/results/revise_feedback_<dataset>_<model>.jsonl, the summary next to them."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from app.compose.build import open_service
from app.protocol.chat import ChatCompletionRequest
from app.reasoning.service import plan_request
from app.settings import load_settings
from bench.config import RESULTS
from bench.datasets import Item, load
from bench.grading import grade
from search.records import Attempt
from search.strategies.revise import ARITHMETIC_FEEDBACK

WRONG_COMPUTATION = ARITHMETIC_FEEDBACK.format(wrong="")  # the feedback's fixed tail


async def one(item: Item, service: Any, settings: Any) -> dict[str, Any]:
    body = {"model": settings.model, "messages": [{"role": "user", "content": item.question}],
            "reasoning": {"strategy": "revise", "settings": {"max_revisions": 1}}}
    result = await service.run(plan_request(ChatCompletionRequest.model_validate(body), settings))
    revisions = result.outcome.revisions if result.outcome else None
    history: tuple[Attempt, ...] = revisions.attempts if revisions else ()
    first = history[0] if history else Attempt(answer=None, passed=False, feedback="")
    second = history[1] if len(history) > 1 else None
    graded = [(await grade(item, f"\\boxed{{{h.answer}}}")).correct if h.answer else False for h in history]
    return {"id": item.id, "gold": item.gold, "first_answer": first.answer, "first_feedback": first.feedback,
            "wrong_computation": first.feedback.endswith(WRONG_COMPUTATION),
            "second_answer": second.answer if second else None,
            "second_feedback": second.feedback if second else None,
            "fixed_computation": second is not None and not second.feedback.endswith(WRONG_COMPUTATION),
            "first_correct": graded[0] if graded else False, "second_correct": graded[1] if len(graded) > 1 else None,
            "completion_tokens": result.usage.completion_tokens, "calls": result.usage.calls}


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    wrong = [r for r in rows if r["wrong_computation"]]
    revised = [r for r in wrong if r["second_answer"] is not None or r["second_feedback"] is not None]
    return {"items": len(rows), "greedy_with_wrong_computation": len(wrong), "revised": len(revised),
            "revised_without_wrong_computation": sum(r["fixed_computation"] for r in revised),
            "greedy_right_among_them": sum(r["first_correct"] for r in wrong),
            "revised_right_among_them": sum(bool(r["second_correct"]) for r in revised),
            "greedy_right_overall": sum(r["first_correct"] for r in rows),
            "tokens_per_item": round(sum(r["completion_tokens"] for r in rows) / max(len(rows), 1))}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    items = load(args.dataset, seed=args.seed, size=args.limit)[: args.limit]
    settings = load_settings(model=args.model)
    stem = f"revise_feedback_{args.dataset.replace(':', '-')}_{args.model}"
    rows: list[dict[str, Any]] = []
    gate = asyncio.Semaphore(args.concurrency)
    async with open_service(settings) as service:
        async def guarded(item: Item) -> None:
            async with gate:
                rows.append(await one(item, service, settings))
        await asyncio.gather(*(guarded(i) for i in items))
    rows.sort(key=lambda r: r["id"])
    (RESULTS / f"{stem}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = {"dataset": args.dataset, "seed": args.seed, "model": args.model, **summarize(rows)}
    (RESULTS / f"{stem}.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="gsm8k")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--concurrency", type=int, default=4)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=1))


if __name__ == "__main__":
    main()
