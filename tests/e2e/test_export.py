"""`ponder export` on traces from a real run (the real SmolLM2 through the real server)."""

import json
import subprocess
import sys

import httpx
import pytest

pytestmark = pytest.mark.e2e


def test_export_produces_preference_pairs_and_step_labels(server, tmp_path):
    trace_dir = tmp_path / "traces"
    server.app.state.traces.directory = trace_dir  # the running server also writes traces there
    body = {"problem": "Tom has 3 apples and buys 4 more. How many apples?", "strategy": "beam",
            "budget": {"tokens": 600}, "trace": True}
    for _ in range(3):
        assert httpx.post(f"{server.url}/v1/reason", json=body, timeout=300).status_code == 200
    out = tmp_path / "export.jsonl"
    done = subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "export", str(trace_dir),
                           "--out", str(out), "--margin", "0.05"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    pairs = [r for r in records if r["type"] == "preference"]
    labels = [r for r in records if r["type"] == "step_label"]
    assert pairs and labels
    assert all(p["chosen_score"] - p["rejected_score"] >= 0.05 and p["chosen"] != p["rejected"] for p in pairs)
    assert all(0.0 <= r["label"] <= 1.0 and r["messages"][-1]["role"] == "user" for r in labels)
