"""Degenerate samples: text that loops, repeating one stretch back to back.

A small model sampled on an open-ended prompt sometimes falls into a loop ("a leaf's fate is
sealed, a leaf's fate is sealed, ..."), usually until its token cap. Such a sample has no answer
to give however it is scored, so it must never be chosen while a sound one exists. The test is
the longest run of one unit repeated back to back: natural text repeats words and short phrases,
but not one stretch of several words four times in a row.
"""

from __future__ import annotations

import re

MIN_LOOP_CHARS = 120  # a shorter run is a flourish ("ha ha ha ha"), not a broken sample
TAIL_CHARS = 4000  # the most of a sample's end that is read (a loop runs to the end; bounds the scan)
# A unit of 8 to 400 characters copied at least 4 times in a row; a shorter unit at least 16 times.
_LONG_UNIT = re.compile(r"(.{8,400}?)\1{3,}", re.DOTALL)
_SHORT_UNIT = re.compile(r"(.{1,7}?)\1{15,}", re.DOTALL)


def loop_chars(text: str) -> int:
    """The characters of the longest back-to-back repetition in the last TAIL_CHARS of `text`, when
    it covers at least MIN_LOOP_CHARS; 0 when the text does not loop."""
    tail = text[-TAIL_CHARS:]
    longest = max((len(m.group(0)) for pattern in (_LONG_UNIT, _SHORT_UNIT) for m in pattern.finditer(tail)),
                  default=0)
    return longest if longest >= MIN_LOOP_CHARS else 0


def is_degenerate(text: str) -> bool:
    """Whether the sample loops (loop_chars)."""
    return loop_chars(text) > 0
