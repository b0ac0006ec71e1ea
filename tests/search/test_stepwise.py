"""How a step-level search reads a sampled step (search.strategies.stepwise.add_children)."""

from __future__ import annotations

from rewards.extraction import extract_answer, last_boxed, normalize_answer
from search.strategies.stepwise import add_children, tree_outcome
from search.tree import STEP_DELIMITER, Tree

from .scripted import FakeGeneration, FakeSample


class Tools:
    def extract(self, text: str) -> str | None:
        return extract_answer(text)

    def boxed_answer(self, text: str) -> str | None:
        return last_boxed(text)


def test_a_step_cut_by_its_token_cap_goes_on_and_only_an_ended_turn_or_a_boxed_answer_ends_the_path():
    tree = Tree()
    steps = FakeGeneration((
        FakeSample("She has 2x/3 left, so \\frac{2", 160, finish_reason="length"),  # a long step, cut
        FakeSample("She sold 12 of them.", 40, stop_reason=STEP_DELIMITER),  # a step, at the delimiter
        FakeSample("So she had 18.", 12),  # the end of the turn
        FakeSample("The answer is \\boxed{18} and more", 160, finish_reason="length"),  # cut, but answered
        FakeSample("so x = \\boxed{\\frac{2", 160, finish_reason="length"),  # cut inside the box
    ), prompt_tokens=10)
    children = add_children(tree, 0, steps, Tools(), max_depth=8)
    assert [c.terminal for c in children] == [False, False, True, True, False]
    assert [c.answer for c in children] == [None, None, "18", "18", None]
    assert children[1].text.endswith(STEP_DELIMITER) and not children[0].text.endswith(STEP_DELIMITER)
    # At the depth limit every path ends, a cut one too.
    deep = add_children(tree, children[0].id, steps, Tools(), max_depth=2)
    assert all(c.terminal for c in deep)


def test_a_path_with_no_text_is_not_shown_while_another_says_something():
    tree = Tree()
    blank = tree.add(0, "", terminal=True, answer=None)
    worded = tree.add(0, "2 + 2 is 4", terminal=True, answer=None)
    values = {blank.id: 0.9, worded.id: 0.2}  # the blank path is valued higher
    outcome = tree_outcome(tree, [blank.id, worded.id], values.__getitem__, verifier=None, key=str)
    assert outcome is not None and outcome.content == "2 + 2 is 4"
    only_blank = tree_outcome(tree, [blank.id], values.__getitem__, verifier=None, key=str)
    assert only_blank is not None and only_blank.content == ""  # nothing better to show


def test_the_vote_counts_equal_answers_written_differently_as_one():
    tree = Tree()
    paths = [tree.add(0, text, terminal=True, answer=answer)
             for text, answer in (("So 10.", "10.0"), ("So 20.", "20.0"), ("So 20 again.", "20"))]
    outcome = tree_outcome(tree, [p.id for p in paths], lambda i: 1.0, verifier=None, key=normalize_answer)
    assert outcome is not None and outcome.answer in ("20.0", "20") and outcome.confidence == 2 / 3
    assert [(c.answer, c.votes) for c in outcome.candidates] == [("20.0", 2.0), ("10.0", 1.0)]
    # Compared as exact strings, the three answers would tie and the first (10.0) would win.
    exact = tree_outcome(tree, [p.id for p in paths], lambda i: 1.0, verifier=None, key=str)
    assert exact is not None and exact.answer == "10.0"
