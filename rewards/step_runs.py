"""Scanning tokens into arithmetic runs, for the arithmetic checks of rewards.step_checks.

A run is a maximal stretch of arithmetic (numbers, operators, parentheses and the unit words
after a number) read from the tokens of rewards.step_tokens, with its expression rewritten
over names (`_0 * _1`) so that the model's own characters are never parsed. A run that could
be read two ways, or is only a piece of a larger expression ("x + 5 + 3", "sqrt 16 + 1"), is
marked so that it is not judged. The words it knows (units and their sizes among them) are in
rewards.step_words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from rewards.step_tokens import (
    APPROX,
    APPROX_WORDS,
    CUR,
    EQ,
    LP,
    NL,
    NUM,
    OP,
    OTHER,
    PCT,
    POISON,
    RP,
    WORD,
    Token,
    is_approx,
)
from rewards.step_words import POSTFIX_WORDS, PREFIX_WORDS, STOP_WORDS, UNIT_SIZES, UNITS

# Bounds that keep a hostile step cheap: every one of them turns into "no computation".
_MAX_EXPRESSION_CHARS = 200  # a longer arithmetic run is not checked at all (not a suffix of it)
_MAX_DEPTH = 20  # nested parentheses
_MAX_UNIT_WORDS = 3  # "dollars per hour" after a number
_SCAN_BUDGET = 400_000  # tokens visited by the scanner over one text

@dataclass(frozen=True)
class Number:
    """A number as the step wrote it: its signed value before any percent, and its precision."""

    text: str
    raw: Fraction
    places: int | None
    percent: bool


@dataclass
class Run:
    """A maximal stretch of arithmetic: numbers, operators, parentheses and unit words."""

    start: int
    end: int  # exclusive token index, trailing unit words included
    text: str
    python: str  # the expression over names _0, _1, ... (never the model's own characters)
    names: dict[str, Fraction]
    percents: frozenset[str]
    has_operator: bool
    single: Number | None  # the whole run is one number
    lead: Number | None  # the run begins with a plain number
    usable: bool
    unit: str | None = None  # the unit of a run that is one number ("120 minutes")
    unit_word: str = ""  # that unit as written
    mentioned: frozenset[str] = frozenset()  # every unit the run names
    contaminated: bool = False
    evaluated: list[Fraction | None] = field(default_factory=list)  # memo: [] until evaluated once


# ---------------------------------------------------------------------------- tokens to runs


def _starts_operand(tokens: list[Token], k: int, signed: bool = True) -> bool:
    if k >= len(tokens):
        return False
    tok = tokens[k]
    if tok.kind in (NUM, CUR, LP):
        return True
    return signed and tok.kind == OP and tok.text == "-" and _starts_operand(tokens, k + 1, signed=False)


def _can_start(tokens: list[Token], i: int) -> bool:
    tok = tokens[i]
    if tok.kind in (NUM, CUR, LP):
        return True
    if tok.kind == OP and tok.text == "-" and _starts_operand(tokens, i + 1, signed=False):
        if tok.end == tokens[i + 1].start:
            return True  # "-5"
        prev = tokens[i - 1] if i else None  # "= - 5" is negative; "- 5 + 3" opening a line is a bullet
        return prev is not None and (prev.kind in (EQ, LP) or is_approx(prev))
    return False


def _math_word(tok: Token) -> bool:
    word = tok.lower
    single_letter = len(word) == 1 and word not in "ai"  # "x + 5 + 3"; "a" and "I" are English words
    return tok.kind == WORD and (word in PREFIX_WORDS or word in POSTFIX_WORDS or single_letter)


def _contaminated(tokens: list[Token], s: int) -> bool:
    """Whether what stands just before a run could be part of its arithmetic ("x + 5 + 3",
    "sqrt 16 + 1", "half of 16 + 2", "1 200 + 300"): then the run is only a piece of an
    expression and must not be judged."""
    if s == 0:
        return False
    prev, first = tokens[s - 1], tokens[s]
    attached = prev.end == first.start
    if prev.kind in (NUM, PCT, CUR, POISON, APPROX):
        return True
    if prev.kind == RP:
        return attached  # "1) 5 + 3" is a list item; "(2)5" is not
    if prev.kind == OP:
        if prev.text != "-" or attached:
            return True
        before = tokens[s - 2] if s >= 2 else None  # a spaced dash after words or punctuation separates
        return before is not None and (before.kind not in (NL, OTHER, EQ, WORD) or _math_word(before))
    if prev.kind == WORD:
        if attached or _math_word(prev):
            return True
        before = tokens[s - 2] if s >= 2 else None
        return before is not None and _math_word(before) and prev.lower in ("of", "the")
    if prev.kind == OTHER:
        return attached and prev.text in "._'’"
    return False


@dataclass
class _Scan:
    """The scanner's state while it reads one run."""

    parts: list[str] = field(default_factory=list)
    names: dict[str, Fraction] = field(default_factory=dict)
    percents: set[str] = field(default_factory=set)
    numbers: list[Number] = field(default_factory=list)
    depth: int = 0
    sign: str = ""
    sign_at: int | None = None  # the token index of the operand's unary sign
    currency: int | None = None  # the token index of the operand's currency sign
    units: int = 0
    operand_units: list[str | None] = field(default_factory=list)  # each number's unit, None for a rate
    mentioned: list[set[str]] = field(default_factory=list)  # every unit named after each number
    unit_words: list[str] = field(default_factory=list)  # each number's unit as written ("hours")
    has_operator: bool = False
    paren_first: bool = False
    last_op: str = ""
    # (end, last math token, parts, has_operator, numbers) at the last point the run could end
    snapshot: tuple[int, int, int, bool, int] | None = None


def _scan(tokens: list[Token], source: str, start: int, budget: list[int]) -> tuple[Run | None, int]:
    """The longest arithmetic run starting at token `start`, and where to read on from."""
    n = len(tokens)
    st = _Scan()
    expecting = True
    poisoned = False
    last_math = start
    j = start
    while j < n and budget[0] > 0:
        budget[0] -= 1
        tok = tokens[j]
        if expecting:
            if tok.kind == LP:
                st.depth += 1
                if not st.numbers:
                    st.paren_first = True
                if st.depth > _MAX_DEPTH:
                    poisoned = True
                    j += 1
                    break
                st.parts.append("(")
                st.last_op, st.sign, st.sign_at = "", "", None
                j += 1
                continue
            if tok.kind == OP and tok.text in "+-" and not st.sign and _starts_operand(tokens, j + 1, signed=False):
                st.sign, st.sign_at = tok.text, j
                st.parts.append(tok.text)
                j += 1
                continue
            if tok.kind == CUR and st.currency is None:
                st.currency = j
                j += 1
                continue
            if tok.kind == NUM and tok.value is not None:
                tok_index = j
                name = f"_{len(st.names)}"
                value = tok.value
                percent = j + 1 < n and tokens[j + 1].kind == PCT
                if percent:
                    st.percents.add(name)
                    j += 1
                st.names[name] = value / 100 if percent else value
                st.parts.append(name)
                raw = -value if st.sign == "-" else value
                first = tokens[min(i for i in (tok_index, st.currency, st.sign_at) if i is not None)]
                st.numbers.append(Number(source[first.start : tokens[j].end], raw, tok.places, percent))
                dollars = st.currency is not None and tokens[st.currency].text == "$"
                st.operand_units.append("dollar" if dollars else None)
                st.mentioned.append({"dollar"} if dollars else set())
                st.unit_words.append("")
                st.sign, st.sign_at, st.currency, st.units, expecting = "", None, None, 0, False
                last_math = j
                j += 1
                if st.depth == 0:
                    st.snapshot = (j, last_math, len(st.parts), st.has_operator, len(st.numbers))
                continue
            break  # no operand here: the run ends at its last complete operand
        # after an operand
        if tok.kind == RP and st.depth > 0:
            st.depth -= 1
            st.parts.append(")")
            st.units, last_math = 0, j
            j += 1
            if st.depth == 0:
                st.snapshot = (j, last_math, len(st.parts), st.has_operator, len(st.numbers))
            continue
        op = _binary_operator(tokens, j, st)
        if op:
            st.parts.append(op)
            st.has_operator, st.last_op, expecting = True, op, True
            j += 1
            continue
        if tok.kind == LP and tok.start == tokens[j - 1].end and tokens[j - 1].kind in (NUM, RP, PCT):
            st.parts.append("*")  # 2(3 + 4)
            st.has_operator, expecting = True, True
            continue
        if tok.kind == OP and tok.text == "/" and j + 1 < n and tokens[j + 1].kind == WORD:
            _name_unit(st, tokens[j + 1].text, rate=True)
            j += 2  # "$9.50/hour": a unit, not a division
            st.units += 1
            if st.depth == 0:
                st.snapshot = (j, last_math, len(st.parts), st.has_operator, len(st.numbers))
            continue
        if tok.kind == WORD:
            word = tok.lower
            article = word == "a" and j + 1 < n and tokens[j + 1].kind == WORD  # "$5 a day"
            if word in POSTFIX_WORDS or (len(word) == 1 and word != "i" and not article):
                poisoned = True  # "4 squared", "2x", "3 m": not plain arithmetic
                j += 1
                break
            if word in STOP_WORDS or word in APPROX_WORDS or st.units >= _MAX_UNIT_WORDS:
                break
            _name_unit(st, tok.text, rate=word == "per" or article)
            st.units += 1
            j += 1
            if st.depth == 0:
                st.snapshot = (j, last_math, len(st.parts), st.has_operator, len(st.numbers))
            continue
        if tok.kind == POISON:
            poisoned = True
            j += 1
        break
    if st.snapshot is None or budget[0] <= 0:
        return None, max(j, start + 1) if poisoned else start + 1
    end, last, n_parts, has_operator, n_numbers = st.snapshot
    if last + 1 < end and tokens[last + 1].lower in UNITS:
        last += 1  # "2 * 45 minutes": the expression's own unit belongs to its text
    text = " ".join(source[tokens[start].start : tokens[last].end].split())
    too_long = tokens[last].end - tokens[start].start > _MAX_EXPRESSION_CHARS
    numbers = st.numbers[:n_numbers]
    mixed = _mixes_units(st.operand_units[:n_numbers])
    single = numbers[0] if n_numbers == 1 and not has_operator and not st.paren_first else None
    names = {name: st.names[name] for name in list(st.names)[:n_numbers]}
    run = Run(
        start=start, end=end, text=text, python=" ".join(st.parts[:n_parts]), names=names,
        percents=frozenset(name for name in st.percents if name in names), has_operator=has_operator,
        single=single, lead=None if st.paren_first else numbers[0], usable=not (poisoned or too_long or mixed),
        unit=st.operand_units[0] if single is not None else None,
        unit_word=st.unit_words[0] if single is not None and st.operand_units[0] is not None else "",
        mentioned=frozenset(unit for units in st.mentioned[:n_numbers] for unit in units),
    )
    return run, max(j, end) if poisoned else end


def _name_unit(st: _Scan, word: str, rate: bool) -> None:
    """Note a unit word read after the last number ("hours"; "per day" makes it a rate)."""
    if not st.operand_units:
        return
    unit = UNITS.get(word.lower())
    if unit is not None:
        st.mentioned[-1].add(unit)
    if rate:
        st.operand_units[-1] = None  # "$5 per hour" is not an amount of dollars
    elif unit is not None and st.operand_units[-1] is None and len(st.mentioned[-1]) == 1:
        st.operand_units[-1] = unit
        st.unit_words[-1] = word


def _mixes_units(units: list[str | None]) -> bool:
    """Whether two numbers carry different units of one dimension (hours and minutes)."""
    seen: dict[str, str] = {}
    for unit in units:
        if unit is not None and seen.setdefault(UNIT_SIZES[unit][0], unit) != unit:
            return True
    return False


def _binary_operator(tokens: list[Token], j: int, st: _Scan) -> str | None:
    """The Python operator token j stands for between two operands, or None."""
    tok = tokens[j]
    if tok.kind == OP:
        op = tok.text
    elif tok.kind == WORD and tok.lower in ("x", "times"):
        op = "*"  # "3 x 4", "5 boxes x 12 eggs", "3 times 4"
    elif tok.kind == WORD and tok.lower == "of" and st.units == 0 and st.parts:
        last = st.parts[-1]
        fraction = st.last_op == "/" and last.startswith("_")
        if not (fraction or last == ")" or last in st.percents):
            return None
        op = "*"  # "20% of 50", "3/4 of 20"
    else:
        return None
    if not _starts_operand(tokens, j + 1):
        return None
    return "**" if op == "^" else op


def runs(tokens: list[Token], source: str) -> tuple[dict[int, Run], dict[int, Run]]:
    """Every maximal arithmetic run, keyed by its first token and by the token after it."""
    by_start: dict[int, Run] = {}
    by_end: dict[int, Run] = {}
    budget = [_SCAN_BUDGET]
    i = 0
    while i < len(tokens) and budget[0] > 0:
        if not _can_start(tokens, i):
            i += 1
            continue
        run, resume = _scan(tokens, source, i, budget)
        if run is not None:
            run.contaminated = _contaminated(tokens, i)
            by_start[i] = run
            by_end[run.end] = run
        i = max(resume, i + 1)
    return by_start, by_end
