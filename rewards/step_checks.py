"""Exact arithmetic checks for the steps of a chain of thought.

A step such as "He earns 12 * $9.50 = $114" states a computation: an arithmetic
expression, "=", and a result. This module finds those computations, evaluates each
expression exactly (fractions, never floats, never `eval`) and says whether the stated
result agrees with it to the precision the step wrote. A step that states none is
neutral. The reading is deliberately cautious: where a run of text could be read two
ways (an algebra variable, `sqrt`, "half of", "50 + 10%"), it is skipped rather than
judged, because a false "wrong" penalises a right chain.
"""

from __future__ import annotations

import ast
import re
import unicodedata
from dataclasses import dataclass, field
from fractions import Fraction

__all__ = ["Computation", "Unsupported", "bounded", "chain_arithmetic", "exact_power", "find_computations",
           "first_error", "step_score"]

# Bounds that keep a hostile step cheap: every one of them turns into "no computation".
_MAX_TEXT_CHARS = 50_000  # the part of a text that is read
_MAX_EXPRESSION_CHARS = 200  # a longer arithmetic run is not checked at all (not a suffix of it)
_MAX_DIGITS = 60  # literals and intermediate results (numerator and denominator)
_MAX_BOUND = 10**_MAX_DIGITS
_MAX_EXPONENT = 64
_MAX_DEPTH = 20  # nested parentheses
_MAX_UNIT_WORDS = 3  # "dollars per hour" after a number
_MAX_COMPUTATIONS = 500
_SCAN_BUDGET = 400_000  # tokens visited by the scanner over one text

# Token kinds.
_NUM, _OP, _LP, _RP, _EQ, _CUR, _PCT, _WORD, _APPROX, _POISON, _OTHER, _NL = (
    "num", "op", "lp", "rp", "eq", "cur", "pct", "word", "approx", "poison", "other", "nl",
)

_APPROX_WORDS = frozenset({"about", "approximately", "approx", "roughly", "around", "nearly", "almost", "circa"})
# Words before a number that change it, or stand for an operator this checker does not read
# in that place: "sqrt 16 + 1", "half of 16 + 2", "3 less than 5 * 4", "x * 5 + 3".
_PREFIX_WORDS = frozenset({
    "sqrt", "root", "square", "cube", "log", "ln", "sin", "cos", "tan", "exp", "half", "twice", "double",
    "triple", "thrice", "quadruple", "third", "quarter", "fourth", "fifth", "average", "mean", "median",
    "reciprocal", "inverse", "negative", "than", "over", "power", "times", "mod", "modulo",
})
# Words after a number that operate on it ("4 squared + 1"): the run is not plain arithmetic.
# Clock times ("11am + 2") add modulo 12: not plain arithmetic either.
_POSTFIX_WORDS = frozenset({"squared", "cubed", "factorial", "doubled", "tripled", "halved", "am", "pm"})
# Words that end a unit phrase: what follows is a new clause, not the number's unit.
_STOP_WORDS = frozenset({
    "and", "or", "but", "so", "then", "thus", "hence", "therefore", "which", "that", "while", "because",
    "since", "if", "is", "are", "was", "were", "be", "will", "would", "gives", "give", "makes", "make",
    "becomes", "yields", "leaves", "i", "we", "he", "she", "they", "it", "you", "this", "there",
})

# Units whose sizes are exact, in one base per dimension (mm, g, mL, s, cents); None: no fixed size.
# A run that mixes two units of one dimension ("4 hours + 90 minutes") is not plain arithmetic, and a
# result stated in another unit of the expression's dimension ("2 * 45 minutes = 1.5 hours") is
# compared after converting.
_UNIT_SIZES: dict[str, tuple[str, Fraction | None]] = {
    "second": ("time", Fraction(1)), "minute": ("time", Fraction(60)), "hour": ("time", Fraction(3600)),
    "day": ("time", Fraction(86400)), "week": ("time", Fraction(604800)), "month": ("time", None),
    "year": ("time", None),
    "millimeter": ("length", Fraction(1)), "centimeter": ("length", Fraction(10)),
    "meter": ("length", Fraction(1000)), "kilometer": ("length", Fraction(10**6)),
    "inch": ("length", Fraction(127, 5)), "foot": ("length", Fraction(1524, 5)),
    "yard": ("length", Fraction(4572, 5)), "mile": ("length", Fraction(8046720, 5)),
    "gram": ("mass", Fraction(1)), "kilogram": ("mass", Fraction(1000)),
    "pound": ("mass", Fraction(45359237, 100000)), "ounce": ("mass", Fraction(45359237, 1600000)),
    "milliliter": ("volume", Fraction(1)), "liter": ("volume", Fraction(1000)),
    "gallon": ("volume", Fraction(3785411784, 1000000)), "quart": ("volume", Fraction(3785411784, 4000000)),
    "pint": ("volume", Fraction(3785411784, 8000000)), "cup": ("volume", Fraction(3785411784, 16000000)),
    "cent": ("money", Fraction(1)), "dollar": ("money", Fraction(100)),
}
_UNIT_SPELLINGS = {
    "second": "second seconds sec secs", "minute": "minute minutes min mins", "hour": "hour hours hr hrs",
    "day": "day days", "week": "week weeks wk wks", "month": "month months", "year": "year years yr yrs",
    "millimeter": "millimeter millimeters millimetre millimetres mm", "centimeter": "centimeter centimeters "
    "centimetre centimetres cm", "meter": "meter meters metre metres", "kilometer": "kilometer kilometers "
    "kilometre kilometres km", "inch": "inch inches", "foot": "foot feet ft", "yard": "yard yards yd yds",
    "mile": "mile miles", "gram": "gram grams", "kilogram": "kilogram kilograms kg kgs",
    "pound": "pound pounds lb lbs", "ounce": "ounce ounces oz", "milliliter": "milliliter milliliters "
    "millilitre millilitres ml", "liter": "liter liters litre litres", "gallon": "gallon gallons gal",
    "quart": "quart quarts qt", "pint": "pint pints", "cup": "cup cups", "cent": "cent cents",
    "dollar": "dollar dollars",
}
_UNITS = {spelling: unit for unit, spellings in _UNIT_SPELLINGS.items() for spelling in spellings.split()}

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\f\v]+)
    |(?P<nl>\n)
    |(?P<ratio>\d+:\d+)
    |(?P<mixed>\d+[ ]+\d+/\d+(?![\d/.]))
    |(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|\d+(?:\.\d+)?|\.\d+)
    |(?P<vulgar>[\u00bc-\u00be\u2150-\u215e])
    |(?P<cmp>==>|<=|>=|!=|=>|->|<-)
    |(?P<eq>==|=)
    |(?P<aeq>[≈≃≅]|~=)
    |(?P<approx>~)
    |(?P<op>//|\^|[+\-*/])
    |(?P<lp>[(\[])
    |(?P<rp>[)\]])
    |(?P<cur>[$€£¥₹])
    |(?P<pct>%)
    |(?P<word>[^\W\d_]+(?:['’][^\W\d_]+)*)
    |(?P<factorial>(?<=[\d)])!(?=\s*[\d(=+\-*/^]))
    |(?P<poison>[⊘√∛∜±∓])
    |(?P<other>.)
    """,
    re.VERBOSE,
)

_SYMBOLS = str.maketrans({
    "×": " * ", "✕": " * ", "✖": " * ", "·": " * ", "⋅": " * ", "∙": " * ", "÷": " / ", "∕": "/",
    "−": "-", "–": "-", "‒": "-", "﹣": "-", "－": "-", "＋": "+", "＝": "=", "²": "^2", "³": "^3",
    "°": " degrees ", "\u00a0": " ", "\u202f": " ", "\u2009": " ", "`": " ", "&": " ", "{": "(", "}": ")",
})
_LATEX_WRAPPER = re.compile(
    r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|boxed|fbox|operatorname)\s*\{([^{}]*)\}"
)
_LATEX_MIXED = re.compile(r"(\d)\s*\\[dt]?frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}")
_LATEX_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_LATEX_FRAC_SHORT = re.compile(r"\\[dt]?frac\s*(\d)\s*(\d)")
_LATEX_REPLACEMENTS = [
    (re.compile(r"\\\\"), "\n"),  # a LaTeX line break
    (re.compile(r"\\\$"), "$"),
    (re.compile(r"\\%"), "%"),
    (re.compile(r"(?<=\d)\{,\}(?=\d)"), ","),  # 1{,}200
    (re.compile(r"(?<=\d)\\,(?=\d{3})"), ","),  # 1\,200
    (re.compile(r"\\[,;:! ]"), " "),
    (re.compile(r"\\(?:times|cdot|ast)(?![A-Za-z])"), " * "),
    (re.compile(r"\\div(?![A-Za-z])"), " / "),
    (re.compile(r"\\(?:approx|simeq|cong)(?![A-Za-z])"), " ≈ "),
    (re.compile(r"\\sim(?![A-Za-z])"), " ~ "),
    (re.compile(r"\\(?:left|right|bigl|bigr|big|Big|bigg|Bigg|displaystyle|quad|qquad)(?![A-Za-z])"), " "),
    (re.compile(r"\\[()\[\]]"), " "),  # math delimiters
    (re.compile(r"\\[A-Za-z]+"), " ⊘ "),  # any other command (\sqrt, \pi, \dots): not evaluated
    (re.compile(r"\\"), " "),
    (re.compile(r"\$\$"), " "),
]
_POWER_STARS = re.compile(r"(?<=[\d)])\*\*(?=[\d(])")  # 2**3 is a power; any other ** is markdown bold
_BULLET = re.compile(r"(?m)^[ \t]*[*•][ \t]+")
_CONTINUED_LINE = re.compile(r"\n[ \t]*(?=[=≈])")  # an aligned "= 16" line continues the equation above


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


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    start: int
    end: int
    value: Fraction | None = None
    places: int | None = None  # decimal places written; None for a mixed number or a vulgar fraction

    @property
    def lower(self) -> str:
        return self.text.lower()


@dataclass(frozen=True)
class _Number:
    """A number as the step wrote it: its signed value before any percent, and its precision."""

    text: str
    raw: Fraction
    places: int | None
    percent: bool


@dataclass
class _Run:
    """A maximal stretch of arithmetic: numbers, operators, parentheses and unit words."""

    start: int
    end: int  # exclusive token index, trailing unit words included
    text: str
    python: str  # the expression over names _0, _1, ... (never the model's own characters)
    names: dict[str, Fraction]
    percents: frozenset[str]
    has_operator: bool
    single: _Number | None  # the whole run is one number
    lead: _Number | None  # the run begins with a plain number
    usable: bool
    unit: str | None = None  # the unit of a run that is one number ("120 minutes")
    unit_word: str = ""  # that unit as written
    mentioned: frozenset[str] = frozenset()  # every unit the run names
    contaminated: bool = False
    evaluated: list[Fraction | None] = field(default_factory=list)  # memo: [] until evaluated once


class Unsupported(Exception):
    """A run this checker does not read one way, or a value past the bounds: not judged."""


# ---------------------------------------------------------------------------- text to tokens


def _frac(match: re.Match[str]) -> str:
    top, bottom = match.group(1).strip(), match.group(2).strip()
    if re.fullmatch(r"[\d.,]+", top) and re.fullmatch(r"[\d.,]+", bottom):
        return f"({top}/{bottom})"
    return f"(({top})/({bottom}))"


def _normalize(text: str) -> str:
    """Plain-text arithmetic from LaTeX, Unicode and markdown spellings of it."""
    for _ in range(5):
        text, changed = _LATEX_WRAPPER.subn(r" \1 ", text)
        if not changed:
            break
    text = _LATEX_MIXED.sub(r"\1 \2/\3", text)  # 3\frac{1}{2} is a mixed number
    for _ in range(10):
        text, changed = _LATEX_FRAC.subn(_frac, text)
        if not changed:
            break
    text = _LATEX_FRAC_SHORT.sub(r"(\1/\2)", text)
    for pattern, replacement in _LATEX_REPLACEMENTS:
        text = pattern.sub(replacement, text)
    text = _POWER_STARS.sub("^", text)
    text = text.replace("**", " ").replace("__", " ")
    text = _BULLET.sub("", text)
    text = text.translate(_SYMBOLS)
    return _CONTINUED_LINE.sub(" ", text)


def _number_token(text: str, start: int, end: int) -> _Token:
    digits = sum(ch.isdigit() for ch in text)
    if digits > _MAX_DIGITS:
        return _Token(_POISON, text, start, end)
    whole, _, decimals = text.replace(",", "").partition(".")
    places = len(decimals)
    return _Token(_NUM, text, start, end, Fraction(int(whole + decimals), 10**places), places)


def _mixed_token(text: str, start: int, end: int) -> _Token:
    whole, fraction = text.split()
    top, bottom = fraction.split("/")
    if len(text) > _MAX_DIGITS or int(bottom) == 0 or int(top) >= int(bottom):
        return _Token(_POISON, text, start, end)  # "3 5/2" is no mixed number: do not guess
    return _Token(_NUM, text, start, end, Fraction(int(whole)) + Fraction(int(top), int(bottom)), None)


def _raw_tokens(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    for match in _TOKEN.finditer(source):
        kind, text = match.lastgroup or "other", match.group()
        start, end = match.span()
        if kind == "space":
            continue
        if kind == "num":
            tokens.append(_number_token(text, start, end))
        elif kind == "mixed":
            tokens.append(_mixed_token(text, start, end))
        elif kind == "vulgar":
            value = Fraction(unicodedata.numeric(text)).limit_denominator(16)
            prev = tokens[-1] if tokens else None
            if prev and prev.kind == _NUM and prev.end == start and prev.places == 0 and prev.value is not None:
                tokens[-1] = _Token(_NUM, prev.text + text, prev.start, end, prev.value + value, None)  # 2½
            else:
                tokens.append(_Token(_NUM, text, start, end, value, None))
        elif kind in ("ratio", "factorial"):
            tokens.append(_Token(_POISON, text, start, end))  # a clock time, a ratio, "5!": not read here
        else:
            kinds = {"nl": _NL, "cmp": _OTHER, "eq": _EQ, "aeq": _EQ, "approx": _APPROX, "op": _OP, "lp": _LP,
                     "rp": _RP, "cur": _CUR, "pct": _PCT, "word": _WORD, "poison": _POISON}
            tokens.append(_Token(kinds.get(kind, _OTHER), text, start, end))
    return tokens


def _tokenize(source: str) -> list[_Token]:
    """Tokens, with the spelled operators ("plus", "divided by", "percent") made symbols."""
    raw = _raw_tokens(source)
    tokens: list[_Token] = []
    i = 0
    while i < len(raw):
        tok = raw[i]
        nxt = raw[i + 1] if i + 1 < len(raw) else None
        word = tok.lower if tok.kind == _WORD else ""
        pair = f"{word} {nxt.lower}" if word and nxt is not None and nxt.kind == _WORD else ""
        if pair in ("divided by", "multiplied by") and nxt is not None:
            tokens.append(_Token(_OP, "/" if word == "divided" else "*", tok.start, nxt.end))
            i += 2
            continue
        if pair == "per cent" and nxt is not None:
            tokens.append(_Token(_PCT, "%", tok.start, nxt.end))
            i += 2
            continue
        if word in ("plus", "minus"):
            tok = _Token(_OP, "+" if word == "plus" else "-", tok.start, tok.end)
        elif word == "percent":
            tok = _Token(_PCT, "%", tok.start, tok.end)
        elif word == "equals":
            tok = _Token(_EQ, "=", tok.start, tok.end)
        elif tok.kind == _APPROX and not (tokens and (tokens[-1].kind == _EQ or _is_approx(tokens[-1]))):
            tok = _Token(_EQ, "~", tok.start, tok.end)  # "10 / 3 ~ 3.33" says "is about"; "= ~3.33" marks a result
        elif word in ("st", "nd", "rd", "th") and tokens and tokens[-1].kind == _NUM and tokens[-1].end == tok.start:
            prev = tokens.pop()  # an ordinal ("3rd") is no number
            tok = _Token(_WORD, prev.text + tok.text, prev.start, tok.end)
        tokens.append(tok)
        i += 1
    return tokens


# ---------------------------------------------------------------------------- tokens to runs


def _is_approx(tok: _Token) -> bool:
    return tok.kind == _APPROX or (tok.kind == _WORD and tok.lower in _APPROX_WORDS)


def _starts_operand(tokens: list[_Token], k: int, signed: bool = True) -> bool:
    if k >= len(tokens):
        return False
    tok = tokens[k]
    if tok.kind in (_NUM, _CUR, _LP):
        return True
    return signed and tok.kind == _OP and tok.text == "-" and _starts_operand(tokens, k + 1, signed=False)


def _can_start(tokens: list[_Token], i: int) -> bool:
    tok = tokens[i]
    if tok.kind in (_NUM, _CUR, _LP):
        return True
    if tok.kind == _OP and tok.text == "-" and _starts_operand(tokens, i + 1, signed=False):
        if tok.end == tokens[i + 1].start:
            return True  # "-5"
        prev = tokens[i - 1] if i else None  # "= - 5" is negative; "- 5 + 3" opening a line is a bullet
        return prev is not None and (prev.kind in (_EQ, _LP) or _is_approx(prev))
    return False


def _math_word(tok: _Token) -> bool:
    word = tok.lower
    single_letter = len(word) == 1 and word not in "ai"  # "x + 5 + 3"; "a" and "I" are English words
    return tok.kind == _WORD and (word in _PREFIX_WORDS or word in _POSTFIX_WORDS or single_letter)


def _contaminated(tokens: list[_Token], s: int) -> bool:
    """Whether what stands just before a run could be part of its arithmetic ("x + 5 + 3",
    "sqrt 16 + 1", "half of 16 + 2", "1 200 + 300"): then the run is only a piece of an
    expression and must not be judged."""
    if s == 0:
        return False
    prev, first = tokens[s - 1], tokens[s]
    attached = prev.end == first.start
    if prev.kind in (_NUM, _PCT, _CUR, _POISON, _APPROX):
        return True
    if prev.kind == _RP:
        return attached  # "1) 5 + 3" is a list item; "(2)5" is not
    if prev.kind == _OP:
        if prev.text != "-" or attached:
            return True
        before = tokens[s - 2] if s >= 2 else None  # a spaced dash after words or punctuation separates
        return before is not None and (before.kind not in (_NL, _OTHER, _EQ, _WORD) or _math_word(before))
    if prev.kind == _WORD:
        if attached or _math_word(prev):
            return True
        before = tokens[s - 2] if s >= 2 else None
        return before is not None and _math_word(before) and prev.lower in ("of", "the")
    if prev.kind == _OTHER:
        return attached and prev.text in "._'’"
    return False


@dataclass
class _Scan:
    """The scanner's state while it reads one run."""

    parts: list[str] = field(default_factory=list)
    names: dict[str, Fraction] = field(default_factory=dict)
    percents: set[str] = field(default_factory=set)
    numbers: list[_Number] = field(default_factory=list)
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


def _scan(tokens: list[_Token], source: str, start: int, budget: list[int]) -> tuple[_Run | None, int]:
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
            if tok.kind == _LP:
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
            if tok.kind == _OP and tok.text in "+-" and not st.sign and _starts_operand(tokens, j + 1, signed=False):
                st.sign, st.sign_at = tok.text, j
                st.parts.append(tok.text)
                j += 1
                continue
            if tok.kind == _CUR and st.currency is None:
                st.currency = j
                j += 1
                continue
            if tok.kind == _NUM and tok.value is not None:
                tok_index = j
                name = f"_{len(st.names)}"
                value = tok.value
                percent = j + 1 < n and tokens[j + 1].kind == _PCT
                if percent:
                    st.percents.add(name)
                    j += 1
                st.names[name] = value / 100 if percent else value
                st.parts.append(name)
                raw = -value if st.sign == "-" else value
                first = tokens[min(i for i in (tok_index, st.currency, st.sign_at) if i is not None)]
                st.numbers.append(_Number(source[first.start : tokens[j].end], raw, tok.places, percent))
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
        if tok.kind == _RP and st.depth > 0:
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
        if tok.kind == _LP and tok.start == tokens[j - 1].end and tokens[j - 1].kind in (_NUM, _RP, _PCT):
            st.parts.append("*")  # 2(3 + 4)
            st.has_operator, expecting = True, True
            continue
        if tok.kind == _OP and tok.text == "/" and j + 1 < n and tokens[j + 1].kind == _WORD:
            _name_unit(st, tokens[j + 1].text, rate=True)
            j += 2  # "$9.50/hour": a unit, not a division
            st.units += 1
            if st.depth == 0:
                st.snapshot = (j, last_math, len(st.parts), st.has_operator, len(st.numbers))
            continue
        if tok.kind == _WORD:
            word = tok.lower
            article = word == "a" and j + 1 < n and tokens[j + 1].kind == _WORD  # "$5 a day"
            if word in _POSTFIX_WORDS or (len(word) == 1 and word != "i" and not article):
                poisoned = True  # "4 squared", "2x", "3 m": not plain arithmetic
                j += 1
                break
            if word in _STOP_WORDS or word in _APPROX_WORDS or st.units >= _MAX_UNIT_WORDS:
                break
            _name_unit(st, tok.text, rate=word == "per" or article)
            st.units += 1
            j += 1
            if st.depth == 0:
                st.snapshot = (j, last_math, len(st.parts), st.has_operator, len(st.numbers))
            continue
        if tok.kind == _POISON:
            poisoned = True
            j += 1
        break
    if st.snapshot is None or budget[0] <= 0:
        return None, max(j, start + 1) if poisoned else start + 1
    end, last, n_parts, has_operator, n_numbers = st.snapshot
    if last + 1 < end and tokens[last + 1].lower in _UNITS:
        last += 1  # "2 * 45 minutes": the expression's own unit belongs to its text
    text = " ".join(source[tokens[start].start : tokens[last].end].split())
    too_long = tokens[last].end - tokens[start].start > _MAX_EXPRESSION_CHARS
    numbers = st.numbers[:n_numbers]
    mixed = _mixes_units(st.operand_units[:n_numbers])
    single = numbers[0] if n_numbers == 1 and not has_operator and not st.paren_first else None
    names = {name: st.names[name] for name in list(st.names)[:n_numbers]}
    run = _Run(
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
    unit = _UNITS.get(word.lower())
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
        if unit is not None and seen.setdefault(_UNIT_SIZES[unit][0], unit) != unit:
            return True
    return False


def _binary_operator(tokens: list[_Token], j: int, st: _Scan) -> str | None:
    """The Python operator token j stands for between two operands, or None."""
    tok = tokens[j]
    if tok.kind == _OP:
        op = tok.text
    elif tok.kind == _WORD and tok.lower in ("x", "times"):
        op = "*"  # "3 x 4", "5 boxes x 12 eggs", "3 times 4"
    elif tok.kind == _WORD and tok.lower == "of" and st.units == 0 and st.parts:
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


def _runs(tokens: list[_Token], source: str) -> tuple[dict[int, _Run], dict[int, _Run]]:
    """Every maximal arithmetic run, keyed by its first token and by the token after it."""
    by_start: dict[int, _Run] = {}
    by_end: dict[int, _Run] = {}
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
    if size * abs(int(exponent)) > _MAX_DIGITS * 4:  # checked before computing: 9**9**9 never runs
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


def _value(run: _Run) -> Fraction | None:
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


def _judge_number(value: Fraction, number: _Number, approx: bool) -> tuple[bool, Fraction]:
    readings = [(number.raw, number.places)]
    if number.percent:  # "10 / 50 = 20%" and "10 / 50 * 100 = 20%" are both written
        readings.insert(0, (number.raw / 100, None if number.places is None else number.places + 2))
    for stated, places in readings:
        if _within(value, stated, places, approx):
            return True, stated
    return False, min(readings, key=lambda reading: abs(value - reading[0]))[0]


def _conversions(left: _Run, right: _Run) -> list[Fraction]:
    """The left value restated in the right's unit, from each other unit of that dimension the left names."""
    value, target = _value(left), right.unit
    if value is None or target is None:
        return []
    dimension, size = _UNIT_SIZES[target]
    converted = []
    for unit in left.mentioned - {target}:
        other_dimension, other_size = _UNIT_SIZES[unit]
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


def _link(left: _Run, right: _Run, approx: bool) -> _Link | None:
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
    source = _normalize(text)
    tokens = _tokenize(source)
    by_start, by_end = _runs(tokens, source)
    found: list[_Link] = []
    for q, tok in enumerate(tokens):
        if tok.kind != _EQ:
            continue
        left = by_end.get(q)
        if left is None or not left.usable or left.contaminated or not left.has_operator:
            continue
        approx, k = tok.text != "=" and tok.text != "==", q + 1
        while k < len(tokens) and _is_approx(tokens[k]):
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
