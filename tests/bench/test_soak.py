"""bench.soak for 2 minutes: a real `ponder serve` process in front of bench.fake_openai failing a
share of its calls, mixed traffic with disconnects; the server's RSS, fds and threads stay flat.
Also the verdict's arithmetic on made-up samples, and the plot."""

from __future__ import annotations

import asyncio
import csv
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench.soak import Bounds, Sample, Soak, Traffic, run_soak, summarize, verdict


@pytest.fixture(scope="module")
def two_minutes(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("soak")
    summary = asyncio.run(run_soak(Soak(seconds=120, out=out, load=Traffic(workers=4, pause_s=0.1), interval_s=10,
                                        warmup_s=30, fail_share=0.1, latency_ms=50)))
    return summary, out


def test_two_minutes_of_mixed_traffic_leave_rss_and_threads_flat_and_no_unexplained_5xx(two_minutes):
    summary, out = two_minutes
    shown = {"metrics": summary["metrics"], "outcomes": summary["outcomes"], "backend": summary["backend_calls"]}

    checks = {k: v for k, v in summary["checks"].items() if k != "fds_flat"}  # the next test's
    assert checks == {"rss_flat": True, "threads_flat": True, "only_explained_outcomes": True, "mostly_ok": True}, shown
    outcomes = summary["outcomes"]
    assert "500" not in outcomes and "stream_cut" not in outcomes and "no_answer" not in outcomes, shown
    # Every kind of request was sent, and the failing backend did fail calls (else nothing was soaked).
    assert set(summary["outcomes_by_kind"]) == {f"{e}/{m}" for e in ("none", "low")
                                                for m in ("plain", "stream", "disconnect")}
    assert outcomes.get("200", 0) > 0 and outcomes.get("stream_ok", 0) > 0 and outcomes.get("disconnected", 0) > 0
    assert summary["backend_calls"]["errors_500"] > 0 and summary["backend_calls"]["drops"] > 0, shown
    # A dropped connection is not retried (backends/http_retry.py), so some requests end in a backend error.
    assert sum(n for o, n in outcomes.items() if o not in {"200", "stream_ok", "disconnected"}) > 0, shown
    rows = list(csv.DictReader((out / "samples.csv").open()))
    assert len(rows) == summary["samples"] + 1 == 14  # 0, 10, ..., 120 s and the settled sample
    assert [int(r["requests"]) for r in rows] == sorted(int(r["requests"]) for r in rows)


# Cancelled backend calls once left their connections in httpcore's pool for good (encode/httpcore#1093);
# backends/connection_pool.py takes them back. Before it, the open fds rose to about 112 by minute 3.
def test_two_minutes_of_mixed_traffic_leave_the_open_fds_flat(two_minutes):
    summary, _ = two_minutes
    assert summary["checks"]["fds_flat"], summary["metrics"]["fds"]


def _samples(rss: list[float], fds: list[int], threads: list[int]) -> list[Sample]:
    return [Sample(t_s=10.0 * i, rss_mb=r, fds=f, threads=t, children=1, requests=100 * i)
            for i, (r, f, t) in enumerate(zip(rss, fds, threads, strict=True))]


def test_the_verdict_measures_growth_from_the_level_after_warm_up_and_flags_leaks_and_unexplained_outcomes():
    flat = _samples([50, 90, 91, 90, 92, 91, 90, 91], [10, 30, 31, 29, 30, 31, 30, 30], [3, 8, 8, 8, 8, 8, 8, 8])
    metrics = summarize(flat, flat[-1], warmup_s=10)
    assert metrics["rss_mb"]["start"] == 50 and metrics["rss_mb"]["after_warmup"] == 90  # median of 90, 91, 90
    assert metrics["fds"]["end"] == 30 and metrics["threads"]["peak"] == 8
    assert abs(metrics["threads"]["slope_per_10min"] or 0) < 1e-9
    ok = Counter({"200": 50, "stream_ok": 30, "disconnected": 20, "503": 3, "stream_error:backend_unavailable": 2})
    assert verdict(metrics, ok, Bounds())["ok"]

    # 5 MB, 3 fds and 1 thread more every 10 s: what a leak per request looks like.
    leaking = _samples([90 + 5 * i for i in range(20)], [30 + 3 * i for i in range(20)], [8 + i for i in range(20)])
    leaky = summarize(leaking, leaking[-1], warmup_s=0)
    assert leaky["rss_mb"]["slope_per_10min"] == pytest.approx(300.0)
    bad = Counter({"200": 40, "500": 1, "stream_cut": 1, "no_answer": 1})
    result = verdict(leaky, bad, Bounds())
    assert result["checks"] == {"rss_flat": False, "fds_flat": False, "threads_flat": False,
                                "only_explained_outcomes": False, "mostly_ok": True}
    assert result["unexplained_outcomes"] == {"500": 1, "stream_cut": 1, "no_answer": 1}
    assert not verdict(metrics, Counter({"200": 1, "503": 5}), Bounds())["checks"]["mostly_ok"]


def test_the_soak_plot_is_a_png_with_one_panel_per_metric(tmp_path: Path):
    pytest.importorskip("matplotlib")
    from bench.plot import plot_soak
    from bench.soak import write_samples

    write_samples(_samples([50, 90, 91], [10, 30, 31], [3, 8, 8]), tmp_path / "samples.csv")
    png = plot_soak(tmp_path / "samples.csv", tmp_path / "soak.png", warmup_s=10, traffic_s=20, title="t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
