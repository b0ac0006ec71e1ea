"""Summary math, and `bench run`/`sweep` end to end with a scripted backend (in-process and over HTTP)."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from app.compose.gateway import create_app
from app.settings import load_settings
from backends.types import Completion, Sample
from bench.config import Config
from bench.datasets import Item
from bench.run import UnknownItems, request_body, run_configs
from bench.summary import markdown_table, percentile, summarise, wilson
from sampling import Sampling
from tests.app.fake_backend import ScriptedBackend

# Three gsm8k-like items (the loader's own test covers the real file); the backend gets the
# first two right and the third wrong.
ITEMS = [
    Item(id="q1", question="Tom has 3 apples and buys 15 more. How many? \\boxed{ANSWER}", gold="18", kind="math"),
    Item(id="q2", question="A ship sails 30 miles at 6 mph. Hours? \\boxed{ANSWER}", gold="5", kind="math"),
    Item(id="q3", question="Half of 1,000 is? \\boxed{ANSWER}", gold="500", kind="math"),
]


class AnswerByQuestion(ScriptedBackend):
    """Answers each item by a phrase of its question (test code)."""

    replies = {"apples": "3 + 15 = 18, so \\boxed{18}", "ship": "30 / 6 = 5 hours. \\boxed{5}",
               "Half": "I think \\boxed{250}"}

    async def complete(self, prompt: str, *, n: int, params: Sampling, deadline: float | None = None) -> Completion:
        self.calls += 1
        text = next((reply for phrase, reply in self.replies.items() if phrase in prompt), "no idea")
        tokens = min(params.max_tokens, 7)
        return Completion(samples=tuple(Sample(text, tokens, "stop") for _ in range(n)),
                          prompt_tokens=10 * n, cached_tokens=9 * (n - 1), backend=self.name)


def row(correct: bool, tokens: int, wall: float, answer: str | None = "1", returned: str | None = "1") -> dict:
    return {"correct": correct, "completion_tokens": tokens, "prompt_tokens": 100, "cached_tokens": 25,
            "calls": 2, "wall_s": wall, "answer": answer, "ponder_answer": returned, "stop_reason": "done",
            "errors": []}


def test_wilson_interval_brackets_the_proportion():
    lo, hi = wilson(5, 20)
    assert 0.10 < lo < 0.25 < hi < 0.50
    assert wilson(5, 20) == pytest.approx((0.1119, 0.4687), abs=1e-3)  # the textbook values
    assert wilson(0, 20)[0] == 0.0 and wilson(20, 20)[1] == 1.0
    assert wilson(0, 0) == (0.0, 1.0)


def test_percentile_interpolates_between_order_statistics():
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([float(i) for i in range(1, 101)], 95) == pytest.approx(95.05)
    assert percentile([7.0], 95) == 7.0 and percentile([], 50) == 0.0


def test_summary_counts_tokens_per_item_and_per_correct_and_latency():
    rows = [row(True, 100, 1.0), row(False, 300, 2.0, answer=None, returned=None), row(True, 200, 3.0),
            row(False, 400, 10.0, returned=None)]  # the last: the grader read an answer ponder did not return
    s = summarise(rows, Config(strategy="single", budget_tokens=500))
    assert (s["items"], s["correct"], s["accuracy"]) == (4, 2, 0.5)
    assert s["completion_tokens_per_item"] == 250.0
    assert s["completion_tokens_per_correct"] == 500.0
    assert s["cached_over_prompt"] == 0.25 and s["calls_per_item"] == 2.0
    assert s["latency_p50_s"] == 2.5 and s["latency_p95_s"] == pytest.approx(8.95, abs=0.01)
    assert s["answers_extracted"] == 3 and s["answers_returned"] == 2 and s["budget_used"] == 0.5
    assert s["wilson95"] == [round(x, 4) for x in wilson(2, 4)]
    none_right = summarise([row(False, 10, 1.0)])
    assert none_right["completion_tokens_per_correct"] is None and "strategy" not in none_right


def test_markdown_table_has_one_row_per_config():
    s = summarise([row(True, 100, 1.0), row(False, 300, 2.0)], Config(effort="low"))
    table = markdown_table({"effort=low": s, "single": s})
    lines = table.splitlines()
    assert len(lines) == 4 and lines[0].startswith("| config |")
    assert lines[2].startswith("| effort=low | 1/2 | 50.0% (") and "| 200 | 400 |" in lines[2]


def test_summary_of_instruction_following_rows_has_the_instruction_level_share():
    rows = [{**row(True, 100, 1.0), "instructions_followed": {"punctuation:no_comma": True}},
            {**row(False, 100, 1.0),
             "instructions_followed": {"startend:quotation": False, "detectable_format:title": True}}]
    s = summarise(rows)
    assert (s["correct"], s["instructions"], s["instructions_followed"], s["instruction_accuracy"]) == (1, 3, 2, 0.6667)
    assert markdown_table({"effort=none": s}).splitlines()[2].startswith("| effort=none | 1/2, 2/3 instr. | 50.0% (")
    assert "instructions" not in summarise([row(True, 100, 1.0)])


def test_request_body_carries_the_honest_verifier_only():
    code = Item(id="c", question="q", gold="g", kind="code", reference={"tests": "t"},
                verifier={"type": "python_tests", "tests": "t"})
    body = request_body(code, Config(strategy="best_of_n", budget_tokens=512), model="m", seed=3)
    assert body["reasoning"] == {"strategy": "best_of_n", "budget_tokens": 512,
                                 "verifier": {"type": "python_tests", "tests": "t"}}
    assert body["seed"] == 3 and "reasoning_effort" not in body
    tuned = request_body(ITEMS[0], Config(strategy="mcts", settings={"simulations": 2}, deadline_s=900.0), model="m",
                         seed=None)
    assert tuned["reasoning"] == {"strategy": "mcts", "settings": {"simulations": 2}, "deadline_s": 900.0}
    math_body = request_body(ITEMS[0], Config(effort="low"), model="m", seed=None)
    assert "reasoning" not in math_body and math_body["reasoning_effort"] == "low"
    assert request_body(ITEMS[0], Config(effort="low"), model="m", seed=0, oracle=True)["reasoning"]["verifier"] == {
        "type": "math_equiv", "reference": "18"}


async def test_run_in_process_writes_rows_and_summary(tmp_path):
    backend = AnswerByQuestion()
    rows_path, summary_path = tmp_path / "gsm8k.jsonl", tmp_path / "gsm8k.json"
    report = await run_configs("gsm8k", [Config(strategy="single")], items=ITEMS, backend=backend, out=rows_path,
                               summary_path=summary_path, command="ponder bench run --dataset gsm8k", quiet=True)
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2", "q3"]
    assert [r["correct"] for r in rows] == [True, True, False]
    assert [r["answer"] for r in rows] == ["18", "5", "250"] and rows[2]["gold"] == "500"
    assert all(r["completion_tokens"] == 7 and r["calls"] == 1 and r["strategy"] == "single" for r in rows)
    assert all(r["prompt_tokens"] > 0 and r["stop_reason"] for r in rows)
    assert backend.calls == 3
    saved = json.loads(summary_path.read_text())
    assert saved == report and saved["command"] == "ponder bench run --dataset gsm8k" and saved["items"] == 3
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", saved["date"])
    single = saved["configs"]["single"]
    assert (single["correct"], single["completion_tokens_per_item"], single["completion_tokens_per_correct"]) == (
        2, 7.0, 10.5)


async def test_a_voting_search_row_keeps_every_samples_vote(tmp_path):
    rows_path = tmp_path / "sc.jsonl"
    await run_configs("gsm8k", [Config(strategy="self_consistency")], items=ITEMS[:1], backend=AnswerByQuestion(),
                      out=rows_path, summary_path=tmp_path / "sc.json", command="test", quiet=True)
    (only,) = [json.loads(line) for line in rows_path.read_text().splitlines()]
    assert only["votes"] and all(answer == "18" and source == "chain" for answer, source, _ in only["votes"])
    assert len(only["texts"]) == len(only["votes"]) and all("18" in text for text in only["texts"])


class RepliesInTurn(ScriptedBackend):
    """An open-ended reply with a comma first, then without (test code)."""

    async def complete(self, prompt: str, *, n: int, params: Sampling, deadline: float | None = None) -> Completion:
        self.calls += 1
        texts = ["Leaves fall, slowly"] if params.temperature == 0 else ["Leaves fall slowly"] * n
        return Completion(samples=tuple(Sample(t, 4, "stop") for t in texts), prompt_tokens=10, backend=self.name)


async def test_an_open_ended_row_grades_every_reply_written(tmp_path):
    lower = Item(id="i1", question="Write a haiku about autumn. Do not use any commas.",
                 gold="follows punctuation:no_comma", kind="instructions",
                 reference={"instructions": [{"id": "punctuation:no_comma", "kwargs": {}}]})
    rows_path = tmp_path / "open.jsonl"
    report = await run_configs("ifgen_dev", [Config(strategy="open_ended", settings={"checks": False, "n": 3})],
                               items=[lower], backend=RepliesInTurn(), out=rows_path,
                               summary_path=tmp_path / "open.json", command="test", quiet=True)
    (only,) = [json.loads(line) for line in rows_path.read_text().splitlines()]
    assert only["selection"]["texts"][0] == "Leaves fall, slowly" and len(only["selection"]["texts"]) == 3
    # word overlap cannot tell the three apart, so the greedy reply stays; a perfect selector had two right ones
    assert only["replies_correct"] == [False, True, True] and not only["correct"]
    summary = report["configs"]["open_ended"]
    assert (summary["replies_graded"], summary["any_reply_correct"], summary["replies_per_item"]) == (1, 1, 3.0)


async def test_ids_pick_items_and_an_unknown_id_is_named(tmp_path):
    rows_path = tmp_path / "ids.jsonl"
    await run_configs("gsm8k", [Config(strategy="single")], items=ITEMS, ids=["q3", "q1"], backend=AnswerByQuestion(),
                      out=rows_path, summary_path=tmp_path / "ids.json", command="test", quiet=True)
    assert sorted(json.loads(line)["id"] for line in rows_path.read_text().splitlines()) == ["q1", "q3"]
    with pytest.raises(UnknownItems, match="q9"):
        await run_configs("gsm8k", [Config(strategy="single")], items=ITEMS, ids=["q1", "q9"],
                          backend=AnswerByQuestion(), out=tmp_path / "bad.jsonl", summary_path=tmp_path / "bad.json",
                          command="test", quiet=True)
    assert not (tmp_path / "bad.jsonl").exists()

async def test_sweep_over_http_reads_usage_and_ponder_fields(tmp_path):
    backend = AnswerByQuestion()
    app = create_app(load_settings(), backend=backend)
    async with app.router.lifespan_context(app):
        report = await run_configs(
            "gsm8k", [Config(strategy="single"), Config(effort="low")], items=ITEMS[:2], base_url="http://ponder",
            transport=httpx.ASGITransport(app=app), out=tmp_path / "s.jsonl", summary_path=tmp_path / "s.json",
            command="ponder bench sweep", quiet=True)
    assert list(report["configs"]) == ["single", "effort=low"]
    assert report["mode"] == "http http://ponder"
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(r["correct"] for r in rows)
    single, low = rows[0], rows[2]
    assert single["served_strategy"] == "single" and single["completion_tokens"] == 7 and single["calls"] == 1
    assert low["effort"] == "low" and low["calls"] > 1 and low["completion_tokens"] > 7
    assert low["cached_tokens"] >= 0 and low["prompt_tokens"] > 0
    assert report["configs"]["effort=low"]["calls_per_item"] > report["configs"]["single"]["calls_per_item"]


async def test_a_failed_request_is_a_wrong_row_not_the_end_of_the_run(tmp_path):
    app = create_app(load_settings(), backend=AnswerByQuestion())
    async with app.router.lifespan_context(app):
        report = await run_configs(
            "gsm8k", [Config(strategy="no_such_strategy")], items=ITEMS[:2], base_url="http://ponder",
            transport=httpx.ASGITransport(app=app), out=tmp_path / "e.jsonl", summary_path=tmp_path / "e.json",
            command="x", quiet=True)
    rows = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert [r["stop_reason"] for r in rows] == ["error", "error"]
    assert "HTTP 400" in rows[0]["feedback"] and "unknown strategy" in rows[0]["feedback"]
    assert report["configs"]["no_such_strategy"]["items_with_errors"] == 2


async def test_items_in_flight_together_give_the_same_summary(tmp_path):
    backend = AnswerByQuestion()
    report = await run_configs("gsm8k", [Config(strategy="single")], items=ITEMS, backend=backend,
                               out=tmp_path / "c.jsonl", summary_path=tmp_path / "c.json", command="c", quiet=True,
                               concurrency=3)
    rows = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == ["q1", "q2", "q3"] and backend.calls == 3
    assert report["configs"]["single"]["correct"] == 2 and report["concurrency"] == 3


async def test_a_resumed_run_runs_only_the_missing_items_and_reruns_errors(tmp_path):
    out, summary = tmp_path / "r.jsonl", tmp_path / "r.json"
    first = AnswerByQuestion()
    await run_configs("gsm8k", [Config(strategy="single")], items=ITEMS[:1], backend=first, out=out,
                      summary_path=summary, command="r", quiet=True)
    errored = {"id": "q2", "config": "single", "stop_reason": "error", "correct": False}
    with open(out, "a") as sink:  # an item that failed, and a line cut short by a stopped run
        sink.write(json.dumps(errored) + "\n" + '{"id": "q3", "con')
    again = AnswerByQuestion()
    report = await run_configs("gsm8k", [Config(strategy="single")], items=ITEMS, backend=again, out=out,
                               summary_path=summary, command="r", quiet=True, resume=True)
    assert again.calls == 2  # q2 (it had failed) and q3; q1 was kept
    single = report["configs"]["single"]
    assert (single["items"], single["correct"], single["resumed_rows"]) == (3, 2, 1)
    from bench.run import finished_rows
    assert sorted(finished_rows(out)["single"]) == ["q1", "q2", "q3"]  # the appended rows read back
