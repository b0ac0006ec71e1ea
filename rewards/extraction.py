"""Final-answer extraction and the canonical key answers are voted by."""

from __future__ import annotations

import re
from fractions import Fraction

_ANSWER_IS = re.compile(r"(?:final answer|the answer|answer)\s*(?:is|:)\s*:?\s*([^\n]+)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?(?:/\d+)?")
_FRAC = re.compile(r"\\[dt]?frac\{([^{}]+)\}\{([^{}]+)\}")
_TEXT = re.compile(r"\\(?:text|mathrm|textbf|mbox)\{([^{}]*)\}")


def _braced(text: str, start: int) -> str | None:
    """The contents of the brace group opening at `start` (nesting allowed)."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    return None


def last_boxed(text: str) -> str | None:
    """The contents of the last \\boxed{} (or \\fbox{}) whose braces close; None when there is none."""
    found = None
    for match in re.finditer(r"\\(?:boxed|fbox)\s*\{", text):
        inner = _braced(text, match.end() - 1)
        if inner is not None:
            found = inner
    return found


def extract_answer(text: str) -> str | None:
    """The final answer stated in `text`: the last \\boxed{}, else the last "the answer
    is X", else the last number; None when there is none."""
    boxed = last_boxed(text)
    if boxed is not None and boxed.strip():
        return boxed.strip()
    stated = _ANSWER_IS.findall(text)
    if stated:
        answer = _stated_answer(stated[-1])
        if answer:
            return answer
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


def _stated_answer(snippet: str) -> str:
    """The answer in "the answer is <snippet>": a short phrase as it is, else its first number."""
    snippet = re.split(r"\.\s|\.$", snippet.strip(), maxsplit=1)[0].strip().strip("*$ ").strip()
    if len(snippet) <= 24 or "\\" in snippet:
        return snippet
    numbers = _NUMBER.findall(snippet)
    return numbers[0] if numbers else snippet[:100]


def _as_number(text: str) -> Fraction | None:
    cleaned = text.replace(",", "").replace(" ", "")
    if re.fullmatch(r"-?\d+(?:\.\d+)?(?:/\d+)?", cleaned) is None:
        return None
    try:
        return Fraction(cleaned)
    except (ValueError, ZeroDivisionError):
        return None


def normalize_answer(answer: str) -> str:
    """A canonical key: equal keys mean the same answer ("1,234.50" and "1234.5" agree)."""
    text = _FRAC.sub(r"\1/\2", answer)
    text = _TEXT.sub(r"\1", text)
    text = text.replace("$", "").replace("\\%", "%").replace("\\!", "").strip().rstrip(".")
    text = re.sub(r"^(?:x|y|n|answer)\s*=\s*", "", text, flags=re.IGNORECASE)
    number_text = re.sub(r"^\\?\$|%$|\s*(?:dollars?|cents?|units?)$", "", text, flags=re.IGNORECASE).strip()
    value = _as_number(number_text)
    if value is not None:
        return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    return re.sub(r"\s+", " ", text).lower()
