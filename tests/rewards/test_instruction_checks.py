"""Model-written instruction checks run in the sandbox on every reply; loops are told from prose."""

from __future__ import annotations

import pytest

from rewards import sandbox
from rewards.degeneration import is_degenerate, loop_chars
from rewards.instruction_checks import checks_program, read_verdicts, run_checks
from rewards.sandbox import SandboxLimits

PROGRAM = '''```python
def check_1(reply):
    """Answer with at least 5 words."""
    return len(reply.split()) >= 5

def check_2(reply):
    """Your entire response should be in lowercase letters."""
    return reply == reply.lower()

def check_3(reply):
    """Wrap your response in double quotes."""
    raise ValueError("a check that breaks")

def check_4(reply):
    """End with 'Is there anything else?'"""
    while True:
        pass
```'''


@pytest.fixture(params=["bwrap", "unsafe-rlimits"])
def limits(request) -> SandboxLimits:
    if (reason := sandbox.sandbox_unavailable(request.param)) is not None:
        pytest.skip(reason)
    return SandboxLimits(wall_s=10.0, mode=request.param)


async def test_each_check_runs_on_each_reply_and_a_broken_check_gives_no_verdict(limits: SandboxLimits) -> None:
    replies = ["this reply has six words here", "Short One", 'quote " and \\ backslash, five words']
    found = await run_checks(PROGRAM, replies, limits)
    assert found is not None
    assert found.checks == ("Answer with at least 5 words.", "Your entire response should be in lowercase letters.",
                            "Wrap your response in double quotes.", "End with 'Is there anything else?'")
    assert found.verdicts == ((True, True, None, None), (False, False, None, None), (True, True, None, None))


async def test_a_check_without_a_docstring_is_described_by_the_instruction_the_program_listed(
        limits: SandboxLimits) -> None:
    program = ("```python\n# The instructions, quoted:\n# 1. Use all capital letters.\n# 2. Mention rain.\n"
               "def check_1(reply):\n    return reply.isupper()\n\n"
               "def check_2(reply):\n    \"\"\"Say rain.\"\"\"\n    return 'rain' in reply.lower()\n```")
    found = await run_checks(program, ["RAIN AGAIN"], limits)
    assert found is not None and found.checks == ("Use all capital letters.", "Say rain.")
    assert found.verdicts == ((True, True),)


async def test_a_program_without_checks_or_that_does_not_compile_gives_none(limits: SandboxLimits) -> None:
    assert await run_checks("```python\nCHECKS = None\n```", ["a reply"], limits) is None
    assert await run_checks("```python\ndef check_1(reply) return True\n```", ["a reply"], limits) is None


def test_verdicts_are_read_only_after_the_marker_and_must_match_the_replies() -> None:
    assert checks_program("no code at all", ["x"], "m:") is None
    printed = 'check_1 says hi\nm:{"checks": ["a"], "verdicts": [[true], [false]]}\n'
    assert read_verdicts(printed, "m:", 2) is not None
    assert read_verdicts(printed, "m:", 3) is None  # a row per reply, or nothing
    assert read_verdicts('x:{"checks": ["a"], "verdicts": [[true]]}', "m:", 1) is None


@pytest.mark.parametrize(("text", "loops"), [
    ("Autumn leaves. " + "a leaf's fate is sealed, " * 12, True),
    ("Autumn leaves. " + "a leaf's fate is sealed, " * 12 + "\nThe end.", True),
    ("." * 200, True),
    ("The sky is blue because air scatters short wavelengths more. " * 2, False),
    ("| a | b |\n| --- | --- |\n| 1 | 2 |\n| 3 | 4 |\n", False),
    ("ha ha ha ha, very funny.", False),
])
def test_a_loop_is_told_from_prose(text: str, loops: bool) -> None:
    assert is_degenerate(text) is loops
    assert (loop_chars(text) >= 120) is loops


async def test_a_repair_program_edits_the_reply_in_the_sandbox(limits: SandboxLimits) -> None:
    from rewards.instruction_checks import run_repair

    program = "```python\ndef repair(reply):\n    return reply.upper() + '\\n\\nP.S. Thanks.'\n```"
    assert await run_repair(program, 'a "quoted" reply', limits) == 'A "QUOTED" REPLY\n\nP.S. Thanks.'
    assert await run_repair("```python\ndef repair(reply):\n    return 3\n```", "x", limits) is None
    assert await run_repair("```python\ndef fix(reply):\n    return reply\n```", "x", limits) is None
    assert await run_repair("```python\ndef repair(reply):\n    raise ValueError\n```", "x", limits) is None


async def test_a_check_that_names_no_instruction_is_dropped(limits: SandboxLimits) -> None:
    program = ("```python\n# 1. Mention rain.\n"
               "def check_1(reply):\n    return 'rain' in reply\n\n"
               "def check_2(reply):\n    return False\n```")
    found = await run_checks(program, ["rain"], limits)
    assert found is not None and found.checks == ("Mention rain.",) and found.verdicts == ((True,),)
    assert await run_checks("```python\ndef check_1(reply):\n    return True\n```", ["x"], limits) is None
