"""`python_tests`: run a candidate's code against the request's tests, in the sandbox.

The candidate is model output: its last fenced Python block (or the whole text when there
is no fence) is the program. The tests come from the client, HumanEval-style (a
`check(candidate)` function and an `entry_point`) or plain asserts. Nothing here runs in
the server process; `rewards.sandbox` runs it in a limited child.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from rewards.sandbox import SandboxLimits, SandboxResult, SandboxUnavailable, run_sandboxed
from rewards.verdict import Verdict

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)


def extract_code(text: str) -> str | None:
    """The program in a model's answer: the last fenced block that has code, else the raw text."""
    blocks = [b for b in _FENCE.findall(text) if b.strip()]
    if blocks:
        return str(blocks[-1])
    stripped = text.strip()
    return stripped if stripped and ("def " in stripped or "import " in stripped or "print(" in stripped) else None


def build_program(code: str, tests: str, entry_point: str | None, prelude: str = "", marker: str = "passed") -> str:
    """The script the sandbox runs: prelude (e.g. the task's imports), the code, the tests, and
    last a marker line, printed only if the tests ran through (an early `exit(0)` is no pass)."""
    parts = [prelude, code, tests]
    if entry_point:
        parts.append(f"check({entry_point})")
    parts.append(f"print({marker!r})")
    return "\n\n".join(p.rstrip() for p in parts if p.strip()) + "\n"


def _feedback(result: SandboxResult) -> str:
    if result.resource_limit is not None:  # before the exit code: a run that lost a child to it may still exit 0
        return f"the program went past the sandbox's {result.resource_limit} limit for the whole run"
    if result.timed_out:
        return "the tests did not finish in time (an infinite loop or a very slow solution)"
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    if not lines:
        return f"the program exited with code {result.exit_code} before the tests passed"
    # The traceback's tail says what failed; an AssertionError alone gets the failing line too.
    tail = lines[-3:] if lines[-1].startswith("AssertionError") else lines[-1:]
    return "the tests failed: " + " | ".join(s.strip() for s in tail)[:600]


def printed_answer(stdout: str) -> str | None:
    """A program's answer: its last printed line, with float noise removed (17.999999999 is 18)."""
    lines = [ln.strip() for ln in stdout.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    last = lines[-1][:200]
    try:
        value = float(last.replace(",", ""))
    except ValueError:
        return last
    if value != value or value in (float("inf"), float("-inf")):
        return last
    if abs(value - round(value)) < 1e-6:
        return str(round(value))
    return f"{value:.6f}".rstrip("0")


def compile_error(code: str) -> str | None:
    """Why `code` is not valid Python, or None when it compiles: compiling runs nothing, and a
    program that does not compile needs no sandbox to fail."""
    try:
        compile(code, "<program>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"{type(exc).__name__}: {exc.msg} (line {exc.lineno})"
    except (ValueError, RecursionError, MemoryError) as exc:
        return type(exc).__name__
    return None


def compiles(code: str) -> bool:
    """Whether `code` is valid Python (compile_error)."""
    return compile_error(code) is None


async def _run(code: str, limits: SandboxLimits, slots: asyncio.Semaphore | None) -> SandboxResult:
    if slots is None:
        return await run_sandboxed(code, limits=limits)
    async with slots:
        return await run_sandboxed(code, limits=limits)


async def program_answer(text: str, limits: SandboxLimits, slots: asyncio.Semaphore | None = None,
                         on_result: Callable[[SandboxResult], None] | None = None) -> str | None:
    """Run the program in a model's answer in the sandbox; the answer it prints, or None when
    there is no program, it fails, or the sandbox cannot run here (the vote goes on without it)."""
    code = extract_code(text)
    if code is None or not compiles(code):
        return None
    result = await finished_run(code, limits, slots, on_result)
    return printed_answer(result.stdout) if result is not None else None


async def finished_run(code: str, limits: SandboxLimits, slots: asyncio.Semaphore | None = None,
                       on_result: Callable[[SandboxResult], None] | None = None) -> SandboxResult | None:
    """A model-written program's run in the sandbox (under `slots`, reported to `on_result`); None when
    the sandbox cannot run here, or the program failed, was cut at the output cap or hit a resource bound."""
    try:
        result = await _run(code, limits, slots)
    except SandboxUnavailable:
        return None
    if on_result is not None:
        on_result(result)
    if result.exit_code != 0 or result.output_truncated or result.resource_limit is not None:
        return None
    return result


@dataclass(frozen=True)
class PythonTestsVerifier:
    tests: str
    entry_point: str | None = None
    prelude: str = ""
    limits: SandboxLimits = SandboxLimits()
    slots: asyncio.Semaphore | None = None  # bounds concurrent sandboxes (they use real CPU)
    on_result: Callable[[SandboxResult], None] | None = field(default=None, compare=False)

    async def check(self, text: str) -> Verdict:
        code = extract_code(text)
        if code is None:
            return Verdict.malformed("no Python code was found in the answer")
        # The tests and prelude compile (checked when the request came in): a failure here is the answer's.
        if (error := await asyncio.to_thread(compile_error, code)) is not None:
            return Verdict.malformed(f"the code does not compile: {error}")
        marker = f"tests-passed-{secrets.token_hex(8)}"
        program = build_program(code, self.tests, self.entry_point, self.prelude, marker)
        try:
            result = await _run(program, self.limits, self.slots)
        except SandboxUnavailable as exc:
            return Verdict.fail(f"the code was not run: {exc}")
        if self.on_result is not None:
            self.on_result(result)
        if result.exit_code == 0 and result.stdout.rstrip().endswith(marker) and result.resource_limit is None:
            return Verdict.ok("all tests passed")
        return Verdict.fail(_feedback(result))
