"""Open-ended prompts with verifiable instructions (issue 34): `ifgen_dev` and `ifgen_heldout`.

Each item is one of BASE_PROMPTS (60 open-ended requests written for ponder: explanations,
stories, poems, advice, summaries of a short given text, emails, descriptions, product
blurbs) followed by one or two IFEval instructions, as a user would write them ("Answer with
less than 120 words. Do not use any commas."). The instructions come from `if-verifiable`
(IFEval's instruction classes, pip install --no-deps if-verifiable; it needs nltk,
immutabledict and langdetect): each class builds its text from random arguments, drawn here
from a fixed seed with Python's `random` (its state is restored afterwards), and checks a
response with `check_following`. Two instructions of one item never conflict
(INSTRUCTION_CONFLICTS, made symmetric).

The base prompts split in two halves by base prompt, even positions for development (tune
on it) and odd for the held-out set (never tuned on); each half gives 40 items, a base prompt
once or twice, each time with its own instructions. Lengths are capped so that a 1.5B model
can answer in about 300 tokens: "at least" 40-150 words, "less than" 60-200 words, 2-4
paragraphs; a response language is one of Spanish, French, German, Italian, Portuguese.

Instruction classes left out (IFEval has 25):
- `length_constraints:number_sentences` and `change_case:capital_word_frequency`: their
  checkers call nltk's punkt tokenizer, whose data is not on PyPI (LookupError offline).
- `detectable_format:constrained_response`: the answer must be one of three fixed sentences
  ("My answer is yes."), which turns an open-ended request into a yes/no question.
The 22 used are INSTRUCTION_IDS. Grading (`follows`) is IFEval's strict check: an empty
response follows nothing, and a checker that raises counts as not followed. The search never
sees the checkers: items carry no serving-time verifier.
"""

from __future__ import annotations

import importlib
import importlib.util
import random
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

BASE_PROMPTS: tuple[str, ...] = (
    # explanations
    "Explain why the sky is blue to a ten-year-old.",
    "Explain how a refrigerator keeps food cold.",
    "Explain what inflation is and why prices rise over time.",
    "Explain how vaccines help the body fight disease.",
    "Explain the difference between weather and climate.",
    "Explain why we have leap years.",
    "Explain how a bill becomes a law, in simple terms.",
    "Explain what a password manager does and why people use one.",
    "Explain why bread rises when it is baked.",
    "Explain how bees make honey.",
    # stories
    "Write a short story about a lighthouse keeper who finds a message in a bottle.",
    "Write a short story about a robot learning to cook.",
    "Write a short story about a child who finds a door in the back of a library.",
    "Write a short story about two strangers sharing an umbrella.",
    "Write a short fable about a fox and a crow that teaches a lesson about patience.",
    "Write a short story that begins with a phone ringing at midnight.",
    "Write a bedtime story about a sleepy dragon.",
    "Write a short story about the last day of summer camp.",
    # poems
    "Write a haiku about autumn leaves.",
    "Write a short poem about the ocean at night.",
    "Write a poem about a cup of morning coffee.",
    "Write a limerick about a cat who loves boxes.",
    "Write a short poem celebrating a grandmother's garden.",
    "Write a poem about a city waking up.",
    # advice
    "Give advice to someone starting their first job.",
    "Give tips for getting a good night's sleep.",
    "Give advice on how to prepare for a job interview.",
    "Suggest ways to save money on groceries.",
    "Give advice to a student who procrastinates on homework.",
    "Suggest how to start learning to play the guitar.",
    "Give tips for keeping houseplants alive.",
    "Give advice on how to make friends in a new city.",
    # summaries of a short given text
    "Summarize this text: The town council voted on Tuesday to turn the old train station "
    "into a public library. Construction starts in March and is expected to take two years. "
    "Residents who opposed the plan wanted the building to become a market.",
    "Summarize this text: Researchers found that people who walked for thirty minutes a day "
    "slept better and reported less stress. The study followed 400 adults for six months. "
    "The effect was strongest among people who walked outdoors.",
    "Summarize this text: The bakery on Elm Street will close at the end of the month after "
    "forty years. The owners are retiring and could not find a buyer. Regular customers have "
    "planned a farewell party on the last Saturday.",
    "Summarize this text: A new bus line will connect the university to the airport starting "
    "in September. Buses will run every twenty minutes from six in the morning until midnight. "
    "Students will ride for free with their ID cards.",
    "Summarize this text: Volunteers planted 2,000 trees along the river last weekend. The "
    "project aims to reduce flooding and give birds a place to nest. Organizers plan to plant "
    "another 3,000 trees next spring.",
    "Summarize this text: The museum's new exhibit shows tools used by farmers two hundred "
    "years ago. Visitors can try grinding wheat by hand. The exhibit is open until the end of "
    "the year and entry is free on Sundays.",
    # emails and letters
    "Write an email to a coworker asking to move a meeting to Thursday.",
    "Write an email to a landlord about a leaking kitchen sink.",
    "Write a thank-you note to a teacher at the end of the school year.",
    "Write an email inviting neighbors to a street cleanup on Saturday.",
    "Write a letter to a friend who moved to another country.",
    "Write an email to a customer apologizing for a late delivery.",
    # descriptions
    "Describe a busy market on a Saturday morning.",
    "Describe your ideal weekend.",
    "Describe a thunderstorm from the point of view of a dog.",
    "Describe the taste of a ripe mango to someone who has never had one.",
    "Describe a quiet mountain lake at sunrise.",
    "Describe what a day in the life of a firefighter might look like.",
    # product blurbs
    "Write a product description for a reusable water bottle.",
    "Write a short advertisement for a neighborhood bicycle repair shop.",
    "Write a product description for noise-cancelling headphones.",
    "Write a blurb for a cookbook of quick vegetarian dinners.",
    "Write a short advertisement for a new board game about space exploration.",
    # other open-ended requests
    "Write a short speech for a friend's birthday dinner.",
    "Compare cats and dogs as pets.",
    "List some ideas for a rainy day with children.",
    "Write a short review of an imaginary restaurant that serves only soup.",
    "Write a dialogue between a customer and a shop assistant about returning a sweater.",
)

IFGEN_SIZE = 40
IFGEN_DEV_SEED = 3401
IFGEN_HELDOUT_SEED = 3402
# Arguments drawn here rather than by the class, to keep answers short and feasible.
LANGUAGES = ("es", "fr", "de", "it", "pt")
REPEAT_PROMPT = "combination:repeat_prompt"
EXCLUDED = {
    "length_constraints:number_sentences": "its checker needs nltk's punkt data (not on PyPI)",
    "change_case:capital_word_frequency": "its checker needs nltk's punkt data (not on PyPI)",
    "detectable_format:constrained_response": "a fixed yes/no/maybe answer, not an open-ended one",
}


def _ifeval() -> types.ModuleType:
    """if-verifiable's IFEval instruction registry. The package's own __init__ imports Hugging
    Face `datasets` for its download API, which is not used here (nothing is downloaded); where
    `datasets` is missing the registry is imported without running that __init__."""
    if "if_verifiable" not in sys.modules and importlib.util.find_spec("datasets") is None:
        spec = importlib.util.find_spec("if_verifiable")
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError("install the checkers first: pip install --no-deps if-verifiable",
                                      name="if_verifiable")
        package = types.ModuleType("if_verifiable")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["if_verifiable"] = package
    import langdetect

    langdetect.DetectorFactory.seed = 0  # langdetect samples at random; the same text gets the same verdict
    return importlib.import_module("if_verifiable.ifeval.instructions_registry")


def instruction_ids() -> list[str]:
    """The IFEval instruction ids used here, in the registry's order (all but EXCLUDED)."""
    return [i for i in _ifeval().INSTRUCTION_DICT if i not in EXCLUDED]


def conflicts() -> dict[str, set[str]]:
    """INSTRUCTION_CONFLICTS made symmetric (if A conflicts with B, B conflicts with A)."""
    table = {key: set(value) for key, value in _ifeval().INSTRUCTION_CONFLICTS.items()}
    for key, value in list(table.items()):
        value.add(key)
        for other in value:
            table.setdefault(other, {other}).add(key)
    return table


def base_prompts(half: str) -> list[tuple[int, str]]:
    """The base prompts of one half, with their positions in BASE_PROMPTS: "dev" the even
    positions, "heldout" the odd ones."""
    start = {"dev": 0, "heldout": 1}[half]
    return [(i, BASE_PROMPTS[i]) for i in range(start, len(BASE_PROMPTS), 2)]


@dataclass(frozen=True)
class InstructedPrompt:
    """A base prompt with instructions: the user message and, per instruction, its id and the
    `build_description` arguments that rebuild its checker."""

    base: int  # position in BASE_PROMPTS
    question: str
    instructions: tuple[dict[str, Any], ...]


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    # The IFEval classes draw their arguments from the `random` module itself.
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


def _arguments(instruction_id: str, prompt_so_far: str) -> dict[str, Any]:
    """Arguments for `build_description` that keep the answer short; {} lets the class draw."""
    if instruction_id == "length_constraints:number_words":
        relation = random.choice(("less than", "at least"))
        return {"relation": relation,
                "num_words": random.randint(40, 150) if relation == "at least" else random.randint(60, 200)}
    if instruction_id == "length_constraints:number_paragraphs":
        return {"num_paragraphs": random.randint(2, 4)}
    if instruction_id == "length_constraints:nth_paragraph_first_word":
        paragraphs = random.randint(2, 4)
        return {"num_paragraphs": paragraphs, "nth_paragraph": random.randint(1, paragraphs)}
    if instruction_id == "language:response_language":
        return {"language": random.choice(LANGUAGES)}
    if instruction_id == REPEAT_PROMPT:
        return {"prompt_to_repeat": prompt_so_far}
    return {}


def _draw_ids(allowed: list[str], table: dict[str, set[str]]) -> list[str]:
    first = random.choice(allowed)
    if random.random() < 0.5:
        return [first]
    compatible = [i for i in allowed if i not in table[first]]
    return [first, random.choice(compatible)] if compatible else [first]


def instructed_prompts(half: str, *, seed: int, size: int = IFGEN_SIZE) -> list[InstructedPrompt]:
    """`size` items over the half's base prompts (in turn), each with one or two compatible
    instructions drawn from `seed`; the same arguments give the same items."""
    registry = _ifeval().INSTRUCTION_DICT
    allowed, table = instruction_ids(), conflicts()
    bases = base_prompts(half)
    items = []
    with _seeded(seed):
        for n in range(size):
            base, text = bases[n % len(bases)]
            # repeat_prompt repeats everything before its own sentence, so it goes last
            ids = sorted(_draw_ids(allowed, table), key=lambda i: i == REPEAT_PROMPT)
            question, instructions = text, []
            for instruction_id in ids:
                checker = registry[instruction_id](instruction_id)
                description = checker.build_description(**_arguments(instruction_id, question))
                # after an instruction that shows a multi-line example, the next starts on its own line
                question += ("\n" if "\n" in question else " ") + description
                instructions.append({"id": instruction_id, "kwargs": checker.get_instruction_args() or {}})
            items.append(InstructedPrompt(base=base, question=question, instructions=tuple(instructions)))
    return items


@dataclass(frozen=True)
class InstructionVerdict:
    """Whether a response follows one instruction; `error` names the exception its checker
    raised, if it raised (then it counts as not followed)."""

    id: str
    followed: bool
    error: str | None = None


def follows(instructions: list[dict[str, Any]] | tuple[dict[str, Any], ...], response: str) -> list[InstructionVerdict]:
    """One verdict per instruction, IFEval's strict check: an empty response follows nothing."""
    registry = _ifeval().INSTRUCTION_DICT
    verdicts = []
    for instruction in instructions:
        instruction_id = instruction["id"]
        try:
            checker = registry[instruction_id](instruction_id)
            checker.build_description(**instruction["kwargs"])
            followed = bool(response.strip()) and bool(checker.check_following(response))
        except Exception as exc:  # a checker's failure is a verdict on this response, not the end of grading
            verdicts.append(InstructionVerdict(instruction_id, False, type(exc).__name__))
            continue
        verdicts.append(InstructionVerdict(instruction_id, followed))
    return verdicts
