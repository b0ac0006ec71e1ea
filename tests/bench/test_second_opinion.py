"""Second opinions on a split vote (bench.second_opinion), on a scripted model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backends.types import Completion, Sample, TokenLogprob
from bench.datasets import Item
from bench.second_opinion import Opinions, _top_two, judge_row, summarize
from rewards.extraction import extract_answer

QUESTION = "Tom has 3 bags of 4 apples and eats 2. How many are left?"
RIGHT = "3 bags of 4 is 3 * 4 = 12.\nHe eats 2, so 12 - 2 = 10.\nThe answer is \\boxed{10}."
WRONG = "3 + 4 = 7 apples.\nHe eats 2: 7 - 2 = 5.\nThe answer is \\boxed{5}."
ROW = {"id": "q1", "gold": "10", "config": "low",
       "votes": [["5", "chain", 1.5], ["5", "program", 1.0], ["10", "chain", 1.0], [None, "chain", 1.0]],
       "texts": [WRONG, "```python\nprint(3 + 4 - 2)\n```", RIGHT, "I am not sure."]}


class Backend:
    async def render_chat(self, messages: list[dict[str, Any]], *, add_generation_prompt: bool = True) -> str:
        turns = "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages)
        if add_generation_prompt:
            return turns + "<assistant>"
        return turns.removesuffix("</assistant>")  # a final assistant turn is continued


@dataclass
class Generator:
    """A model that prefers the solution saying 10, calls 10 consistent and 5 not, and goes on
    from half a solution the way that solution went."""

    prompts: list[str] = field(default_factory=list)

    async def generate(self, prompt: str, *, n: int, sampling: Any, deadline: float | None = None) -> Completion:
        self.prompts.append(prompt)
        if "Which solution is correct?" in prompt:
            first_is_right = prompt.index("Solution 1:") < prompt.index("12 - 2") < prompt.index("Solution 2:")
            top = (("1", -0.1), ("2", -2.5)) if first_is_right else (("2", -0.2), ("1", -2.0))
            return _completion(top[0][0], logprobs=(TokenLogprob(top[0][0], top[0][1], top),))
        if "Put 10 back" in prompt:
            return _completion("3 * 4 - 2 = 10 holds.\nConsistent: Yes")
        if "Put 5 back" in prompt:
            return _completion("3 * 4 - 2 is 10, not 5.\nConsistent: **No**")
        if prompt.endswith("3 * 4 = 12.\n"):
            return _completion("Then 12 - 2 = 10. \\boxed{10}")
        return _completion("So 7 - 2 = 4. \\boxed{4}")  # the wrong chain, continued, does not reach 5


def _completion(text: str, logprobs: tuple[TokenLogprob, ...] | None = None) -> Completion:
    return Completion(samples=(Sample(text=text, completion_tokens=len(text.split()), finish_reason="stop",
                                      logprobs=logprobs),), prompt_tokens=10)


class Tools:
    def extract(self, text: str) -> str | None:
        return extract_answer(text)


@dataclass
class Service:
    backend: Backend = field(default_factory=Backend)
    generator: Generator = field(default_factory=Generator)
    tools: Tools = field(default_factory=Tools)


def test_top_two_ranks_answers_by_recorded_weight_and_shows_a_chain_first():
    (a, text_a), (b, text_b) = _top_two(ROW)
    assert (a, b) == ("5", "10") and text_a == WRONG.strip() and text_b == RIGHT.strip()
    unanimous = {**ROW, "votes": [["5", "chain", 1.5], ["5", "program", 1.0]], "texts": [WRONG, "print(5)"]}
    assert _top_two(unanimous) is None and _top_two({**ROW, "texts": None}) is None
    only_program = {**ROW, "votes": [["5", "program", 1.0], ["10", "chain", 0.5]], "texts": ["print(3 + 4 - 2)", RIGHT]}
    assert _top_two(only_program)[0][1].startswith("```python\nprint(3 + 4 - 2)\n```\n\nThe program prints 5")


async def test_each_opinion_can_overrule_a_wrong_majority():
    service = Service()
    judged = await judge_row(ROW, Item(id="q1", question=QUESTION, gold="10", kind="math"), Opinions(service))
    assert judged["winner"] == "5" and not judged["winner_right"] and judged["runner_up_right"]
    assert judged["pairwise_p_winner"] < 0.2  # both orders prefer the solution saying 10
    assert judged["back_substitution"] == [0.0, 1.0] and judged["consistent"] == [False, True]
    assert judged["choices"] == {"vote": "5", "pairwise": "10", "back_substitution": "10", "consistency": "10"}
    # rStar's check continued the first half of each chain: its first lines, nothing after them.
    halves = [p for p in service.generator.prompts if p.endswith(".\n")]
    assert len(halves) == 2 and all("boxed" not in p.rsplit("<assistant>", 1)[1] for p in halves)
    summary = summarize([judged], {"pairwise": 4, "back_substitution": 20, "consistency": 12})
    assert summary["split_items"] == 1 and summary["gold_in_top_two"] == 1
    assert summary["vote"]["right"] == 0 and summary["pairwise"] == {"right": 1, "turned_right": 1,
                                                                     "turned_wrong": 0, "tokens": 4}
    assert await judge_row({**ROW, "votes": ROW["votes"][:2], "texts": ROW["texts"][:2]},
                           Item(id="q1", question=QUESTION, gold="10", kind="math"), Opinions(service)) is None


async def test_back_substitution_reads_only_a_verdict_line_and_a_one_line_solution_is_not_consistent():
    class Says(Generator):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

        async def generate(self, prompt: str, *, n: int, sampling: Any, deadline: float | None = None) -> Completion:
            return _completion(self.text)

    for said, verdict in [("It fails.\nInconsistent: yes", 0.5), ("Say Consistent: Yes or Consistent: No.", 0.5),
                          ("Checked.\n**Consistent: No**", 0.0), ("Checked.\nConsistent: yes", 1.0)]:
        assert await Opinions(Service(generator=Says(said))).back_substitution(QUESTION, "10") == verdict, said
    # A one-line solution has no first half to continue: never counted as consistent.
    assert not await Opinions(Service(generator=Says("\\boxed{10}"))).consistent(QUESTION, "10", "So \\boxed{10}.")
