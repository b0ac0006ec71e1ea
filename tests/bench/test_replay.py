"""Voting rules replayed on recorded votes (bench.replay)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from bench.cli import bench_cli
from bench.replay import chain_backed, chains_only, first, programs_half, programs_only, replay, served

# Two programs agree on a wrong 14; the greedy chain (weight 1.5) and another chain say 36.
SPLIT = [("36", "chain", 1.5), ("14", "program", 1.0), ("14", "program", 1.0), ("14", "program", 1.0),
         ("36", "chain", 1.0), ("20", "chain", 1.0)]


def test_each_rule_reads_the_votes_its_own_way():
    assert served(SPLIT) == "14"  # 3 program votes beat 2.5 for the chains' answer
    assert chains_only(SPLIT) == "36" and programs_only(SPLIT) == "14"
    assert programs_half(SPLIT) == "36"  # 1.5 vs 2.5
    assert chain_backed(SPLIT) == "36"  # no chain reached 14, so it is out; 36 (2.5) beats 20 (1)


def test_chain_backed_drops_answers_no_chain_reached():
    votes = [("14", "program", 1.0), ("14", "program", 1.0), ("36", "chain", 1.5)]
    assert served(votes) == "14" and chain_backed(votes) == "36"
    assert chain_backed([("14", "program", 1.0), (None, "chain", 1.0)]) == "14"  # no chain answered: served


def test_replay_counts_correct_per_rule_and_the_ceiling(tmp_path):
    rows = [{"gold": "36", "votes": [list(v) for v in SPLIT]},
            {"gold": "1,000", "votes": [["1000", "chain", 1.5], ["999", "program", 1.0]]},
            {"gold": "7", "votes": [["8", "chain", 1.5]]},
            {"gold": "5", "answer": "5"}]  # no votes: not counted
    result = replay(rows)
    assert result["items"] == 3 and result["gold_among_samples"] == 2
    assert result["rules"]["served"] == 1 and result["rules"]["chains_only"] == 2
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{\"cut")
    out = CliRunner().invoke(bench_cli, ["replay", str(path)])
    assert out.exit_code == 0 and "| chains_only | 2/3 |" in out.output
    assert "| gold among the samples | 2/3 |" in out.output


def test_first_keeps_the_earliest_votes_of_each_kind():
    assert first(SPLIT, chains=1, programs=2) == [SPLIT[0], SPLIT[1], SPLIT[2]]
    assert first(SPLIT, chains=2) == [s for s in SPLIT if s != ("20", "chain", 1.0)]
    assert first(SPLIT) == SPLIT


def test_replay_as_a_smaller_tier(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"gold": "36", "votes": [list(v) for v in SPLIT]}) + "\n")
    # With one program vote, 14 has 1 against 36's 1.5 from the greedy chain.
    out = CliRunner().invoke(bench_cli, ["replay", str(path), "--chains", "1", "--programs", "1"])
    assert out.exit_code == 0 and "| served | 1/1 |" in out.output
    assert "| served | 0/1 |" in CliRunner().invoke(bench_cli, ["replay", str(path)]).output
