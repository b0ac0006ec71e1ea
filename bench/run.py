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
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from bench.datasets import Item, load, oracle_verifier
from bench.grading import grade
from rewards.equivalence import MathEquivalence

if TYPE_CHECKING:
    from backends.types import Backend

RESULTS = Path("bench/results")


@dataclass(frozen=True)
class Config:
    """One benchmark configuration: a strategy, an effort tier, or both; optionally a budget."""

    strategy: str | None = None
    effort: str | None = None
    budget_tokens: int | None = None

    @property
    def label(self) -> str:
        parts = [p for p in (self.strategy, f"effort={self.effort}" if self.effort else None) if p]
        if self.budget_tokens:
            parts.append(f"budget={self.budget_tokens}")
        return " ".join(parts) or "default"

    def slug(self) -> str:
        return self.label.replace(" ", "_").replace("=", "-")


@dataclass(frozen=True)
class Solved:
    """What one request returned, whichever way it was sent."""

    content: str
    ponder_answer: str | None
    strategy: str
    completion_tokens: int
    prompt_tokens: int
    cached_tokens: int
    calls: int
    rounds: int
    stop_reason: str
    errors: tuple[str, ...] = field(default=())
    votes: list[Any] | None = None  # a voting search's samples (in-process only): [answer, source, weight]


class Solver(Protocol):
    async def solve(self, body: dict[str, Any]) -> Solved: ...


class InProcessSolver:
    """Requests through plan_request + ReasoningService on one already-open backend."""

    def __init__(self, settings: Any, service: Any) -> None:
        self.settings = settings
        self.service = service

    async def solve(self, body: dict[str, Any]) -> Solved:
        from app.protocol import ChatCompletionRequest
        from app.service import plan_request

        result = await self.service.run(plan_request(ChatCompletionRequest.model_validate(body), self.settings))
        o, usage = result.outcome, result.usage
        return Solved(content=o.content if o else "", ponder_answer=o.answer if o else None, strategy=result.strategy,
                      completion_tokens=usage.completion_tokens, prompt_tokens=usage.prompt_tokens,
                      cached_tokens=usage.cached_tokens, calls=usage.calls, rounds=result.rounds,
                      stop_reason=result.stop_reason, errors=tuple(result.errors),
                      votes=o.details.get("votes") if o else None)


class HttpSolver:
    """Requests as POST /v1/chat/completions to a running ponder server."""

    def __init__(self, http: Any) -> None:
        self.http = http  # an httpx.AsyncClient with the server's base URL

    async def solve(self, body: dict[str, Any]) -> Solved:
        reply = await self.http.post("/v1/chat/completions", json=body)
        if reply.status_code != 200:
            try:
                message = reply.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = reply.text[:300]
            raise RuntimeError(f"HTTP {reply.status_code}: {message}")
        data = reply.json()
        usage, info = data["usage"], data["ponder"]
        return Solved(content=data["choices"][0]["message"]["content"] or "", ponder_answer=info.get("answer"),
                      strategy=info["strategy"], completion_tokens=usage["completion_tokens"],
                      prompt_tokens=usage["prompt_tokens"],
                      cached_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0),
                      calls=info["calls"], rounds=info["rounds"], stop_reason=info["stop_reason"],
                      errors=tuple(info.get("errors") or ()))


@asynccontextmanager
async def open_solver(*, model: str, base_url: str | None = None, api_key: str | None = None,
                      backend: Backend | None = None, transport: Any = None,
                      equivalence: MathEquivalence) -> AsyncIterator[Solver]:
    """A solver for the run: HTTP when `base_url` is given, else in-process on `backend` (not closed
    here) or on the backend the settings name (opened and closed here)."""
    if base_url is not None:
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=httpx.Timeout(3600.0),
                                     transport=transport) as http:
            yield HttpSolver(http)
        return
    from app.main import open_backend
    from app.service import ReasoningService
    from app.settings import load_settings
    from app.wiring import RewardsAnswerTools

    settings = load_settings(model=model)
    active = backend or await open_backend(settings)
    try:
        yield InProcessSolver(settings, ReasoningService(settings, active, RewardsAnswerTools(equivalence)))
    finally:
        if backend is None:
            await active.aclose()


def request_body(item: Item, config: Config, *, model: str, seed: int | None, oracle: bool = False) -> dict[str, Any]:
    """The chat-completions body for one item under one configuration."""
    reasoning: dict[str, Any] = {}
    if config.strategy:
        reasoning["strategy"] = config.strategy
    if config.budget_tokens:
        reasoning["budget_tokens"] = config.budget_tokens
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
    if solved.votes is not None:
        row["votes"] = solved.votes
    return row


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
        answers_extracted=sum(r["answer"] is not None for r in rows),
        stop_reasons=dict(Counter(r["stop_reason"] for r in rows)),
        items_with_errors=sum(bool(r["errors"]) for r in rows),
    )
    if config is not None and config.budget_tokens:
        summary["budget_used"] = round(completion / (per * config.budget_tokens), 3)
    return summary


MARKDOWN_HEADER = (
    "| config | correct | accuracy (95% CI) | tokens/item | tokens/correct | p50 s | p95 s | cached/prompt "
    "| calls/item |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def markdown_row(label: str, s: dict[str, Any]) -> str:
    """One summary as a row under MARKDOWN_HEADER."""
    lo, hi = s["wilson95"]
    per_correct = s["completion_tokens_per_correct"]
    return (f"| {label} | {s['correct']}/{s['items']} | {s['accuracy']:.1%} ({lo:.1%}-{hi:.1%}) "
            f"| {s['completion_tokens_per_item']:.0f} | {'-' if per_correct is None else f'{per_correct:.0f}'} "
            f"| {s['latency_p50_s']:.1f} | {s['latency_p95_s']:.1f} | {s['cached_over_prompt']:.2f} "
            f"| {s['calls_per_item']:.1f} |")


def markdown_table(configs: dict[str, dict[str, Any]]) -> str:
    return "\n".join([MARKDOWN_HEADER, *(markdown_row(label, s) for label, s in configs.items())])


async def run_configs(dataset: str, configs: Sequence[Config], *, model: str = "smollm2", limit: int | None = None,
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
        "oracle": oracle, "concurrency": concurrency, "total_wall_s": round(time.monotonic() - started, 1), "rows": str(out),
        "configs": summaries,
    }
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(json.dumps(report, indent=2) + "\n")
    return report


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


def default_paths(dataset: str, model: str, tag: str) -> tuple[Path, Path]:
    """bench/results/<dataset>_<model>_<tag>.jsonl and the .json summary next to it."""
    stem = f"{dataset.replace(':', '-')}_{Path(model).stem if model.endswith('.gguf') else model}_{tag}"
    return RESULTS / f"{stem}.jsonl", RESULTS / f"{stem}.json"


if __name__ == "__main__":
    from bench.cli import bench_cli

    bench_cli(prog_name="python -m bench.run")
