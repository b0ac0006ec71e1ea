"""The embedded engine's loop check: a sample whose tokens repeat one unit back to back ends early."""

from __future__ import annotations

from backends.engine.loops import token_loop


def test_a_unit_repeated_four_times_over_enough_tokens_is_a_loop() -> None:
    assert token_loop([9, 8] + [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] * 4)


def test_short_runs_and_short_units_are_not_loops() -> None:
    assert not token_loop([1, 2, 3, 4] * 4)  # 16 tokens: a flourish, not a loop
    assert not token_loop([5] * 20)  # a unit of one token needs 24 copies
    assert token_loop([5] * 48)
    assert not token_loop(list(range(200)))
    assert not token_loop([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] * 4 + [99])  # the loop must reach the end
