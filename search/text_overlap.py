"""Word overlap between replies: how much of one text another keeps, and which reply is most like the
others (a minimum-Bayes-risk choice with unigram F1 as the similarity, the lexical stand-in for
universal self-consistency's "most consistent response")."""

from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"\w+")


def consensus(texts: list[str], others: list[str]) -> list[float]:
    """Each text's mean unigram F1 against the other texts in `others` (1.0 when there is no other)."""
    bags = [Counter(_WORD.findall(t.lower())) for t in others]
    scores = []
    for text in texts:
        mine = Counter(_WORD.findall(text.lower()))
        rest = [b for b, t in zip(bags, others, strict=True) if t is not text]
        if not rest:
            scores.append(1.0)
            continue
        scores.append(sum(f1(mine, b) for b in rest) / len(rest))
    return scores


def kept_share(draft: str, edited: str) -> float:
    """The share of the draft's words (counted) that the edit still has."""
    before = Counter(_WORD.findall(draft.lower()))
    return sum((before & Counter(_WORD.findall(edited.lower()))).values()) / max(1, sum(before.values()))


def f1(a: Counter[str], b: Counter[str]) -> float:
    overlap = sum((a & b).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / sum(a.values()), overlap / sum(b.values())
    return 2 * precision * recall / (precision + recall)
