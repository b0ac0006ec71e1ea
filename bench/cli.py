"""`ponder bench run | sweep | plot | replay` (a `ponder.commands` entry point that app/cli.py mounts;
also `python -m bench`)."""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from bench.datasets import DATASETS, known

bench_cli = typer.Typer(add_completion=False, no_args_is_help=True,
                        help="Benchmarks on offline data sets: run, sweep, plot, replay.")

Dataset = Annotated[str, typer.Option(help=f"one of: {', '.join(DATASETS)}, or rg:GENERATOR (reasoning-gym)")]
Limit = Annotated[Optional[int], typer.Option(help="the first N items")]
Ids = Annotated[Optional[str], typer.Option(help="only these items, comma-separated ids (among the first --limit)")]
Seed = Annotated[int, typer.Option(help="the request seed, the same for every item")]
Model = Annotated[str, typer.Option(help="smollm2 | qwen-1.5b | path/to/model.gguf (the served name with --base-url)")]
BaseUrl = Annotated[Optional[str], typer.Option(help="a running ponder server; in-process when not given")]
ApiKey = Annotated[Optional[str], typer.Option(envvar="PONDER_API_KEY", help="bearer key for --base-url")]
Budget = Annotated[Optional[int], typer.Option(help="reasoning.budget_tokens per item (default: the tier's)")]
Concurrency = Annotated[int, typer.Option(min=1, help="items in flight at once (lets the engine batch them)")]
Oracle = Annotated[bool, typer.Option(help="math: pass the reference as a math_equiv verifier (upper bound only)")]
Resume = Annotated[bool, typer.Option(help="keep the rows already in the output and run only the items missing")]


def _command() -> str:
    program = "python -m bench" if sys.argv[0].endswith("__main__.py") else Path(sys.argv[0]).name
    return " ".join([program, shlex.join(sys.argv[1:])]).strip()


def _run(dataset: str, configs: list[Any], *, ids: str | None, **options: Any) -> dict[str, Any]:
    """bench.run.run_configs with this command line; an unknown --ids item is a usage error."""
    from bench.run import UnknownItems, run_configs

    wanted = [i.strip() for i in ids.split(",") if i.strip()] if ids else None
    try:
        return asyncio.run(run_configs(dataset, configs, ids=wanted, command=_command(), **options))
    except UnknownItems as exc:
        raise typer.BadParameter(str(exc), param_hint="--ids") from exc


def _check_dataset(dataset: str) -> None:
    if not known(dataset):
        raise typer.BadParameter(f"unknown data set {dataset!r}; known: {', '.join(DATASETS)}, rg:GENERATOR",
                                 param_hint="--dataset")


def _settings(text: str | None) -> dict[str, Any] | None:
    """--settings: a JSON object, or a usage error that says what is wrong with it."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--settings") from None
    if not isinstance(value, dict):
        raise typer.BadParameter("give a JSON object of the strategy's settings", param_hint="--settings")
    return value


@bench_cli.command()
def run(
    dataset: Dataset,
    strategy: Annotated[Optional[str], typer.Option(help="a strategy (search/registry.py)")] = None,
    effort: Annotated[Optional[str], typer.Option(help="none | low | medium | high")] = None,
    budget_tokens: Budget = None,
    settings: Annotated[Optional[str], typer.Option(help="reasoning.settings as JSON (the strategy's own)")] = None,
    deadline_s: Annotated[Optional[float], typer.Option(help="reasoning.deadline_s per item")] = None,
    limit: Limit = None,
    ids: Ids = None,
    seed: Seed = 0,
    model: Model = "smollm2",
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    oracle: Oracle = False,
    concurrency: Concurrency = 1,
    resume: Resume = False,
    out: Annotated[Optional[Path], typer.Option(help="per-item JSONL; the summary JSON goes next to it (default "
                                                     "docs/results/<dataset>_<model>_<config>.jsonl)")] = None,
) -> None:
    """One configuration over a data set: per-item JSONL, summary JSON, a markdown row."""
    from bench.config import Config, default_paths
    from bench.summary import markdown_table

    _check_dataset(dataset)
    if not strategy and not effort:
        raise typer.BadParameter("give --strategy or --effort (or both)", param_hint="--strategy/--effort")
    config = Config(strategy=strategy, effort=effort, budget_tokens=budget_tokens,
                    settings=_settings(settings), deadline_s=deadline_s)
    rows, summary = (out, out.with_suffix(".json")) if out else default_paths(dataset, model, config.slug())
    report = _run(dataset, [config], model=model, limit=limit, ids=ids, seed=seed, oracle=oracle, base_url=base_url,
                  api_key=api_key, out=rows, summary_path=summary, concurrency=concurrency, resume=resume)
    typer.echo(markdown_table(report["configs"]))
    typer.echo(f"rows: {rows}  summary: {summary}")


@bench_cli.command()
def sweep(
    dataset: Dataset,
    strategies: Annotated[Optional[str], typer.Option(help="comma-separated strategies")] = None,
    efforts: Annotated[Optional[str], typer.Option(help="comma-separated effort tiers, e.g. none,low,medium")] = None,
    budget_tokens: Budget = None,
    limit: Limit = None,
    ids: Ids = None,
    seed: Seed = 0,
    model: Model = "smollm2",
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    oracle: Oracle = False,
    concurrency: Concurrency = 1,
    resume: Resume = False,
    out: Annotated[Optional[Path], typer.Option(help="summary JSON (default docs/results/<dataset>_<model>"
                                                     "_sweep.json; the rows go next to it as .jsonl)")] = None,
) -> None:
    """Several configurations (each strategy, then each effort tier) over one data set, one backend."""
    from bench.config import Config, default_paths
    from bench.summary import markdown_table

    _check_dataset(dataset)
    configs = [Config(strategy=s.strip(), budget_tokens=budget_tokens)
               for s in (strategies or "").split(",") if s.strip()]
    configs += [Config(effort=e.strip(), budget_tokens=budget_tokens) for e in (efforts or "").split(",") if e.strip()]
    if not configs:
        raise typer.BadParameter("give --strategies and/or --efforts", param_hint="--strategies/--efforts")
    rows, summary = (out.with_suffix(".jsonl"), out) if out else default_paths(dataset, model, "sweep")
    report = _run(dataset, configs, model=model, limit=limit, ids=ids, seed=seed, oracle=oracle, base_url=base_url,
                  api_key=api_key, out=rows, summary_path=summary, concurrency=concurrency, resume=resume)
    typer.echo(markdown_table(report["configs"]))
    typer.echo(f"rows: {rows}  summary: {summary}")


@bench_cli.command()
def plot(
    summary: Annotated[Path, typer.Argument(help="a summary JSON from bench run or sweep", exists=True,
                                            dir_okay=False)],
    out: Annotated[Optional[Path], typer.Option(help="PNG (default: the summary's name with .png)")] = None,
) -> None:
    """Accuracy vs completion tokens per item, one point or line per configuration, 95% CI bars."""
    try:
        from bench.plot import plot_summary

        path = plot_summary(summary, out)
    except ModuleNotFoundError as exc:
        if exc.name != "matplotlib" and not (exc.name or "").startswith("matplotlib."):
            raise
        typer.echo("bench plot needs matplotlib: pip install 'ponder[bench]'", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"wrote {path}")


@bench_cli.command()
def replay(
    rows: Annotated[Path, typer.Argument(help="a bench JSONL whose rows keep their votes", exists=True,
                                         dir_okay=False)],
    chains: Annotated[Optional[int], typer.Option(min=0, help="only each row's first N chain votes")] = None,
    programs: Annotated[Optional[int], typer.Option(min=0, help="only each row's first N program votes")] = None,
) -> None:
    """Voting rules replayed on the samples a run recorded (math items): correct per rule.
    --chains/--programs replay a smaller tier with the same probe on a larger one's samples."""
    from bench.replay import markdown
    from bench.replay import replay as replay_rows
    from bench.run import read_rows

    typer.echo(markdown(replay_rows(read_rows(rows), chains=chains, programs=programs)))
