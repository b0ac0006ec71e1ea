"""Reading a step's text into tokens, for the arithmetic checks of rewards.step_checks.

LaTeX, Unicode and markdown spellings of arithmetic are made plain text (`\\frac{3}{4}`,
`×`, `**`), and the text is cut into typed tokens: numbers with their exact values and the
decimal places written, operators, parentheses, "=" and "≈", currency and percent signs, and
words, with spelled operators ("plus", "divided by", "percent") made symbols. A token this
checker must not read as plain arithmetic ("√", "5!", a clock time, a literal past the digit
bound) is kept as a poison token, so that a run containing it is never judged.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

# A bound that keeps a hostile step cheap: past it, "no computation" (see also step_runs, step_checks).
MAX_DIGITS = 60  # literals and intermediate results (numerator and denominator)

# Token kinds.
NUM, OP, LP, RP, EQ, CUR, PCT, WORD, APPROX, POISON, OTHER, NL = (
    "num", "op", "lp", "rp", "eq", "cur", "pct", "word", "approx", "poison", "other", "nl",
)

APPROX_WORDS = frozenset({"about", "approximately", "approx", "roughly", "around", "nearly", "almost", "circa"})

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
class Token:
    kind: str
    text: str
    start: int
    end: int
    value: Fraction | None = None
    places: int | None = None  # decimal places written; None for a mixed number or a vulgar fraction

    @property
    def lower(self) -> str:
        return self.text.lower()


# ---------------------------------------------------------------------------- text to tokens


def _frac(match: re.Match[str]) -> str:
    top, bottom = match.group(1).strip(), match.group(2).strip()
    if re.fullmatch(r"[\d.,]+", top) and re.fullmatch(r"[\d.,]+", bottom):
        return f"({top}/{bottom})"
    return f"(({top})/({bottom}))"


def normalize(text: str) -> str:
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


def _number_token(text: str, start: int, end: int) -> Token:
    digits = sum(ch.isdigit() for ch in text)
    if digits > MAX_DIGITS:
        return Token(POISON, text, start, end)
    whole, _, decimals = text.replace(",", "").partition(".")
    places = len(decimals)
    return Token(NUM, text, start, end, Fraction(int(whole + decimals), 10**places), places)


def _mixed_token(text: str, start: int, end: int) -> Token:
    whole, fraction = text.split()
    top, bottom = fraction.split("/")
    if len(text) > MAX_DIGITS or int(bottom) == 0 or int(top) >= int(bottom):
        return Token(POISON, text, start, end)  # "3 5/2" is no mixed number: do not guess
    return Token(NUM, text, start, end, Fraction(int(whole)) + Fraction(int(top), int(bottom)), None)


def _raw_tokens(source: str) -> list[Token]:
    tokens: list[Token] = []
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
            if prev and prev.kind == NUM and prev.end == start and prev.places == 0 and prev.value is not None:
                tokens[-1] = Token(NUM, prev.text + text, prev.start, end, prev.value + value, None)  # 2½
            else:
                tokens.append(Token(NUM, text, start, end, value, None))
        elif kind in ("ratio", "factorial"):
            tokens.append(Token(POISON, text, start, end))  # a clock time, a ratio, "5!": not read here
        else:
            kinds = {"nl": NL, "cmp": OTHER, "eq": EQ, "aeq": EQ, "approx": APPROX, "op": OP, "lp": LP,
                     "rp": RP, "cur": CUR, "pct": PCT, "word": WORD, "poison": POISON}
            tokens.append(Token(kinds.get(kind, OTHER), text, start, end))
    return tokens


def tokenize(source: str) -> list[Token]:
    """Tokens, with the spelled operators ("plus", "divided by", "percent") made symbols."""
    raw = _raw_tokens(source)
    tokens: list[Token] = []
    i = 0
    while i < len(raw):
        tok = raw[i]
        nxt = raw[i + 1] if i + 1 < len(raw) else None
        word = tok.lower if tok.kind == WORD else ""
        pair = f"{word} {nxt.lower}" if word and nxt is not None and nxt.kind == WORD else ""
        if pair in ("divided by", "multiplied by") and nxt is not None:
            tokens.append(Token(OP, "/" if word == "divided" else "*", tok.start, nxt.end))
            i += 2
            continue
        if pair == "per cent" and nxt is not None:
            tokens.append(Token(PCT, "%", tok.start, nxt.end))
            i += 2
            continue
        if word in ("plus", "minus"):
            tok = Token(OP, "+" if word == "plus" else "-", tok.start, tok.end)
        elif word == "percent":
            tok = Token(PCT, "%", tok.start, tok.end)
        elif word == "equals":
            tok = Token(EQ, "=", tok.start, tok.end)
        elif tok.kind == APPROX and not (tokens and (tokens[-1].kind == EQ or is_approx(tokens[-1]))):
            tok = Token(EQ, "~", tok.start, tok.end)  # "10 / 3 ~ 3.33" says "is about"; "= ~3.33" marks a result
        elif word in ("st", "nd", "rd", "th") and tokens and tokens[-1].kind == NUM and tokens[-1].end == tok.start:
            prev = tokens.pop()  # an ordinal ("3rd") is no number
            tok = Token(WORD, prev.text + tok.text, prev.start, tok.end)
        tokens.append(tok)
        i += 1
    return tokens


def is_approx(tok: Token) -> bool:
    return tok.kind == APPROX or (tok.kind == WORD and tok.lower in APPROX_WORDS)
