"""Ground-truth verifiers chosen per request (`reasoning.verifier`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, validators

from rewards.equivalence import MathEquivalence
from rewards.extraction import extract_answer, normalize_answer
from rewards.game24 import check_24, extract_expression
from rewards.verdict import Verdict


@dataclass(frozen=True)
class Game24Verifier:
    numbers: tuple[int, ...]

    async def check(self, text: str) -> Verdict:
        expression = extract_expression(text)
        if expression is None:
            return Verdict.fail("no arithmetic expression was found in the answer")
        return check_24(expression, list(self.numbers))


@dataclass(frozen=True)
class MathEquivVerifier:
    reference: str
    equivalence: MathEquivalence

    async def check(self, text: str) -> Verdict:
        answer = extract_answer(text)
        if answer is None:
            return Verdict.fail("no final answer was stated")
        if await self.equivalence.equivalent(self.reference, answer):
            return Verdict.ok(f"{answer} matches the reference")
        return Verdict.fail(f"{answer} does not match the reference")


@dataclass(frozen=True)
class ExactVerifier:
    reference: str

    async def check(self, text: str) -> Verdict:
        answer = extract_answer(text)
        if answer is not None and normalize_answer(answer) == normalize_answer(self.reference):
            return Verdict.ok("exact match")
        return Verdict.fail(f"{answer!r} is not the expected answer")


@dataclass(frozen=True)
class RegexVerifier:
    pattern: str

    async def check(self, text: str) -> Verdict:
        # Patterns come from the client: bounded input keeps a bad pattern's backtracking short.
        if re.search(self.pattern, text[:20_000]):
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
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    starts = [m.start() for m in re.finditer(r"[{\[]", text)]
    for start in starts[-200:]:  # the earliest start that parses gives the largest value
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        return True, value
    return False, None


def schema_validator(schema: dict[str, Any]) -> Any:
    """A validator for `schema` in the draft it declares (2020-12 when none); raises
    jsonschema.SchemaError when the schema itself is invalid. Remote $refs are never fetched."""
    cls = validators.validator_for(schema, default=Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema)


@dataclass(frozen=True)
class JsonSchemaVerifier:
    schema: dict[str, Any]

    async def check(self, text: str) -> Verdict:
        found, value = extract_json(text)
        if not found:
            return Verdict.fail("no JSON value was found in the answer")
        errors = sorted(schema_validator(self.schema).iter_errors(value), key=lambda e: list(e.absolute_path))
        if not errors:
            return Verdict.ok("the JSON matches the schema")
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "the top level"
        return Verdict.fail(f"the JSON does not match the schema at {where}: {first.message[:300]}"
                            + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
