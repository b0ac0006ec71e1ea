"""Exact arithmetic checks for the steps of a chain of thought.

A step such as "He earns 12 * $9.50 = $114" states a computation: an arithmetic
expression, "=", and a result. This module finds those computations, evaluates each
expression exactly (fractions, never floats, never `eval`) and says whether the stated
result agrees with it to the precision the step wrote. A step that states none is
neutral. The reading is deliberately cautious: where a run of text could be read two
ways (an algebra variable, `sqrt`, "half of", "50 + 10%"), it is skipped rather than
judged, because a false "wrong" penalises a right chain.

The text is read into tokens by rewards.step_tokens and the tokens into arithmetic runs by
rewards.step_runs; this module evaluates the runs exactly and judges each `expression = result`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from fractions import Fraction

from rewards.step_runs import Number, Run, runs
from rewards.step_tokens import EQ, MAX_DIGITS, is_approx, normalize, tokenize
from rewards.step_words import UNIT_SIZES

__all__ = ["Computation", "Unsupported", "bounded", "chain_arithmetic", "exact_power", "find_computations",
           "first_error", "step_score"]

# Bounds that keep a hostile step cheap: every one of them turns into "no computation".
_MAX_TEXT_CHARS = 50_000  # the part of a text that is read
_MAX_BOUND = 10**MAX_DIGITS
_MAX_EXPONENT = 64
_MAX_COMPUTATIONS = 500


@dataclass(frozen=True)
class Computation:
    """One computation a step states: `expression` = `stated`.

    `expression` and `stated` are the step's own text (normalised spacing, LaTeX made plain);
    `value` is the expression's exact value; `stated_value` is the stated result read as a number
    (a percent read as a fraction, or as the number before the sign when the expression already
    multiplied by 100). `correct` when they agree to the precision the step wrote, or, where the
    result is in another unit of the expression's kind (hours for minutes), after converting."""

    expression: str
    stated: str
    stated_value: Fraction
    value: Fraction
    correct: bool


class Unsupported(Exception):
    """A run this checker does not read one way, or a value past the bounds: not judged."""


# ---------------------------------------------------------------------------- exact evaluation


def bounded(value: Fraction) -> Fraction:
    """`value`, or Unsupported when its numerator or denominator has more than 60 digits."""
    if abs(value.numerator) >= _MAX_BOUND or value.denominator >= _MAX_BOUND:
        raise Unsupported("result too large")
    return value


def exact_power(base: Fraction, exponent: Fraction) -> Fraction:
    """`base ** exponent` for a small integer exponent whose result stays within the bounds."""
    if exponent.denominator != 1 or abs(exponent) > _MAX_EXPONENT:
        raise Unsupported("only small integer exponents")
    size = max(base.numerator.bit_length(), base.denominator.bit_length())
    if size * abs(int(exponent)) > MAX_DIGITS * 4:  # checked before computing: 9**9**9 never runs
        raise Unsupported("power too large")
    return Fraction(base ** int(exponent))


def _is_percent(node: ast.expr, percents: frozenset[str]) -> bool:
    if isinstance(node, ast.UnaryOp):
        return _is_percent(node.operand, percents)
    return isinstance(node, ast.Name) and node.id in percents


def _evaluate(node: ast.expr, names: dict[str, Fraction], percents: frozenset[str]) -> Fraction:
    """Exact value of a parsed run: names, + - * / // **, unary signs, nothing else."""
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _evaluate(node.operand, names, percents)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, names, percents), _evaluate(node.right, names, percents)
        if isinstance(node.op, ast.Add | ast.Sub):
            left_percent, right_percent = _is_percent(node.left, percents), _is_percent(node.right, percents)
            if left_percent != right_percent and (right if left_percent else left) != 1:
                raise Unsupported("'50 + 10%' may mean 55 or 50.1 (only 1 + 10% reads one way)")
        if isinstance(node.op, ast.Add):
            return bounded(left + right)
        if isinstance(node.op, ast.Sub):
            return bounded(left - right)
        if isinstance(node.op, ast.Mult):
            return bounded(left * right)
        if isinstance(node.op, ast.Div | ast.FloorDiv) and right == 0:
            raise Unsupported("division by zero")
        if isinstance(node.op, ast.Div):
            return bounded(left / right)
        if isinstance(node.op, ast.FloorDiv):
            return Fraction(left // right)
        if isinstance(node.op, ast.Pow):
            if left == 0 and right < 0:
                raise Unsupported("division by zero")
            return bounded(exact_power(left, right))
    raise Unsupported(type(node).__name__)


def _value(run: Run) -> Fraction | None:
    if not run.evaluated:
        try:
            tree = ast.parse(run.python, mode="eval")
            run.evaluated.append(_evaluate(tree.body, run.names, run.percents))
        except (SyntaxError, ValueError, RecursionError, MemoryError, ZeroDivisionError, Unsupported):
            run.evaluated.append(None)
    return run.evaluated[0]


# ---------------------------------------------------------------------------- judging


def _within(value: Fraction, stated: Fraction, places: int | None, approx: bool) -> bool:
    """Whether `stated`, written with `places` decimals, is `value` to that precision."""
    if value == stated:
        return True
    if places is None:
        return False  # a fraction or mixed number is exact
    diff = abs(value - stated)
    if places > 0:
        scale: int = 10**places
        return diff * 2 * scale <= 1  # it rounds correctly to the places written
    # An integer must be exact, unless the step says it rounded a value that is not one.
    return approx and value.denominator != 1 and (diff * 2 <= 1 or diff * 200 <= abs(value))


def _judge_number(value: Fraction, number: Number, approx: bool) -> tuple[bool, Fraction]:
    readings = [(number.raw, number.places)]
    if number.percent:  # "10 / 50 = 20%" and "10 / 50 * 100 = 20%" are both written
        readings.insert(0, (number.raw / 100, None if number.places is None else number.places + 2))
    for stated, places in readings:
        if _within(value, stated, places, approx):
            return True, stated
    return False, min(readings, key=lambda reading: abs(value - reading[0]))[0]


def _conversions(left: Run, right: Run) -> list[Fraction]:
    """The left value restated in the right's unit, from each other unit of that dimension the left names."""
    value, target = _value(left), right.unit
    if value is None or target is None:
        return []
    dimension, size = UNIT_SIZES[target]
    converted = []
    for unit in left.mentioned - {target}:
        other_dimension, other_size = UNIT_SIZES[unit]
        if other_dimension == dimension and size is not None and other_size is not None:
            converted.append(value * other_size / size)
    return converted


@dataclass(frozen=True)
class _Link:
    """A judged computation, with what feedback should call its right value (in the stated unit)."""

    computation: Computation
    right_value: Fraction
    unit_word: str = ""


def _relative_gap(a: Fraction, b: Fraction) -> Fraction:
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale else Fraction(0)


def _link(left: Run, right: Run, approx: bool) -> _Link | None:
    value = _value(left)
    if value is None:
        return None
    if right.single is not None:
        correct, stated_value = _judge_number(value, right.single, approx)
        candidates = [value, *_conversions(left, right)]
        if not correct:
            correct = any(_judge_number(converted, right.single, approx)[0] for converted in candidates[1:])
        # Feedback gives the reading nearest the stated number: "2 * 45 minutes" is 1.5 hours, not 90.
        shown = min(candidates, key=lambda candidate: _relative_gap(candidate, stated_value))
        computation = Computation(left.text, right.single.text, stated_value, value, correct)
        return _Link(computation, shown, right.unit_word)
    other = _value(right)
    if other is None:
        return None
    if other == value:
        return _Link(Computation(left.text, right.text, other, value, True), value)
    if right.lead is not None and right.has_operator:
        # "5 * 3 = 15 + 2 = 17" runs two steps together: the first link states 15.
        correct, stated_value = _judge_number(value, right.lead, approx)
        if correct:
            return _Link(Computation(left.text, right.lead.text, stated_value, value, True), value)
    return _Link(Computation(left.text, right.text, other, value, False), value)


def _links(text: str) -> list[_Link]:
    if len(text) > _MAX_TEXT_CHARS:  # cut at a line (or word) end, never inside a number
        text = text[:_MAX_TEXT_CHARS]
        text = text[: max(text.rfind("\n"), text.rfind(" "), 0)]
    source = normalize(text)
    tokens = tokenize(source)
    by_start, by_end = runs(tokens, source)
    found: list[_Link] = []
    for q, tok in enumerate(tokens):
        if tok.kind != EQ:
            continue
        left = by_end.get(q)
        if left is None or not left.usable or left.contaminated or not left.has_operator:
            continue
        approx, k = tok.text != "=" and tok.text != "==", q + 1
        while k < len(tokens) and is_approx(tokens[k]):
            approx, k = True, k + 1
        right = by_start.get(k)
        if right is None or not right.usable:
            continue
        link = _link(left, right, approx)
        if link is not None:
            found.append(link)
            if len(found) >= _MAX_COMPUTATIONS:
                break
    return found


def find_computations(text: str) -> list[Computation]:
    """The computations `text` states, in order: every `expression = result` link whose left side
    is arithmetic with at least one operator (so a chain `a = b = c` gives a link per operator
    side). Units and currency are dropped (a result in another unit of the same kind, minutes for
    hours, is converted); anything this checker cannot read one way is skipped. At most the first
    50,000 characters are read and 500 computations reported."""
    return [link.computation for link in _links(text)]


def step_score(text: str) -> float | None:
    """The share of the step's computations that are correct; None when it states none (neutral)."""
    computations = find_computations(text)
    if not computations:
        return None
    return sum(c.correct for c in computations) / len(computations)


def _format(value: Fraction, like: str) -> str:
    """`value` written the way the stated result `like` was: currency, thousands, percent."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    scaled, places = value, 0
    while scaled.denominator != 1 and places < 6:
        scaled, places = scaled * 10, places + 1
    if scaled.denominator == 1:
        digits = str(scaled.numerator).rjust(places + 1, "0")
        whole, decimals = digits[: len(digits) - places], digits[len(digits) - places :]
        if "," in like:
            whole = f"{int(whole):,}"
        number = f"{whole}.{decimals}" if places else whole
    else:
        number = f"{float(value):.4f}".rstrip("0")
    currency = like[0] if like[:1] in ("$", "€", "£", "¥", "₹") else ""
    written = f"{sign}{currency}{number}"
    return written if scaled.denominator == 1 else f"about {written}"


def first_error(text: str) -> str | None:
    """One line naming the first wrong computation in `text` and its right value, e.g.
    "`12 * 9.5` is 114, not 115"; None when every computation found is right."""
    for link in _links(text):
        c = link.computation
        if c.correct:
            continue
        if c.stated.endswith("%"):
            number = Fraction(re.sub(r"[^\d.\-]", "", c.stated) or "0")
            value = c.value if c.stated_value == number else c.value * 100
            return f"`{c.expression}` is {_format(value, c.stated.rstrip('%'))}%, not {c.stated}"
        unit = f" {link.unit_word}" if link.unit_word else ""
        return f"`{c.expression}` is {_format(link.right_value, c.stated)}{unit}, not {c.stated}{unit}"
    return None


def chain_arithmetic(text: str) -> tuple[int, int]:
    """(computations found, computations wrong) over a whole solution."""
    computations = find_computations(text)
    return len(computations), sum(not c.correct for c in computations)
