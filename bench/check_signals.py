"""How well do the model's own signals tell a reply that follows its instructions? (issue 34)

    python -m bench.check_signals docs/results/ifgen_dev_qwen-1.5b_none.jsonl --dataset ifgen_dev --model qwen-1.5b

On recorded rows of an instruction-following set (each keeps the reply, `content`, and IFEval's
verdict, `correct`), every reply gets two signals from the same model, greedy:

- its check program: the open-ended search's own checks prompt (search.instruction_prompts), the
  program run in the sandbox on the reply, as the search runs it; the score is the share of checks met;
- the model as judge of its own reply: the request, the reply as its own turn, then "does your reply
  follow every instruction ...", p("Yes") against p("No") at the first token.

Reported per signal: agreement with the grader (the checks' "all met" against "right"), how many
replies it calls all-met and how many of those are right, its AUC as a score of right against wrong
(ties count a half), the items where it gave no score, and its completion tokens. The AUC compares
replies across items, not the replies to one prompt against each other.
Rows and summary go next to the input as `<stem>_signals.jsonl` / `.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.compose.build import open_service
from app.settings import load_settings
from bench.datasets import load
from bench.run import read_rows, write_beside
from bench.second_opinion import label_share
from sampling import Sampling
from search.instruction_prompts import CHECKS_MAX_TOKENS, CHECKS_OPENING, CHECKS_STOP, checks_messages

JUDGE = ("Does your reply follow every instruction in my request about its form (its length, format, letter "
         "case, words it must include or avoid, how it starts or ends)? Answer Yes or No.")


def auc(scores: Sequence[float], right: Sequence[bool]) -> float | None:
    """P(a right reply scores above a wrong one), ties a half (the Mann-Whitney statistic); None
    without both kinds."""
    pos = [s for s, r in zip(scores, right, strict=True) if r]
    neg = [s for s, r in zip(scores, right, strict=True) if not r]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return round(wins / (len(pos) * len(neg)), 3)


class Signals:
    """The two signals, on one open service (its backend, generator and answer tools)."""

    def __init__(self, service: Any) -> None:
        self.backend, self.generator, self.tools = service.backend, service.generator, service.tools
        self.tokens = {"checks": 0, "judge": 0}

    async def checks(self, question: str, reply: str) -> tuple[float | None, int, str]:
        """The share of the model's checks the reply meets (None: no check ran), their count, the program."""
        prompt = await self.backend.render_chat(checks_messages(question), add_generation_prompt=False)
        out = await self.generator.generate(prompt, n=1, sampling=Sampling(
            max_tokens=CHECKS_MAX_TOKENS, stop=CHECKS_STOP, temperature=0.0))
        self.tokens["checks"] += sum(s.completion_tokens for s in out.samples)
        program = CHECKS_OPENING + (out.samples[0].text if out.samples else "")
        found = await self.tools.run_checks(program, [reply])
        if found is None or not found.checks:
            return None, 0, program
        verdicts = found.verdicts[0]
        return sum(v is True for v in verdicts) / len(verdicts), len(verdicts), program

    async def judge(self, question: str, reply: str) -> float | None:
        """p(Yes) that the reply follows its request's instructions, by the model that wrote it."""
        messages = [{"role": "user", "content": question}, {"role": "assistant", "content": reply},
                    {"role": "user", "content": JUDGE}]
        prompt = await self.backend.render_chat(messages)
        out = await self.generator.generate(prompt, n=1, sampling=Sampling(max_tokens=1, logprobs=10))
        self.tokens["judge"] += sum(s.completion_tokens for s in out.samples)
        return label_share(out, ("Yes", "No"))


def summarize(rows: list[dict[str, Any]], tokens: dict[str, int]) -> dict[str, Any]:
    right = [bool(r["correct"]) for r in rows]
    checked = [r for r in rows if r["checks_met"] is not None]
    judged = [r for r in rows if r["judge_yes"] is not None]
    all_met = [r["checks_met"] == 1.0 for r in rows]  # no check ran: not "all met"
    return {
        "items": len(rows), "right": sum(right),
        "checks": {"agree": sum(a == r for a, r in zip(all_met, right, strict=True)),
                   "called_all_met": sum(all_met),
                   "right_among_all_met": sum(a and r for a, r in zip(all_met, right, strict=True)),
                   "no_check": len(rows) - len(checked),
                   "auc": auc([r["checks_met"] if r["checks_met"] is not None else 0.0 for r in rows], right),
                   "tokens_per_item": round(tokens["checks"] / max(len(rows), 1), 1)},
        "judge": {"auc": auc([r["judge_yes"] if r["judge_yes"] is not None else 0.5 for r in rows], right),
                  "no_score": len(rows) - len(judged),
                  "mean_yes_right": _mean([r["judge_yes"] for r in judged if r["correct"]]),
                  "mean_yes_wrong": _mean([r["judge_yes"] for r in judged if not r["correct"]]),
                  "tokens_per_item": round(tokens["judge"] / max(len(rows), 1), 1)},
    }


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rows = [r for r in read_rows(args.rows) if r.get("content") is not None and "correct" in r]
    items = {i.id: i for i in load(args.dataset)}
    settings = load_settings(model=args.model)
    async with open_service(settings) as service:
        signals = Signals(service)
        gate = asyncio.Semaphore(args.concurrency)

        async def scored(row: dict[str, Any]) -> dict[str, Any]:
            async with gate:
                question = items[row["id"]].question
                met, count, program = await signals.checks(question, row["content"])
                yes = await signals.judge(question, row["content"])
            return {"id": row["id"], "correct": row["correct"], "checks_met": met, "checks": count,
                    "judge_yes": None if yes is None else round(yes, 4), "program": program}

        found = sorted(await asyncio.gather(*(scored(r) for r in rows)), key=lambda r: r["id"])
    summary = {"rows": str(args.rows), "model": args.model, **summarize(found, signals.tokens)}
    write_beside(args.rows, "_signals", found, summary)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=Path)
    parser.add_argument("--dataset", default="ifgen_dev")
    parser.add_argument("--model", default="qwen-1.5b")
    parser.add_argument("--concurrency", type=int, default=3)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=1))


if __name__ == "__main__":
    main()
