"""bench.load's code path (uvicorn on loopback, concurrent rounds) with the scripted backend."""

from __future__ import annotations

from app.compose.gateway import create_app
from app.settings import load_settings
from bench.load import Load, Round, run_load, verdict
from tests.app.fake_backend import ScriptedBackend


async def test_a_load_past_the_cap_gets_429s_only_past_it_no_5xx_and_leaves_no_tasks():
    settings = load_settings(max_concurrent_searches=2, max_queued_searches=3)
    app = create_app(settings, backend=ScriptedBackend(delay_s=0.05))
    report = await run_load(app, Load(none=50, low=10, max_tokens=32, rounds=3))

    assert report["cap"] == 5
    assert report["server_errors"] == 0 and report["checks"]["no_5xx"], [r["statuses"] for r in report["rounds"]]
    for r in report["rounds"]:
        assert sum(r["statuses"].values()) == 60
        assert set(r["statuses"]) <= {"200", "429"}
        assert r["statuses"].get("429", 0) > 0  # 60 at once is past a cap of 5
        assert r["admitted"] >= report["cap"]  # nobody was refused before the cap was reached
    assert report["tasks_after"] <= report["tasks_before"]
    assert report["checks"]["429_only_past_cap"] and report["checks"]["no_leaked_tasks"]


def test_the_verdict_flags_5xx_early_429s_rss_growth_and_leaked_tasks():
    def round_(statuses: dict[str, int], admitted: int, rss: float) -> Round:
        return Round(statuses=statuses, admitted=admitted, latency_p50_s=0, latency_p95_s=0, ok_latency_p50_s=None,
                     ok_latency_p95_s=None, rejected_latency_p50_s=None, rejected_latency_p95_s=None, rss_mb=rss,
                     elapsed_s=0)

    good = [round_({"200": 40, "429": 20}, 40, 100), round_({"200": 40, "429": 20}, 40, 100),
            round_({"200": 40, "429": 20}, 40, 105)]
    assert verdict(good, cap=40, tasks_before=5, tasks_after=5)["ok"]
    bad = [round_({"200": 30, "429": 29, "502": 1}, 31, 100), round_({"200": 40}, 40, 100),
           round_({"200": 40, "0": 1}, 41, 120)]
    result = verdict(bad, cap=40, tasks_before=5, tasks_after=7)
    assert result["checks"] == {"no_5xx": False, "429_only_past_cap": False, "rss_flat": False,
                                "no_leaked_tasks": False}
    assert result["server_errors"] == 2 and result["rounds_with_429_before_cap"] == [1]
