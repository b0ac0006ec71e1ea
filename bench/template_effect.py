"""What the served model's own chat template is worth: Gemma-3-270M behind a real vLLM (CPU), the
same items at effort `none` and `low`, prompts rendered with the server's template (vLLM's
/tokenize, Gemma's format) and with ChatML forced, in one run.

    python -m bench.template_effect --dataset rg:basic_arithmetic --limit 30

Needs `bash scripts/vllm_cpu.sh` (it converts Gemma). Rows and summaries go to docs/results/."""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from backends.openai_compat import OpenAICompatBackend
from backends.templates import chatml
from bench.config import RESULTS, Config
from bench.run import run_configs
from bench.vllm_server import GEMMA_MODEL, GEMMA_SERVED, vllm_server


async def measure(dataset: str, limit: int, efforts: list[str], url: str, out_dir: Path,
                  concurrency: int) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for name in ("server", "chatml"):
        forced = chatml("forced for the comparison") if name == "chatml" else None
        backend = OpenAICompatBackend(url, model=GEMMA_SERVED, chat_template=forced, timeout_s=600)
        try:
            stem = f"{dataset.replace(':', '-')}_gemma3-270m_template-{name}"
            summary = await run_configs(
                dataset, [Config(effort=e) for e in efforts], model=GEMMA_SERVED, limit=limit, backend=backend,
                out=out_dir / f"{stem}.jsonl", summary_path=out_dir / f"{stem}.json",
                command=" ".join(["python -m bench.template_effect", shlex.join(sys.argv[1:])]),
                concurrency=concurrency)
            report[name] = {"template": backend.chat_template_source, "configs": summary.get("configs", summary)}
        finally:
            await backend.aclose()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="rg:basic_arithmetic")
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--efforts", default="none,low")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    with vllm_server(model=GEMMA_MODEL, served=GEMMA_SERVED, eager=True, kv_cache_gib=1.0) as url:
        report = asyncio.run(measure(args.dataset, args.limit, args.efforts.split(","), url, args.out_dir,
                                     args.concurrency))
    path = args.out_dir / f"{args.dataset.replace(':', '-')}_gemma3-270m_templates.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
