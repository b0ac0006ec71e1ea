import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_ponder_ask_prints_answer_then_summary():
    out = subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "ask", "What is 17 * 23?",
                          "--effort", "low"], capture_output=True, text=True, timeout=300, check=True).stdout
    answer, _, summary = out.partition("summary")
    assert answer.strip()
    assert "strategy: auto" in summary and "chosen:" in summary


def test_ponder_ask_runs_a_named_strategy():
    out = subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "ask", "What is 2 + 2?",
                          "--strategy", "mcts", "--effort", "none"], capture_output=True, text=True, timeout=300,
                         check=True).stdout
    assert "strategy: mcts" in out


def test_ponder_ask_rejects_unknown_strategy():
    done = subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "ask", "hi", "--strategy", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "unknown strategy" in done.stdout
