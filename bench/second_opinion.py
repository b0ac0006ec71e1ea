"""Does a second opinion pick better than the vote where the vote is split? (issue 25, part 3)

    python -m bench.second_opinion docs/results/ROWS.jsonl --dataset rg:gsm_symbolic --seed 2026 --model qwen-1.5b

On recorded rows that keep their samples' texts (bench.run, since 2026-12-02), every item whose
vote split between two or more answers gets three second opinions on its top two answers, each
from the same model, greedy, with no new sampling of solutions:

- pairwise: both solutions shown side by side, "which is correct, 1 or 2?", p("1") against
  p("2") from the first token's logprobs, asked in both orders (position bias cancels);
- back-substitution: "suppose the answer is X; put it back into the problem and check every
  fact", the model's written check ending in Yes or No;
- mutual consistency (rStar, Qi et al. 2024): the first half of a chain that reached the answer
  is completed again from the problem; the answer is consistent when the completion reaches it too.

Each opinion overrules the vote only where it prefers the runner-up and not the winner. Reported
per opinion: items right after it, items it turned right, items it turned wrong, and its completion
tokens (prompt tokens beside them: a pairwise prompt holds both solutions).
Rows and summary go next to the input as `<stem>_opinions.jsonl` / `.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
from pathlib import Path
from typing import Any

from app.compose.build import open_service
from app.settings import load_settings
from bench.datasets import Item, load
from bench.run import read_rows, write_beside
from rewards.extraction import normalize_answer
from rewards.voting import Vote, weighted_vote
from sampling import Sampling
from search.programs import program_content
from search.protocols import Generation

PAIRWISE = ("Two solutions to this problem follow.\n\nSolution 1:\n{first}\n\nSolution 2:\n{second}\n\n"
            "Which solution is correct? Answer with one character: 1 or 2.")
BACK_SUBSTITUTION = ("Suppose the answer to this problem is {answer}. Put {answer} back into the problem and "
                     "check, fact by fact, whether everything the problem states holds. End with one line: "
                     "Consistent: Yes or Consistent: No.")
CHECK_TOKENS = 384
_VERDICT = re.compile(r"(?im)^\W*consistent\W{0,4}(yes|no)\W*$")  # its own line: not "Inconsistent"


def _top_two(row: dict[str, Any]) -> list[tuple[str, str]] | None:
    """The vote's winner and runner-up, each with a text that reached it (a chain first), by
    recorded weight; None when the vote did not split or the texts were not recorded."""
    texts = row.get("texts")
    if not texts or not row.get("votes"):
        return None
    samples = [(answer, source, text) for (answer, source, _), text in zip(row["votes"], texts, strict=True)]
    ranked = weighted_vote([Vote(answer=a, key=normalize_answer(a), index=i, weight=float(w))
                            for i, (a, _, w) in enumerate(row["votes"]) if a is not None and w > 0])
    if len(ranked) < 2:
        return None
    top = []
    for tally in ranked[:2]:
        chains = [m for m in tally.members if samples[m][1] == "chain"]
        answer, source, text = samples[(chains or list(tally.members))[0]]
        top.append((answer, text.strip() if source == "chain" else program_content(text, answer)))
    return top


def _asked(question: str, request: str) -> list[dict[str, Any]]:
    """One user turn: the problem, then what is asked about it (templates that forbid two user
    turns in a row accept it)."""
    return [{"role": "user", "content": f"{question}\n\n{request}"}]


def label_share(out: Generation, labels: tuple[str, str]) -> float | None:
    """p(labels[0]) among the two labels at a one-token generation's first token (its top logprobs);
    None when neither label is among them."""
    logprobs = out.samples[0].logprobs if out.samples else None
    if not logprobs:
        return None
    mass = {label: 0.0 for label in labels}
    for token, logprob in logprobs[0].top or [(logprobs[0].token, logprobs[0].logprob)]:
        if token.strip() in mass:
            mass[token.strip()] += math.exp(logprob)
    total = sum(mass.values())
    return mass[labels[0]] / total if total > 0 else None


class Opinions:
    """The three second opinions, on one open service (its backend and generator)."""

    def __init__(self, service: Any) -> None:
        self.backend, self.generator, self.tools = service.backend, service.generator, service.tools
        self.tokens = {"pairwise": 0, "back_substitution": 0, "consistency": 0}  # completion tokens
        self.prompt_tokens = {"pairwise": 0, "back_substitution": 0, "consistency": 0}

    async def _first_token(self, messages: list[dict[str, Any]], labels: tuple[str, str]) -> float | None:
        """p(labels[0]) among the two labels at the first answer token."""
        prompt = await self.backend.render_chat(messages)
        out = await self.generator.generate(prompt, n=1, sampling=Sampling(max_tokens=1, logprobs=10))
        self.tokens["pairwise"] += sum(s.completion_tokens for s in out.samples)
        self.prompt_tokens["pairwise"] += out.prompt_tokens
        return label_share(out, labels)

    async def pairwise(self, question: str, a: str, b: str) -> float:
        """p(a is the correct one), averaged over both orders; 0.5 where the model says neither."""
        one = await self._first_token(_asked(question, PAIRWISE.format(first=a, second=b)), ("1", "2"))
        two = await self._first_token(_asked(question, PAIRWISE.format(first=b, second=a)), ("2", "1"))
        found = [p for p in (one, two) if p is not None]
        return sum(found) / len(found) if found else 0.5

    async def back_substitution(self, question: str, answer: str) -> float:
        """1 when the model's written check ends "Consistent: Yes", 0 for No, 0.5 for neither."""
        prompt = await self.backend.render_chat(_asked(question, BACK_SUBSTITUTION.format(answer=answer)))
        out = await self.generator.generate(prompt, n=1, sampling=Sampling(max_tokens=CHECK_TOKENS))
        self.tokens["back_substitution"] += sum(s.completion_tokens for s in out.samples)
        self.prompt_tokens["back_substitution"] += out.prompt_tokens
        said = _VERDICT.findall(out.samples[0].text if out.samples else "")
        return 0.5 if not said else 1.0 if said[-1].lower() == "yes" else 0.0

    async def consistent(self, question: str, answer: str, solution: str) -> bool:
        """rStar's check: the first half of the solution's lines, completed again, reaches `answer`."""
        lines = solution.splitlines(keepends=True)
        if len(lines) < 2:
            return False  # no half to go on from: the whole solution would only be repeated
        half = "".join(lines[: len(lines) // 2])
        prompt = await self.backend.render_chat([{"role": "user", "content": question},
                                                 {"role": "assistant", "content": half}],
                                                add_generation_prompt=False)
        out = await self.generator.generate(prompt, n=1, sampling=Sampling(max_tokens=CHECK_TOKENS))
        self.tokens["consistency"] += sum(s.completion_tokens for s in out.samples)
        self.prompt_tokens["consistency"] += out.prompt_tokens
        said = self.tools.extract(half + out.samples[0].text) if out.samples else None
        return said is not None and normalize_answer(said) == normalize_answer(answer)


async def judge_row(row: dict[str, Any], item: Item, opinions: Opinions) -> dict[str, Any] | None:
    top = _top_two(row)
    if top is None:
        return None
    (a, text_a), (b, text_b) = top
    gold = normalize_answer(str(row["gold"]))
    pair = await opinions.pairwise(item.question, text_a, text_b)
    back_a, back_b = (await opinions.back_substitution(item.question, a),
                      await opinions.back_substitution(item.question, b))
    same_a, same_b = (await opinions.consistent(item.question, a, text_a),
                      await opinions.consistent(item.question, b, text_b))
    return {"id": row["id"], "config": row.get("config"), "gold": row["gold"], "winner": a, "runner_up": b,
            "winner_right": normalize_answer(a) == gold, "runner_up_right": normalize_answer(b) == gold,
            "pairwise_p_winner": round(pair, 4), "back_substitution": [back_a, back_b],
            "consistent": [same_a, same_b],
            "choices": {"vote": a, "pairwise": b if pair < 0.5 else a, "back_substitution": b if back_b > back_a else a,
                        "consistency": b if same_b and not same_a else a}}


def summarize(rows: list[dict[str, Any]], tokens: dict[str, int]) -> dict[str, Any]:
    in_top_two = sum(r["winner_right"] or r["runner_up_right"] for r in rows)
    summary: dict[str, Any] = {"split_items": len(rows), "gold_in_top_two": in_top_two}
    for name in ("vote", "pairwise", "back_substitution", "consistency"):
        right = [normalize_answer(r["choices"][name]) == normalize_answer(str(r["gold"])) for r in rows]
        summary[name] = {"right": sum(right),
                         "turned_right": sum(ok and not r["winner_right"] for ok, r in zip(right, rows, strict=True)),
                         "turned_wrong": sum(r["winner_right"] and not ok for ok, r in zip(right, rows, strict=True)),
                         "tokens": tokens.get(name, 0)}
    return summary


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rows = [r for r in read_rows(args.rows) if r.get("texts")]
    items = {i.id: i for i in load(args.dataset, seed=args.seed, size=args.size)}
    settings = load_settings(model=args.model)
    async with open_service(settings) as service:
        opinions = Opinions(service)
        gate = asyncio.Semaphore(args.concurrency)

        async def guarded(row: dict[str, Any]) -> dict[str, Any] | None:
            async with gate:
                return await judge_row(row, items[row["id"]], opinions)

        judged = [r for r in await asyncio.gather(*(guarded(r) for r in rows)) if r is not None]
    summary = {"rows": str(args.rows), "model": args.model, **summarize(judged, opinions.tokens),
               "prompt_tokens": opinions.prompt_tokens}
    write_beside(args.rows, "_opinions", judged, summary)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=Path)
    parser.add_argument("--dataset", default="gsm8k")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=None, help="a reasoning-gym set's size, as the run drew it")
    parser.add_argument("--model", default="qwen-1.5b")
    parser.add_argument("--concurrency", type=int, default=4)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=1))


if __name__ == "__main__":
    main()
