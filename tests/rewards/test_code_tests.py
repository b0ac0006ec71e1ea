"""Model-written tests for a function: parsed here, run with the client's on many candidates in the sandbox."""

from __future__ import annotations

from rewards.code_tests import SandboxCodeTests, client_units, function_under_test, parse_generated
from rewards.sandbox import SandboxLimits

CLIENT = '''
def check(candidate):
    assert candidate([1, 3, 2]) == 2
    assert candidate([5, 1]) == 1
'''
LIMITS = SandboxLimits(cpu_s=10, wall_s=20.0)
SORTED = "```python\ndef second_largest(xs):\n    return sorted(xs)[-2]\n```"
DISTINCT = ("```python\ndef second_largest(xs):\n    s = sorted(set(xs))\n"
            "    return s[-2] if len(s) > 1 else None\n```")
DISTINCT_TOO = ("```python\ndef second_largest(xs):\n    u = sorted(set(xs), reverse=True)\n"
                "    return u[1] if len(u) >= 2 else None\n```")
MAXIMUM = "```python\ndef second_largest(xs):\n    return max(xs)\n```"


def suite() -> SandboxCodeTests:
    return SandboxCodeTests(CLIENT, "second_largest", limits=LIMITS)


def test_a_generated_test_that_contradicts_a_client_example_is_dropped():
    _, client = client_units(CLIENT, "second_largest")
    text = ("```python\nassert second_largest([3, 3]) is None\n"
            "assert second_largest([1, 3, 2]) == 3\n"  # the client says 2
            "assert second_largest([5, 1]) is None\n"  # the client says 1
            "assert second_largest([1, 3, 2]) == 2\n"  # agrees with the client: kept
            "assert 2 == second_largest([5, 1, 1])\n"
            "assert second_largest([3, 3]) is None\n"  # a repeat
            "assert sorted([2, 1]) == [1, 2]\n"  # does not test the function
            "print(second_largest([1]))\n"
            "assert second_largest([4,\n```")  # cut at the token cap
    kept, dropped = parse_generated(text, "second_largest", client)
    assert dropped == 2
    assert kept == ("assert second_largest([3, 3]) is None", "assert second_largest([1, 3, 2]) == 2",
                    "assert 2 == second_largest([5, 1, 1])")


def test_the_function_under_test_is_the_entry_point_or_what_plain_asserts_call():
    assert function_under_test(CLIENT, "second_largest") == "second_largest"
    assert function_under_test("assert len(xs) == 0 or True\nassert square(3) == 9", None) == "square"
    units = client_units(CLIENT, "second_largest")[1]
    assert [u.shown for u in units] == ["assert second_largest([1, 3, 2]) == 2", "assert second_largest([5, 1]) == 1"]


async def test_candidates_run_together_with_counts_failures_and_behaviour():
    tests = ("assert second_largest([3, 3]) is None", "assert second_largest([]) is None")
    runs = await suite().run([SORTED, DISTINCT, MAXIMUM, DISTINCT_TOO, "no code at all"], tests)
    by_sorted, distinct, maximum, distinct_too, none = runs
    assert none is None
    assert (by_sorted.client_passed, by_sorted.client_total, by_sorted.generated) == (2, 2, (False, False))
    assert by_sorted.generated_failure[0] == "assert second_largest([3, 3]) is None  # the call returned 3"
    assert "raised IndexError" in by_sorted.generated_failure[1]
    assert "return sorted(xs)[-2]" in by_sorted.generated_failure[1]  # the line of the code that raised
    assert distinct.generated == (True, True) and distinct.client_failure == ""
    assert maximum.client_passed == 0 and maximum.client_failure == (
        "assert second_largest([1, 3, 2]) == 2  # the call returned 3")
    # Two ways of writing the same function behave alike; the others do not.
    assert distinct.outputs == distinct_too.outputs != by_sorted.outputs


async def test_one_candidate_that_ends_the_process_costs_the_others_nothing():
    quits = "```python\nimport os\ndef second_largest(xs):\n    os._exit(0)\n```"
    loops = "```python\ndef second_largest(xs):\n    while True:\n        pass\n```"
    runs = await suite().run([DISTINCT, quits, loops], ("assert second_largest([3, 3]) is None",))
    assert runs[0] is not None and runs[0].client_passed == 2 and runs[0].generated == (True,)
    assert runs[1] is None  # run alone it still ends before it reports
    assert runs[2] is not None and runs[2].client_passed == 0 and "within a second" in runs[2].client_failure


async def test_plain_assert_tests_are_units_too():
    runner = SandboxCodeTests("import math\nassert square(3) == 9\nassert square(-2) == 4", None, limits=LIMITS)
    assert runner.function == "square"
    kept, _ = await runner.generated_tests("assert square(0) == 0\nassert square(1.5) == 2.25\n")
    plus = "```python\ndef square(x):\n    return x + x + 3\n```"  # right for 3 only
    right, wrong = await runner.run(["```python\ndef square(x):\n    return x * x\n```", plus], kept)
    assert (right.client_passed, right.client_total, right.generated) == (2, 2, (True, True))
    assert (wrong.client_passed, wrong.client_total) == (1, 2)  # the import is run, not counted
    assert wrong.client_failure == "assert square(-2) == 4  # the call returned -1"
