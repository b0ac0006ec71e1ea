"""The prompts of the open-ended search (search.strategies.open_ended): the model writes checks
for the request's instructions, rewrites a reply that failed some, or picks the reply most
consistent with the others (universal self-consistency, Chen et al. 2023)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# In words only: the prompt carries no check for any instruction (a worked check would solve the
# task family it is measured on).
CHECKS_INSTRUCTION = (
    "You write Python functions that check whether a reply follows the instructions in a user's request. "
    "First list, as comments, each instruction the request states about the form of the reply that code can "
    "check: its length (words, sentences, paragraphs, bullet points), its format (sections, a title, JSON, "
    "markdown, highlights), words it must include or avoid, letter case, punctuation, how it must start or end. "
    "Quote each instruction word for word as the request writes it, and list only instructions the request "
    "states: add none of your own. Then write one function per instruction, check_1, check_2 and so on, each "
    "taking the reply text and returning True when the reply follows that instruction, with a one-line "
    "docstring that quotes the instruction. Use only the Python standard library."
)
# The reply is begun with the list of instructions, so the model reads them out before it writes code.
CHECKS_OPENING = "```python\n# The instructions in the request, quoted:\n# 1."
CHECKS_MAX_TOKENS = 400
# The code block's end, and code that would only call the checks (an example run, a test): the harness
# calls them itself, so such code is tokens for nothing (Qwen added a 100-token example run on a dev item).
CHECKS_STOP = ("```\n", "\n# Example", "\n# Test", "\nif __name__", "\nprint(", "\nreply = ", "\nassert ")

# The draft is shown inside the request's own turn: asked in a second turn to rewrite its reply, a
# small model writes the same reply again (Qwen2.5-Coder-1.5B did, word for word, on a dev item).
REVISE_INSTRUCTION = (
    '{request}\n\nA draft reply:\n"""\n{reply}\n"""\nThe draft does not follow these instructions:\n{failed}\n'
    "Write the reply again so that it follows every instruction in the request. Reply with the new reply only."
)
DRAFT_FENCE = '"""'
# A first line that announces the rewrite rather than being part of it, and the divider after one.
_ANNOUNCES = re.compile(r"\b(?:revised|rewritten|rewrite|updated|corrected|new reply|new version|here is|here's)\b",
                        re.IGNORECASE)
_DIVIDER = re.compile(r"\A(?:-{3,}|\*{3,}|_{3,})\s*\n")

# In words only, as the checks prompt: kinds of edit, no program for any instruction.
REPAIR_INSTRUCTION = (
    "You write a Python function repair(reply) that edits a reply so that it follows the instructions "
    "listed by the user, and keeps everything else the reply says. It may change letter case, add, remove or "
    "replace words, phrases or punctuation, split or join paragraphs, add a title, sections, a postscript or "
    "quotation marks, as the instructions need. It takes the reply text and returns the edited text; use only "
    "the Python standard library. Reply with the code in one ```python block."
)
REPAIR_OPENING = "```python\ndef repair(reply):\n"
REPAIR_MAX_TOKENS = 300

# Universal self-consistency's selection prompt (Chen et al. 2023, section 3), for free-form replies.
USC_INSTRUCTION = (
    "I have generated the following responses to the question: {question}\n\n{responses}\n\n"
    "Evaluate these responses.\nSelect the most consistent response based on majority consensus.\n"
    'Start your answer with "The most consistent response is Response X" (without quotes).'
)
USC_CHARS = 2000  # of each response shown to the selector
_USC_PICK = re.compile(r"most consistent response is response\s*(\d+)", re.IGNORECASE)


def checks_messages(question: str) -> list[dict[str, Any]]:
    """The chat asking for the request's instruction checks, the reply begun with CHECKS_OPENING
    (render it with `add_generation_prompt=False`)."""
    return [{"role": "system", "content": CHECKS_INSTRUCTION},
            {"role": "user", "content": f'Request:\n"""\n{question}\n"""'},
            {"role": "assistant", "content": CHECKS_OPENING}]


def revise_messages(messages: Sequence[dict[str, Any]], reply: str, failed: Sequence[str]) -> list[dict[str, Any]]:
    """The conversation with its last user turn carrying the draft reply and the instructions it failed."""
    listed = "\n".join(f"- {f}" for f in failed)
    last = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
    if last is None:
        return [*messages, {"role": "user", "content": REVISE_INSTRUCTION.format(request="", reply=reply,
                                                                                  failed=listed).lstrip()}]
    turn = {"role": "user", "content": REVISE_INSTRUCTION.format(request=messages[last]["content"], reply=reply,
                                                                failed=listed)}
    return [*messages[:last], turn, *messages[last + 1:]]


def repair_messages(failed: Sequence[str]) -> list[dict[str, Any]]:
    """The chat asking for a repair program for the instructions a reply failed, the reply begun with
    REPAIR_OPENING (render it with `add_generation_prompt=False`)."""
    listed = "\n".join(f"- {f}" for f in failed)
    return [{"role": "system", "content": REPAIR_INSTRUCTION},
            {"role": "user", "content": f"The reply must follow these instructions:\n{listed}"},
            {"role": "assistant", "content": REPAIR_OPENING}]


def rewritten_reply(text: str) -> str:
    """A rewrite as the reply itself: without a line announcing it ("Here is the revised reply:") and a
    divider after it, and without the draft's fence, which a small model copies around its new reply.
    Asked for "the new reply only", the model still frames it at times (Qwen2.5-Coder-1.5B did, and the
    framing reached the client)."""
    stripped = text.strip()
    first, _, rest = stripped.partition("\n")
    if rest.strip() and _ANNOUNCES.search(first) and first.rstrip().endswith(":"):
        stripped = _DIVIDER.sub("", rest.strip(), count=1).strip()
    if stripped.startswith(DRAFT_FENCE):
        stripped = stripped[len(DRAFT_FENCE):]
    if stripped.endswith(DRAFT_FENCE):
        stripped = stripped[: -len(DRAFT_FENCE)]
    return stripped.strip()


def usc_messages(question: str, replies: Sequence[str]) -> list[dict[str, Any]]:
    """Universal self-consistency's one-turn chat: the replies numbered from 0."""
    shown = "\n\n".join(f"Response {i}: {r[:USC_CHARS]}" for i, r in enumerate(replies))
    return [{"role": "user", "content": USC_INSTRUCTION.format(question=question, responses=shown)}]


def usc_choice(text: str, count: int) -> int | None:
    """The response number a selector's text names, when it names one of `count`."""
    match = _USC_PICK.search(text)
    if match is None:
        return None
    index = int(match.group(1))
    return index if 0 <= index < count else None
