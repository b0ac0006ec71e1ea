"""Hostile verifier specs cannot freeze the server, reach the network, or crash request validation."""

from __future__ import annotations

import asyncio
import http.server
import itertools
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import ValidationError

from app.protocol.verifier_specs import JsonSchemaSpec, RegexSpec
from rewards.verdict import Verdict
from rewards.verifiers import JsonSchemaVerifier, RegexVerifier, check_json
from rewards.worker import KillableWorker

T = TypeVar("T")

CATASTROPHIC = r"^(\S+\s*)*\u0000$"  # exponential backtracking in Python's re on a run of non-spaces


@pytest.fixture
async def worker() -> AsyncIterator[KillableWorker]:
    worker = KillableWorker()
    yield worker
    await worker.aclose()


async def with_ticker(check: Awaitable[T]) -> tuple[T, float]:
    """`check`'s result and the longest the event loop went without running another coroutine."""
    ticks = [time.monotonic()]

    async def tick() -> None:
        while True:
            await asyncio.sleep(0.05)
            ticks.append(time.monotonic())

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)  # the ticker is running before the check starts
    try:
        result = await check
    finally:
        ticker.cancel()
    ticks.append(time.monotonic())
    return result, max(b - a for a, b in itertools.pairwise(ticks))


def anyof_chain(depth: int) -> dict[str, Any]:
    """A small schema whose check doubles per level: every anyOf branch fails, so both are tried."""
    defs: dict[str, Any] = {"d0": {"type": "string"}}
    for level in range(1, depth + 1):
        below = {"$ref": f"#/$defs/d{level - 1}"}
        defs[f"d{level}"] = {"anyOf": [below, dict(below)]}
    return {"$defs": defs, "$ref": f"#/$defs/d{depth}"}


def nested_not(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer"}
    for _ in range(depth):
        schema = {"not": schema}
    return schema


# --- regex -----------------------------------------------------------------------------------

async def test_a_catastrophic_pattern_is_accepted_and_checked_without_blocking_the_loop():
    RegexSpec.model_validate({"type": "regex", "pattern": CATASTROPHIC})  # RE2 reads \u0000 as Python does
    verifier = RegexVerifier(CATASTROPHIC)
    started = time.monotonic()
    # Python's re backtracks for seconds on 27 letters (doubling per letter); RE2 is linear.
    verdict, longest_gap = await with_ticker(verifier.check("a" * 27))
    assert not verdict.passed and verdict.feedback.startswith("the answer does not match")
    assert longest_gap < 1.0
    assert time.monotonic() - started < 5.0
    assert (await verifier.check("a b \u0000")).passed  # the same pattern still matches what it should


async def test_ordinary_patterns_still_match_with_pythons_escapes():
    assert (await RegexVerifier(r"^\d+(\.\d+)?$").check("3.25")).passed
    assert (await RegexVerifier(r"caf\u00e9\Z").check("a café")).passed
    assert not (await RegexVerifier(r"caf\u00e9\Z").check("a café!")).passed
    assert (await RegexVerifier(r"\\u0041").check(r"a literal \u0041")).passed  # an escaped backslash stays one
    assert not (await RegexVerifier(r"\\u0041").check("A")).passed


@pytest.mark.parametrize("pattern", [r"(a)\1", r"foo(?=bar)", r"(?<!x)y", r"a{1001}"])
def test_patterns_re2_cannot_match_are_refused_at_validation(pattern):
    with pytest.raises(ValidationError) as refused:
        RegexSpec.model_validate({"type": "regex", "pattern": pattern})
    error = refused.value.errors()[0]
    assert error["loc"] == ("pattern",) and "RE2" in error["msg"]


# --- json_schema: time -----------------------------------------------------------------------

async def test_an_exponential_schema_times_out_into_a_failed_check_and_its_worker_is_killed(worker):
    schema = anyof_chain(22)
    JsonSchemaSpec.model_validate({"type": "json_schema", "schema": schema})  # small, valid, local refs
    pid = await worker.run(os.getpid, timeout_s=30)
    verifier = JsonSchemaVerifier(schema, worker, timeout_s=1.0)
    started = time.monotonic()
    verdict, longest_gap = await with_ticker(verifier.check("1"))
    assert verdict == Verdict.fail("the json_schema check timed out after 1 s")
    assert longest_gap < 1.0
    assert time.monotonic() - started < 20.0  # the 1 s limit plus a fresh worker's start on a busy machine
    assert await _gone(pid), "the stuck worker process was left running"
    # The same request's schema is not run again; a fresh worker serves the next schema.
    assert (await verifier.check("2")).feedback == verdict.feedback
    assert (await JsonSchemaVerifier({"type": "integer"}, worker).check("7")).passed


async def test_a_cancelled_check_kills_its_worker(worker):
    # A client that disconnects cancels its search; a stuck check must not keep the worker busy.
    assert (await JsonSchemaVerifier({"type": "integer"}, worker).check("1")).passed  # warm
    pid = await worker.run(os.getpid, timeout_s=30)
    hostile = asyncio.create_task(JsonSchemaVerifier(anyof_chain(26), worker, timeout_s=60).check("1"))
    await asyncio.sleep(1.0)
    hostile.cancel()
    with pytest.raises(asyncio.CancelledError):
        await hostile
    assert await _gone(pid), "the cancelled check's worker was left running"
    assert (await JsonSchemaVerifier({"type": "integer"}, worker).check("2")).passed


async def _gone(pid: int) -> bool:
    for _ in range(100):
        try:
            if "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text():
                return True  # a zombie: dead, waiting to be reaped
        except FileNotFoundError:
            return True  # reaped (it may vanish between a check and a read)
        await asyncio.sleep(0.05)
    return False


# --- json_schema: no remote $ref -------------------------------------------------------------

@pytest.fixture
def internal_server() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server (the SSRF target): its base URL and the paths it was asked for."""
    requested: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requested.append(self.path)
            body = b'{"type": "string", "description": "internal"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requested
    finally:
        server.shutdown()
        server.server_close()


async def test_a_remote_ref_is_never_fetched(internal_server, worker):
    base, requested = internal_server
    for schema in ({"$ref": f"{base}/x.json"}, {"$id": f"{base}/root.json", "$ref": "x.json"}):
        with pytest.raises(ValidationError) as refused:
            JsonSchemaSpec.model_validate({"type": "json_schema", "schema": schema})
        assert "does not resolve within the schema" in str(refused.value)
        verdict = await JsonSchemaVerifier(schema, worker).check('"a string"')
        assert not verdict.passed and "does not resolve within the schema" in verdict.feedback
    assert requested == []


async def test_refs_within_the_schema_and_to_the_meta_schema_still_resolve(worker):
    bundled = {"$defs": {"n": {"$id": "https://example.com/n.json", "type": "integer"}},
               "properties": {"n": {"$ref": "https://example.com/n.json"}, "m": {"$ref": "#/$defs/n"},
                              "s": {"$ref": "https://json-schema.org/draft/2020-12/schema"}}}
    JsonSchemaSpec.model_validate({"type": "json_schema", "schema": bundled})
    verifier = JsonSchemaVerifier(bundled, worker)
    assert (await verifier.check('{"n": 1, "m": 2, "s": {"type": "string"}}')).passed
    assert not (await verifier.check('{"n": "one"}')).passed


# --- json_schema: depth ----------------------------------------------------------------------

def test_a_900_deep_schema_is_refused_at_validation():
    with pytest.raises(ValidationError) as refused:
        JsonSchemaSpec.model_validate({"type": "json_schema", "schema": nested_not(900)})
    assert "more than 32 deep" in str(refused.value)
    JsonSchemaSpec.model_validate({"type": "json_schema", "schema": nested_not(30)})  # within the limit


def test_deep_schemas_and_answers_fail_the_check_rather_than_raise():
    too_deep = Verdict.fail("the schema or the answer's JSON nests too deeply to check")
    assert check_json(nested_not(5000), "1") == too_deep
    # json.loads gives up on the whole text (RecursionError); a shallower inner array is found instead
    verdict = check_json({"type": "object"}, "[" * 10_000 + "]" * 10_000)
    assert not verdict.passed and verdict.feedback.startswith("the JSON does not match the schema")
