"""How long the trace viewer takes to draw a search of 64 nodes in headless Chromium:
`python -m bench.viewer_render` (needs Debian's chromium and the playwright client, the test extra).

The trace is a 64-node tree grown at random through search.tree.Tree (the real node records, steps of
about 150 characters, scores, visits, finished leaves, a chosen path) with one round event per 4
nodes. The page is opened from a file `--loads` times; printed: the median time from navigation
start to the end of the page's first full render (`performance.mark("ponder-rendered")`), and the
median time the script itself took, in one run."""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from app.traces.viewer import write_page
from search.tree import Tree, node_records


def synthetic_trace(nodes: int, seed: int = 0) -> dict[str, Any]:
    rng = random.Random(seed)
    tree = Tree()
    while len(tree.nodes) <= nodes:
        open_ = [n for n in tree.nodes.values() if not n.terminal and n.depth < 6]
        parent = rng.choice(open_)
        terminal = parent.depth >= 3 and rng.random() < 0.4
        text = f"Step {parent.depth + 1}: " + " ".join(rng.choice(["add", "the", "apples", "so", "12", "=", "x"])
                                                        for _ in range(30)) + "\n\n"
        tree.add(parent.id, text, tokens=40, prm_score=round(rng.random(), 3), visits=rng.randint(1, 9),
                 value=rng.random() * 3, prior=round(rng.random(), 3), terminal=terminal,
                 answer=rng.choice(["12", "14"]) if terminal else None)
    records = node_records(tree.grown())
    chosen = max((n for n in tree.nodes.values() if n.terminal), key=lambda n: n.prm_score or 0)
    events = [{"type": "round.end", "round": r + 1, "best_answer": "12", "confidence": 0.6, "tokens_used": 160 * r,
               "tokens_budget": 12000, "calls_used": 2 * r} for r in range(nodes // 4)]
    return {"id": "bench-64", "strategy": "mcts", "messages": [{"role": "user", "content": "How many apples?"}],
            "answer": chosen.answer, "content": tree.path_text(chosen.id), "confidence": 0.6, "candidates": [],
            "path": {"chosen": chosen.id, "nodes": nodes}, "events": events, "tree": records,
            "stop_reason": "done", "rounds": len(events), "elapsed_s": 12.5, "errors": [],
            "budget": {"tokens": 12000, "calls": 64, "deadline_s": None},
            "usage": {"completion_tokens": 2560, "prompt_tokens": 40000, "cached_tokens": 30000, "calls": 64,
                      "failed_calls": 0}}


def measure(nodes: int, loads: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    browser_path = shutil.which("chromium")
    if browser_path is None:
        raise SystemExit("no chromium: apt-get install chromium")
    trace = synthetic_trace(nodes)
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as p:
        page_file = write_page(trace, Path(folder) / "page.html")
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        total, script = [], []
        for _ in range(loads):
            page.goto(page_file.as_uri())
            page.wait_for_selector("body[data-rendered=finished]")
            shown = page.locator("#tree li.node").count()
            assert shown == nodes, f"{shown} nodes drawn of {nodes}"
            marks = page.evaluate("['ponder-script', 'ponder-rendered'].map("
                                  "n => performance.getEntriesByName(n)[0].startTime)")
            total.append(marks[1])
            script.append(marks[1] - marks[0])
        page_bytes = page_file.stat().st_size
        browser.close()
    return {"nodes": nodes, "loads": loads, "page_bytes": page_bytes,
            "navigation_to_rendered_ms_median": round(statistics.median(total), 1),
            "navigation_to_rendered_ms_max": round(max(total), 1),
            "script_ms_median": round(statistics.median(script), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=64)
    parser.add_argument("--loads", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(measure(args.nodes, args.loads)))


if __name__ == "__main__":
    main()
