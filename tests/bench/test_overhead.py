"""bench.overhead's measurement loop: both paths get the same requests, in alternating rounds,
with the concurrency asked for, and the ratios are ponder's latency over the backend's."""

from __future__ import annotations

import asyncio

from bench.overhead import measure_level, percentile


async def test_both_paths_get_every_request_and_the_ratio_is_ponder_over_direct():
    seen: dict[str, list[int]] = {"direct": [], "ponder": []}
    in_flight = {"now": 0, "max": 0}

    def path(name: str, delay: float):
        async def send(i: int) -> int:
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
            await asyncio.sleep(delay)
            in_flight["now"] -= 1
            seen[name].append(i)
            return 3
        return send

    level = await measure_level(path("direct", 0.01), path("ponder", 0.02), requests=8, concurrency=4)
    assert sorted(seen["direct"]) == sorted(seen["ponder"]) == list(range(8))
    assert in_flight["max"] == 4
    assert level.direct.requests == level.ponder.requests == 8
    assert level.direct.completion_tokens == level.ponder.completion_tokens == 24
    assert level.p50_ratio == round(level.ponder.p50_s / level.direct.p50_s, 4)  # the ratio is ponder over direct
    assert level.p95_ratio == round(level.ponder.p95_s / level.direct.p95_s, 4)


def test_percentile_picks_from_the_sorted_values():
    assert percentile([5.0, 1.0, 3.0], 0.5) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 100.0], 0.95) == 100.0
    assert percentile([7.0], 0.95) == 7.0
