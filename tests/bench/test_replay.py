"""Voting rules replayed on recorded votes (bench.replay)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from bench.cli import bench_cli
from bench.replay import (
    arithmetic_checked,
    chain_backed,
    chains_only,
    cross_only,
    cross_weighted,
    first,
    programs_half,
    programs_only,
    replay,
    served,
)

# Two programs agree on a wrong 14; the greedy chain (weight 1.5) and another chain say 36.
SPLIT = [("36", "chain", 1.5, ""), ("14", "program", 1.0, ""), ("14", "program", 1.0, ""), ("14", "program", 1.0, ""),
         ("36", "chain", 1.0, ""), ("20", "chain", 1.0, "")]


def test_each_rule_reads_the_votes_its_own_way():
    assert served(SPLIT) == "14"  # 3 program votes beat 2.5 for the chains' answer
    assert chains_only(SPLIT) == "36" and programs_only(SPLIT) == "14"
    assert programs_half(SPLIT) == "36"  # 1.5 vs 2.5
    assert chain_backed(SPLIT) == "36"  # no chain reached 14, so it is out; 36 (2.5) beats 20 (1)


def test_chain_backed_drops_answers_no_chain_reached():
    votes = [("14", "program", 1.0, ""), ("14", "program", 1.0, ""), ("36", "chain", 1.5, "")]
    assert served(votes) == "14" and chain_backed(votes) == "36"
    assert chain_backed([("14", "program", 1.0, ""), (None, "chain", 1.0, "")]) == "14"  # no chain answered: served


def test_replay_counts_correct_per_rule_and_the_ceiling(tmp_path):
    rows = [{"gold": "36", "votes": [list(v[:3]) for v in SPLIT]},
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
    assert first(SPLIT, chains=2) == [s for s in SPLIT if s != ("20", "chain", 1.0, "")]
    assert first(SPLIT) == SPLIT


def test_replay_as_a_smaller_tier(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"gold": "36", "votes": [list(v[:3]) for v in SPLIT]}) + "\n")
    # With one program vote, 14 has 1 against 36's 1.5 from the greedy chain.
    out = CliRunner().invoke(bench_cli, ["replay", str(path), "--chains", "1", "--programs", "1"])
    assert out.exit_code == 0 and "| served | 1/1 |" in out.output
    assert "| served | 0/1 |" in CliRunner().invoke(bench_cli, ["replay", str(path)]).output


# The problem: 12 boxes of 9.5 kg, 3 boxes taken off; how many kg are left? Gold 85.5.
RIGHT_CHAIN = "12 boxes weigh 12 * 9.5 = 114 kg. Taking off 3 * 9.5 = 28.5 kg leaves 114 - 28.5 = 85.5 kg."
RIGHT_PROGRAM = "```python\nboxes = 12\ntotal = boxes * 9.5\noff = 3 * 9.5\nprint(total - off)\n```"
WRONG_PROGRAM = "```python\ntotal = 12 * 9.5\nleft = total - 3\nprint(left)\n```"  # 111: took off 3 kg


def test_cross_rules_prefer_an_answer_a_chain_and_a_program_reached_the_same_way():
    samples = [("111", "program", 1.0, WRONG_PROGRAM), ("111", "program", 1.0, WRONG_PROGRAM),
               ("85.5", "chain", 1.0, RIGHT_CHAIN), ("85.5", "program", 1.0, RIGHT_PROGRAM),
               ("111", "chain", 1.0, "So 111.")]
    assert served(samples) == "111"  # 3 votes against 2
    # The right chain and the right program share 114 and 28.5; the wrong ones share nothing
    # (the chain that says 111 shows no computation), so only 85.5 is backed on the way.
    assert cross_weighted(samples) == "85.5"  # 4 against 3
    assert cross_only(samples) == "85.5"


def test_cross_rules_leave_out_the_shared_final_answer_and_fall_back_to_the_vote():
    # A chain and a program that share only their final answer are not backed; nothing backed: served.
    samples = [("114", "chain", 1.5, "12 * 9.5 = 114"), ("114", "program", 1.0, "print(12 * 9.5)"),
               ("7", "program", 1.0, "x = 3 + 4")]
    assert cross_only(samples) == served(samples) == "114"
    assert cross_weighted(samples) == "114"
    texts_missing = [(a, s, w, "") for a, s, w, _ in samples]
    assert cross_only(texts_missing) == cross_weighted(texts_missing) == "114"


def test_replay_reads_recorded_texts():
    row = {"gold": "85.5", "votes": [["111", "program", 1.0], ["111", "program", 1.0], ["85.5", "chain", 1.0],
                                     ["85.5", "program", 1.0], ["111", "chain", 1.0]],
           "texts": [WRONG_PROGRAM, WRONG_PROGRAM, RIGHT_CHAIN, RIGHT_PROGRAM, "So 111."]}
    result = replay([row])
    assert (result["rules"]["served"], result["rules"]["cross_weighted"], result["rules"]["cross_only"]) == (0, 1, 1)


def test_arithmetic_checked_drops_chains_whose_stated_arithmetic_is_wrong():
    wrong = ("575", "chain", 1.5, "12 * 9.5 = 114 a day; 114 * 5 = 575.")
    right = ("570", "chain", 1.0, "114 * 5 = 570")
    assert served([wrong, right]) == "575"  # the greedy weight wins
    assert arithmetic_checked([wrong, right]) == "570"  # 575's chain is out
    unrecorded = ("570", "chain", 1.0, "")  # no text recorded: it votes as it did
    assert arithmetic_checked([right, unrecorded, wrong]) == "570"
    assert arithmetic_checked([wrong, (None, "chain", 1.0, "")]) is None
