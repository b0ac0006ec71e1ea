"""Intermediate quantities of a solution, for cross-checking chains of thought against programs.

Two samples that reached the same answer may have got there the same way or by luck. What a
solution derived on the way (a chain's computed results, a program's computed variables) can be
compared: a chain and a program that share intermediate values agree on more than the answer.

A chain's quantities are the exact values of the computations it states (rewards.step_checks),
right or wrong. A program's are the values of its assignments whose right side computes
something (`total = price * 12`, not `price = 9.5`), found by evaluating the assignments
exactly, statement by statement, without running the program: only numbers, names already
valued, + - * / // % **, unary signs and round/int/float/abs/min/max are read; any other
statement is skipped (its target then has no value). Values are Fractions; floats from the
program's literals are read as their decimal text, so `0.1 * 3` is 3/10.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from fractions import Fraction

from rewards.python_tests import extract_code
from rewards.step_checks import Unsupported, bounded, exact_power, find_computations

__all__ = ["chain_quantities", "program_quantities", "shared"]

_MAX_PROGRAM_CHARS = 20_000
_MAX_STATEMENTS = 400
_FUNCTIONS: dict[str, Callable[..., Fraction]] = {"abs": abs, "min": min, "max": max}


def chain_quantities(text: str) -> set[Fraction]:
    """The values of the computations a chain of thought states (as computed, not as stated)."""
    return {c.value for c in find_computations(text)}


def _code(text: str) -> str:
    """The program in a sample (its last fenced block, else the text), cut at a line end."""
    code = extract_code(text) or text
    return code[: code.rfind("\n", 0, _MAX_PROGRAM_CHARS) + 1] if len(code) > _MAX_PROGRAM_CHARS else code


def _number(value: object) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unsupported("not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise Unsupported("not finite")
    return bounded(Fraction(repr(value)) if isinstance(value, float) else Fraction(value))


def _evaluate(node: ast.expr, names: dict[str, Fraction]) -> Fraction:
    if isinstance(node, ast.Constant):
        return _number(node.value)
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise Unsupported(f"no value for {node.id}")
        return names[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _evaluate(node.operand, names)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, names), _evaluate(node.right, names)
        if isinstance(node.op, ast.Div | ast.FloorDiv | ast.Mod) and right == 0:
            raise Unsupported("division by zero")
        operations: dict[type[ast.operator], Callable[[], Fraction]] = {
                      ast.Add: lambda: left + right, ast.Sub: lambda: left - right, ast.Mult: lambda: left * right,
                      ast.Div: lambda: left / right, ast.FloorDiv: lambda: Fraction(left // right),
                      ast.Mod: lambda: left % right, ast.Pow: lambda: exact_power(left, right)}
        operation = operations.get(type(node.op))
        if operation is None:
            raise Unsupported(type(node.op).__name__)
        return bounded(operation())
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        args = [_evaluate(a, names) for a in node.args]
        name = node.func.id
        if name in _FUNCTIONS and args:
            return Fraction(_FUNCTIONS[name](*args))
        if name == "int" and len(args) == 1:
            return Fraction(math.trunc(args[0]))
        if name == "float" and len(args) == 1:
            return args[0]
        if name == "round" and len(args) in (1, 2):
            places = int(args[1]) if len(args) == 2 and args[1].denominator == 1 else 0 if len(args) == 1 else -1
            if not 0 <= places <= 12:
                raise Unsupported("round to many places")
            return Fraction(round(args[0], places))
    raise Unsupported(type(node).__name__)


def _computes(node: ast.expr) -> bool:
    """An expression that derives a value: an operator or a function of a value, not a literal or
    a copy of a name (possibly signed or cast: `-5`, `float(5)`, `y`)."""
    if isinstance(node, ast.UnaryOp):
        return _computes(node.operand)
    if isinstance(node, ast.Call) and len(node.args) == 1 and getattr(node.func, "id", None) in ("int", "float"):
        return _computes(node.args[0])
    return not isinstance(node, ast.Constant | ast.Name)


def _stored(node: ast.AST) -> set[str]:
    """Every name a statement may bind: assignment targets anywhere inside it (loops, branches,
    `with ... as`, `except ... as`, `:=`), a function's name and its parameters."""
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    names |= {n.name for n in ast.walk(node) if isinstance(n, ast.ExceptHandler) and n.name}
    names |= {a.arg for n in ast.walk(node) if isinstance(n, ast.arguments)
              for a in (*n.posonlyargs, *n.args, *n.kwonlyargs, n.vararg, n.kwarg) if a is not None}
    return names


def _statements(body: Iterable[ast.stmt], names: dict[str, Fraction]) -> Iterable[ast.stmt]:
    """The statements in the order they are written, a function's body in place of the function
    (its parameters have no value there, so names shadowed by them are forgotten first)."""
    for statement in body:
        if isinstance(statement, ast.FunctionDef):
            for name in _stored(statement.args):
                names.pop(name, None)
            yield from _statements(statement.body, names)
        else:
            yield statement


def _assignment(statement: ast.stmt) -> tuple[str, ast.expr] | None:
    """(name, value) of a straight assignment to one name: `x = ...`, `x += ...`, `x: float = ...`."""
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target, value = statement.targets[0], statement.value
    elif isinstance(statement, ast.AugAssign):
        target = statement.target
        value = ast.BinOp(left=ast.Name(id=getattr(target, "id", ""), ctx=ast.Load()), op=statement.op,
                          right=statement.value)
    elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
        target, value = statement.target, statement.value
    else:
        return None
    return (target.id, value) if isinstance(target, ast.Name) else None


def program_quantities(text: str) -> set[Fraction]:
    """The values a program computes on its way (assignments with a computing right side), read
    without running it; an empty set when it does not parse. Only straight-line assignments are
    read: a name bound any other way (in a loop or branch, by tuple unpacking, as a parameter)
    loses its value, so nothing computed after it uses a stale one."""
    try:
        tree = ast.parse(_code(text))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    names: dict[str, Fraction] = {}
    found: set[Fraction] = set()
    for count, statement in enumerate(_statements(tree.body, names)):
        if count >= _MAX_STATEMENTS:
            break
        assignment = _assignment(statement)
        if assignment is None:
            for name in _stored(statement):
                names.pop(name, None)
            continue
        name, value = assignment
        try:
            names[name] = _evaluate(value, names)
        except (Unsupported, ArithmeticError, ValueError, RecursionError, TypeError):
            names.pop(name, None)  # its old value no longer holds
            continue
        if _computes(value):
            found.add(names[name])
    return found


def shared(a: AbstractSet[Fraction], b: AbstractSet[Fraction], *, besides: Fraction | None = None) -> set[Fraction]:
    """The intermediate values two solutions both derived, the final answer `besides` left out."""
    return {v for v in a & b if v != besides}
