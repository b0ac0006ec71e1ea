"""Instruction checks the model writes as code (program-aided verification for open-ended replies).

The model reads a request and writes one `check_*` function per instruction a program can
verify ("at least 3 paragraphs", "all lowercase", "end with 'Any questions?'"), each taking a
reply and returning True or False, its docstring quoting the instruction. Here that program
runs in the sandbox against every candidate reply at once; each check is called under its own
one-second alarm, and one that raises gives no verdict (None) rather than a failure.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rewards.python_tests import compile_error, extract_code, finished_run
from rewards.sandbox import SandboxLimits, SandboxResult


@dataclass(frozen=True)
class CheckedReplies:
    """Each check's description (the instruction it checks), and for each reply each check's
    verdict (None: the check raised or ran out of time on that reply)."""

    checks: tuple[str, ...]
    verdicts: tuple[tuple[bool | None, ...], ...]


MAX_CHECKS = 12  # more than a request's instructions: the rest are the model padding the list
DESCRIPTION_CHARS = 200

# Appended to the model's program: call each check on each reply, print the verdicts after a marker.
_HARNESS = '''

def _ponder_run_checks():
    import json as _json
    import signal as _signal

    def _alarm(signum, frame):
        raise TimeoutError("check took too long")

    _signal.signal(_signal.SIGALRM, _alarm)
    checks = [(name, fn) for name, fn in list(globals().items())
              if name.startswith("check") and callable(fn) and getattr(fn, "__module__", "") == __name__]
    checks = checks[:{max_checks}]
    verdicts = []
    for reply in _json.loads({replies!r}):
        row = []
        for _, fn in checks:
            try:
                _signal.setitimer(_signal.ITIMER_REAL, 1.0)
                row.append(bool(fn(reply)))
            except BaseException:
                row.append(None)
            finally:
                _signal.setitimer(_signal.ITIMER_REAL, 0)
        verdicts.append(row)
    described = [((fn.__doc__ or name).strip().splitlines() or [name])[0] for name, fn in checks]
    print({marker!r} + _json.dumps({{"checks": described, "verdicts": verdicts}}))


_ponder_run_checks()
'''


_REPAIR_HARNESS = '''

def _ponder_run_repair():
    import json as _json

    edited = repair(_json.loads({reply!r}))
    if isinstance(edited, str):
        print({marker!r} + _json.dumps(edited))


_ponder_run_repair()
'''


async def run_repair(text: str, reply: str, limits: SandboxLimits, slots: asyncio.Semaphore | None = None,
                     on_result: Callable[[SandboxResult], None] | None = None) -> str | None:
    """Run the `repair(reply)` function in a model's text on `reply` in the sandbox: the text it returns,
    or None (no runnable program, an error, no text returned, or no sandbox here)."""
    marker = f"ponder-repair-{secrets.token_hex(8)}:"
    code = await asyncio.to_thread(extract_code, text)
    if code is None or "def repair" not in code or await asyncio.to_thread(compile_error, code) is not None:
        return None
    program = code + _REPAIR_HARNESS.format(reply=json.dumps(reply), marker=marker)
    result = await finished_run(program, limits, slots, on_result)
    if result is None:
        return None
    line = next((ln for ln in reversed(result.stdout.splitlines()) if ln.startswith(marker)), None)
    try:
        edited = json.loads(line[len(marker):]) if line is not None else None
    except ValueError:
        return None
    return edited if isinstance(edited, str) and edited.strip() else None


def checks_program(text: str, replies: Sequence[str], marker: str) -> str | None:
    """The script the sandbox runs: the model's check functions, then the harness; None when the
    text holds no program that compiles."""
    code = extract_code(text)
    if code is None or compile_error(code) is not None:
        return None
    return code + _HARNESS.format(max_checks=MAX_CHECKS, replies=json.dumps(list(replies)), marker=marker)


def read_verdicts(stdout: str, marker: str, replies: int) -> CheckedReplies | None:
    """The verdicts the harness printed, or None when there are none (no check, or a broken run)."""
    line = next((ln for ln in reversed(stdout.splitlines()) if ln.startswith(marker)), None)
    if line is None:
        return None
    try:
        found = json.loads(line[len(marker):])
        checks = tuple(str(c)[:DESCRIPTION_CHARS] for c in found["checks"])
        verdicts = tuple(tuple(None if v is None else bool(v) for v in row) for row in found["verdicts"])
    except (ValueError, KeyError, TypeError):
        return None
    if not checks or len(verdicts) != replies or any(len(row) != len(checks) for row in verdicts):
        return None
    return CheckedReplies(checks=checks, verdicts=verdicts)


async def run_checks(text: str, replies: Sequence[str], limits: SandboxLimits,
                     slots: asyncio.Semaphore | None = None,
                     on_result: Callable[[SandboxResult], None] | None = None) -> CheckedReplies | None:
    """Run the check functions in a model's text on every reply in the sandbox (module docstring);
    None when there is no runnable program, no check in it, or the sandbox cannot run here."""
    marker = f"ponder-checks-{secrets.token_hex(8)}:"
    program = await asyncio.to_thread(checks_program, text, replies, marker)
    if program is None or not replies:
        return None
    result = await finished_run(program, limits, slots, on_result)
    if result is None:
        return None
    found = read_verdicts(result.stdout, marker, len(replies))
    return None if found is None else _described(found, text)


_LISTED = re.compile(r"^\s*#\s*(\d+)\.\s*(.+?)\s*$", re.MULTILINE)
_UNDESCRIBED = re.compile(r"check_?(\d+)")


def _described(found: CheckedReplies, text: str) -> CheckedReplies | None:
    """A check without a docstring (described by its name, `check_2`) takes the instruction the
    program listed under its number in a `# 2. ...` comment; one described by neither names no
    instruction (a small model pads its list so) and is dropped. None when no check is left."""
    listed = {int(n): line[:DESCRIPTION_CHARS] for n, line in _LISTED.findall(text)}
    kept: list[tuple[int, str]] = []
    for column, check in enumerate(found.checks):
        match = _UNDESCRIBED.fullmatch(check)
        description = listed.get(int(match.group(1))) if match else check
        if description is not None:
            kept.append((column, description))
    if not kept:
        return None
    return CheckedReplies(checks=tuple(d for _, d in kept),
                          verdicts=tuple(tuple(row[c] for c, _ in kept) for row in found.verdicts))
