"""Tests a model writes for a function, run with the client's on many candidates in one sandbox run.

The client's `python_tests` stay the authority (rewards.python_tests checks each candidate on its
own). Here they are split into units (each top-level statement of the tests, or of `check`'s body),
so that a candidate's run says how many it passed and what the first failing one got, and beside
them run the assert lines the model wrote (CodeT, Chen et al. 2022). Each generated test's call of
the function is evaluated on its own too: what it returned (a digest) is the candidate's behaviour
on that input, which groups candidates that behave alike (AlphaCode's clustering; MBR-exec).

A generated test that calls the function as one of the client's examples does but expects another
value contradicts the client and is dropped. Model text is only parsed here (`ast`); every run is
in the sandbox, each unit under a one-second alarm, a candidate's prints discarded.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rewards.python_tests import compile_error, extract_code, finished_run
from rewards.sandbox import SandboxLimits, SandboxResult
from rewards.thinking import ReasoningParser, final_text

MAX_TESTS = 32  # generated tests kept from one text
TEST_CHARS = 300  # a longer assert line is not a unit test
FAILURE_CHARS = 600


@dataclass(frozen=True)
class Unit:
    """One statement of a test suite: its source, the call it checks (its subject), and how it reads in
    feedback. A statement with no assert in it (an import, a loop variable) runs but is not counted."""

    source: str
    subject: str | None
    shown: str
    counted: bool


@dataclass(frozen=True)
class SuiteRun:
    """One candidate's run (search.protocols.CandidateRun)."""

    client_passed: int
    client_total: int
    client_failure: str  # the first failing client test and what it got; "" when none failed
    generated: tuple[bool, ...]
    generated_failure: tuple[str, ...]  # for each generated test, what it got ("" where it passed)
    outputs: tuple[str, ...]  # for each generated test, a digest of what its call returned or raised


def _calls(node: ast.AST, names: set[str]) -> list[ast.Call]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
            and n.func.id in names]


def _unit(statement: ast.stmt, names: set[str], shown_as: str | None) -> Unit:
    calls = _calls(statement, names)
    shown = statement
    if shown_as is not None:  # HumanEval's `candidate(...)` reads as the function's own name in feedback
        shown = ast.parse(ast.unparse(statement)).body[0]
        for call in _calls(shown, {"candidate"}):
            call.func = ast.Name(id=shown_as, ctx=ast.Load())
    defines = isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))  # defining is no test
    counted = not defines and any(isinstance(n, ast.Assert) for n in ast.walk(statement))
    return Unit(source=ast.unparse(statement), subject=ast.unparse(calls[0]) if calls else None,
                shown=ast.unparse(shown)[:TEST_CHARS], counted=counted)


def client_units(tests: str, entry_point: str | None) -> tuple[str, tuple[Unit, ...]]:
    """The client's tests as (setup, units): with a `check(candidate)` function its body's statements
    are the units and the rest of the module the setup; else each top-level statement is a unit."""
    module = ast.parse(tests)
    check = next((s for s in module.body if isinstance(s, ast.FunctionDef) and s.name == "check"), None)
    function = function_under_test(tests, entry_point)
    names = {"candidate"} | ({function} if function else set())
    if check is not None and entry_point:
        setup = "\n".join(ast.unparse(s) for s in module.body if s is not check)
        return setup, tuple(_unit(s, names, entry_point) for s in check.body)
    return "", tuple(_unit(s, names, None) for s in module.body)


def function_under_test(tests: str, entry_point: str | None) -> str | None:
    """The function the client's tests call: the entry point, else the first name a plain assert calls."""
    if entry_point:
        return entry_point
    for statement in ast.parse(tests).body:
        if isinstance(statement, ast.Assert):
            for call in ast.walk(statement):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and not hasattr(
                        builtins, call.func.id):
                    return call.func.id
    return None


def _expectation(statement: ast.stmt, names: set[str]) -> tuple[str, object] | None:
    """(the call, the literal value expected of it) for `assert f(x) == v` (either side) or `assert f(x) is
    None` (True, False), else None."""
    if not isinstance(statement, ast.Assert) or not isinstance(statement.test, ast.Compare):
        return None
    test = statement.test
    if len(test.ops) != 1 or not (isinstance(test.ops[0], ast.Eq) or (
            isinstance(test.ops[0], ast.Is) and isinstance(test.comparators[0], ast.Constant))):
        return None
    for call, value in ((test.left, test.comparators[0]), (test.comparators[0], test.left)):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in names:
            try:
                expected = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                return None
            key = ast.dump(ast.Call(func=ast.Name(id="f", ctx=ast.Load()), args=call.args, keywords=call.keywords))
            return key, expected
    return None


def parse_generated(text: str, function: str, client: Sequence[Unit]) -> tuple[tuple[str, ...], int]:
    """The assert lines in a model's text that call `function` (deduplicated, at most MAX_TESTS), and
    how many were dropped for contradicting the client's examples (same call, another expected value)."""
    names = {function, "candidate"}
    examples: dict[str, list[object]] = {}
    for unit in client:
        try:
            found = _expectation(ast.parse(unit.source).body[0], names)
        except SyntaxError:
            continue
        if found is not None:
            examples.setdefault(found[0], []).append(found[1])
    kept: dict[str, str] = {}
    dropped = 0
    for line in (extract_code(text) or text).splitlines():
        line = line.strip()
        if not line.startswith("assert ") or len(line) > TEST_CHARS or len(kept) >= MAX_TESTS:
            continue
        try:
            body = ast.parse(line).body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue  # a line cut at the token cap, or not Python
        if len(body) != 1 or not isinstance(body[0], ast.Assert) or not _calls(body[0], {function}):
            continue
        found = _expectation(body[0], names)
        if found is not None and found[0] in examples and not _agrees(found[1], examples[found[0]]):
            dropped += 1
            continue
        kept.setdefault(ast.dump(body[0]), ast.unparse(body[0]))
    return tuple(kept.values()), dropped


def generated_units(tests: Sequence[str], function: str) -> tuple[Unit, ...]:
    """Generated tests (as parse_generated keeps them) as units."""
    units = []
    for test in tests:
        try:
            body = ast.parse(test).body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            body = []
        # One unit per test, in order (a run's verdicts are read by position): one that is not a single
        # statement fails on every candidate.
        units.append(_unit(body[0], {function}, None) if len(body) == 1 else
                     Unit(source="raise SyntaxError('not one statement')", subject=None, shown=test[:TEST_CHARS],
                          counted=True))
    return tuple(units)


def _agrees(value: object, expected: Sequence[object]) -> bool:
    try:
        return all(bool(value == e) for e in expected)
    except Exception:  # literals compare; anything odd is no proof of agreement
        return False


_HARNESS = '''

def _ponder_run_tests():
    import hashlib as _hashlib
    import json as _json
    import signal as _signal
    import sys as _sys
    import traceback as _traceback

    class _Discard:
        def write(self, text):
            return len(text)

        def flush(self):
            pass

    def _alarm(signum, frame):
        raise TimeoutError("the test took more than a second")

    _signal.signal(_signal.SIGALRM, _alarm)
    spec = _json.loads({spec!r})
    stdout, results = _sys.stdout, []

    def timed(run, seconds=1.0):
        _signal.setitimer(_signal.ITIMER_REAL, seconds)
        try:
            return run()
        finally:
            _signal.setitimer(_signal.ITIMER_REAL, 0)

    def failure(unit, scope, exc, code):
        if isinstance(exc, AssertionError) and unit["subject"]:
            try:
                got = "returned " + repr(timed(lambda: eval(unit["subject"], scope)))[:200]
            except BaseException as again:
                got = "raised " + type(again).__name__
            return unit["shown"] + "  # the call " + got
        if isinstance(exc, TimeoutError):
            return unit["shown"] + "  # did not finish within a second"
        said = unit["shown"] + "  # raised " + type(exc).__name__ + ": " + str(exc)[:200]
        frames = [f for f in _traceback.extract_tb(exc.__traceback__) if f.filename == "solution.py"]
        lines = code.splitlines()
        if frames and frames[-1].lineno and 0 < frames[-1].lineno <= len(lines):
            said += " (line " + str(frames[-1].lineno) + " of the code: " + lines[frames[-1].lineno - 1].strip() + ")"
        return said

    def run_unit(unit, scope, state, code):
        if state["slow"]:
            return False, unit["shown"] + "  # not run: an earlier test took too long"
        try:
            timed(lambda: exec(unit["source"], scope))
            return True, ""
        except BaseException as exc:
            state["slow"] = isinstance(exc, TimeoutError)
            return False, failure(unit, scope, exc, code)

    def output(unit, scope, state):
        if state["slow"]:
            return ""
        try:
            value = timed(lambda: repr(eval(unit["subject"], scope)))
        except BaseException as exc:
            value = "raised " + type(exc).__name__
        return _hashlib.sha1(value.encode("utf-8", "replace")).hexdigest()[:12]

    for code in spec["candidates"]:
        _sys.stdout = _Discard()
        scope = {{"__name__": "__main__"}}
        result = {{"client": [], "client_failure": "", "generated": [], "generated_failure": [], "outputs": []}}
        state = {{"slow": False}}
        try:
            timed(lambda: exec(spec["prelude"], scope), 2.0)
            timed(lambda: exec(compile(code, "solution.py", "exec"), scope), 2.0)
            loaded = True
        except BaseException as exc:
            loaded = False
            result["client_failure"] = "the code did not load: " + type(exc).__name__ + ": " + str(exc)[:200]
        client = dict(scope)
        if loaded and spec["setup"]:
            try:
                timed(lambda: exec(spec["setup"], client))
            except BaseException:
                pass
        client["candidate"] = scope.get(spec["function"])
        for unit in spec["client"]:
            passed, why = run_unit(unit, client, state, code) if loaded else (False, "")
            if unit["counted"]:
                result["client"].append(passed)
                if not passed and not result["client_failure"]:
                    result["client_failure"] = why
        for unit in spec["generated"]:
            mine = dict(scope)
            passed, why = run_unit(unit, mine, state, code) if loaded else (False, "")
            result["generated"].append(passed)
            result["generated_failure"].append(why)
            result["outputs"].append(output(unit, mine, state) if loaded else "")
        results.append(result)
    _sys.stdout = stdout
    print({marker!r} + _json.dumps(results))


_ponder_run_tests()
'''


def _as_dict(unit: Unit) -> dict[str, object]:
    return {"source": unit.source, "subject": unit.subject, "shown": unit.shown, "counted": unit.counted}


def harness(codes: Sequence[str], function: str | None, prelude: str, setup: str, client: Sequence[Unit],
            generated: Sequence[Unit], marker: str) -> str:
    """The script the sandbox runs: every candidate loaded in a scope of its own, the client's units and
    the generated ones run on it, the results printed after `marker` as one JSON line."""
    spec = {"candidates": list(codes), "function": function, "prelude": prelude, "setup": setup,
            "client": [_as_dict(u) for u in client], "generated": [_as_dict(u) for u in generated]}
    return _HARNESS.format(spec=json.dumps(spec), marker=marker)


def read_runs(stdout: str, marker: str, candidates: int) -> list[SuiteRun] | None:
    line = next((ln for ln in reversed(stdout.splitlines()) if ln.startswith(marker)), None)
    if line is None:
        return None
    try:
        found = json.loads(line[len(marker):])
        runs = [SuiteRun(client_passed=sum(bool(v) for v in r["client"]), client_total=len(r["client"]),
                        client_failure=str(r["client_failure"])[:FAILURE_CHARS],
                        generated=tuple(bool(v) for v in r["generated"]),
                        generated_failure=tuple(str(f)[:FAILURE_CHARS] for f in r["generated_failure"]),
                        outputs=tuple(str(o) for o in r["outputs"])) for r in found]
    except (ValueError, KeyError, TypeError):
        return None
    return runs if len(runs) == candidates else None


@dataclass(frozen=True)
class SandboxCodeTests:
    """search.protocols.CodeTests over the sandbox, for one request's `python_tests` verifier."""

    tests: str
    entry_point: str | None = None
    prelude: str = ""
    limits: SandboxLimits = SandboxLimits(cpu_s=20, wall_s=30.0)
    slots: asyncio.Semaphore | None = None
    on_result: Callable[[SandboxResult], None] | None = None
    reasoning_parser: ReasoningParser = "auto"

    @property
    def function(self) -> str | None:
        try:
            return function_under_test(self.tests, self.entry_point)
        except (SyntaxError, ValueError, RecursionError):
            return None

    def _client(self) -> tuple[str, tuple[Unit, ...]]:
        try:
            return client_units(self.tests, self.entry_point)
        except (SyntaxError, ValueError, RecursionError):  # the tests compile (checked at the request), but
            return "", ()  # a suite this cannot split is left to the verifier alone

    async def generated_tests(self, text: str) -> tuple[tuple[str, ...], int]:
        function = self.function
        if function is None:
            return (), 0
        client = (await asyncio.to_thread(self._client))[1]
        return await asyncio.to_thread(parse_generated, final_text(text, self.reasoning_parser), function, client)

    async def run(self, candidates: Sequence[str], tests: Sequence[str]) -> list[SuiteRun | None]:
        """Each candidate's run on the client's units and `tests`: one sandbox run for all of them, and
        where that run breaks (one candidate exits the process, or exhausts it) one run each."""
        codes = [await asyncio.to_thread(_code, final_text(c, self.reasoning_parser)) for c in candidates]
        loadable = [i for i, c in enumerate(codes) if c is not None]
        out: list[SuiteRun | None] = [None] * len(candidates)
        if not loadable:
            return out
        together = await self._run([codes[i] or "" for i in loadable], tests)
        if together is None and len(loadable) > 1:
            alone = await asyncio.gather(*(self._run([codes[i] or ""], tests) for i in loadable))
            for i, runs in zip(loadable, alone, strict=True):
                out[i] = runs[0] if runs else None
        for i, run in zip(loadable, together or (), strict=False):
            out[i] = run
        return out

    async def _run(self, codes: Sequence[str], tests: Sequence[str]) -> list[SuiteRun] | None:
        setup, client = await asyncio.to_thread(self._client)
        function = self.function
        units = generated_units(tests, function) if function is not None else ()
        marker = f"ponder-tests-{secrets.token_hex(8)}:"
        program = harness(codes, function, self.prelude, setup, client, units, marker)
        result = await finished_run(program, self.limits, self.slots, self.on_result)
        return None if result is None else read_runs(result.stdout, marker, len(codes))


def _code(text: str) -> str | None:
    code = extract_code(text)
    return code if code is not None and compile_error(code) is None else None
