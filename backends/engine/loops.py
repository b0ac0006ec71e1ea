"""A sample that loops, read from its tokens while it is decoded: one unit of tokens repeated back
to back until the token cap. The engine stops such a sample early instead of spending the rest of
its cap on copies (rewards.degeneration reads the same from text, for every backend)."""

from __future__ import annotations

from collections.abc import Sequence

MIN_REPEATS = 4  # back-to-back copies of one unit that make a loop
MIN_SHORT_UNIT_REPEATS = 24  # a unit of one or two tokens must repeat far more often ("........")
CHECK_EVERY = 16  # tokens between two checks (a check reads the tail once per unit length)


def token_loop(tokens: Sequence[int], *, max_unit: int = 64, min_span: int = 48) -> bool:
    """Whether generated `tokens` end in a loop: a unit of up to `max_unit` tokens repeated back
    to back at least MIN_REPEATS times over at least `min_span` tokens (a unit of one or two
    tokens at least MIN_SHORT_UNIT_REPEATS times). What an engine checks while it decodes, so a
    looping sample stops early instead of running to its cap."""
    n = len(tokens)
    for unit in range(1, min(max_unit, n // MIN_REPEATS) + 1):
        i = n - 1 - unit
        while i >= 0 and tokens[i] == tokens[i + unit]:
            i -= 1
        span = n - 1 - i
        repeats = span // unit
        if repeats >= (MIN_SHORT_UNIT_REPEATS if unit <= 2 else MIN_REPEATS) and span >= min_span:
            return True
    return False
