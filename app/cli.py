"""`ponder serve`, `ponder ask`, `ponder export` and `ponder bench ...`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Annotated, Any, Optional

import typer

from app.settings import load_settings

cli = typer.Typer(add_completion=False, help="ponder: inference-time reasoning behind the OpenAI API.")


def _overrides(backend: str | None, base_url: str | None, model: str | None) -> dict[str, object]:
    given = {"backend": backend, "base_url": base_url, "model": model}
    return {k: v for k, v in given.items() if v is not None}


@cli.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="bind address")] = None,
    port: Annotated[Optional[int], typer.Option(help="port")] = None,
    backend: Annotated[Optional[str], typer.Option(help="embedded | openai | sglang")] = None,
    base_url: Annotated[Optional[str], typer.Option(help="OpenAI-compatible backend URL")] = None,
    model: Annotated[Optional[str], typer.Option(help="smollm2 | qwen-1.5b | path/to/model.gguf")] = None,
) -> None:
    """Serve the OpenAI-compatible reasoning API."""
    from app.compose.gateway import create_app
    from app.ops.logs import configure_logging
    from app.ops.shutdown import graceful_server

    settings = load_settings(**_overrides(backend, base_url, model))
    configure_logging()
    # In-flight searches get PONDER_SHUTDOWN_GRACE_S on SIGTERM, then return their best so far. The
    # access log is ponder's JSON line per request, so uvicorn's own is off.
    graceful_server(create_app(settings), host=host or settings.host, port=port or settings.port,
                    access_log=False).run()


@cli.command()
def ask(
    question: str,
    effort: Annotated[str, typer.Option(help="none | low | medium | high")] = "low",
    strategy: Annotated[Optional[str], typer.Option(help="override the tier's strategy")] = None,
    backend: Annotated[Optional[str], typer.Option(help="embedded | openai | sglang")] = None,
    base_url: Annotated[Optional[str], typer.Option()] = None,
    model: Annotated[Optional[str], typer.Option()] = None,
    view: Annotated[bool, typer.Option("--view", help="open the search's trace page in a browser")] = False,
) -> None:
    """Answer one question in-process and print the answer, then the search summary."""
    from rich.console import Console

    from app.compose.build import open_service
    from app.protocol.chat import ChatCompletionRequest
    from app.protocol.errors import ApiError
    from app.protocol.render import summary_text
    from app.reasoning.service import plan_request
    from app.traces.store import trace_record

    settings = load_settings(**_overrides(backend, base_url, model))
    console = Console()

    async def run() -> None:
        body: dict[str, object] = {"model": settings.model, "reasoning_effort": effort,
                                   "messages": [{"role": "user", "content": question}]}
        if strategy:
            body["reasoning"] = {"strategy": strategy}
        plan = plan_request(ChatCompletionRequest.model_validate(body), settings)
        async with open_service(settings) as service:
            result = await service.run(plan)
        console.print(result.outcome.content if result.outcome else "(no answer)", markup=False)
        console.rule("summary")
        console.print(summary_text(result) or "", markup=False)
        if view:
            _open_view(trace_record(f"ask-{uuid.uuid4().hex}", result, plan.messages), console)

    try:
        asyncio.run(run())
    except ApiError as exc:
        console.print(f"error: {exc.message}", markup=False)
        raise typer.Exit(2) from exc


def _open_view(trace: dict[str, Any], console: Any) -> None:
    """Write the trace's standalone page to a temporary file, print its path, open it in a browser."""
    import tempfile
    import webbrowser
    from pathlib import Path

    from app.traces.viewer import page_name, write_page

    folder = Path(tempfile.mkdtemp(prefix="ponder-view-"))  # owner-only, like the page inside it
    path = write_page(trace, folder / page_name(trace))
    console.print(f"trace page: {path}", markup=False)
    webbrowser.open(path.as_uri())


@cli.command()
def export(
    traces: Annotated[list[str], typer.Argument(help="trace folders (PONDER_TRACE_DIR), trace files, JSONL files")],
    out: Annotated[str, typer.Option(help="output JSONL")] = "ponder-export.jsonl",
    margin: Annotated[float, typer.Option(help="least score gap for a preference pair")] = 0.2,
    html: Annotated[Optional[str], typer.Option(
        help="write each trace's standalone viewer page, <id>.html, to this folder instead")] = None,
    trace_id: Annotated[Optional[list[str]], typer.Option("--id", help="only this trace (repeatable)")] = None,
) -> None:
    """Turn stored traces into preference pairs (DPO) and step labels (PRM training), or, with
    --html, into pages that open offline in a browser (the page of GET /v1/traces/{id}/view)."""
    import json
    from pathlib import Path

    from app.traces.export import export_records, read_traces

    chosen = (t for t in read_traces(Path(t) for t in traces) if not trace_id or t.get("id") in trace_id)
    if html is not None:
        from app.traces.viewer import page_name, write_page

        folder = Path(html)
        folder.mkdir(parents=True, exist_ok=True)
        written = [write_page(trace, folder / page_name(trace)) for trace in chosen]
        typer.echo(f"wrote {len(written)} trace page(s) to {folder}")
        return
    counts = {"preference": 0, "step_label": 0}
    with open(out, "w") as f:
        for trace in chosen:
            for record in export_records(trace, margin):
                counts[record["type"]] += 1
                f.write(json.dumps(record) + "\n")
    typer.echo(f"wrote {counts['preference']} preference pairs and {counts['step_label']} step labels to {out}")


def command_plugin(name: str) -> Callable[..., Any]:
    """The command another package registers as entry point `name` in group `ponder.commands`
    (bench registers `bench`): app never imports the packages that import it."""
    found = entry_points(group="ponder.commands", name=name)
    if not found:
        raise typer.BadParameter(f"no `ponder {name}` command is installed (entry point group ponder.commands)")
    loaded: Callable[..., Any] = next(iter(found)).load()
    return loaded


# Mounted as a pass-through so that bench (and its optional matplotlib) is imported only when
# `ponder bench ...` runs: `ponder serve` never loads it. The bench typer app parses its own
# arguments, --help included.
@cli.command("bench", add_help_option=False,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench_command(ctx: typer.Context) -> None:
    """Benchmarks on offline data sets: run, sweep, plot (see `ponder bench --help`)."""
    command_plugin("bench")(ctx.args, prog_name="ponder bench")


def main() -> None:
    cli()
