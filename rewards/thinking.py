"""Thinking models write a chain of thought between `<think>` and `</think>` before their answer
(DeepSeek-R1 and its distills, Qwen3, QwQ). The chain is theirs to work in, not an answer: numbers
in it are drafts. Answers are extracted, checked and shown from the final text only.

Parsers: `none` (the text is all answer), `think_tags` (the model thinks in tags: an unclosed
`<think>` is a chain cut short, with no answer yet), `auto` (split where the text carries the tags;
templates that open the block in the prompt leave only the closing tag in the sample)."""

from __future__ import annotations

from typing import Literal

ReasoningParser = Literal["none", "think_tags", "auto"]

OPEN, CLOSE = "<think>", "</think>"


def split_thinking(text: str, parser: ReasoningParser = "auto") -> tuple[str, str]:
    """(thinking, final answer text) of one sample."""
    if parser == "none":
        return "", text
    end = text.rfind(CLOSE)
    if end >= 0:
        thinking = text[:end]
        start = thinking.find(OPEN)
        return (thinking[start + len(OPEN):] if start >= 0 else thinking).strip(), text[end + len(CLOSE):].lstrip()
    start = text.find(OPEN)
    if start >= 0:  # still thinking when the sample ended: no answer in it
        return text[start + len(OPEN):].strip(), text[:start].strip()
    return "", text


def final_text(text: str, parser: ReasoningParser = "auto") -> str:
    return split_thinking(text, parser)[1]
