"""Replay voting rules on measured samples: `ponder bench replay ROWS.jsonl`.

A voting search's bench row keeps every sample's vote as [answer, "chain" | "program", weight]
and, in rows recorded since 2026-12-02, each sample's text (bench.run). Each rule here picks an
answer from those samples alone, so a rule can be compared with the served one on the same
samples without generating again. The cross-check rules read the texts: a chain and a program
that reached the same answer and share an intermediate value (rewards.cross_check) agree on the
way, not only on the end; on rows without texts they are the served vote. Math items only: an answer
is right when its normalised form equals the gold's (what grading checks first; math-verify's
wider equivalence is not applied here, so a rule can only score lower than grading would).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from functools import cache
from typing import Any

from rewards.cross_check import chain_quantities, program_quantities, shared
from rewards.extraction import normalize_answer
from rewards.step_checks import chain_arithmetic
from rewards.voting import Vote, weighted_vote

Sample = tuple[str | None, str, float, str]  # answer, source, weight, text ("" where not recorded)
Rule = Callable[[Sequence[Sample]], str | None]


def _winner(samples: Sequence[Sample], weight: Callable[[Sample], float] = lambda s: s[2]) -> str | None:
    votes = [Vote(answer=a, key=normalize_answer(a), index=i, weight=weight(s))
             for i, s in enumerate(samples) if (a := s[0]) is not None and weight(s) > 0]
    tallies = weighted_vote(votes)
    return tallies[0].answer if tallies else None


def served(samples: Sequence[Sample]) -> str | None:
    """The weights the search used (greedy and program weights, confidence filter)."""
    return _winner(samples)


def chains_only(samples: Sequence[Sample]) -> str | None:
    return _winner([s for s in samples if s[1] == "chain"])


def programs_only(samples: Sequence[Sample]) -> str | None:
    return _winner([s for s in samples if s[1] == "program"])


def chain_backed(samples: Sequence[Sample]) -> str | None:
    """The weighted winner among answers at least one chain of thought reached; the served
    winner where no chain stated an answer."""
    backed = {normalize_answer(a) for a, source, _, _ in samples if a is not None and source == "chain"}
    return _winner([s for s in samples if s[0] is not None and normalize_answer(s[0]) in backed]) or served(samples)


def programs_half(samples: Sequence[Sample]) -> str | None:
    """Program votes count half."""
    return _winner(samples, lambda s: s[2] * (0.5 if s[1] == "program" else 1.0))


@cache
def _quantities(text: str, source: str) -> frozenset[Fraction]:
    return frozenset(program_quantities(text) if source == "program" else chain_quantities(text))


def _value(answer: str) -> Fraction | None:
    """The answer as an exact number; None for anything else (and for exponent forms such as
    "1e999999999", which Fraction would expand)."""
    text = normalize_answer(answer)
    if len(text) > 40 or "e" in text.lower():
        return None
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def _cross_backed(samples: Sequence[Sample]) -> list[bool]:
    """For each sample: a sample of the other kind (chain / program) reached the same answer and
    shares an intermediate value with it, the answer itself left out."""
    keys = [normalize_answer(s[0]) if s[0] is not None else None for s in samples]
    found = [_quantities(s[3], s[1]) for s in samples]
    backed = [False] * len(samples)
    for i, (a, source, _, _) in enumerate(samples):
        if keys[i] is None or not found[i]:
            continue
        value = _value(a or "")
        backed[i] = any(keys[j] == keys[i] and samples[j][1] != source
                        and shared(found[i], found[j], besides=value)
                        for j in range(len(samples)) if j != i)
    return backed


def cross_weighted(samples: Sequence[Sample]) -> str | None:
    """A sample backed by a sample of the other kind on an intermediate value votes twice."""
    backed = _cross_backed(samples)
    doubled = [(a, src, w * (2.0 if backed[i] else 1.0), t) for i, (a, src, w, t) in enumerate(samples)]
    return _winner(doubled)


def cross_only(samples: Sequence[Sample]) -> str | None:
    """Only samples backed on an intermediate value vote; the served vote where none is."""
    backed = _cross_backed(samples)
    return _winner([s for i, s in enumerate(samples) if backed[i]]) or served(samples)


@cache
def _miscomputed(text: str) -> bool:
    return chain_arithmetic(text)[1] > 0


def arithmetic_checked(samples: Sequence[Sample]) -> str | None:
    """A chain whose stated arithmetic is wrong (rewards.step_checks) does not vote (the setting
    `wrong_arithmetic_weight` at 0; at 0.25 and 0.5 the recorded sets gave the same answers).
    Without texts, the served vote."""
    return _winner(samples, lambda s: 0.0 if s[1] == "chain" and s[3] and _miscomputed(s[3]) else s[2])


RULES: dict[str, Rule] = {"served": served, "chains_only": chains_only, "programs_only": programs_only,
                          "chain_backed": chain_backed, "programs_half": programs_half,
                          "arithmetic_checked": arithmetic_checked, "cross_weighted": cross_weighted,
                          "cross_only": cross_only}


def first(samples: Sequence[Sample], chains: int | None = None, programs: int | None = None) -> list[Sample]:
    """The first `chains` chain votes and the first `programs` program votes, in the order the
    search received them: what a smaller tier with the same probe would have sampled (its
    greedy chain and greedy program come first, then draws at the same temperature): low on
    medium's rows, not medium on high's (high's probe has a hot chain more). Not for DeepConf
    rows: their recorded weights come from a confidence filter over all the samples."""
    kept, seen = [], {"chain": 0, "program": 0}
    limits = {"chain": chains, "program": programs}
    for sample in samples:
        limit = limits.get(sample[1])
        if limit is None or seen[sample[1]] < limit:
            kept.append(sample)
        seen[sample[1]] = seen.get(sample[1], 0) + 1
    return kept


def replay(rows: Sequence[dict[str, Any]], rules: dict[str, Rule] = RULES, *, chains: int | None = None,
           programs: int | None = None) -> dict[str, Any]:
    """Correct answers per rule over the rows that carry votes, and how often the gold was
    among the samples at all (the ceiling any rule has). With `chains` / `programs`, only
    each row's first that many of each kind vote (bench.replay.first)."""
    voted = [r for r in rows if r.get("votes")]
    result: dict[str, Any] = {"items": len(voted), "gold_among_samples": 0,
                              "rules": {name: 0 for name in rules}}
    for row in voted:
        texts = row.get("texts") or [""] * len(row["votes"])
        samples = first([(a, str(src), float(w), str(t)) for (a, src, w), t in zip(row["votes"], texts, strict=True)],
                        chains, programs)
        gold = normalize_answer(str(row["gold"]))
        result["gold_among_samples"] += any(a is not None and normalize_answer(a) == gold for a, _, _, _ in samples)
        for name, rule in rules.items():
            answer = rule(samples)
            result["rules"][name] += answer is not None and normalize_answer(answer) == gold
    return result


def markdown(result: dict[str, Any]) -> str:
    n = result["items"]
    lines = ["| rule | correct |", "| --- | --- |"]
    lines += [f"| {name} | {correct}/{n} |" for name, correct in result["rules"].items()]
    lines.append(f"| gold among the samples | {result['gold_among_samples']}/{n} |")
    return "\n".join(lines)
