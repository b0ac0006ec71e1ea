"""`python_tests`: code is pulled from the answer and graded by the tests, in the sandbox."""

from __future__ import annotations

import asyncio

from rewards.python_tests import PythonTestsVerifier, extract_code
from rewards.sandbox import SandboxLimits

TESTS = '''
def check(candidate):
    assert candidate(2, 3) == 5
    assert candidate(-1, 1) == 0
'''
LIMITS = SandboxLimits(cpu_s=2, wall_s=4.0)


def verifier(**kw) -> PythonTestsVerifier:
    return PythonTestsVerifier(TESTS, "add", limits=LIMITS, **kw)


def test_extract_code_takes_the_last_fenced_block():
    text = ("First try:\n```python\ndef add(a, b): return 0\n```\n"
            "Fixed:\n```python\ndef add(a, b):\n    return a + b\n```\nDone.")
    assert extract_code(text) == "def add(a, b):\n    return a + b\n"
    assert extract_code("```\nprint(1)\n```") == "print(1)\n"
    assert extract_code("def f():\n    return 1") == "def f():\n    return 1"
    assert extract_code("The answer is 42.") is None


async def test_correct_code_passes():
    v = await verifier().check("```python\ndef add(a, b):\n    return a + b\n```")
    assert v.passed and v.score == 1.0


async def test_wrong_code_fails_with_feedback_a_revision_can_use():
    v = await verifier().check("```python\ndef add(a, b):\n    return a - b\n```")
    assert not v.passed and "AssertionError" in v.feedback and "candidate(2, 3) == 5" in v.feedback
    assert v.wellformed  # it ran: a real attempt, wrong


async def test_code_that_does_not_compile_is_malformed_and_says_where():
    v = await verifier().check("```python\ndef add(a, b)\n    return a + b\n```")
    assert not v.passed and not v.wellformed
    assert "SyntaxError" in v.feedback and "line " in v.feedback


async def test_exiting_early_is_not_a_pass():
    v = await verifier().check("```python\nimport sys\nprint('tests-passed')\nsys.exit(0)\n```")
    assert not v.passed


async def test_non_terminating_code_fails_in_time():
    v = await verifier().check("```python\ndef add(a, b):\n    while True:\n        pass\n```")
    assert not v.passed


async def test_answer_without_code_fails():
    v = await verifier().check("I think it is a + b.")
    assert not v.passed and "no Python code" in v.feedback and not v.wellformed


async def test_plain_assert_tests_without_entry_point():
    v = PythonTestsVerifier("assert square(4) == 16", limits=LIMITS)
    assert (await v.check("```py\ndef square(x):\n    return x * x\n```")).passed
    assert not (await v.check("```py\ndef square(x):\n    return x + x + 1\n```")).passed


async def test_code_whose_children_go_past_the_runs_memory_is_a_resource_failure_even_when_the_tests_pass():
    # Two children of 400 MB beside tests that pass: each fits a process's own limit, not the run's 448 MB.
    hog = ("import time\\npages = bytearray(400 * 2**20)\\n"
           "for i in range(0, len(pages), 4096): pages[i] = 1\\ntime.sleep(1)")
    code = ("```python\nimport multiprocessing.util, os, sys\n"
            f"pids = [multiprocessing.util.spawnv_passfds(os.fsencode(sys.executable), [sys.executable, '-I', '-S', "
            f"'-c', '{hog}'], []) for _ in range(2)]\n"
            "print([os.waitpid(pid, 0)[1] for pid in pids])\n"
            "def add(a, b):\n    return a + b\n```")
    v = await PythonTestsVerifier(TESTS, "add", limits=SandboxLimits(cpu_s=2, wall_s=6.0, memory_mb=448)).check(code)
    assert not v.passed and "memory limit" in v.feedback, v.feedback


async def test_each_run_is_reported_to_the_hook():
    slots, seen = asyncio.Semaphore(1), []
    v = verifier(slots=slots, on_result=seen.append)
    good = "```python\ndef add(a, b):\n    return a + b\n```"
    verdicts = await asyncio.gather(*(v.check(good) for _ in range(3)))
    assert all(x.passed for x in verdicts) and len(seen) == 3 and all(r.exit_code == 0 for r in seen)


def test_printed_answer_is_the_last_line_without_float_noise():
    from rewards.python_tests import printed_answer

    assert printed_answer("step 1\n17.999999999999996\n") == "18"
    assert printed_answer("1430.0") == "1430" and printed_answer("0.8") == "0.8"
    assert printed_answer("The answer is 5\n") == "The answer is 5" and printed_answer("  \n") is None


async def test_program_answer_runs_the_code_in_the_sandbox():
    from rewards.python_tests import program_answer

    seen = []
    assert await program_answer("```python\nx = 3 * 4\nprint(x / 2)\n```", LIMITS, on_result=seen.append) == "6"
    assert await program_answer("```python\nraise SystemExit(3)\n```", LIMITS) is None
    assert await program_answer("no code here", LIMITS) is None and len(seen) == 1


async def test_a_program_that_does_not_compile_is_not_run():
    from rewards.python_tests import compiles, program_answer

    seen = []
    assert await program_answer("```python\nx = (2/3)x - 2\nprint(x)\n```", LIMITS, on_result=seen.append) is None
    assert await program_answer("```python\nThe answer is \\boxed{4}", LIMITS, on_result=seen.append) is None
    assert seen == []  # no sandbox was started for either
    assert compiles("print(1)") and not compiles("print(") and not compiles("x = 1\x00")
