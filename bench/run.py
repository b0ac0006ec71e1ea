"""Run an offline data set through ponder and grade it: `ponder bench run` and `ponder bench sweep`.

    ponder bench run --dataset game24 --strategy beam --limit 20 --budget-tokens 1024
    ponder bench run --dataset gsm8k --effort low --base-url http://127.0.0.1:8000
    ponder bench sweep --dataset gsm8k --strategies single,self_consistency --efforts none,low --limit 20

(`python -m bench.run ...` is the same as `ponder bench ...`.)

Each item goes through the same path as a chat completion: in-process (`plan_request`, then
`ReasoningService.run`, one backend for the whole run) or, with a base URL, as a
POST /v1/chat/completions to a running ponder server (its `usage` and `ponder` fields are
read). The item's honest serving-time verifier (game24's numbers, humaneval's tests) goes
in `reasoning.verifier`; grading (bench.grading) is separate from it. Every generated token
(judge calls included) is counted. Per-item rows go to JSONL; the summary (accuracy with a
Wilson 95% interval, tokens per item and per correct answer, latency percentiles, cached
share of the prompt) goes to JSON next to it and prints as a markdown table.

On a machine whose cores are busy with another job, run the embedded engine with one
thread (PONDER_N_THREADS=1): measured 2026-11-25, two game24 items took 4.6 s that way and
over 4 minutes without finishing the first with the default threads beside a 1.3-core job.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bench.config import Config
from bench.datasets import Item, load, oracle_verifier
from bench.grading import grade
from bench.solvers import Solver, open_solver
from bench.summary import summarise
from rewards.equivalence import MathEquivalence

if TYPE_CHECKING:
    from backends.types import Backend



def request_body(item: Item, config: Config, *, model: str, seed: int | None, oracle: bool = False) -> dict[str, Any]:
    """The chat-completions body for one item under one configuration."""
    reasoning: dict[str, Any] = {}
    if config.strategy:
        reasoning["strategy"] = config.strategy
    if config.budget_tokens:
        reasoning["budget_tokens"] = config.budget_tokens
    if config.settings:
        reasoning["settings"] = config.settings
    if config.deadline_s:
        reasoning["deadline_s"] = config.deadline_s
    verifier = oracle_verifier(item) if oracle else item.verifier
    if verifier is not None:
        reasoning["verifier"] = verifier
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": item.question}]}
    if seed is not None:
        body["seed"] = seed
    if config.effort:
        body["reasoning_effort"] = config.effort
    if reasoning:
        body["reasoning"] = reasoning
    return body


# What an in-process solve records of its search (bench.solvers.Solved), each kept in the row when set.
_SEARCH_RECORDS = ("votes", "judged", "texts", "candidates", "tree", "selection")


async def run_item(solver: Solver, item: Item, config: Config, *, model: str, seed: int | None, oracle: bool,
                   equivalence: MathEquivalence | None) -> dict[str, Any]:
    """One item: solve, grade, and the JSONL row."""
    row: dict[str, Any] = {"id": item.id, "config": config.label, "strategy": config.strategy,
                           "effort": config.effort, "budget_tokens": config.budget_tokens, "gold": item.gold}
    started = time.monotonic()
    try:
        solved = await solver.solve(request_body(item, config, model=model, seed=seed, oracle=oracle))
    except Exception as exc:  # one failed item is a wrong answer, not the end of the run
        row.update(answer=None, correct=False, feedback=f"{type(exc).__name__}: {exc}", ponder_answer=None,
                   completion_tokens=0, prompt_tokens=0, cached_tokens=0, calls=0, rounds=0,
                   wall_s=round(time.monotonic() - started, 3), stop_reason="error", errors=[str(exc)], content="")
        return row
    wall = time.monotonic() - started
    graded = await grade(item, solved.content, equivalence)
    row.update(
        answer=graded.answer, correct=graded.correct, feedback=graded.feedback, ponder_answer=solved.ponder_answer,
        served_strategy=solved.strategy, completion_tokens=solved.completion_tokens,
        prompt_tokens=solved.prompt_tokens, cached_tokens=solved.cached_tokens, calls=solved.calls,
        rounds=solved.rounds, wall_s=round(wall, 3), stop_reason=solved.stop_reason, errors=list(solved.errors),
        content=solved.content,
    )
    if graded.instructions is not None:
        row["instructions_followed"] = graded.instructions
    for name in _SEARCH_RECORDS:
        value = getattr(solved, name)
        if value is not None:
            row[name] = value
    if solved.selection and solved.selection.get("texts"):  # what a perfect selector could have returned
        row["replies_correct"] = [(await grade(item, text, equivalence)).correct
                                  for text in solved.selection["texts"]]
    return row


class UnknownItems(ValueError):
    """`ids` names an item the data set (or its first `limit`) does not have."""


async def run_configs(dataset: str, configs: Sequence[Config], *, model: str = "smollm2", limit: int | None = None,
                      ids: Sequence[str] | None = None,
                      seed: int | None = 0, oracle: bool = False, base_url: str | None = None,
                      api_key: str | None = None, out: Path, summary_path: Path, command: str,
                      backend: Backend | None = None, transport: Any = None, items: Sequence[Item] | None = None,
                      quiet: bool = False, concurrency: int = 1, resume: bool = False) -> dict[str, Any]:
    """Run `configs` one after another over the data set on one backend (or server); write the rows
    to `out` (JSONL) and the report to `summary_path`; return the report.

    With `resume`, rows already in `out` are kept and their items not run again (an item that
    failed with an error is), so a long measurement can be stopped and picked up later."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    chosen = list(items if items is not None else load(dataset, seed=seed or 0, size=limit))[:limit]
    if ids is not None:
        wanted = set(ids)
        unknown = wanted - {item.id for item in chosen}
        if unknown:
            raise UnknownItems(f"no such item among the first {len(chosen)} of {dataset}: {', '.join(sorted(unknown))}")
        chosen = [item for item in chosen if item.id in wanted]
    console = Console(stderr=True, quiet=quiet)
    out.parent.mkdir(parents=True, exist_ok=True)
    equivalence = MathEquivalence()
    summaries: dict[str, dict[str, Any]] = {}
    started = time.monotonic()
    done = finished_rows(out) if resume else {}
    if resume and out.exists() and not out.read_bytes().endswith(b"\n") and out.stat().st_size:
        with open(out, "a") as sink:
            sink.write("\n")  # end a line cut short, so the rows appended next stay readable
    try:
        async with open_solver(model=model, base_url=base_url, api_key=api_key, backend=backend,
                               transport=transport, equivalence=equivalence) as solver:
            with open(out, "a" if resume else "w") as sink, Progress(TextColumn("{task.description}"), BarColumn(),
                                                  MofNCompleteColumn(), TimeElapsedColumn(),
                                                  console=console) as progress:
                for config in configs:
                    kept = done.get(config.label, {})
                    fresh = await _run_config(solver, [i for i in chosen if i.id not in kept], config,
                                              progress=progress, sink=sink, model=model, seed=seed, oracle=oracle,
                                              equivalence=equivalence, concurrency=concurrency)
                    by_id = {**kept, **{r["id"]: r for r in fresh}}
                    rows = [by_id[i.id] for i in chosen if i.id in by_id]
                    summaries[config.label] = summarise(rows, config)
                    if kept:
                        summaries[config.label]["resumed_rows"] = sum(i.id in kept for i in chosen)
    finally:
        await equivalence.aclose()
    report = {
        "dataset": dataset, "model": model, "date": time.strftime("%Y-%m-%d"), "command": command,
        "mode": f"http {base_url}" if base_url else "in-process", "items": len(chosen), "seed": seed,
        "oracle": oracle, "concurrency": concurrency, "total_wall_s": round(time.monotonic() - started, 1),
        "rows": str(out), "configs": summaries,
    }
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(json.dumps(report, indent=2) + "\n")
    return report


def write_beside(path: Path, suffix: str, rows: Sequence[dict[str, Any]], summary: dict[str, Any]) -> None:
    """An analysis of the rows at `path`: its rows and summary next to them, as `<stem><suffix>.jsonl` / `.json`."""
    stem = path.stem + suffix  # not with_suffix: "qwen-1.5b" has a dot of its own
    path.with_name(stem + ".jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path.with_name(stem + ".json").write_text(json.dumps(summary, indent=1) + "\n")


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a bench JSONL; a line cut short when a run was stopped is skipped."""
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def finished_rows(out: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """The rows already in `out`, by config label and item id (the last row of an item wins);
    rows of items that failed with an error are left out, so they run again."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    if not out.exists():
        return found
    for row in read_rows(out):
        if "id" in row and "config" in row:
            found.setdefault(row["config"], {})[row["id"]] = row
    return {label: {i: r for i, r in rows.items() if r.get("stop_reason") != "error"} for label, rows in found.items()}


async def _run_config(solver: Solver, items: Sequence[Item], config: Config, *, progress: Any, sink: TextIO,
                      model: str, seed: int | None, oracle: bool,
                      equivalence: MathEquivalence, concurrency: int = 1) -> list[dict[str, Any]]:
    task = progress.add_task(config.label, total=len(items))
    slots = asyncio.Semaphore(max(1, concurrency))

    async def one(item: Item) -> dict[str, Any]:
        async with slots:
            row = await run_item(solver, item, config, model=model, seed=seed, oracle=oracle, equivalence=equivalence)
        sink.write(json.dumps(row) + "\n")
        sink.flush()
        answer = row["answer"] if item.kind != "code" else ("code" if row["answer"] else None)
        progress.console.print(
            f"{config.label} {item.id}: {'ok' if row['correct'] else 'no'} {answer!r} (gold "
            f"{item.gold if item.kind != 'code' else 'tests'}) {row['completion_tokens']} tok "
            f"{row['wall_s']:.1f} s {row['stop_reason']}", markup=False)
        progress.advance(task)
        return row

    # Items in flight together let the engine batch them (its decode rate grows with width);
    # rows keep the data set's order.
    return list(await asyncio.gather(*(one(item) for item in items)))
