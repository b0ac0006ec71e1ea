"""`ponder bench ...` is mounted on the main CLI; `bench plot` writes a PNG."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from app.cli import cli

SUMMARY = {
    "dataset": "gsm8k", "model": "smollm2", "date": "2026-01-01", "items": 20, "command": "ponder bench sweep",
    "configs": {
        "single": {"strategy": "single", "effort": None, "accuracy": 0.3, "wilson95": [0.145, 0.519],
                   "completion_tokens_per_item": 250.0},
        "self_consistency": {"strategy": "self_consistency", "effort": None, "accuracy": 0.45,
                             "wilson95": [0.258, 0.658], "completion_tokens_per_item": 1200.0},
        "effort=none": {"strategy": None, "effort": "none", "accuracy": 0.3, "wilson95": [0.145, 0.519],
                        "completion_tokens_per_item": 260.0},
        "effort=low": {"strategy": None, "effort": "low", "accuracy": 0.5, "wilson95": [0.299, 0.701],
                       "completion_tokens_per_item": 1500.0},
    },
}


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                    reason="matplotlib missing: pip install 'ponder[bench]'")
def test_bench_plot_writes_a_png(tmp_path):
    summary = tmp_path / "sweep.json"
    summary.write_text(json.dumps(SUMMARY))
    result = CliRunner().invoke(cli, ["bench", "plot", str(summary)])
    assert result.exit_code == 0, result.output
    png = tmp_path / "sweep.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000
    other = tmp_path / "plots" / "acc.png"
    assert CliRunner().invoke(cli, ["bench", "plot", str(summary), "--out", str(other)]).exit_code == 0
    assert other.exists()


def test_bench_run_needs_a_strategy_or_an_effort():
    result = CliRunner().invoke(cli, ["bench", "run", "--dataset", "gsm8k"])
    assert result.exit_code == 2 and "--strategy" in result.output


def test_bench_run_rejects_an_unknown_dataset():
    result = CliRunner().invoke(cli, ["bench", "run", "--dataset", "mmlu", "--strategy", "single"])
    assert result.exit_code == 2 and "humaneval" in result.output


def test_bench_run_refuses_settings_that_are_not_a_json_object():
    for bad in ("{simulations: 2}", "[2]"):
        args = ["bench", "run", "--dataset", "gsm8k", "--strategy", "mcts", "--settings", bad]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2 and "--settings" in result.output


def test_bench_help_lists_its_commands():
    result = CliRunner().invoke(cli, ["bench", "--help"])
    assert result.exit_code == 0
    assert all(name in result.output for name in ("run", "sweep", "plot"))


def test_the_server_cli_does_not_import_bench():
    code = "import sys, app.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in {'bench', 'matplotlib'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_bench_run_rejects_an_unknown_reasoning_gym_generator():
    result = CliRunner().invoke(cli, ["bench", "run", "--dataset", "rg:no_such_generator", "--strategy", "single"])
    assert result.exit_code == 2 and "rg:GENERATOR" in result.output
