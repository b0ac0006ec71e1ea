"""Ground-truth verifiers chosen per request (`reasoning.verifier`)."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any

import re2
import referencing.jsonschema
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError
from jsonschema_specifications import REGISTRY as SPECIFICATIONS
from referencing import Registry
from referencing.exceptions import Unresolvable

from rewards.equivalence import MathEquivalence
from rewards.extraction import extract_answer, normalize_answer
from rewards.game24 import check_24, extract_expression
from rewards.verdict import Verdict
from rewards.worker import KillableWorker, WorkerTimeout


@dataclass(frozen=True)
class Game24Verifier:
    numbers: tuple[int, ...]

    async def check(self, text: str) -> Verdict:
        expression = extract_expression(text)
        if expression is None:
            return Verdict.malformed("no arithmetic expression was found in the answer")
        return check_24(expression, list(self.numbers))


@dataclass(frozen=True)
class MathEquivVerifier:
    reference: str
    equivalence: MathEquivalence

    async def check(self, text: str) -> Verdict:
        answer = extract_answer(text)
        if answer is None:
            return Verdict.malformed("no final answer was stated")
        if await self.equivalence.equivalent(self.reference, answer):
            return Verdict.ok(f"{answer} matches the reference")
        return Verdict.fail(f"{answer} does not match the reference")


@dataclass(frozen=True)
class ExactVerifier:
    reference: str

    async def check(self, text: str) -> Verdict:
        answer = extract_answer(text)
        if answer is None:
            return Verdict.malformed("no final answer was stated")
        if normalize_answer(answer) == normalize_answer(self.reference):
            return Verdict.ok("exact match")
        return Verdict.fail(f"{answer!r} is not the expected answer")


# Python's escapes RE2 spells otherwise (\uXXXX, \UXXXXXXXX, \Z); pairs are read left to right so "\\u" stays.
_PYTHON_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(Z)|(.))", re.DOTALL)


def _re2_escape(match: re.Match[str]) -> str:
    code = match.group(1) or match.group(2)
    if code:
        return f"\\x{{{code}}}"
    return "\\z" if match.group(3) else match.group(0)


def compile_pattern(pattern: str) -> Any:
    """`pattern` compiled by RE2, which matches in time linear in the text (no backtracking), with
    Python's \\uXXXX, \\UXXXXXXXX and \\Z read as Python reads them. Raises ValueError naming
    what RE2 cannot do (backreferences, lookaround, repetitions over 1000)."""
    options = re2.Options()
    options.log_errors = False  # a refused client pattern is a 400, not a line on the server's stderr
    try:
        return re2.compile(_PYTHON_ESCAPE.sub(_re2_escape, pattern), options)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"not a regular expression RE2 can match ({reason}; backreferences and "
                         "lookaround are not supported)") from None


@dataclass(frozen=True)
class RegexVerifier:
    pattern: str

    async def check(self, text: str) -> Verdict:
        try:
            # RE2 is linear in the text; a thread keeps even a long answer's search off the event loop
            matched = await asyncio.to_thread(lambda: compile_pattern(self.pattern).search(text[:20_000]))
        except ValueError as exc:
            return Verdict.fail(str(exc))
        if matched:
            return Verdict.ok("the pattern matches")
        return Verdict.fail(f"the answer does not match /{self.pattern}/")


_FENCED = re.compile(r"```[a-zA-Z]*[ \t]*\n(.*?)```", re.DOTALL)
_MAX_JSON_CHARS = 100_000


def extract_json(text: str) -> tuple[bool, Any]:
    """The JSON value an answer gives: the whole text, else its last fenced block that parses,
    else the last object or array in it that parses. (False, None) when there is none."""
    text = text[:_MAX_JSON_CHARS]
    candidates = [text.strip(), *reversed([b.strip() for b in _FENCED.findall(text)])]
    for candidate in candidates:
        try:
            return True, json.loads(candidate)
        except (ValueError, RecursionError):  # nesting past the interpreter's limit is no answer either
            pass
    decoder = json.JSONDecoder()
    starts = [m.start() for m in re.finditer(r"[{\[]", text)]
    for start in starts[-200:]:  # the earliest start that parses gives the largest value
        try:
            value, _ = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            continue
        return True, value
    return False, None


JSON_SCHEMA_TIMEOUT_S = 5.0  # a real schema checks in milliseconds; a hostile one (anyOf chains, ReDoS) in hours
MAX_SCHEMA_DEPTH = 32  # objects and arrays nested in a client's schema; checking recurses per level


def json_depth(value: Any, stop_after: int = MAX_SCHEMA_DEPTH) -> int:
    """How many objects and arrays nest in `value` (0 for a scalar), counted without recursion;
    counting stops once it passes `stop_after`."""
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= stop_after:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def schema_validator(schema: dict[str, Any]) -> Any:
    """A validator for `schema` in the draft it declares (2020-12 when none); raises
    jsonschema.SchemaError when the schema itself is invalid. Remote $refs are never fetched:
    its registry retrieves nothing, so a $ref outside the schema is Unresolvable when reached."""
    cls = validators.validator_for(schema, default=Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema, registry=Registry())


def unresolvable_refs(schema: dict[str, Any]) -> list[str]:
    """The `$ref`s and `$dynamicRef`s in `schema`'s subschemas that do not resolve within it (or
    to a draft's meta-schema): remote ones are never fetched, so checking with them could only fail."""
    cls = validators.validator_for(schema, default=Draft202012Validator)
    specification = referencing.jsonschema.specification_with(
        cls.ID_OF(cls.META_SCHEMA) or "", default=referencing.jsonschema.DRAFT202012)
    root = specification.create_resource(schema)
    missing: list[str] = []
    stack = [(SPECIFICATIONS.combine(Registry()).resolver_with_root(root), root)]
    while stack:  # a stack, not recursion: depth is the client's
        resolver, resource = stack.pop()
        if isinstance(resource.contents, dict):
            for keyword in ("$ref", "$dynamicRef"):
                ref = resource.contents.get(keyword)
                if isinstance(ref, str):
                    try:
                        resolver.lookup(ref)
                    except (Unresolvable, ValueError):
                        missing.append(ref)
        stack.extend((resolver.in_subresource(sub), sub) for sub in resource.subresources())
    return missing


def check_json(schema: dict[str, Any], text: str) -> Verdict:
    """The json_schema verdict on `text`. Slow on a hostile schema: run it in a KillableWorker."""
    found, value = extract_json(text)
    if not found:
        return Verdict.malformed("no JSON value was found in the answer")
    try:
        errors = sorted(schema_validator(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    except Unresolvable as exc:
        return Verdict.fail(f"the schema's $ref {exc.ref!r} does not resolve within the schema "
                            "(remote $refs are never fetched)")
    except RecursionError:
        return Verdict.fail("the schema or the answer's JSON nests too deeply to check")
    except SchemaError as exc:
        return Verdict.fail(f"not a valid JSON Schema: {exc.message[:300]}")
    if not errors:
        return Verdict.ok("the JSON matches the schema")
    first = errors[0]
    where = "/".join(str(p) for p in first.absolute_path) or "the top level"
    return Verdict.fail(f"the JSON does not match the schema at {where}: {first.message[:300]}"
                        + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))


@dataclass(frozen=True)
class JsonSchemaVerifier:
    """Checks an answer's JSON against `schema` in `worker`, each check given `timeout_s`. One
    verifier serves one request: once a check times out, later ones fail at once, for the same reason."""

    schema: dict[str, Any]
    worker: KillableWorker
    timeout_s: float = JSON_SCHEMA_TIMEOUT_S
    _timed_out: list[str] = field(default_factory=list, init=False, repr=False, compare=False)

    async def check(self, text: str) -> Verdict:
        if self._timed_out:
            return Verdict.fail(self._timed_out[0])
        try:
            return await self.worker.run(check_json, self.schema, text, timeout_s=self.timeout_s)
        except WorkerTimeout:
            reason = f"the json_schema check timed out after {self.timeout_s:g} s"
            self._timed_out.append(reason)  # the client's schema is what is slow: it is not run again
            return Verdict.fail(reason)
        except Exception as exc:  # a crashed worker or an unpicklable schema: a failed check, never a 500
            return Verdict.fail(f"the json_schema check failed: {type(exc).__name__}")
