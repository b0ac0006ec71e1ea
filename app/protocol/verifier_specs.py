"""The verifiers a request may name (`reasoning.verifier`) as pydantic models, each checked as far as
it can be before any search runs; app/reasoning/wiring.py builds the rewards verifier each one names."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from rewards.python_tests import compile_error


class Game24Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["game24"]
    numbers: list[StrictInt] = Field(min_length=2, max_length=6)


class MathEquivSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["math_equiv"]
    reference: str = Field(min_length=1, max_length=1000)


class ExactSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["exact"]
    reference: str = Field(min_length=1, max_length=1000)


class RegexSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["regex"]
    pattern: str = Field(min_length=1, max_length=500)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        from rewards.verifiers import compile_pattern

        compile_pattern(pattern)  # RE2 (linear time) or a ValueError naming what it cannot match
        return pattern


class PythonTestsSpec(BaseModel):
    """Run the answer's code against `tests` in the sandbox; with `entry_point`, HumanEval-style
    tests (`def check(candidate)`) are called as `check(entry_point)`."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["python_tests"]
    tests: str = Field(min_length=1, max_length=50_000)
    entry_point: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100)
    prelude: str = Field(default="", max_length=20_000, description="code run before the answer's (imports)")
    timeout_s: float = Field(default=10.0, gt=0, le=60, strict=True)

    @field_validator("tests", "prelude")
    @classmethod
    def _compiles(cls, code: str) -> str:
        """Tests or a prelude that do not compile would fail every answer, and blame the model for it."""
        if (error := compile_error(code)) is not None:
            raise ValueError(f"does not compile: {error}")
        return code


class JsonSchemaSpec(BaseModel):
    """The answer's JSON (the whole answer, a fenced block, or the last object in it) must match
    `schema` (JSON Schema; 2020-12 unless it says otherwise; remote $refs are not fetched)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")

    @field_validator("schema_")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        from jsonschema.exceptions import SchemaError

        from rewards.verifiers import MAX_SCHEMA_DEPTH, json_depth, schema_validator, unresolvable_refs

        if json_depth(schema) > MAX_SCHEMA_DEPTH:  # before anything that recurses over it
            raise ValueError(f"the schema nests objects and arrays more than {MAX_SCHEMA_DEPTH} deep")
        if len(json.dumps(schema)) > 50_000:
            raise ValueError("the schema is over 50,000 characters")
        try:
            schema_validator(schema)
            missing = unresolvable_refs(schema)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        except RecursionError:
            raise ValueError("the schema nests too deeply to check") from None
        if missing:
            raise ValueError(f"the schema's $ref {missing[0]!r} does not resolve within the schema "
                             "(remote $refs are never fetched)")
        return schema


VerifierSpec = Annotated[Game24Spec | MathEquivSpec | ExactSpec | RegexSpec | PythonTestsSpec | JsonSchemaSpec,
                         Field(discriminator="type")]
