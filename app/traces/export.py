"""Stored traces -> training data (the search-and-learn flywheel).

- Preference pairs (for DPO): two sibling steps under the same partial solution whose
  scores differ by at least `margin`; the higher-scored one is `chosen`.
- Step labels (for PRM training): each step of a tree with its score (PRM, or verifier
  verdict on a finished path) and, where it was visited, its backed-up mean value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def read_traces(paths: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """Traces from a trace folder (one `<id>.json` per trace, app/traces/store.py), or JSONL files of traces."""
    for path in paths:
        files = sorted([*path.glob("*.json"), *path.glob("*.jsonl")]) if path.is_dir() else [path]
        for file in files:
            if file.suffix == ".json":
                stored = json.loads(file.read_text())
                if isinstance(stored, dict) and isinstance(stored.get("trace"), dict):  # other JSON is not a trace
                    yield stored["trace"]
                continue
            for line in file.read_text().splitlines():
                if line.strip():
                    yield json.loads(line)


def _path_text(nodes: dict[int, dict[str, Any]], node_id: int | None) -> str:
    parts: list[str] = []
    while node_id is not None and node_id in nodes:
        parts.append(nodes[node_id]["text"])
        node_id = nodes[node_id]["parent"]
    return "".join(reversed(parts))


def export_records(trace: dict[str, Any], margin: float = 0.2) -> Iterator[dict[str, Any]]:
    """Preference pairs and step labels from one trace (none from traces without a tree)."""
    tree = trace.get("tree") or []
    nodes = {n["id"]: n for n in tree}
    messages = trace.get("messages", [])
    children: dict[int, list[dict[str, Any]]] = {}
    for node in tree:
        children.setdefault(node["parent"], []).append(node)
    for parent, kids in children.items():
        scored = sorted((k for k in kids if k.get("prm_score") is not None), key=lambda k: -k["prm_score"])
        prefix = _path_text(nodes, parent if parent in nodes else None)
        for better in scored:
            for worse in scored:
                if better["prm_score"] - worse["prm_score"] >= margin:
                    yield {"type": "preference", "trace": trace["id"], "messages": messages, "prefix": prefix,
                           "chosen": better["text"], "rejected": worse["text"],
                           "chosen_score": better["prm_score"], "rejected_score": worse["prm_score"]}
    for node in tree:
        if node.get("prm_score") is None:
            continue
        steps = _path_text(nodes, node["id"])
        yield {"type": "step_label", "trace": trace["id"], "messages": messages, "steps": steps,
               "step": node["text"], "label": node["prm_score"], "value": node.get("value"),
               "visits": node.get("visits"), "terminal": node.get("terminal")}
