"""The json_schema verifier: finds the answer's JSON and checks it against the schema."""

from __future__ import annotations

import pytest
from jsonschema.exceptions import SchemaError

from rewards.verifiers import JsonSchemaVerifier, extract_json, schema_validator
from rewards.worker import KillableWorker

PERSON = {"type": "object", "required": ["name", "age"], "additionalProperties": False,
          "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}}


def test_json_is_found_whole_fenced_or_inline():
    assert extract_json('{"a": 1}') == (True, {"a": 1})
    assert extract_json('Here:\n```json\n{"a": 1}\n```\nand later\n```json\n[2]\n```') == (True, [2])
    assert extract_json('The record is {"a": {"b": [1, 2]}} as asked.') == (True, {"a": {"b": [1, 2]}})
    assert extract_json("no json { here") == (False, None)


@pytest.fixture
async def worker():
    worker = KillableWorker()
    yield worker
    await worker.aclose()


async def test_a_matching_answer_passes_and_a_wrong_one_says_where(worker):
    verifier = JsonSchemaVerifier(PERSON, worker)
    ok = await verifier.check('Sure:\n```json\n{"name": "Ada", "age": 36}\n```')
    assert ok.passed and ok.score == 1.0
    wrong = await verifier.check('{"name": "Ada", "age": -1}')
    assert not wrong.passed and wrong.feedback.endswith("at age: -1 is less than the minimum of 0")
    extra = await verifier.check('{"name": "Ada", "age": 3, "x": 1}')
    assert not extra.passed and "'x' was unexpected" in extra.feedback
    assert (await verifier.check("I don't know")).feedback == "no JSON value was found in the answer"


def test_invalid_schemas_are_refused():
    with pytest.raises(SchemaError):
        schema_validator({"type": "no-such-type"})
    assert schema_validator({"type": "integer"}).is_valid(3)
