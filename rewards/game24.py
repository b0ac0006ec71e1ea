"""Game of 24: does an expression use exactly the given numbers once each and equal 24?

Checked by parsing the expression into a syntax tree and evaluating it with exact
rational arithmetic; nothing is ever passed to eval.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from fractions import Fraction

from rewards.verdict import Verdict

_SYMBOLS = str.maketrans({"×": "*", "x": "*", "X": "*", "÷": "/", "−": "-", "–": "-", "[": "(", "]": ")"})
_OPS = {ast.Add: Fraction.__add__, ast.Sub: Fraction.__sub__, ast.Mult: Fraction.__mul__, ast.Div: Fraction.__truediv__}
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_EXPRESSION = re.compile(r"[\d\s()+\-*/×x÷−–\[\]]{5,}")


class _Invalid(Exception):
    pass


class _DivisionByZero(_Invalid):
    pass


def _evaluate(node: ast.AST, used: list[int]) -> Fraction:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        used.append(node.value)
        return Fraction(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _evaluate(node.left, used), _evaluate(node.right, used)
        if isinstance(node.op, ast.Div) and right == 0:
            raise _DivisionByZero("division by zero")
        return _OPS[type(node.op)](left, right)
    raise _Invalid(f"only integers, + - * / and parentheses are allowed, not {type(node).__name__}")


def check_24(expression: str, numbers: list[int], target: int = 24) -> Verdict:
    """Whether `expression` uses exactly `numbers` (each once) and equals `target`."""
    text = expression.translate(_SYMBOLS).split("=")[0].strip()
    if not text:
        return Verdict.malformed("no expression was given")
    if len(text) > 200:
        return Verdict.malformed("the expression is too long")
    try:
        tree = ast.parse(text, mode="eval")
        used: list[int] = []
        value = _evaluate(tree.body, used)
    except SyntaxError:
        return Verdict.malformed(f"{text!r} is not an arithmetic expression")
    except _DivisionByZero as exc:  # an expression that keeps the rules and fails: a wrong attempt
        return Verdict.fail(str(exc))
    except _Invalid as exc:
        return Verdict.malformed(str(exc))
    if Counter(used) != Counter(numbers):
        return Verdict.malformed(f"it uses {sorted(used)} but must use exactly {sorted(numbers)}, each once")
    if value != target:
        return Verdict.fail(f"{text} = {value}, not {target}")
    return Verdict.ok(f"{text} = {target}")


def extract_expression(text: str) -> str | None:
    """The candidate expression in a model's answer: the last \\boxed{} (less any "= 24"), else the last
    arithmetic run left of an '= 24', else the last arithmetic run."""
    boxed = _BOXED.findall(text)
    if boxed:
        return str(boxed[-1]).split("=")[0].strip()  # "\boxed{(10 - 4) * (13 - 9) = 24}" states its value too
    for line in reversed(text.splitlines()):
        if "=" in line and re.search(r"=\s*24\b", line):
            runs = _EXPRESSION.findall(line.split("=")[0])
            if runs:
                return str(runs[-1]).strip()
    runs = [r.strip() for r in _EXPRESSION.findall(text) if re.search(r"[+\-*/×÷]", r)]
    return runs[-1] if runs else None


def solvable(numbers: list[int], target: int = 24) -> bool:
    """Whether any expression over `numbers` reaches `target` (exhaustive, exact)."""

    def search(values: list[Fraction]) -> bool:
        if len(values) == 1:
            return values[0] == target
        for i in range(len(values)):
            for j in range(len(values)):
                if i == j:
                    continue
                rest = [v for k, v in enumerate(values) if k not in (i, j)]
                a, b = values[i], values[j]
                results = [a + b, a - b, a * b] + ([a / b] if b != 0 else [])
                if any(search([*rest, r]) for r in results):
                    return True
        return False

    return search([Fraction(n) for n in numbers])
