"""Engine efficiency of the embedded batching engine, as ratios measured in one run.

    python -m bench.engine_bench [--model smollm2|qwen-1.5b] [--out docs/results/engine_smollm2.json]

1. Aggregate decode rate with 1, 2, 4, 8 sequences in flight vs one stream.
2. A beam search (width 4, depth 4) and an MCTS run through the real service: prompt
   tokens evaluated / requested, engine busy time / wall time, and wall time vs the
   same search on an engine with one slot.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from app.compose.build import open_backend, open_service
from app.protocol.chat import ChatCompletionRequest
from app.reasoning.service import plan_request
from app.settings import load_settings
from sampling import Sampling

QUESTION = "A farmer has 17 sheep and buys 3 times as many goats as sheep, then sells 9 goats. How many animals?"


async def decode_rates(model: str, widths: list[int], tokens: int) -> dict[str, Any]:
    backend = await open_backend(load_settings(model=model, engine_slots=max(widths), engine_batch_width=max(widths)))
    rates: dict[int, float] = {}
    try:
        for width in widths:
            prompts = [await backend.render_chat([{"role": "user", "content": f"Write a long story about robot {i}."}])
                       for i in range(width)]
            params = Sampling(max_tokens=tokens, temperature=0.8, seed=width)
            started = time.monotonic()
            results = await asyncio.gather(*(backend.complete(p, n=1, params=params) for p in prompts))
            elapsed = time.monotonic() - started
            rates[width] = sum(r.completion_tokens for r in results) / elapsed
    finally:
        await backend.aclose()
    base = rates[widths[0]]
    return {"tokens_per_s": {str(w): round(r, 1) for w, r in rates.items()},
            "vs_one_stream": {str(w): round(r / base, 2) for w, r in rates.items()}}


async def search_run(model: str, slots: int, strategy: str, config: dict[str, Any]) -> dict[str, Any]:
    # slots=1 is the single-sequence baseline; otherwise the defaults (16 cached, 4 decoding).
    extra = {"engine_slots": 1, "engine_batch_width": 1} if slots == 1 else {}
    settings = load_settings(model=model, max_tokens_per_sample=256, **extra)
    backend = await open_backend(settings)
    try:
        async with open_service(settings, backend=backend) as service:
            body = {"model": model, "seed": 1, "messages": [{"role": "user", "content": QUESTION}],
                    "reasoning": {"strategy": strategy, "budget_tokens": 4000, "max_calls": 200, "settings": config}}
            plan = plan_request(ChatCompletionRequest.model_validate(body), settings)
            before = dict(backend.stats)  # type: ignore[attr-defined]
            started = time.monotonic()
            result = await service.run(plan)
            wall = time.monotonic() - started
            after = backend.stats  # type: ignore[attr-defined]
    finally:
        await backend.aclose()
    requested = after["prompt_tokens"] - before["prompt_tokens"]
    evaluated = after["evaluated_tokens"] - before["evaluated_tokens"]
    return {"slots": slots, "wall_s": round(wall, 2), "generated": result.usage.completion_tokens,
            "tokens_per_s": round(result.usage.completion_tokens / wall, 1),
            "calls": result.usage.calls, "prompt_requested": requested, "prompt_evaluated": evaluated,
            "evaluated_over_requested": round(evaluated / max(requested, 1), 3),
            "busy_fraction": round((after["busy_s"] - before["busy_s"]) / wall, 3),
            "mean_batch": round((after["batch_tokens"] - before["batch_tokens"])
                                / max(after["steps"] - before["steps"], 1), 2)}


async def main(model: str, out: Path) -> None:
    report: dict[str, Any] = {"model": model, "date": time.strftime("%Y-%m-%d")}
    report["decode"] = await decode_rates(model, [1, 2, 4, 8], tokens=96)
    print(json.dumps(report["decode"]))
    searches = {"beam": {"width": 4, "expansions": 2, "max_depth": 4, "step_tokens": 96},
                "mcts": {"simulations": 8, "expansions": 2, "parallel": 4, "max_depth": 4, "step_tokens": 96}}
    for name, config in searches.items():
        batched = await search_run(model, 16, name, config)
        single = await search_run(model, 1, name, config)
        # Sampled paths differ between the two runs, so the work differs too: compare the
        # rate of generated tokens as well as the wall time.
        report[name] = {"batched": batched, "one_slot": single,
                        "wall_vs_one_slot": round(batched["wall_s"] / single["wall_s"], 2),
                        "throughput_vs_one_slot": round(batched["tokens_per_s"] / single["tokens_per_s"], 2)}
        print(name, json.dumps(report[name]))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    asyncio.run(main(args.model, args.out or Path(f"docs/results/engine_{args.model}.json")))
