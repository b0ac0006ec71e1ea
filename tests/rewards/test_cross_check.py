"""Intermediate quantities of chains and programs (rewards.cross_check)."""

from __future__ import annotations

from fractions import Fraction as F

from rewards.cross_check import chain_quantities, program_quantities, shared


def test_a_chain_gives_the_computed_value_of_each_stated_computation_right_or_wrong():
    text = "He earns 12 * $9.50 = $114 a day. In 5 days: 114 * 5 = 575 dollars."  # 570, stated wrong
    assert chain_quantities(text) == {F(114), F(570)}
    assert chain_quantities("The answer is 42.") == set()


def test_a_program_gives_its_computed_assignments_in_order_not_its_literals():
    code = """```python
def solution():
    price = 9.5
    boxes = 12
    total = price * boxes
    total -= 3 * price
    share: float = round(total / 4, 2)
    whole = int(total // 10) % 7
    biggest = max(total, 100)
    return total
print(solution())
```"""
    assert program_quantities(code) == {F(114), F(171, 2), F("21.38"), F(1), F(100)}


def test_floats_read_as_their_decimal_text_and_unknown_names_are_skipped():
    assert program_quantities("x = 0.1 * 3\ny = unknown * 2\nz = y + 1\nw = -5") == {F(3, 10)}
    # a name re-bound to something unreadable loses its old value
    assert program_quantities("a = 2 + 2\na = input()\nb = a * 3") == {F(4)}


def test_what_is_not_read_never_runs_and_bad_programs_give_nothing(tmp_path):
    marker = tmp_path / "ran"
    code = (f"import pathlib\npathlib.Path({str(marker)!r}).write_text('x')\nx = len('abc') + 1\n"
            f"open({str(marker)!r}, 'w')")
    assert program_quantities(code) == set() and not marker.exists()
    assert program_quantities("x = 2 ** 10000\ny = 1 / 0\nz = 10 ** 3") == {F(1000)}
    assert program_quantities("def broken(:\n") == set()
    assert program_quantities("x = float('nan') + 1\ny = 1e308 * 10\nz = round(2.5, 1.5)") == set()


def test_a_name_bound_in_a_loop_a_branch_a_tuple_or_a_parameter_loses_its_value():
    loop = "total = 0\nfor x in [3, 4]:\n    total += x\navg = total / 2 + 1"
    assert program_quantities(loop) == set()  # total is not 0 after the loop
    assert program_quantities("a = 2 + 3\na, b = 7, 8\nc = a * 2") == {F(5)}
    assert program_quantities("a = 2 * 3\nb = a = 7 * 1\nc = a + 1") == {F(6)}
    assert program_quantities("a = 2 * 3\nif a > 1:\n    a = 10 * 2\nc = a + 1") == {F(6)}
    assert program_quantities("price = 5\ndef cost(price):\n    total = price * 2\n    return total") == set()
    # copies and casts of literals are not computed values
    assert program_quantities("x = 5\ny = x\nz = float(5)\nw = -x") == set()


def test_shared_leaves_out_the_final_answer():
    assert shared({F(114), F(85.5)}, {F(114), F(85.5), F(3)}, besides=F(85.5)) == {F(114)}
    assert shared({F(1)}, {F(2)}) == set()
